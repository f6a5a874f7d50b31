// A loaded model ready to run from many threads: the compiled graph is immutable, execution
// plans are cached per input shape, and each call borrows a private arena from a pool.

// Plans, weights and kernel-set choice are part of the runtime's interface to its callers.
@_exported import KernelInterface

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where a model came from, for error messages: the caller's display name and the advice that
/// tells a user how to get the right file.
package struct ModelSource: Sendable {
    package var name: String
    package var remedy: String

    package init(name: String, remedy: String) {
        self.name = name
        self.remedy = remedy
    }

    package func error(_ reason: String) -> ModelError {
        ModelError(model: name, reason: reason, remedy: remedy)
    }
}

/// A model file that can't be used: its display name, why, and where the right file comes from.
/// Each front-end (face detection, subject maps) wraps it in its own error.
package struct ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    package var model: String
    package var reason: String
    package var remedy: String

    package var description: String { "model \(model) can't be used: \(reason). \(remedy)" }
}

/// A contiguous float buffer that only grows. Owned by one caller at a time (via the pool), so it
/// is `@unchecked Sendable`.
package final class Workspace: @unchecked Sendable {
    private(set) var base: MutableFloatPointer
    private(set) var capacity: Int

    package init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    package func reserve(_ count: Int) {
        guard count > capacity else { return }
        base.deallocate()
        capacity = count
        base = .allocate(capacity: count)
    }

    deinit { base.deallocate() }
}

/// Read access to a finished run's outputs, valid only inside `Network.run`'s closure.
package struct NetworkOutputs {
    package let arena: FloatPointer
    package let plan: ExecutionPlan

    package var count: Int { plan.outputShapes.count }

    package func shape(_ index: Int) -> [Int] { plan.outputShapes[index] }

    package subscript(index: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: arena + plan.outputOffsets[index], count: plan.outputShapes[index].reduce(1, *))
    }
}

