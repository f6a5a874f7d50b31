// One compiled graph bound to one input shape: every tensor's shape, where it lives in a single
// float arena, and the exact kernel call for each step. Planning costs microseconds; running
// allocates nothing.

struct PlannedStep: Sendable {
    enum Kernel: Sendable {
        case convPointwise(PackedWeights, ConvGeometry)
        case convDepthwise(DepthwiseWeights, ConvGeometry)
        case convGeneral([PackedWeights], ConvGeometry)
        case maxPool(PoolGeometry)
        case relu(count: Int)
        case sigmoid(count: Int)
        case binarySameShape(BinaryOperator, count: Int, constant: [Float]?)
        case binaryBroadcast(BinaryOperator, outShape: [Int], aStrides: [Int], bStrides: [Int], constant: [Float]?)
        case softmax(outer: Int, axisLength: Int, inner: Int)
        case transpose(inShape: [Int], perm: [Int])
        case dense(PackedWeights, rows: Int)
        case resizeNearest(planes: Int, inHeight: Int, inWidth: Int, rows: [Int], columns: [Int])
        /// Reshape, Flatten, Identity and layout-preserving transposes share their input's memory.
        case alias
    }

    var kernel: Kernel
    var inputOffsets: [Int]
    var outputOffset: Int
}

struct ExecutionPlan: Sendable {
    let inputShape: [Int]
    let inputOffset: Int
    let outputShapes: [[Int]]
    let outputOffsets: [Int]
    let steps: [PlannedStep]
    /// Floats of arena the plan needs: activations followed by kernel scratch.
    let arenaCount: Int
    let scratchOffset: Int

    init(graph: CompiledGraph, inputShape: [Int]) throws(ModelLoadError) {
        self.inputShape = inputShape
        guard inputShape.allSatisfy({ $0 > 0 }) else {
            throw ModelLoadError(reason: "input shape \(inputShape) has an empty dimension")
        }
        if graph.declaredInputShape.count != inputShape.count {
            throw ModelLoadError(reason: "input \(graph.inputName) has rank \(graph.declaredInputShape.count), got shape \(inputShape)")
        }
        var shapes = [[Int]?](repeating: nil, count: graph.valueNames.count)
        shapes[graph.inputValue] = inputShape
        // Storage: a value either owns a region or reuses its input's (aliases).
        var storageOf = [Int](repeating: -1, count: graph.valueNames.count)
        var storageSize: [Int] = []
        func newStorage(_ value: ValueID, count: Int) {
            storageOf[value] = storageSize.count
            storageSize.append(count)
        }
        newStorage(graph.inputValue, count: inputShape.reduce(1, *))

        var kernels: [PlannedStep.Kernel] = []
        var scratch = 0
        for step in graph.steps {
            let inShapes = step.inputs.map { shapes[$0]! }
            let (kernel, outShape, scratchNeeded) = try Self.plan(step, inShapes)
            shapes[step.output] = outShape
            scratch = max(scratch, scratchNeeded)
            if case .alias = kernel {
                storageOf[step.output] = storageOf[step.inputs[0]]
            } else {
                newStorage(step.output, count: outShape.reduce(1, *))
            }
            kernels.append(kernel)
        }

        // Lifetimes in step indices: a storage is busy from the step that first writes it until
        // the last step that reads it (graph outputs until the end).
        let endOfTime = graph.steps.count
        var firstUse = [Int](repeating: Int.max, count: storageSize.count)
        var lastUse = [Int](repeating: -1, count: storageSize.count)
        firstUse[storageOf[graph.inputValue]] = -1
        for (index, step) in graph.steps.enumerated() {
            let written = storageOf[step.output]
            firstUse[written] = min(firstUse[written], index)
            lastUse[written] = max(lastUse[written], index)
            for input in step.inputs { lastUse[storageOf[input]] = max(lastUse[storageOf[input]], index) }
        }
        for output in graph.outputValues { lastUse[storageOf[output]] = endOfTime }

        // Greedy first-fit into one arena, in order of first use. 16-float alignment keeps every
        // tensor on its own cache lines.
        func aligned(_ n: Int) -> Int { (n + 15) & ~15 }
        var offsets = [Int](repeating: 0, count: storageSize.count)
        var live: [(start: Int, end: Int, storage: Int)] = []
        var arenaEnd = 0
        for storage in storageSize.indices.sorted(by: { firstUse[$0] < firstUse[$1] }) where lastUse[storage] >= 0 || storage == storageOf[graph.inputValue] {
            live.removeAll { lastUse[$0.storage] < firstUse[storage] }
            let size = aligned(storageSize[storage])
            var candidate = 0
            for block in live.sorted(by: { $0.start < $1.start }) {
                if candidate + size <= block.start { break }
                candidate = max(candidate, block.end)
            }
            offsets[storage] = candidate
            live.append((candidate, candidate + size, storage))
            arenaEnd = max(arenaEnd, candidate + size)
        }

        inputOffset = offsets[storageOf[graph.inputValue]]
        outputOffsets = graph.outputValues.map { offsets[storageOf[$0]] }
        outputShapes = graph.outputValues.map { shapes[$0]! }
        steps = zip(graph.steps, kernels).map { step, kernel in
            PlannedStep(kernel: kernel, inputOffsets: step.inputs.map { offsets[storageOf[$0]] },
                        outputOffset: offsets[storageOf[step.output]])
        }
        scratchOffset = arenaEnd
        arenaCount = arenaEnd + aligned(scratch)
    }

