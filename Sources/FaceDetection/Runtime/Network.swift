// A loaded model ready to run from many threads: the compiled graph is immutable, execution
// plans are cached per input shape, and each call borrows a private arena from a pool.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where a model came from, for error messages: the caller's display name and the advice that
/// tells a user how to get the right file.
struct ModelSource: Sendable {
    var name: String
    var remedy: String

    func error(_ reason: String) -> FaceDetectionError {
        .invalidModel(model: name, reason: reason, remedy: remedy)
    }
}

/// A contiguous float buffer that only grows. Owned by one caller at a time (via the pool), so it
/// is `@unchecked Sendable`.
final class Workspace: @unchecked Sendable {
    private(set) var base: MutableFloatPointer
    private(set) var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    func reserve(_ count: Int) {
        guard count > capacity else { return }
        base.deallocate()
        capacity = count
        base = .allocate(capacity: count)
    }

    deinit { base.deallocate() }
}

/// Read access to a finished run's outputs, valid only inside `Network.run`'s closure.
struct NetworkOutputs {
    let arena: FloatPointer
    let plan: ExecutionPlan

    var count: Int { plan.outputShapes.count }

    func shape(_ index: Int) -> [Int] { plan.outputShapes[index] }

    subscript(index: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: arena + plan.outputOffsets[index], count: plan.outputShapes[index].reduce(1, *))
    }
}

final class Network: @unchecked Sendable {
    let source: ModelSource
    let graph: CompiledGraph
    /// Plans are cheap but not free; MTCNN asks for a dozen shapes per image size, so keep a
    /// bounded number.
    private static let planCacheLimit = 96
    private var plans: [[Int]: ExecutionPlan] = [:]
    private var idleWorkspaces: [Workspace] = []
    private let lock = Lock()

    init(model bytes: [UInt8], source: ModelSource) throws(FaceDetectionError) {
        self.source = source
        let model: OnnxModel
        do {
            model = try OnnxModel(serialized: bytes)
        } catch {
            throw source.error(bytes.isEmpty ? "the file is empty" : "not a readable ONNX model (\(error.reason))")
        }
        do {
            graph = try CompiledGraph(model)
        } catch {
            throw source.error(error.reason)
        }
    }

    var outputNames: [String] { graph.outputNames }

    func plan(for inputShape: [Int]) throws(FaceDetectionError) -> ExecutionPlan {
        lock.lock()
        if let cached = plans[inputShape] {
            lock.unlock()
            return cached
        }
        lock.unlock()
        let plan: ExecutionPlan
        do {
            plan = try ExecutionPlan(graph: graph, inputShape: inputShape)
        } catch {
            throw source.error(error.reason)
        }
        lock.lock()
        if plans.count >= Self.planCacheLimit { plans.removeAll(keepingCapacity: true) }
        plans[inputShape] = plan
        lock.unlock()
        return plan
    }

    /// Runs the network on an input of `inputShape`: `fill` writes the input (every element),
    /// `read` sees the outputs. Safe to call concurrently.
    func run<Result>(inputShape: [Int], fill: (UnsafeMutableBufferPointer<Float>) -> Void,
                     read: (NetworkOutputs) throws -> Result) throws -> Result {
        let plan = try plan(for: inputShape)
        let workspace = checkOutWorkspace(capacity: plan.arenaCount)
        defer { checkIn(workspace) }
        let arena = workspace.base
        fill(UnsafeMutableBufferPointer(start: arena + plan.inputOffset, count: inputShape.reduce(1, *)))
        plan.run(arena: arena)
        return try read(NetworkOutputs(arena: arena, plan: plan))
    }

    /// Runs on a copy of `input` `runs` times and returns each step's label and its fastest
    /// time in seconds, in plan order (for profiles).
    func profile(_ input: [Float], shape: [Int], runs: Int) throws -> [(label: String, seconds: Double)] {
        let plan = try plan(for: shape)
        let workspace = checkOutWorkspace(capacity: plan.arenaCount)
        defer { checkIn(workspace) }
        var best = [Double](repeating: .infinity, count: plan.steps.count)
        var labels: [String] = []
        for run in 0..<max(runs, 1) {
            input.withUnsafeBufferPointer { (workspace.base + plan.inputOffset).update(from: $0.baseAddress!, count: $0.count) }
            var index = 0
            plan.runTimed(arena: workspace.base) { label, duration in
                let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
                best[index] = min(best[index], seconds)
                if run == 0 { labels.append(label) }
                index += 1
            }
        }
        return Array(zip(labels, best)).map { (label: $0.0, seconds: $0.1) }
    }

    /// Convenience for tests and tools: runs on a copy of `input` and returns copies of the outputs.
    func run(_ input: [Float], shape: [Int]) throws -> [(shape: [Int], values: [Float])] {
        precondition(input.count == shape.reduce(1, *), "input has \(input.count) values for shape \(shape)")
        return try run(inputShape: shape, fill: { buffer in
            _ = buffer.initialize(from: input)
        }, read: { outputs in
            (0..<outputs.count).map { (outputs.shape($0), Array(outputs[$0])) }
        })
    }

    private func checkOutWorkspace(capacity: Int) -> Workspace {
        lock.lock()
        let workspace = idleWorkspaces.popLast()
        lock.unlock()
        guard let workspace else { return Workspace(capacity: capacity) }
        workspace.reserve(capacity)
        return workspace
    }

    private func checkIn(_ workspace: Workspace) {
        lock.lock()
        idleWorkspaces.append(workspace)
        lock.unlock()
    }
}