package final class Network: @unchecked Sendable {
    package let source: ModelSource
    /// The compiled graph, for graphs that compile once for every input size; nil for graphs that
    /// compute shapes from their input, which compile per input size (see ShapeFolding.swift).
    package let graph: CompiledGraph?
    /// Kept for graphs compiled per input size.
    private let model: OnnxModel?
    private let keptOutputs: [String]?
    package let outputNames: [String]
    package let inputName: String
    /// The compiled kernels this network runs on (see KernelSelection.swift).
    package let kernels: any KernelSet.Type
    /// What its convolutions compute in (see PrecisionSelection.swift).
    package let precision: Precision
    private let int8: Int8Settings?
    /// The int8 kernels its int8 convolutions run on; nil in float32.
    package var int8Kernel: Int8Implementation? { int8?.implementation }
    /// The input's declared dimensions (numbers or symbolic names).
    package let declaredInputShape: [OnnxDimension]
    /// Plans are cheap but not free; MTCNN asks for a dozen shapes per image size, so keep a
    /// bounded number.
    private static let planCacheLimit = 96
    private var plans: [[Int]: ExecutionPlan] = [:]
    private var idleWorkspaces: [Workspace] = []
    private let lock = Lock()

    /// Which of a graph's outputs a caller reads; the steps only the others need are not run.
    package enum OutputSelection: Sendable {
        case all
        /// The first `count` outputs, in the graph's order.
        case first(Int)
    }

    /// `instructionSet` picks the kernels (tests run every set the CPU has); by default the
    /// process's choice, `KernelSelection.current`. `precision` likewise, by default
    /// SMARTCROP_PRECISION's, else int8 when the kernel set has int8 kernels on this CPU (AVX-512
    /// VNNI on avx512, AVX-VNNI on avx2: `PrecisionSelection.int8Kernel`) and the model file has
    /// a calibration table (Inference/Calibration), else float32; a model without a table runs
    /// in float32 whatever is asked. `int8Implementation` picks the int8 kernel (the portable
    /// reference runs on any CPU, for tests; one this CPU lacks counts as no int8 kernel); by
    /// default `PrecisionSelection.int8Kernel`'s. `int8Inputs` replaces the calibration table (for
    /// calibration itself, which measures layers one at a time).
    package init(model bytes: [UInt8], source: ModelSource, outputs selection: OutputSelection = .all,
                 instructionSet: InstructionSet? = nil, precision requested: Precision? = nil,
                 int8Implementation: Int8Implementation? = nil,
                 int8Inputs: [String: ActivationQuantization]? = nil) throws(ModelError) {
        self.source = source
        switch instructionSet.map({ .success($0) }) ?? KernelSelection.current {
        case let .success(set) where KernelSelection.supported.contains(set): kernels = KernelSelection.kernels(set)
        case let .success(set): throw source.error("this CPU cannot run the \(set) kernels")
        case let .failure(error): throw source.error(error.description)
        }
        let wanted: Precision?
        if let requested {
            wanted = requested
        } else {
            switch PrecisionSelection.forced {
            case let .success(forced): wanted = forced
            case let .failure(error): throw source.error(error.description)
            }
        }
        // The narrower kernel sets stand for CPUs without AVX-512: forcing one (SMARTCROP_ISA,
        // tests) means the int8 kernels such a CPU would have, or float32 (see int8Kernel).
        let set = kernels.instructionSet
        let automaticInt8 = PrecisionSelection.int8Kernel(for: set, named: false) != nil
        let int8Kernel: Int8Implementation?
        if let int8Implementation {
            int8Kernel = int8Implementation == .reference || PrecisionSelection.int8Kernels.contains(int8Implementation)
                ? int8Implementation : nil
        } else {
            int8Kernel = PrecisionSelection.int8Kernel(for: set, named: wanted == .int8)
        }
        if wanted == .int8 && int8Kernel == nil {
            throw source.error("int8 \(PrecisionSelection.int8Requirement), which this one lacks")
        }
        let model: OnnxModel
        do {
            model = try OnnxModel(serialized: bytes)
        } catch {
            throw source.error(bytes.isEmpty ? "the file is empty" : "not a readable ONNX model (\(error.reason))")
        }
        // The table is looked for (hashing, fingerprints) only where int8 could run.
        let mayRunInt8 = int8Kernel != nil && (wanted == .int8 || (wanted == nil && automaticInt8))
        let calibration = mayRunInt8 ? int8Inputs.map { ($0, true) } ?? CalibrationTable.quantizations(for: bytes, parsed: model) : nil
        if let int8Kernel, let (inputs, automatic) = calibration, wanted == .int8 || automatic {
            int8 = Int8Settings(inputs: inputs, implementation: int8Kernel)
            precision = .int8
        } else {
            int8 = nil
            precision = .float32
        }
        let outputs: [String]?
        switch selection {
        case .all: outputs = nil
        case let .first(count): outputs = model.graph.outputs.prefix(count).map(\.name)
        }
        do {
            graph = try CompiledGraph(model, keeping: outputs)
            self.model = nil
        } catch where error.needsInputSize {
            graph = nil
            self.model = model
        } catch {
            throw source.error(error.reason)
        }
        keptOutputs = outputs
        outputNames = outputs ?? model.graph.outputs.map(\.name)
        let constants = Set(model.graph.initializers.map(\.name))
        let input = model.graph.inputs.first { !constants.contains($0.name) }
        inputName = input?.name ?? ""
        declaredInputShape = input?.dims ?? []
    }

    package func plan(for inputShape: [Int]) throws(ModelError) -> ExecutionPlan {
        lock.lock()
        if let cached = plans[inputShape] {
            lock.unlock()
            return cached
        }
        lock.unlock()
        let plan: ExecutionPlan
        do {
            let compiled: CompiledGraph
            if let graph { compiled = graph } else { compiled = try CompiledGraph(model!, inputShape: inputShape, keeping: keptOutputs) }
            plan = try ExecutionPlan(graph: compiled, inputShape: inputShape, int8: int8)
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
    /// `read` sees the outputs. Safe to call concurrently. `threads` above 1 splits the
    /// convolutions' rows over that many threads (see `ExecutionPlan.run`).
    package func run<Result>(inputShape: [Int], threads: Int = 1, fill: (UnsafeMutableBufferPointer<Float>) -> Void,
                     read: (NetworkOutputs) throws -> Result) throws -> Result {
        let plan = try plan(for: inputShape)
        let workspace = checkOutWorkspace(capacity: plan.arenaCount(threads: threads))
        defer { checkIn(workspace) }
        let arena = workspace.base
        fill(UnsafeMutableBufferPointer(start: arena + plan.inputOffset, count: inputShape.reduce(1, *)))
        plan.run(arena: arena, kernels: kernels, threads: threads)
        return try read(NetworkOutputs(arena: arena, plan: plan))
    }

    /// Runs on a copy of `input` `runs` times and returns each step's label and its fastest
    /// time in seconds, in plan order (for profiles).
    package func profile(_ input: [Float], shape: [Int], runs: Int) throws -> [(label: String, seconds: Double)] {
        let plan = try plan(for: shape)
        let workspace = checkOutWorkspace(capacity: plan.arenaCount)
        defer { checkIn(workspace) }
        var best = [Double](repeating: .infinity, count: plan.steps.count)
        var labels: [String] = []
        for run in 0..<max(runs, 1) {
            input.withUnsafeBufferPointer { (workspace.base + plan.inputOffset).update(from: $0.baseAddress!, count: $0.count) }
            var index = 0
            plan.runTimed(arena: workspace.base, kernels: kernels) { label, duration in
                let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
                best[index] = min(best[index], seconds)
                if run == 0 { labels.append(label) }
                index += 1
            }
        }
        return Array(zip(labels, best)).map { (label: $0.0, seconds: $0.1) }
    }

    /// The range of each int8-eligible convolution input over `inputs` (each of `shape`), by ONNX
    /// tensor name: what `make calibration` records. Only a float32 network measures what int8
    /// must approximate. With `percentile` (say 0.9999), the top of a range is where that share
    /// of the tensor's positive values lies below, not its largest value: a few outliers would
    /// otherwise stretch the u8 grid over values that hardly occur, and coarsen it for the rest.
    package func activationRanges(_ inputs: [[Float]], shape: [Int], percentile: Double? = nil) throws
        -> [String: (min: Float, max: Float)] {
        precondition(precision == .float32, "calibrate on a float32 network")
        let plan = try plan(for: shape)
        let workspace = checkOutWorkspace(capacity: plan.arenaCount)
        defer { checkIn(workspace) }
        /// Runs every input through the plan, showing each calibrated input to `observe`.
        func pass(_ observe: (String, UnsafeBufferPointer<Float>) -> Void) {
            for input in inputs {
                precondition(input.count == shape.reduce(1, *), "input has \(input.count) values for shape \(shape)")
                input.withUnsafeBufferPointer { (workspace.base + plan.inputOffset).update(from: $0.baseAddress!, count: $0.count) }
                for step in plan.steps {
                    if let (name, count) = step.calibratedInput {
                        observe(name, UnsafeBufferPointer(start: workspace.base + step.inputOffsets[0], count: count))
                    }
                    kernels.run(step.kernel, inputOffsets: step.inputOffsets, outputOffset: step.outputOffset, arena: workspace.base,
                                scratch: workspace.base + plan.scratchOffset, threads: 1)
                }
            }
        }
        var ranges: [String: (min: Float, max: Float)] = [:]
        pass { name, values in
            var low = ranges[name]?.min ?? .infinity, high = ranges[name]?.max ?? -.infinity
            for v in values {
                low = min(low, v)
                high = max(high, v)
            }
            ranges[name] = (low, high)
        }
        guard let percentile else { return ranges }
        // Second pass: a histogram of the positive values of each tensor over (0, max].
        let bins = 4096
        var histograms: [String: [Int]] = [:]
        pass { name, values in
            let top = ranges[name]!.max
            guard top > 0 else { return }
            var histogram = histograms[name] ?? [Int](repeating: 0, count: bins)
            let scale = Float(bins) / top
            for v in values where v > 0 { histogram[min(Int(v * scale), bins - 1)] += 1 }
            histograms[name] = histogram
        }
        for (name, histogram) in histograms {
            let total = histogram.reduce(0, +)
            var seen = 0
            for (bin, count) in histogram.enumerated() {
                seen += count
                if Double(seen) >= percentile * Double(total) {
                    ranges[name]!.max = ranges[name]!.max * Float(bin + 1) / Float(bins)
                    break
                }
            }
        }
        return ranges
    }

    /// Convenience for tests and tools: runs on a copy of `input` and returns copies of the outputs.
    package func run(_ input: [Float], shape: [Int]) throws -> [(shape: [Int], values: [Float])] {
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
