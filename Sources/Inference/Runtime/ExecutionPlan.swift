import KernelInterface

// One compiled graph bound to one input shape: every tensor's shape, where it lives in a single
// float arena, and the exact kernel call for each step. Planning costs microseconds; running
// allocates nothing.

/// How a tensor is stored: as ONNX describes it, or channel-blocked (NCHWc8, see
/// BlockedLayout.swift) between the convolution kernels that work in that layout.
package enum TensorLayout: Sendable, Equatable {
    case plain
    case blocked
    /// A logical NCHW tensor stored NHWC: what Transpose(0, 3, 1, 2) of an NHWC input gives,
    /// left in place for a first convolution that reads it with strides.
    case channelsLast
    /// A channel slice of a blocked tensor, not copied until a reader needs it (a transpose to
    /// NHWC copies it straight out).
    case channelView
}

package struct PlannedStep: Sendable {
    /// The graph node (or nodes, when fused) this step runs, for profiles.
    package var label: String
    package var kernel: StepKernel
    package var inputOffsets: [Int]
    package var outputOffset: Int
    /// For a convolution that could run in int8: its input's ONNX name and the floats its
    /// storage holds, which calibration measures before the step runs.
    package var calibratedInput: (name: String, count: Int)? = nil
}

/// What an int8 plan needs: the calibrated input quantisation of each convolution, by ONNX
/// tensor name, and the kernel that runs them.
package struct Int8Settings: Sendable {
    package var inputs: [String: ActivationQuantization]
    package var implementation: Int8Implementation
    /// Whether an int8 convolution reading a concatenation, a resize or a max pool (read by it
    /// alone) makes its quantised input from their inputs (StepKernel.convInt8Gathered) instead
    /// of having them stored as float first. The bytes are the same; tests turn it off to show it.
    package var gathersInputs = true

    package init(inputs: [String: ActivationQuantization], implementation: Int8Implementation, gathersInputs: Bool = true) {
        self.inputs = inputs
        self.implementation = implementation
        self.gathersInputs = gathersInputs
    }
}

/// The float steps an int8 convolution's quantiser can do itself (see `Int8Settings.gathersInputs`):
/// the parts of its input in channel order, and the graph steps that then need no plan.
private struct Int8InputGather {
    enum Kind { case tensor, resized(step: Int), pooled(step: Int) }
    /// For a resized or pooled part, the value it is made from.
    var parts: [(value: ValueID, kind: Kind)]
    /// Graph step indices, in an order they can be planned in (parts before the concatenation).
    var steps: [Int]
}