    /// Runs every step; the input must already be at `inputOffset`.
    func run(arena: MutableFloatPointer) {
        let scratch = arena + scratchOffset
        for step in steps {
            let input = FloatPointer(arena + (step.inputOffsets.first ?? 0))
            let output = arena + step.outputOffset
            switch step.kernel {
            case let .convPointwise(weights, geometry):
                pointwiseConvolution(weights, geometry: geometry, input: input, output: output, scratch: scratch)
            case let .convDepthwise(weights, geometry):
                depthwiseConvolution3x3(weights, geometry: geometry, input: input, output: output, scratch: scratch)
            case let .convGeneral(weights, geometry):
                generalConvolution(weights, geometry: geometry, input: input, output: output, scratch: scratch)
            case let .maxPool(geometry):
                maxPool(geometry, input: input, output: output)
            case let .relu(count):
                relu(input, output, count: count)
            case let .sigmoid(count):
                sigmoid(input, output, count: count)
            case let .binarySameShape(op, count, constant):
                let shape = [count]
                if let constant {
                    constant.withUnsafeBufferPointer {
                        broadcastBinary(op, a: input, aStrides: [1], b: $0.baseAddress!, bStrides: [1], output: output, outShape: shape)
                    }
                } else {
                    broadcastBinary(op, a: input, aStrides: [1], b: arena + step.inputOffsets[1], bStrides: [1], output: output, outShape: shape)
                }
            case let .binaryBroadcast(op, outShape, aStrides, bStrides, constant):
                if let constant {
                    constant.withUnsafeBufferPointer {
                        broadcastBinary(op, a: input, aStrides: aStrides, b: $0.baseAddress!, bStrides: bStrides, output: output, outShape: outShape)
                    }
                } else {
                    broadcastBinary(op, a: input, aStrides: aStrides, b: arena + step.inputOffsets[1], bStrides: bStrides, output: output, outShape: outShape)
                }
            case let .softmax(outer, axisLength, inner):
                softmax(input, output, outerCount: outer, axisLength: axisLength, innerCount: inner)
            case let .transpose(inShape, perm):
                transpose(input, inShape: inShape, perm: perm, output)
            case let .dense(weights, rows):
                runDense(weights, rows: rows, input: input, output: output, scratch: scratch)
            case let .resizeNearest(planes, inHeight, inWidth, rows, columns):
                resizeNearest(input, output, planes: planes, inHeight: inHeight, inWidth: inWidth, sourceRows: rows, sourceColumns: columns)
            case .alias:
                break
            }
        }
    }

    /// [rows × K] · W[K × N]: transpose the activations so features run along GEMM rows, multiply
    /// by the packed Wᵀ, transpose back.
    private func runDense(_ weights: PackedWeights, rows: Int, input: FloatPointer, output: MutableFloatPointer, scratch: MutableFloatPointer) {
        let depth = weights.depth, features = weights.rows
        let inputT = scratch
        let outputT = scratch + depth * rows
        let gemmScratch = outputT + features * rows
        for r in 0..<rows { for k in 0..<depth { inputT[k * rows + r] = input[r * depth + k] } }
        gemm(weights, b: inputT, ldb: rows, columns: rows, c: outputT, ldc: rows, scratch: gemmScratch)
        for r in 0..<rows { for n in 0..<features { output[r * features + n] = outputT[n * rows + r] } }
    }