package struct ExecutionPlan: Sendable {
    package let inputShape: [Int]
    package let inputOffset: Int
    package let outputShapes: [[Int]]
    package let outputOffsets: [Int]
    package let steps: [PlannedStep]
    /// Floats of arena the plan needs on one thread: activations followed by kernel scratch.
    package let arenaCount: Int
    package let scratchOffset: Int
    /// Scratch floats each thread of a layer split over threads needs of its own (Winograd
    /// layers); `arenaCount(threads:)` reserves one such slot per thread.
    package let threadScratchCount: Int

    /// A tensor while planning: its logical (ONNX) shape, layout and storage.
    private struct Value {
        var shape: [Int]
        var layout: TensorLayout
        var storage: Int
    }

    private struct Builder {
        var values: [Value] = []
        var storageSize: [Int] = []
        var steps: [(label: String, kernel: StepKernel, inputs: [Int], output: Int)] = []
        /// Step index → the int8-eligible convolution input it reads (see PlannedStep).
        var calibrated: [Int: (name: String, count: Int)] = [:]
        var scratch = 0
        var plainCopy: [Int: Int] = [:]
        var blockedCopy: [Int: Int] = [:]
        /// For `.channelView` values: the blocked tensor and first channel they show.
        var viewSource: [Int: (source: Int, start: Int)] = [:]
        /// Storages that live inside a concatenation's storage (at a float offset), so that their
        /// producers write the concatenation in place.
        var parentOf: [Int: (parent: Int, offset: Int)] = [:]
        var parents = Set<Int>()

        /// Whether `storage` may become a slice of another: written by one kernel (not the
        /// network input), and not already part of a concatenation.
        func canAdopt(_ storage: Int) -> Bool {
            guard storage != values[0].storage, parentOf[storage] == nil, !parents.contains(storage) else { return false }
            var writers = 0
            for step in steps where values[step.output].storage == storage {
                if case .alias = step.kernel { continue }
                writers += 1
            }
            return writers == 1
        }

        /// The copy-out kernel of a channel view into `layout`.
        func copyOut(_ view: Int, _ layout: ChannelCopyLayout) -> StepKernel {
            let (source, start) = viewSource[view]!
            let shape = values[view].shape
            return .copyChannels(batch: shape[0], channels: values[source].shape[1], start: start, count: shape[1],
                                 plane: shape[2] * shape[3], layout: layout)
        }

        mutating func newValue(_ shape: [Int], _ layout: TensorLayout) -> Int {
            storageSize.append(layout == .blocked ? blockedCount(shape) : shape.reduce(1, *))
            values.append(Value(shape: shape, layout: layout, storage: storageSize.count - 1))
            return values.count - 1
        }

        mutating func aliasValue(of source: Int, shape: [Int]) -> Int {
            values.append(Value(shape: shape, layout: values[source].layout, storage: values[source].storage))
            return values.count - 1
        }

        /// The most scratch one thread of a threaded layer needs (see `threadScratchCount`).
        var threadScratch = 0

        mutating func add(_ label: String, _ kernel: StepKernel, _ inputs: [Int], _ output: Int, scratch needed: Int = 0) {
            steps.append((label, kernel, inputs, output))
            scratch = max(scratch, needed)
        }

        /// `value` in plain layout, converting (once) if it is not.
        mutating func plain(_ value: Int) -> Int {
            guard values[value].layout != .plain else { return value }
            if let copy = plainCopy[value] { return copy }
            let shape = values[value].shape
            let copy = newValue(shape, .plain)
            if values[value].layout == .channelView {
                add("copy channels to NCHW", copyOut(value, .plain), [value], copy)
            } else if values[value].layout == .channelsLast {
                add("transpose NHWC to NCHW", .transpose(inShape: [shape[0], shape[2], shape[3], shape[1]], perm: [0, 3, 1, 2]),
                    [value], copy)
            } else {
                add("reorder to NCHW", .toPlain(batch: shape[0], channels: shape[1], plane: shape[2] * shape[3]), [value], copy)
            }
            plainCopy[value] = copy
            return copy
        }

        /// `value` (4-D) in blocked layout, converting (once) if it is not.
        mutating func blocked(_ value: Int) -> Int {
            guard values[value].layout != .blocked else { return value }
            if values[value].layout == .channelsLast { return blocked(plain(value)) }
            if values[value].layout == .channelView {
                if let copy = blockedCopy[value] { return copy }
                let copy = newValue(values[value].shape, .blocked)
                add("copy channels to NCHWc8", copyOut(value, .blocked), [value], copy)
                blockedCopy[value] = copy
                return copy
            }
            if let copy = blockedCopy[value] { return copy }
            let shape = values[value].shape
            let copy = newValue(shape, .blocked)
            add("reorder to NCHWc8", .toBlocked(batch: shape[0], channels: shape[1], plane: shape[2] * shape[3]), [value], copy)
            blockedCopy[value] = copy
            return copy
        }

        /// Floats of the value's storage (padding lanes included).
        func storedCount(_ value: Int) -> Int { storageSize[values[value].storage] }
    }

    /// With `int8`, the convolutions it has an input quantisation for, and that `int8Eligible`
    /// admits, run in int8.
    package init(graph: CompiledGraph, inputShape: [Int], int8: Int8Settings? = nil) throws(ModelLoadError) {
        self.inputShape = inputShape
        guard inputShape.allSatisfy({ $0 > 0 }) else {
            throw ModelLoadError(reason: "input shape \(inputShape) has an empty dimension")
        }
        if graph.declaredInputShape.count != inputShape.count {
            throw ModelLoadError(reason: "input \(graph.inputName) has rank \(graph.declaredInputShape.count), got shape \(inputShape)")
        }
        var builder = Builder()
        // Graph value → planning value (graph values come first, reorder copies after).
        var valueOf = [Int](repeating: -1, count: graph.valueNames.count)
        valueOf[graph.inputValue] = builder.newValue(inputShape, .plain)
        let gathers = int8.map { $0.gathersInputs ? Self.int8InputGathers(graph, $0) : [:] } ?? [:]
        let gathered = Set(gathers.values.flatMap(\.steps))
        for (index, step) in graph.steps.enumerated() where !gathered.contains(index) {
            let eligibleInput = Self.int8EligibleInput(of: step, in: graph)
            let quantization = eligibleInput.flatMap { name in int8.flatMap { settings in settings.inputs[name].map { ($0, settings.implementation) } } }
            if let gather = gathers[index], case let .conv(layer) = step.operation, let eligibleInput, let quantization {
                if let (output, inputFloats) = try Self.planGathered(step, layer, gather, graph: graph, valueOf: valueOf, &builder,
                                                                     int8: quantization) {
                    valueOf[step.output] = output
                    builder.calibrated[builder.steps.count - 1] = (eligibleInput, inputFloats)
                    continue
                }
                // Not a shape the quantiser gathers: the parts are planned as they would have been.
                for part in gather.steps {
                    let partStep = graph.steps[part]
                    valueOf[partStep.output] = try Self.plan(partStep, partStep.inputs.map { valueOf[$0] }, &builder)
                }
            }
            valueOf[step.output] = try Self.plan(step, step.inputs.map { valueOf[$0] }, &builder, int8: quantization)
            if let eligibleInput, let conv = builder.steps.last {
                builder.calibrated[builder.steps.count - 1] = (eligibleInput, builder.storedCount(conv.inputs[0]))
            }
        }
        let outputs = graph.outputValues.map { builder.plain(valueOf[$0]) }

        // Lifetimes in step indices: a storage is busy from the step that first writes it until
        // the last step that reads it (graph outputs until the end).
        let values = builder.values
        let storageCount = builder.storageSize.count
        let endOfTime = builder.steps.count
        var firstUse = [Int](repeating: Int.max, count: storageCount)
        var lastUse = [Int](repeating: -1, count: storageCount)
        let inputStorage = values[valueOf[graph.inputValue]].storage
        firstUse[inputStorage] = -1
        for (index, step) in builder.steps.enumerated() {
            let written = values[step.output].storage
            firstUse[written] = min(firstUse[written], index)
            lastUse[written] = max(lastUse[written], index)
            for input in step.inputs { lastUse[values[input].storage] = max(lastUse[values[input].storage], index) }
        }
        for output in outputs { lastUse[values[output].storage] = endOfTime }
        // A concatenation's storage lives from the first write of any of its slices to the last
        // read of any of them; the slices are placed inside it, not on their own.
        for (child, link) in builder.parentOf {
            firstUse[link.parent] = min(firstUse[link.parent], firstUse[child])
            lastUse[link.parent] = max(lastUse[link.parent], lastUse[child])
        }

        // Greedy first-fit into one arena, in order of first use. 16-float alignment keeps every
        // tensor on its own cache lines.
        func aligned(_ n: Int) -> Int { (n + 15) & ~15 }
        var offsets = [Int](repeating: 0, count: storageCount)
        var live: [(start: Int, end: Int, storage: Int)] = []
        var arenaEnd = 0
        // An elementwise step may write over an input of its size that it is the last to read
        // (each value is read before it is written): U-2-Netp's residual additions then take no
        // third full-size tensor.
        var inPlace: [Int: Int] = [:]
        for (index, step) in builder.steps.enumerated() {
            switch step.kernel {
            case .relu, .sigmoid, .binarySameShape: break
            default: continue
            }
            let written = values[step.output].storage
            guard firstUse[written] == index, !builder.parents.contains(written) else { continue }
            inPlace[written] = step.inputs.map { values[$0].storage }.first {
                lastUse[$0] == index && builder.storageSize[$0] == builder.storageSize[written]
                    && builder.parentOf[$0] == nil && !builder.parents.contains($0)
            }
        }
        for storage in (0..<storageCount).sorted(by: { firstUse[$0] < firstUse[$1] }) where builder.parentOf[storage] == nil && (lastUse[storage] >= 0 || storage == inputStorage) {
            if let reused = inPlace[storage], let slot = live.firstIndex(where: { $0.storage == reused }) {
                offsets[storage] = live[slot].start
                live[slot].storage = storage
                continue
            }
            live.removeAll { lastUse[$0.storage] < firstUse[storage] }
            let size = aligned(builder.storageSize[storage])
            var candidate = 0
            for block in live.sorted(by: { $0.start < $1.start }) {
                if candidate + size <= block.start { break }
                candidate = max(candidate, block.end)
            }
            offsets[storage] = candidate
            live.append((candidate, candidate + size, storage))
            arenaEnd = max(arenaEnd, candidate + size)
        }

        for (child, link) in builder.parentOf { offsets[child] = offsets[link.parent] + link.offset }

        inputOffset = offsets[inputStorage]
        outputOffsets = outputs.map { offsets[values[$0].storage] }
        outputShapes = outputs.map { values[$0].shape }
        steps = builder.steps.enumerated().map { index, step in
            PlannedStep(label: step.label, kernel: step.kernel, inputOffsets: step.inputs.map { offsets[values[$0].storage] },
                        outputOffset: offsets[values[step.output].storage], calibratedInput: builder.calibrated[index])
        }
        scratchOffset = arenaEnd
        arenaCount = arenaEnd + aligned(builder.scratch)
        threadScratchCount = builder.threadScratch
    }

    /// Floats of arena the plan needs when run with `threads`.
    package func arenaCount(threads: Int) -> Int {
        max(arenaCount, scratchOffset + threads * threadScratchCount)
    }

    /// Runs every step; the input must already be at `inputOffset`, and the arena must hold
    /// `arenaCount(threads:)` floats. With `threads` above 1 the direct and Winograd
    /// convolutions (nearly all of a large network's time) split their output rows over that many
    /// threads; everything else runs on the caller's. The result is the same.
    package func run(arena: MutableFloatPointer, kernels: any KernelSet.Type, threads: Int = 1) {
        for step in steps { run(step, arena: arena, kernels: kernels, threads: threads) }
    }

    /// Runs every step, reporting each one's label and duration (for profiles).
    package func runTimed(arena: MutableFloatPointer, kernels: any KernelSet.Type, report: (String, Duration) -> Void) {
        let clock = ContinuousClock()
        for step in steps {
            let start = clock.now
            run(step, arena: arena, kernels: kernels)
            report(step.label, clock.now - start)
        }
    }

    @inline(__always)
    private func run(_ step: PlannedStep, arena: MutableFloatPointer, kernels: any KernelSet.Type, threads: Int = 1) {
        kernels.run(step.kernel, inputOffsets: step.inputOffsets, outputOffset: step.outputOffset, arena: arena,
                    scratch: arena + scratchOffset, threads: threads)
    }

    // MARK: Shape inference and kernel choice

    /// Whether a convolution may run in int8: group 1 over a blocked input (a network's first
    /// layer reads the image, three plain channels, and stays float), more than one output
    /// channel (a network's single-channel heads feed sigmoids, where int8's step shows most), and
    /// ReLU or no activation.
    package static func int8Eligible(_ layer: ConvLayer) -> Bool {
        layer.group == 1 && layer.inChannels > plainInputChannelLimit && layer.outChannels > 1 && layer.activation != .prelu
            && layer.pool == nil
    }

    /// The ONNX name of the input a step would quantise if it ran in int8: a convolution
    /// `int8Eligible` admits, or a 1×1 + depthwise pair ending in ReLU, not reading the network's
    /// input.
    private static func int8EligibleInput(of step: GraphStep, in graph: CompiledGraph) -> String? {
        guard step.inputs.first.map({ $0 != graph.inputValue }) == true else { return nil }
        switch step.operation {
        case let .conv(layer) where int8Eligible(layer): return graph.valueNames[step.inputs[0]]
        case let .pointwiseDepthwise(pw, dw, nil) where int8Eligible(pw) && dw.activation == .relu: return graph.valueNames[step.inputs[0]]
        default: return nil
        }
    }

    /// `layer` as an int8 step reading an input quantised as `int8` says.
    private static func int8Convolution(_ layer: ConvLayer, _ int8: (ActivationQuantization, Int8Implementation)) -> Int8Convolution {
        let weights = Int8ConvWeights(outChannels: layer.outChannels, inChannels: layer.inChannels,
                                      kernelHeight: layer.kernelHeight, kernelWidth: layer.kernelWidth,
                                      weights: layer.weights, bias: layer.bias, activation: layer.activation)
        return Int8Convolution(weights: weights, input: int8.0, implementation: int8.1)
    }

    /// Int8 convolutions (by graph step index) whose input is a concatenation, resize or max pool
    /// that nothing else reads, with the parts their quantiser would gather.
    private static func int8InputGathers(_ graph: CompiledGraph, _ int8: Int8Settings) -> [Int: Int8InputGather] {
        var producer: [ValueID: Int] = [:]
        var readers = [Int](repeating: 0, count: graph.valueNames.count)
        for (index, step) in graph.steps.enumerated() {
            producer[step.output] = index
            for input in step.inputs { readers[input] += 1 }
        }
        for output in graph.outputValues { readers[output] += 1 }
        func soleProducer(_ value: ValueID) -> Int? { readers[value] == 1 ? producer[value] : nil }
        func part(_ value: ValueID) -> (value: ValueID, kind: Int8InputGather.Kind) {
            if let step = soleProducer(value), let source = graph.steps[step].inputs.first {
                switch graph.steps[step].operation {
                case .resizeLinear: return (source, .resized(step: step))
                case .maxPool: return (source, .pooled(step: step))
                default: break
                }
            }
            return (value, .tensor)
        }
        func partSteps(_ parts: [(value: ValueID, kind: Int8InputGather.Kind)]) -> [Int] {
            parts.compactMap {
                switch $0.kind {
                case .tensor: nil
                case let .resized(step), let .pooled(step): step
                }
            }
        }
        var gathers: [Int: Int8InputGather] = [:]
        for (index, step) in graph.steps.enumerated() {
            guard case .conv = step.operation, let name = int8EligibleInput(of: step, in: graph), int8.inputs[name] != nil,
                  let source = soleProducer(step.inputs[0]) else { continue }
            switch graph.steps[source].operation {
            case let .concat(axis) where axis == 1 || axis == -3:
                let parts = graph.steps[source].inputs.map(part)
                gathers[index] = Int8InputGather(parts: parts, steps: partSteps(parts) + [source])
            case .resizeLinear, .maxPool:
                let parts = [part(step.inputs[0])]
                gathers[index] = Int8InputGather(parts: parts, steps: partSteps(parts))
            default:
                continue
            }
        }
        return gathers
    }

    /// Plans `.convInt8Gathered` for a convolution whose input `gather` describes, if every part
    /// is a single image of the same size and every part but the last a whole number of channel
    /// blocks; nil (nothing planned) otherwise. Returns the output value and the floats the
    /// concatenated input would have held.
    private static func planGathered(_ step: GraphStep, _ layer: ConvLayer, _ gather: Int8InputGather, graph: CompiledGraph,
                                     valueOf: [Int], _ b: inout Builder, int8: (ActivationQuantization, Int8Implementation))
        throws(ModelLoadError) -> (output: Int, inputFloats: Int)? {
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(reason: "\(step.nodeName): \(reason)") }
        var pieces: [Int8InputPiece] = []
        var shapes: [[Int]] = []
        for (index, part) in gather.parts.enumerated() {
            let x = b.values[valueOf[part.value]].shape
            guard x.count == 4, x[0] == 1 else { return nil }
            let shape: [Int]
            switch part.kind {
            case .tensor:
                shape = x
                pieces.append(Int8InputPiece(channels: x[1], source: .tensor))
            case let .resized(resize):
                let (kernel, outShape, _) = try planPlain(graph.steps[resize], [x])
                guard case let .resizeLinear(_, inHeight, inWidth, rows, columns, _) = kernel, outShape.count == 4,
                      outShape[0] == x[0], outShape[1] == x[1] else { return nil }
                shape = outShape
                pieces.append(Int8InputPiece(channels: x[1], source: .resizedLinear(inHeight: inHeight, inWidth: inWidth,
                                                                                   rows: rows, columns: columns)))
            case let .pooled(pool):
                guard case let .maxPool(poolLayer) = graph.steps[pool].operation else { return nil }
                let geometry = try poolGeometry(poolLayer, x, fail)
                shape = [x[0], x[1], geometry.outHeight, geometry.outWidth]
                pieces.append(Int8InputPiece(channels: x[1], source: .maxPooled(geometry)))
            }
            guard shapes.isEmpty || (shape[2] == shapes[0][2] && shape[3] == shapes[0][3]),
                  index == gather.parts.count - 1 || shape[1] % channelBlock == 0 else { return nil }
            shapes.append(shape)
        }
        let x = [1, shapes.reduce(0) { $0 + $1[1] }, shapes[0][2], shapes[0][3]]
        let geometry = try convGeometry(layer, x, fail)
        let sources = gather.parts.map { b.blocked(valueOf[$0.value]) }
        let output = b.newValue([1, layer.outChannels, geometry.outHeight, geometry.outWidth], .blocked)
        let label = ([step.nodeName] + gather.steps.map { graph.steps[$0].nodeName }).joined(separator: " ← ")
        b.add(label, .convInt8Gathered(int8Convolution(layer, int8), geometry, pieces: pieces), sources, output,
              scratch: geometry.int8ScratchCount)
        return (output, blockedCount(x))
    }

    /// Plans one graph step: picks the layout its inputs should be in (adding reorders), the
    /// kernel and the output's shape and layout. Returns the output value. `int8` is the input
    /// quantisation of a convolution to run in int8.
    private static func plan(_ step: GraphStep, _ inputs: [Int], _ b: inout Builder,
                             int8: (ActivationQuantization, Int8Implementation)? = nil) throws(ModelLoadError) -> Int {
        var inputs = inputs
        if case let .transpose(perm) = step.operation, perm == [0, 2, 3, 1] {
            // A channel view goes straight out to NHWC (below).
        } else {
            for i in inputs.indices where b.values[inputs[i]].layout == .channelView { inputs[i] = b.blocked(inputs[i]) }
        }
        let x = b.values[inputs[0]].shape
        let layout = b.values[inputs[0]].layout
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(reason: "\(step.nodeName): \(reason)") }
        switch step.operation {
        case let .pointwiseDepthwise(pw, dw, stemLayer):
            guard x.count == 4, case let .direct(pwWeights) = pw.kernel, case let .depthwise3x3(dwWeights) = dw.kernel else {
                throw fail("input shape \(x) is not NCHW")
            }
            var stem: StemConvolution?
            var source: Int
            var pwInput = x
            if let stemLayer {
                guard case let .direct(stemWeights) = stemLayer.kernel else { fatalError("stem \(step.nodeName) is not direct") }
                let geometry = try convGeometry(stemLayer, x, fail)
                source = stemWeights.inputLanes == channelBlock ? b.blocked(inputs[0])
                    : layout == .channelsLast ? inputs[0] : b.plain(inputs[0])
                stem = StemConvolution(weights: stemWeights, geometry: geometry, channelsLast: b.values[source].layout == .channelsLast)
                pwInput = [x[0], stemLayer.outChannels, geometry.outHeight, geometry.outWidth]
            } else {
                source = b.blocked(inputs[0])
            }
            guard pwInput[1] == pw.inChannels else {
                throw fail("input has \(pwInput[1]) channels, the weights expect \(pw.inChannels)")
            }
            let geometry = try convGeometry(dw, [x[0], pw.outChannels, pwInput[2], pwInput[3]], fail)
            // One image, no stem: the 1×1 layer in int8 (the planner offers `int8` only for pairs
            // ending in ReLU, so a head's linear pair feeding sigmoids and box offsets stays float).
            if let int8, stem == nil, x[0] == 1 {
                let pointwise = try convGeometry(pw, x, fail)
                var shape = [x[0], dw.outChannels, geometry.outHeight, geometry.outWidth]
                var pool: PoolGeometry?
                if let layer = dw.pool {
                    let pooled = try poolGeometry(layer, shape, fail)
                    pool = pooled
                    shape = [x[0], dw.outChannels, pooled.outHeight, pooled.outWidth]
                }
                let output = b.newValue(shape, .blocked)
                b.add(step.nodeName, .convPointwiseInt8Depthwise(int8Convolution(pw, int8), pointwise: pointwise, dwWeights, geometry,
                                                                 pool: pool),
                      [source], output, scratch: pointwiseDepthwiseScratchCount(geometry, blocks: dwWeights.blocks)
                        + pointwise.int8ScratchCount)
                return output
            }
            var shape = [x[0], dw.outChannels, geometry.outHeight, geometry.outWidth]
            var pool: PoolGeometry?
            if let layer = dw.pool {
                let pooled = try poolGeometry(layer, shape, fail)
                pool = pooled
                shape = [x[0], dw.outChannels, pooled.outHeight, pooled.outWidth]
            }
            let output = b.newValue(shape, .blocked)
            b.add(step.nodeName, .convPointwiseDepthwise(pwWeights, dwWeights, geometry, pool: pool, stem: stem), [source], output,
                  scratch: pointwiseDepthwiseScratchCount(geometry, blocks: dwWeights.blocks,
                                                          stemBlocks: stem.map { $0.weights.outBlocks } ?? 0))
            return output

        case let .conv(layer):
            guard x.count == 4 else { throw fail("input shape \(x) is not NCHW") }
            let geometry = try convGeometry(layer, x, fail)
            let (outHeight, outWidth) = (geometry.outHeight, geometry.outWidth)
            let outShape = [x[0], layer.outChannels, outHeight, outWidth]
            // One image: the quantised buffer and the kernels' indexing hold a single batch item.
            if let int8, geometry.batch == 1 {
                let source = b.blocked(inputs[0])
                let output = b.newValue(outShape, .blocked)
                b.add(step.nodeName, .convInt8(int8Convolution(layer, int8), geometry), [source], output,
                      scratch: geometry.int8ScratchCount)
                return output
            }
            switch layer.kernel {
            case let .direct(weights):
                let source = weights.inputLanes == channelBlock ? b.blocked(inputs[0])
                    : layout == .channelsLast ? inputs[0] : b.plain(inputs[0])
                let output = b.newValue(outShape, .blocked)
                b.add(step.nodeName, .convDirect(weights, geometry, channelsLast: b.values[source].layout == .channelsLast),
                      [source], output)
                return output
            case let .winograd(weights):
                let source = b.blocked(inputs[0])
                let output = b.newValue(outShape, .blocked)
                let slot = winogradScratchCount(weights, geometry)
                b.add(step.nodeName, .convWinograd(weights, geometry), [source], output, scratch: slot)
                b.threadScratch = max(b.threadScratch, slot)
                return output
            case let .depthwise3x3(weights):
                let source = b.blocked(inputs[0])
                var pool: PoolGeometry?
                var shape = outShape
                if let layer = layer.pool {
                    let geometry = try poolGeometry(layer, outShape, fail)
                    pool = geometry
                    shape = [x[0], x[1], geometry.outHeight, geometry.outWidth]
                }
                let output = b.newValue(shape, .blocked)
                b.add(step.nodeName, .convDepthwise(weights, geometry, pool: pool), [source], output,
                      scratch: depthwiseBlockedScratchCount(geometry))
                return output
            case let .general(weights):
                let source = b.plain(inputs[0])
                let output = b.newValue(outShape, .plain)
                b.add(step.nodeName, .convGeneral(weights, geometry), [source], output, scratch: generalConvolutionScratchCount(geometry))
                return output
            }

        case let .maxPool(layer):
            guard x.count == 4 else { throw fail("input shape \(x) is not NCHW") }
            var geometry = try poolGeometry(layer, x, fail)
            let outShape = [x[0], x[1], geometry.outHeight, geometry.outWidth]
            if layout == .blocked {
                let output = b.newValue(outShape, .blocked)
                geometry.planes = x[0] * channelBlocks(x[1])
                b.add(step.nodeName, .maxPoolBlocked(geometry), inputs, output)
                return output
            }
            let source = b.plain(inputs[0])
            let output = b.newValue(outShape, .plain)
            b.add(step.nodeName, .maxPool(geometry), [source], output)
            return output

        case .relu, .sigmoid:
            // Elementwise on whatever layout the input has (blocked padding lanes stay finite).
            let output = b.newValue(x, layout)
            let count = b.storedCount(inputs[0])
            if case .relu = step.operation {
                b.add(step.nodeName, .relu(count: count), inputs, output)
            } else {
                b.add(step.nodeName, .sigmoid(count: count), inputs, output)
            }
            return output

        case let .binary(op, nil) where inputs.count == 2 && b.values[inputs[1]].shape == x
                                        && b.values[inputs[1]].layout == layout:
            let output = b.newValue(x, layout)
            b.add(step.nodeName, .binarySameShape(op, count: b.storedCount(inputs[0]), constant: nil), inputs, output)
            return output

        case .resizeNearest where layout == .blocked:
            let (kernel, outShape, _) = try planPlain(step, [x])
            guard case let .resizeNearest(_, inHeight, inWidth, rows, columns) = kernel else { fatalError("resize planned as \(kernel)") }
            let output = b.newValue(outShape, .blocked)
            b.add(step.nodeName, .resizeNearestBlocked(planes: x[0] * channelBlocks(x[1]), inHeight: inHeight, inWidth: inWidth,
                                                       rows: rows, columns: columns), inputs, output)
            return output

        case let .transpose(perm) where layout == .plain && x.count == 4 && perm == [0, 3, 1, 2]:
            // NHWC → NCHW: left in place until a reader needs NCHW (a first convolution does not).
            let output = b.aliasValue(of: inputs[0], shape: [x[0], x[3], x[1], x[2]])
            b.values[output].layout = .channelsLast
            b.add(step.nodeName, .alias, inputs, output)
            return output

        case .transpose where layout == .channelView:
            let output = b.newValue([x[0], x[2], x[3], x[1]], .plain)
            b.add(step.nodeName, b.copyOut(inputs[0], .nhwc), inputs, output)
            return output

        case let .channelSlice(start, count):
            guard x.count == 4, start >= 0, count > 0, start + count <= x[1] else {
                throw fail("channels \(start)..<\(start + count) of shape \(x)")
            }
            let shape = [x[0], count, x[2], x[3]]
            if layout == .blocked {
                let output = b.aliasValue(of: inputs[0], shape: shape)
                b.values[output].layout = .channelView
                b.viewSource[output] = (inputs[0], start)
                b.add(step.nodeName, .alias, inputs, output)
                return output
            }
            let source = b.plain(inputs[0])
            let output = b.newValue(shape, .plain)
            b.add(step.nodeName, .sliceChannels(batch: x[0], channels: x[1], start: start, count: count, plane: x[2] * x[3]),
                  [source], output)
            return output

        case let .concat(axis) where (axis == 1 || axis == -3) && x.count == 4 && x[0] == 1
                                     && inputs.dropLast().allSatisfy({ b.values[$0].shape.count == 4 && b.values[$0].shape[1] % channelBlock == 0 })
                                     && inputs.contains(where: { b.values[$0].layout == .blocked }):
            // Batch 1, every input but the last a whole number of channel blocks: the blocked
            // concatenation is the inputs' blocked buffers end to end, so each producer writes
            // straight into its slice and the concatenation itself does nothing.
            let outShape = try outputShape(step, inputs.map { b.values[$0].shape })
            let output = b.newValue(outShape, .blocked)
            let parent = b.values[output].storage
            b.parents.insert(parent)
            var offset = 0
            var slices: [Int] = []
            for input in inputs {
                var slice = b.blocked(input)
                if !b.canAdopt(b.values[slice].storage) {
                    let copy = b.newValue(b.values[slice].shape, .blocked)
                    b.add("copy into " + step.nodeName, .copy(count: b.storedCount(slice)), [slice], copy)
                    slice = copy
                }
                b.parentOf[b.values[slice].storage] = (parent, offset)
                offset += b.storedCount(slice)
                slices.append(slice)
            }
            b.add(step.nodeName, .alias, slices, output)
            return output

        case .resizeLinear where layout == .blocked:
            let (kernel, outShape, _) = try planPlain(step, [x])
            guard case let .resizeLinear(_, inHeight, inWidth, rows, columns, _) = kernel else { fatalError("resize planned as \(kernel)") }
            let output = b.newValue(outShape, .blocked)
            b.add(step.nodeName, .resizeLinear(planes: x[0] * channelBlocks(x[1]), inHeight: inHeight, inWidth: inWidth,
                                               rows: rows, columns: columns, lanes: channelBlock), inputs, output)
            return output

        case .batchNorm:
            throw fail("BatchNormalization is only supported folded into the convolution before it")

        case let .transpose(perm) where layout == .blocked && x.count == 4 && perm == [0, 2, 3, 1]:
            let output = b.newValue([x[0], x[2], x[3], x[1]], .plain)
            b.add(step.nodeName, .blockedToNHWC(batch: x[0], channels: x[1], plane: x[2] * x[3]), inputs, output)
            return output

        default:
            // Everything else works on plain tensors.
            let sources = inputs.map { b.plain($0) }
            let (kernel, outShape, scratch) = try planPlain(step, sources.map { b.values[$0].shape })
            let output: Int
            if case .alias = kernel {
                output = b.aliasValue(of: sources[0], shape: outShape)
            } else {
                output = b.newValue(outShape, .plain)
            }
            b.add(step.nodeName, kernel, sources, output, scratch: scratch)
            return output
        }
    }

    /// Sizes, padding and strides of a convolution over an NCHW input of shape `x`.
    private static func convGeometry(_ layer: ConvLayer, _ x: [Int], _ fail: (String) -> ModelLoadError) throws(ModelLoadError) -> ConvGeometry {
        guard x[1] == layer.inChannels else {
            throw fail("input has \(x[1]) channels, the weights expect \(layer.inChannels)")
        }
        let (padTop, padBottom) = layer.padding.amounts(axis: 0, inSize: x[2], kernel: layer.kernelHeight, stride: layer.strides.0, dilation: layer.dilations.0)
        let (padLeft, padRight) = layer.padding.amounts(axis: 1, inSize: x[3], kernel: layer.kernelWidth, stride: layer.strides.1, dilation: layer.dilations.1)
        let outHeight = (x[2] + padTop + padBottom - (layer.kernelHeight - 1) * layer.dilations.0 - 1) / layer.strides.0 + 1
        let outWidth = (x[3] + padLeft + padRight - (layer.kernelWidth - 1) * layer.dilations.1 - 1) / layer.strides.1 + 1
        guard outHeight > 0, outWidth > 0 else { throw fail("input \(x) is smaller than the kernel") }
        return ConvGeometry(batch: x[0], inChannels: x[1], inHeight: x[2], inWidth: x[3],
                            outChannels: layer.outChannels, outHeight: outHeight, outWidth: outWidth,
                            kernelHeight: layer.kernelHeight, kernelWidth: layer.kernelWidth,
                            strideY: layer.strides.0, strideX: layer.strides.1,
                            dilationY: layer.dilations.0, dilationX: layer.dilations.1,
                            padTop: padTop, padLeft: padLeft, group: layer.group)
    }

    /// Output sizes and padding of a max pool over an NCHW input of shape `x`.
    private static func poolGeometry(_ layer: PoolLayer, _ x: [Int], _ fail: (String) -> ModelLoadError) throws(ModelLoadError) -> PoolGeometry {
        var outSize = [0, 0]
        var padBegin = [0, 0]
        let kernel = [layer.kernelHeight, layer.kernelWidth]
        let strides = [layer.strides.0, layer.strides.1]
        for axis in 0..<2 {
            let inSize = x[2 + axis]
            let (begin, end) = layer.padding.amounts(axis: axis, inSize: inSize, kernel: kernel[axis], stride: strides[axis], dilation: 1)
            padBegin[axis] = begin
            let span = inSize + begin + end - kernel[axis]
            guard span >= 0 else { throw fail("input \(x) is smaller than the pooling window") }
            if layer.ceilMode {
                var size = (span + strides[axis] - 1) / strides[axis] + 1
                // A window starting inside the end padding is dropped (ONNX/PyTorch rule).
                if (size - 1) * strides[axis] >= inSize + begin { size -= 1 }
                outSize[axis] = size
            } else {
                outSize[axis] = span / strides[axis] + 1
            }
        }
        return PoolGeometry(planes: x[0] * x[1], inHeight: x[2], inWidth: x[3], outHeight: outSize[0],
                            outWidth: outSize[1], kernelHeight: kernel[0], kernelWidth: kernel[1],
                            strideY: strides[0], strideX: strides[1], padTop: padBegin[0], padLeft: padBegin[1])
    }

    /// The output shape and per-axis scales of a 4-D Resize, from its scales or its sizes.
    private static func resizeTarget(_ layer: ResizeLayer, _ x: [Int], _ fail: (String) -> ModelLoadError) throws(ModelLoadError) -> ([Int], [Float]) {
        guard x.count == 4 else { throw fail("only 4-D resizing is supported, got \(x)") }
        var scales: [Float]
        var outShape: [Int]
        if let s = layer.scales {
            guard s.count == 4 else { throw fail("scales \(s) do not have one value per axis") }
            scales = s
            outShape = zip(x, s).map { Int((Float($0) * $1).rounded(.down)) }
        } else {
            let sizes = layer.sizes!
            guard sizes.count == 4 else { throw fail("sizes \(sizes) do not have one value per axis") }
            outShape = sizes
            scales = zip(sizes, x).map { Float($0) / Float($1) }
        }
        guard outShape[0] == x[0], outShape[1] == x[1] else {
            throw fail("resizing the batch or channel axis is not supported")
        }
        guard outShape[2] > 0, outShape[3] > 0 else { throw fail("output \(outShape) is empty") }
        return (outShape, scales)
    }

    /// The output shape of one lowered (not yet fused) step, for the importer's shape tracking.
    static func outputShape(_ step: GraphStep, _ inShapes: [[Int]]) throws(ModelLoadError) -> [Int] {
        let x = inShapes[0]
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(reason: "\(step.nodeName): \(reason)") }
        switch step.operation {
        case let .conv(layer):
            guard x.count == 4 else { throw fail("input shape \(x) is not NCHW") }
            let geometry = try convGeometry(layer, x, fail)
            return [x[0], layer.outChannels, geometry.outHeight, geometry.outWidth]
        case let .maxPool(layer):
            guard x.count == 4 else { throw fail("input shape \(x) is not NCHW") }
            let geometry = try poolGeometry(layer, x, fail)
            return [x[0], x[1], geometry.outHeight, geometry.outWidth]
        case .batchNorm:
            return x
        default:
            return try planPlain(step, inShapes).1
        }
    }

    /// Shape inference and kernel choice for the operators on plain tensors.
    private static func planPlain(_ step: GraphStep, _ inShapes: [[Int]]) throws(ModelLoadError) -> (StepKernel, [Int], Int) {
        let x = inShapes[0]
        let count = x.reduce(1, *)
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(reason: "\(step.nodeName): \(reason)") }
        switch step.operation {
        case .conv, .pointwiseDepthwise, .maxPool, .channelSlice, .batchNorm:
            fatalError("\(step.nodeName) is planned by plan(_:_:_:)")

        case let .concat(axis):
            let rank = x.count
            let a = axis < 0 ? axis + rank : axis
            guard a >= 0 && a < rank else { throw fail("axis \(axis) is out of range for shape \(x)") }
            for shape in inShapes where shape.count != rank || (0..<rank).contains(where: { $0 != a && shape[$0] != x[$0] }) {
                throw fail("shapes \(inShapes) differ off the concatenation axis \(a)")
            }
            var outShape = x
            outShape[a] = inShapes.map { $0[a] }.reduce(0, +)
            let inner = x[(a + 1)...].reduce(1, *)
            return (.concatPlain(outer: x[..<a].reduce(1, *), pieces: inShapes.map { $0[a] * inner }), outShape, 0)

        case let .resizeLinear(layer):
            let (outShape, scales) = try resizeTarget(layer, x, fail)
            let rows = linearSourceTaps(inSize: x[2], outSize: outShape[2], scale: scales[2], coordinateMode: layer.coordinateMode)
            let columns = linearSourceTaps(inSize: x[3], outSize: outShape[3], scale: scales[3], coordinateMode: layer.coordinateMode)
            return (.resizeLinear(planes: x[0] * x[1], inHeight: x[2], inWidth: x[3], rows: rows, columns: columns, lanes: 1), outShape, 0)

        case .relu:
            return (.relu(count: count), x, 0)
        case .sigmoid:
            return (.sigmoid(count: count), x, 0)

        case let .binary(op, constant):
            let y = constant?.shape ?? inShapes[1]
            guard let outShape = broadcastShape(x, y) else {
                throw fail("shapes \(x) and \(y) do not broadcast")
            }
            if op == .prelu && outShape != x {
                throw fail("slope shape \(y) would change the input shape \(x)")
            }
            if x == outShape && y.reduce(1, *) == count && (y == x || y.drop(while: { $0 == 1 }) == x.drop(while: { $0 == 1 })) {
                return (.binarySameShape(op, count: count, constant: constant?.values), outShape, 0)
            }
            let rank = outShape.count
            return (.binaryBroadcast(op, outShape: outShape, aStrides: broadcastStrides(x, toRank: rank),
                                     bStrides: broadcastStrides(y, toRank: rank), constant: constant?.values), outShape, 0)

        case let .softmax(axis, flattens):
            let rank = x.count
            let a = axis < 0 ? axis + rank : axis
            guard a >= 0 && a < rank else { throw fail("axis \(axis) is out of range for shape \(x)") }
            let outer = x[..<a].reduce(1, *)
            if flattens {
                return (.softmax(outer: outer, axisLength: x[a...].reduce(1, *), inner: 1), x, 0)
            }
            return (.softmax(outer: outer, axisLength: x[a], inner: x[(a + 1)...].reduce(1, *)), x, 0)

        case let .transpose(perm):
            let p = perm.isEmpty ? Array((0..<x.count).reversed()) : perm
            guard p.count == x.count, Set(p) == Set(0..<x.count) else {
                throw fail("perm \(perm) does not fit shape \(x)")
            }
            let outShape = p.map { x[$0] }
            // Moving only size-1 axes leaves the memory order as it was.
            let moved = p.filter { x[$0] != 1 }
            if moved == moved.sorted() { return (.alias, outShape, 0) }
            return (.transpose(inShape: x, perm: p), outShape, 0)

        case let .reshape(target, allowZero):
            var shape = target.enumerated().map { index, d in d == 0 && !allowZero ? (index < x.count ? x[index] : -2) : d }
            guard !shape.contains(-2), shape.filter({ $0 == -1 }).count <= 1, shape.allSatisfy({ $0 >= -1 }) else {
                throw fail("target shape \(target) is invalid for input \(x)")
            }
            if let unknown = shape.firstIndex(of: -1) {
                let known = shape.filter { $0 != -1 }.reduce(1, *)
                guard known > 0, count % known == 0 else { throw fail("cannot reshape \(x) to \(target)") }
                shape[unknown] = count / known
            }
            guard shape.reduce(1, *) == count else { throw fail("cannot reshape \(x) to \(target)") }
            return (.alias, shape, 0)

        case let .flatten(axis):
            let a = axis < 0 ? axis + x.count : axis
            guard a >= 0 && a <= x.count else { throw fail("axis \(axis) is out of range for shape \(x)") }
            return (.alias, [x[..<a].reduce(1, *), x[a...].reduce(1, *)], 0)

        case let .dense(layer):
            guard x.count >= 2, x.last == layer.inFeatures else {
                throw fail("input shape \(x) does not end in \(layer.inFeatures) features")
            }
            let rows = count / layer.inFeatures
            let scratch = layer.inFeatures * rows + layer.outFeatures * rows + gemmScratchCount(depth: layer.inFeatures)
            return (.dense(layer.packed, rows: rows), Array(x.dropLast()) + [layer.outFeatures], scratch)

        case let .resizeNearest(layer):
            let (outShape, scales) = try resizeTarget(layer, x, fail)
            let rows = nearestSourceIndices(inSize: x[2], outSize: outShape[2], scale: scales[2], coordinateMode: layer.coordinateMode, nearestMode: layer.nearestMode)
            let columns = nearestSourceIndices(inSize: x[3], outSize: outShape[3], scale: scales[3], coordinateMode: layer.coordinateMode, nearestMode: layer.nearestMode)
            return (.resizeNearest(planes: x[0] * x[1], inHeight: x[2], inWidth: x[3], rows: rows, columns: columns), outShape, 0)
        }
    }
}