    // MARK: Shape inference and kernel choice

    private static func plan(_ step: GraphStep, _ inShapes: [[Int]]) throws(ModelLoadError) -> (PlannedStep.Kernel, [Int], Int) {
        let x = inShapes[0]
        let count = x.reduce(1, *)
        func fail(_ reason: String) -> ModelLoadError { ModelLoadError(reason: "\(step.nodeName): \(reason)") }
        switch step.operation {
        case let .conv(layer):
            guard x.count == 4 else { throw fail("input shape \(x) is not NCHW") }
            guard x[1] == layer.inChannels else {
                throw fail("input has \(x[1]) channels, the weights expect \(layer.inChannels)")
            }
            let (padTop, padBottom) = layer.padding.amounts(axis: 0, inSize: x[2], kernel: layer.kernelHeight, stride: layer.strides.0, dilation: layer.dilations.0)
            let (padLeft, padRight) = layer.padding.amounts(axis: 1, inSize: x[3], kernel: layer.kernelWidth, stride: layer.strides.1, dilation: layer.dilations.1)
            let outHeight = (x[2] + padTop + padBottom - (layer.kernelHeight - 1) * layer.dilations.0 - 1) / layer.strides.0 + 1
            let outWidth = (x[3] + padLeft + padRight - (layer.kernelWidth - 1) * layer.dilations.1 - 1) / layer.strides.1 + 1
            guard outHeight > 0, outWidth > 0 else { throw fail("input \(x) is smaller than the kernel") }
            let geometry = ConvGeometry(batch: x[0], inChannels: x[1], inHeight: x[2], inWidth: x[3],
                                        outChannels: layer.outChannels, outHeight: outHeight, outWidth: outWidth,
                                        kernelHeight: layer.kernelHeight, kernelWidth: layer.kernelWidth,
                                        strideY: layer.strides.0, strideX: layer.strides.1,
                                        dilationY: layer.dilations.0, dilationX: layer.dilations.1,
                                        padTop: padTop, padLeft: padLeft, group: layer.group)
            let outShape = [x[0], layer.outChannels, outHeight, outWidth]
            switch layer.kernel {
            case let .pointwise(weights):
                return (.convPointwise(weights, geometry), outShape, gemmScratchCount(depth: weights.depth))
            case let .depthwise3x3(weights):
                return (.convDepthwise(weights, geometry), outShape, depthwiseScratchCount(geometry))
            case let .general(weights):
                return (.convGeneral(weights, geometry), outShape, generalConvolutionScratchCount(geometry))
            }

        case let .maxPool(layer):
            guard x.count == 4 else { throw fail("input shape \(x) is not NCHW") }
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
            let geometry = PoolGeometry(planes: x[0] * x[1], inHeight: x[2], inWidth: x[3], outHeight: outSize[0],
                                        outWidth: outSize[1], kernelHeight: kernel[0], kernelWidth: kernel[1],
                                        strideY: strides[0], strideX: strides[1], padTop: padBegin[0], padLeft: padBegin[1])
            return (.maxPool(geometry), [x[0], x[1], outSize[0], outSize[1]], 0)

        case .relu:
            return (.relu(count: count), x, 0)
        case .sigmoid:
            return (.sigmoid(count: count), x, 0)
        case .identity:
            return (.alias, x, 0)

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
            let rows = nearestSourceIndices(inSize: x[2], outSize: outShape[2], scale: scales[2], coordinateMode: layer.coordinateMode, nearestMode: layer.nearestMode)
            let columns = nearestSourceIndices(inSize: x[3], outSize: outShape[3], scale: scales[3], coordinateMode: layer.coordinateMode, nearestMode: layer.nearestMode)
            return (.resizeNearest(planes: x[0] * x[1], inHeight: x[2], inWidth: x[3], rows: rows, columns: columns), outShape, 0)
        }
    }
}
