// Turns a decoded ONNX graph into a list of operations with their constants resolved, weights
// packed and activations fused into the layer that produces their input. Nothing here depends on
// the input size, except for graphs that compute shapes at run time (see ShapeFolding.swift):
// those are compiled for one input size at a time. `ExecutionPlan` does the rest.

import Synchronization

/// A model the runtime refuses, with the reason in words; the loader adds the model's name and
/// where to get the right file.
package struct ModelLoadError: Error, Equatable {
    package var reason: String
    /// The graph computes shapes from its input's size, so it must be compiled for one size.
    package var needsInputSize = false

    package init(reason: String, needsInputSize: Bool = false) {
        self.reason = reason
        self.needsInputSize = needsInputSize
    }
}

package typealias ValueID = Int

package enum ConvPadding: Sendable, Equatable {
    /// top, left, bottom, right
    case explicit(Int, Int, Int, Int)
    case sameUpper
    case sameLower
    case valid

    /// No padding on any side, whatever the input size.
    package var isZero: Bool {
        switch self {
        case let .explicit(t, l, b, r): return t == 0 && l == 0 && b == 0 && r == 0
        case .valid: return true
        case .sameUpper, .sameLower: return false
        }
    }

    /// (begin, end) padding of one spatial axis for the given input size.
    package func amounts(axis: Int, inSize: Int, kernel: Int, stride: Int, dilation: Int) -> (Int, Int) {
        switch self {
        case let .explicit(top, left, bottom, right):
            return axis == 0 ? (top, bottom) : (left, right)
        case .valid:
            return (0, 0)
        case .sameUpper, .sameLower:
            let outSize = (inSize + stride - 1) / stride
            let effectiveKernel = (kernel - 1) * dilation + 1
            let total = max(0, (outSize - 1) * stride + effectiveKernel - inSize)
            return self == .sameUpper ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
        }
    }
}

package enum ConvKernel: Sendable {
    /// Group 1, any kernel: channel-blocked output; the input is blocked too unless the layer
    /// has at most `plainInputChannelLimit` input channels (a network's first layer), which it
    /// reads from plain NCHW.
    case direct(DirectConvWeights)
    /// Group 1, 3×3 stride 1, blocked input and output: Winograd F(2×2, 3×3).
    case winograd(WinogradWeights)
    /// Depthwise 3×3 stride 1, blocked in and out, optionally followed by a fused 2×2 max pool.
    case depthwise3x3(DepthwiseConvWeights)
    /// Any other grouping: plain NCHW in and out, im2col + GEMM per group.
    case general([PackedWeights])
}

/// A group-1 convolution with this few input channels reads plain NCHW: blocking three channels
/// into eight lanes would waste most of the reduction.
package let plainInputChannelLimit = 4

/// Which kernel a convolution runs, from its attributes alone (see `ConvLayer.pack`).
package enum ConvKernelKind: Sendable, Equatable {
    case direct(blockedInput: Bool)
    case winograd
    case depthwise3x3
    case general
}

package struct ConvLayer: Sendable {
    package let outChannels: Int
    package let inChannels: Int
    package let kernelHeight: Int
    package let kernelWidth: Int
    package let strides: (Int, Int)
    package let dilations: (Int, Int)
    package let padding: ConvPadding
    package let group: Int
    /// OIHW as in the model; kept so fusion can re-pack with an activation, and for int8.
    package let weights: [Float]
    package let bias: [Float]
    package let activation: ActivationKind
    package let slopes: [Float]
    package let kernelKind: ConvKernelKind
    /// A 2×2 stride-2 max pool fused after a depthwise layer (and its activation).
    package var pool: PoolLayer? = nil
    private let packing = PackedConvKernel()

    /// The weights packed for `kernelKind`, on first use: compiling makes each layer two or three
    /// times over (batch norm folded, activation fused) before the last is planned, and a layer
    /// an int8 plan runs never needs its float packing.
    package var kernel: ConvKernel { packing.kernel { packKernel() } }

    /// Chooses the kernel from the layer's attributes; the weights are packed for it when a plan
    /// first asks (`kernel`).
    package static func pack(outChannels: Int, inChannels: Int, kernelHeight: Int, kernelWidth: Int, strides: (Int, Int),
                     dilations: (Int, Int), padding: ConvPadding, group: Int, weights: [Float], bias: [Float],
                     activation: ActivationKind, slopes: [Float]) -> ConvLayer {
        let kind: ConvKernelKind
        if group == inChannels && group == outChannels && kernelHeight == 3 && kernelWidth == 3
            && strides == (1, 1) && dilations == (1, 1) {
            // Also a single-channel 3×3 layer (group 1): YuNet's heads end in those.
            kind = .depthwise3x3
        } else if WinogradWeights.applies(outChannels: outChannels, inChannels: inChannels, kernelHeight: kernelHeight,
                                          kernelWidth: kernelWidth, strides: strides, dilations: dilations, group: group,
                                          blockedInput: inChannels > plainInputChannelLimit) {
            kind = .winograd
        } else if group == 1 {
            kind = .direct(blockedInput: inChannels > plainInputChannelLimit)
        } else {
            kind = .general
        }
        return ConvLayer(outChannels: outChannels, inChannels: inChannels, kernelHeight: kernelHeight,
                         kernelWidth: kernelWidth, strides: strides, dilations: dilations, padding: padding,
                         group: group, weights: weights, bias: bias, activation: activation, slopes: slopes,
                         kernelKind: kind)
    }

    private func packKernel() -> ConvKernel {
        switch kernelKind {
        case .depthwise3x3:
            return .depthwise3x3(DepthwiseConvWeights(channels: outChannels, weights: weights, bias: bias,
                                                      activation: activation, slopes: slopes))
        case .winograd:
            return .winograd(WinogradWeights(outChannels: outChannels, inChannels: inChannels, weights: weights, bias: bias,
                                             activation: activation, slopes: slopes))
        case let .direct(blockedInput):
            return .direct(DirectConvWeights(outChannels: outChannels, inChannels: inChannels, kernelHeight: kernelHeight,
                                             kernelWidth: kernelWidth, blockedInput: blockedInput,
                                             weights: weights, bias: bias, activation: activation, slopes: slopes))
        case .general:
            let outPerGroup = outChannels / group
            let depth = inChannels / group * kernelHeight * kernelWidth
            return .general((0..<group).map { g in
                PackedWeights(rows: outPerGroup, depth: depth,
                              bias: Array(bias[(g * outPerGroup)..<((g + 1) * outPerGroup)]),
                              activation: activation,
                              slopes: slopes.isEmpty ? nil : Array(slopes[(g * outPerGroup)..<((g + 1) * outPerGroup)])) { row, k in
                    weights[(g * outPerGroup + row) * depth + k]
                }
            })
        }
    }

    package func withActivation(_ activation: ActivationKind, slopes: [Float]) -> ConvLayer {
        var layer = ConvLayer.pack(outChannels: outChannels, inChannels: inChannels, kernelHeight: kernelHeight,
                                   kernelWidth: kernelWidth, strides: strides, dilations: dilations, padding: padding,
                                   group: group, weights: weights, bias: bias, activation: activation, slopes: slopes)
        layer.pool = pool
        return layer
    }

    /// The layer followed by a batch normalisation: each output channel's weights and bias scaled,
    /// and the shift added to the bias.
    func folding(_ norm: BatchNormLayer) -> ConvLayer {
        let perChannel = weights.count / outChannels
        var scaled = weights
        for channel in 0..<outChannels {
            for i in 0..<perChannel { scaled[channel * perChannel + i] *= norm.scale[channel] }
        }
        let folded = (0..<outChannels).map { bias[$0] * norm.scale[$0] + norm.shift[$0] }
        return ConvLayer.pack(outChannels: outChannels, inChannels: inChannels, kernelHeight: kernelHeight, kernelWidth: kernelWidth,
                              strides: strides, dilations: dilations, padding: padding, group: group, weights: scaled,
                              bias: folded, activation: activation, slopes: slopes)
    }

    /// Whether `pool` can run inside this layer's kernel: a depthwise layer and a 2×2 stride-2
    /// pool without padding.
    package func canFuse(_ pool: PoolLayer) -> Bool {
        guard case .depthwise3x3 = kernel, self.pool == nil else { return false }
        return pool.padding.isZero && pool.kernelHeight == 2 && pool.kernelWidth == 2 && pool.strides == (2, 2)
    }
}

package struct PoolLayer: Sendable {
    package var kernelHeight: Int
    package var kernelWidth: Int
    package var strides: (Int, Int)
    package var padding: ConvPadding
    package var ceilMode: Bool
}

/// MatMul with a constant right-hand side, run as a GEMM on the transposed problem so that the
/// bias and PRelu slopes (per output feature) land on GEMM rows, where the epilogue applies them.
package struct DenseLayer: Sendable {
    package var inFeatures: Int
    package var outFeatures: Int
    /// [K][N] as in the model.
    package var weights: [Float]
    package var bias: [Float]
    package var activation: ActivationKind = .none
    package var slopes: [Float] = []
    package var packed: PackedWeights

    package static func pack(inFeatures: Int, outFeatures: Int, weights: [Float], bias: [Float], activation: ActivationKind,
                     slopes: [Float]) -> DenseLayer {
        let packed = PackedWeights(rows: outFeatures, depth: inFeatures, bias: bias, activation: activation,
                                   slopes: slopes) { n, k in weights[k * outFeatures + n] }
        return DenseLayer(inFeatures: inFeatures, outFeatures: outFeatures, weights: weights, bias: bias,
                          activation: activation, slopes: slopes, packed: packed)
    }
}

package struct ResizeLayer: Sendable {
    /// Per-axis scale factors; `nil` when the graph gives output sizes instead.
    package var scales: [Float]?
    package var sizes: [Int]?
    package var coordinateMode: String
    package var nearestMode: String
}

/// BatchNormalization as a per-channel affine map, folded into the convolution before it.
package struct BatchNormLayer: Sendable {
    package var scale: [Float]
    package var shift: [Float]
}

/// A constant operand of an elementwise operator, with its own shape for broadcasting.
package struct ConstantOperand: Sendable {
    package var shape: [Int]
    package var values: [Float]
}

package enum Operation: Sendable {
    case conv(ConvLayer)
    /// A 1×1 convolution whose output only feeds a depthwise 3×3 one, run as one kernel that
    /// never stores the intermediate tensor; optionally with the group-1 convolution before the
    /// 1×1 one (`stem`, whose output only feeds it) computed row by row inside the same kernel.
    case pointwiseDepthwise(ConvLayer, ConvLayer, stem: ConvLayer?)
    case maxPool(PoolLayer)
    case relu
    case sigmoid
    /// Add or PRelu; `constant` replaces the second input when it is a model constant.
    case binary(BinaryOperator, constant: ConstantOperand?)
    case softmax(axis: Int, flattensTrailingAxes: Bool)
    case transpose(perm: [Int])
    case reshape(shape: [Int], allowZero: Bool)
    case flatten(axis: Int)
    case dense(DenseLayer)
    case resizeNearest(ResizeLayer)
    case resizeLinear(ResizeLayer)
    /// Concatenation along `axis`; along channels it costs no copy where the producers can write
    /// into slices of one buffer (see ExecutionPlan).
    case concat(axis: Int)
    case batchNorm(BatchNormLayer)
    /// Channels `start..<start + count` of an NCHW tensor (made by `mergeSiblingHeads`).
    case channelSlice(start: Int, count: Int)

    package var name: String {
        switch self {
        case .conv: return "Conv"
        case .pointwiseDepthwise: return "Conv+Conv"
        case .maxPool: return "MaxPool"
        case .relu: return "Relu"
        case .sigmoid: return "Sigmoid"
        case .binary(.add, _): return "Add"
        case .binary(.prelu, _): return "PRelu"
        case .softmax: return "Softmax"
        case .transpose: return "Transpose"
        case .reshape: return "Reshape"
        case .flatten: return "Flatten"
        case .dense: return "MatMul"
        case .resizeNearest, .resizeLinear: return "Resize"
        case .concat: return "Concat"
        case .batchNorm: return "BatchNormalization"
        case .channelSlice: return "Slice"
        }
    }
}

package struct GraphStep: Sendable {
    package var nodeName: String
    package var operation: Operation
    package var inputs: [ValueID]
    package var output: ValueID
}

package struct CompiledGraph: Sendable {
    package var steps: [GraphStep]
    package var valueNames: [String]
    package var inputValue: ValueID
    package var inputName: String
    package var declaredInputShape: [OnnxDimension]
    package var outputValues: [ValueID]
    package var outputNames: [String]

    package static let supportedOperators = ["Conv", "Relu", "PRelu", "MaxPool", "Add", "Sigmoid", "Softmax", "Transpose",
                                     "Reshape", "Flatten", "MatMul", "Resize", "Constant", "Identity", "Concat",
                                     "BatchNormalization"] + shapeOperators.sorted()

    /// Compiles `model`. A graph that computes shapes from its input needs `inputShape`, and is
    /// then only valid for inputs of that shape; without it such a graph throws an error with
    /// `needsInputSize` set. `keeping` names the graph outputs to compute (all when nil); the
    /// steps only the others need are dropped.
    package init(_ model: OnnxModel, inputShape: [Int]? = nil, keeping kept: [String]? = nil) throws(ModelLoadError) {
        let graph = model.graph
        var constants: [String: OnnxTensor] = [:]
        for tensor in graph.initializers { constants[tensor.name] = tensor }

        let runtimeInputs = graph.inputs.filter { constants[$0.name] == nil }
        guard runtimeInputs.count == 1 else {
            throw ModelLoadError(reason: "expected one input tensor, the graph has \(runtimeInputs.count)")
        }
        var ids: [String: ValueID] = [:]
        var names: [String] = []
        func define(_ name: String) -> ValueID {
            let id = names.count
            names.append(name)
            ids[name] = id
            return id
        }
        inputName = runtimeInputs[0].name
        declaredInputShape = runtimeInputs[0].dims
        inputValue = define(inputName)
        // Shapes of runtime values, tracked only when compiling for one input size.
        var shapes: [ValueID: [Int]] = [:]
        if let inputShape {
            guard inputShape.count == declaredInputShape.count else {
                throw ModelLoadError(reason: "input \(inputName) has rank \(declaredInputShape.count), got shape \(inputShape)")
            }
            shapes[inputValue] = inputShape
        }

        var steps: [GraphStep] = []
        for node in graph.nodes {
            let label = node.name.isEmpty ? node.opType : "\(node.opType) \(node.name)"
            guard node.domain.isEmpty || node.domain == "ai.onnx" else {
                throw ModelLoadError(reason: "unsupported operator \(node.domain).\(node.opType) (node \(node.name))")
            }
            guard Self.supportedOperators.contains(node.opType) else {
                throw ModelLoadError(reason: "unsupported operator \(node.opType) (node \(node.name)); supported: \(Self.supportedOperators.joined(separator: ", "))")
            }
            guard node.outputs.count == 1 || (node.opType == "MaxPool" && node.outputs.count == 2 && node.outputs[1].isEmpty) else {
                throw ModelLoadError(reason: "\(label) has \(node.outputs.count) outputs; only one is supported")
            }
            if node.opType == "Constant" {
                guard case let .tensor(value)? = node.attributes["value"] else {
                    throw ModelLoadError(reason: "\(label) has no tensor value")
                }
                var named = value
                named.name = node.outputs[0]
                constants[node.outputs[0]] = named
                continue
            }
            if node.opType == "Identity" {
                // Dropped: its output is another name for its input.
                guard node.inputs.count == 1 else {
                    throw ModelLoadError(reason: "\(label) has \(node.inputs.count) inputs, expected 1...1")
                }
                if let constant = constants[node.inputs[0]] {
                    constants[node.outputs[0]] = constant
                } else if let id = ids[node.inputs[0]] {
                    ids[node.outputs[0]] = id
                } else {
                    throw ModelLoadError(reason: "\(label) reads \(node.inputs[0]), which no earlier node produces")
                }
                continue
            }
            if Self.isFoldable(node, constants: constants) {
                constants[node.outputs[0]] = try Self.fold(node, label: label, constants: constants, opset: model.opsetVersion) { name in
                    ids[name].flatMap { shapes[$0] }
                }
                continue
            }
            var attributes = NodeAttributes(node: node, label: label)
            let lowered = try Self.lower(node, label: label, attributes: &attributes, constants: constants,
                                         opset: model.opsetVersion)
            var inputs: [ValueID] = []
            for name in lowered.runtimeInputs {
                guard let id = ids[name] else {
                    if constants[name] != nil {
                        throw ModelLoadError(reason: "\(label) computes on constants only; constant folding of this operator is not supported")
                    }
                    throw ModelLoadError(reason: "\(label) reads \(name), which no earlier node produces")
                }
                inputs.append(id)
            }
            let step = GraphStep(nodeName: label, operation: lowered.operation, inputs: inputs, output: define(node.outputs[0]))
            if inputShape != nil {
                var inShapes: [[Int]] = []
                for input in inputs {
                    guard let shape = shapes[input] else { break }
                    inShapes.append(shape)
                }
                if inShapes.count == inputs.count { shapes[step.output] = try ExecutionPlan.outputShape(step, inShapes) }
            }
            steps.append(step)
        }
        let outputNames = kept ?? graph.outputs.map(\.name)
        var outputs: [ValueID] = []
        for name in outputNames {
            guard graph.outputs.contains(where: { $0.name == name }) else {
                throw ModelLoadError(reason: "the graph has no output named \(name)")
            }
            guard let id = ids[name] else {
                throw ModelLoadError(reason: "graph output \(name) is not computed by any node")
            }
            outputs.append(id)
        }
        guard !outputs.isEmpty else { throw ModelLoadError(reason: "the graph has no outputs") }
        // Only the steps the kept outputs depend on.
        var live = Set(outputs)
        var needed = [Bool](repeating: false, count: steps.count)
        for index in steps.indices.reversed() where live.contains(steps[index].output) {
            needed[index] = true
            live.formUnion(steps[index].inputs)
        }
        self.steps = steps.indices.filter { needed[$0] }.map { steps[$0] }
        self.valueNames = names
        self.outputValues = outputs
        self.outputNames = outputNames
        fuseActivations()
        if let unfused = self.steps.first(where: { if case .batchNorm = $0.operation { true } else { false } }) {
            throw ModelLoadError(reason: "\(unfused.nodeName) does not follow a convolution whose output only it reads; such a BatchNormalization is not supported")
        }
        fusePointwiseDepthwise()
        mergeSiblingHeads()
    }

    /// How many steps (and graph outputs) read each value: a fusion may only swallow a value
    /// that has a single reader.
    private func consumerCounts() -> [Int] {
        var consumers = [Int](repeating: 0, count: valueNames.count)
        for step in steps { for input in step.inputs { consumers[input] += 1 } }
        for output in outputValues { consumers[output] += 1 }
        return consumers
    }

    /// The index of the step that writes each value.
    private func producers() -> [ValueID: Int] {
        var producer: [ValueID: Int] = [:]
        for (index, step) in steps.enumerated() { producer[step.output] = index }
        return producer
    }

    /// Folds Relu/PRelu into the Conv before them, a 2×2 MaxPool into the depthwise Conv (and
    /// activation) before it, and Add(bias)/PRelu into the MatMul before them, when the
    /// intermediate value feeds nothing else.
    private mutating func fuseActivations() {
        let consumers = consumerCounts()
        var producer = producers()
        var removed = Set<Int>()
        for index in steps.indices {
            let step = steps[index]
            guard step.inputs.count == 1, let source = producer[step.inputs[0]], !removed.contains(source),
                  consumers[step.inputs[0]] == 1 else { continue }
            var replacement: Operation?
            switch (steps[source].operation, step.operation) {
            case let (.conv(conv), .batchNorm(norm)) where conv.activation == .none && conv.pool == nil
                                                           && norm.scale.count == conv.outChannels:
                replacement = .conv(conv.folding(norm))
            case let (.conv(conv), .maxPool(pool)) where conv.canFuse(pool):
                var fused = conv
                fused.pool = pool
                replacement = .conv(fused)
            case let (.conv(conv), .relu) where conv.activation == .none && conv.pool == nil:
                replacement = .conv(conv.withActivation(.relu, slopes: []))
            case let (.conv(conv), .binary(.prelu, constant?)) where conv.activation == .none && conv.pool == nil:
                if let slopes = Self.perChannel(constant, channels: conv.outChannels, channelAxisFromEnd: 3) {
                    replacement = .conv(conv.withActivation(.prelu, slopes: slopes))
                }
            case let (.dense(dense), .binary(.add, constant?)) where dense.activation == .none:
                if let bias = Self.perChannel(constant, channels: dense.outFeatures, channelAxisFromEnd: 1) {
                    replacement = .dense(.pack(inFeatures: dense.inFeatures, outFeatures: dense.outFeatures,
                                               weights: dense.weights, bias: zip(dense.bias, bias).map(+),
                                               activation: .none, slopes: []))
                }
            case let (.dense(dense), .relu) where dense.activation == .none:
                replacement = .dense(.pack(inFeatures: dense.inFeatures, outFeatures: dense.outFeatures,
                                           weights: dense.weights, bias: dense.bias, activation: .relu, slopes: []))
            case let (.dense(dense), .binary(.prelu, constant?)) where dense.activation == .none:
                if let slopes = Self.perChannel(constant, channels: dense.outFeatures, channelAxisFromEnd: 1) {
                    replacement = .dense(.pack(inFeatures: dense.inFeatures, outFeatures: dense.outFeatures,
                                               weights: dense.weights, bias: dense.bias, activation: .prelu, slopes: slopes))
                }
            default: break
            }
            guard let replacement else { continue }
            steps[source].operation = replacement
            steps[source].output = step.output
            steps[source].nodeName += " + " + step.nodeName
            producer[step.output] = source
            removed.insert(index)
        }
        steps = steps.indices.filter { !removed.contains($0) }.map { steps[$0] }
    }

    /// Merges each 1×1 stride-1 unpadded convolution into the depthwise 3×3 convolution that is
    /// the only reader of its output (after activations and pools have been fused), then the
    /// convolution before such a pair into it.
    private mutating func fusePointwiseDepthwise() {
        let consumers = consumerCounts()
        var producer = producers()
        var removed = Set<Int>()
        for index in steps.indices {
            let step = steps[index]
            guard case let .conv(dw) = step.operation, dw.kernelKind == .depthwise3x3,
                  step.inputs.count == 1, let source = producer[step.inputs[0]], !removed.contains(source),
                  consumers[step.inputs[0]] == 1, case let .conv(pw) = steps[source].operation, pw.pool == nil,
                  pw.kernelKind == .direct(blockedInput: true),
                  pw.kernelHeight == 1, pw.kernelWidth == 1, pw.strides == (1, 1), pw.padding.isZero,
                  pw.outChannels == dw.inChannels else { continue }
            steps[source].operation = .pointwiseDepthwise(pw, dw, stem: nil)
            steps[source].output = step.output
            steps[source].nodeName += " + " + step.nodeName
            producer[step.output] = source
            removed.insert(index)
        }
        steps = steps.indices.filter { !removed.contains($0) }.map { steps[$0] }

        // Then a group-1 convolution (without pool) feeding only such a pair becomes its stem.
        producer = producers()
        removed = []
        for index in steps.indices {
            let step = steps[index]
            guard case let .pointwiseDepthwise(pw, dw, nil) = step.operation, let source = producer[step.inputs[0]],
                  !removed.contains(source), consumers[step.inputs[0]] == 1, case let .conv(stem) = steps[source].operation,
                  stem.pool == nil, case .direct = stem.kernelKind, stem.outChannels == pw.inChannels else { continue }
            steps[source].operation = .pointwiseDepthwise(pw, dw, stem: stem)
            steps[source].output = step.output
            steps[source].nodeName += " + " + step.nodeName
            removed.insert(index)
        }
        steps = steps.indices.filter { !removed.contains($0) }.map { steps[$0] }
    }

    /// Merges fused 1×1 + depthwise pairs that read the same tensor with the same padding and
    /// activations (YuNet's cls/bbox/obj/kps heads: 1 + 4 + 1 + 10 channels at each level) into
    /// one pair over the concatenated channels, followed by a channel slice per original output:
    /// one pass over the shared input instead of four, and whole channel blocks. Plain 1×1
    /// convolutions reading the same tensor are merged the same way.
    private mutating func mergeSiblingHeads() {
        var groups: [ValueID: [Int]] = [:]
        for (index, step) in steps.enumerated() {
            guard case let .pointwiseDepthwise(pw, dw, nil) = step.operation, dw.pool == nil, step.inputs.count == 1 else { continue }
            if let first = groups[step.inputs[0]]?.first, case let .pointwiseDepthwise(pw0, dw0, _) = steps[first].operation {
                guard pw0.activation == pw.activation, dw0.activation == dw.activation, pw0.inChannels == pw.inChannels,
                      dw0.padding == dw.padding else { continue }
            }
            groups[step.inputs[0], default: []].append(index)
        }
        var replaced: [Int: [GraphStep]] = [:]
        var removed = Set<Int>()
        for (input, members) in groups where members.count > 1 {
            // One pair per member, in the members' order, as mergedHeads' slices expect.
            let pairs = members.map { index -> (pw: ConvLayer, dw: ConvLayer) in
                guard case let .pointwiseDepthwise(pw, dw, _) = steps[index].operation else { preconditionFailure("grouped as a pair") }
                return (pw, dw)
            }
            let (pw0, dw0) = pairs[0]
            let outChannels = pairs.map(\.pw.outChannels)
            let channels = outChannels.reduce(0, +)
            let pw = ConvLayer.pack(outChannels: channels, inChannels: pw0.inChannels, kernelHeight: 1, kernelWidth: 1,
                                    strides: (1, 1), dilations: (1, 1), padding: pw0.padding, group: 1,
                                    weights: pairs.flatMap(\.pw.weights), bias: pairs.flatMap(\.pw.bias),
                                    activation: pw0.activation, slopes: pairs.flatMap(\.pw.slopes))
            let dw = ConvLayer.pack(outChannels: channels, inChannels: channels, kernelHeight: 3, kernelWidth: 3,
                                    strides: (1, 1), dilations: (1, 1), padding: dw0.padding, group: channels,
                                    weights: pairs.flatMap(\.dw.weights), bias: pairs.flatMap(\.dw.bias),
                                    activation: dw0.activation, slopes: pairs.flatMap(\.dw.slopes))
            replaced[members[0]] = mergedHeads(members, outChannels: outChannels, input: input,
                                               operation: .pointwiseDepthwise(pw, dw, stem: nil))
            removed.formUnion(members.dropFirst())
        }
        // Plain 1×1 convolutions side by side (MTCNN P-Net's box and score heads) likewise.
        var convGroups: [ValueID: [Int]] = [:]
        for (index, step) in steps.enumerated() {
            guard case let .conv(layer) = step.operation, layer.pool == nil, layer.kernelKind == .direct(blockedInput: true),
                  layer.kernelHeight == 1, layer.kernelWidth == 1, layer.strides == (1, 1),
                  layer.padding.isZero, step.inputs.count == 1, replaced[index] == nil, !removed.contains(index) else { continue }
            if let first = convGroups[step.inputs[0]]?.first, case let .conv(layer0) = steps[first].operation {
                guard layer0.activation == layer.activation, layer0.inChannels == layer.inChannels else { continue }
            }
            convGroups[step.inputs[0], default: []].append(index)
        }
        for (input, members) in convGroups where members.count > 1 {
            let layers = members.map { index -> ConvLayer in
                guard case let .conv(layer) = steps[index].operation else { preconditionFailure("grouped as a convolution") }
                return layer
            }
            let layer0 = layers[0]
            let outChannels = layers.map(\.outChannels)
            let layer = ConvLayer.pack(outChannels: outChannels.reduce(0, +), inChannels: layer0.inChannels, kernelHeight: 1,
                                       kernelWidth: 1, strides: (1, 1), dilations: (1, 1), padding: layer0.padding, group: 1,
                                       weights: layers.flatMap(\.weights), bias: layers.flatMap(\.bias),
                                       activation: layer0.activation, slopes: layers.flatMap(\.slopes))
            replaced[members[0]] = mergedHeads(members, outChannels: outChannels, input: input, operation: .conv(layer))
            removed.formUnion(members.dropFirst())
        }
        guard !replaced.isEmpty else { return }
        steps = steps.indices.flatMap { index -> [GraphStep] in
            if let replacement = replaced[index] { return replacement }
            return removed.contains(index) ? [] : [steps[index]]
        }
    }

    /// The steps that replace sibling heads reading `input`: `operation` over all their output
    /// channels into a new value, then one channel slice per head, writing that head's value.
    private mutating func mergedHeads(_ members: [Int], outChannels: [Int], input: ValueID, operation: Operation) -> [GraphStep] {
        let merged = valueNames.count
        valueNames.append("merged heads of \(valueNames[input])")
        var replacement = [GraphStep(nodeName: members.map { steps[$0].nodeName }.joined(separator: " | "), operation: operation,
                                     inputs: [input], output: merged)]
        var start = 0
        for (index, count) in zip(members, outChannels) {
            replacement.append(GraphStep(nodeName: "Slice of " + steps[index].nodeName, operation: .channelSlice(start: start, count: count),
                                         inputs: [merged], output: steps[index].output))
            start += count
        }
        return replacement
    }

    /// The constant's values as one per channel, when it broadcasts along exactly the channel
    /// axis (counted from the end: 3 for NCHW, 1 for [N, features]).
    private static func perChannel(_ constant: ConstantOperand, channels: Int, channelAxisFromEnd: Int) -> [Float]? {
        if constant.values.count == 1 { return [Float](repeating: constant.values[0], count: channels) }
        guard constant.values.count == channels else { return nil }
        var shape = constant.shape
        while shape.first == 1 && shape.count > channelAxisFromEnd { shape.removeFirst() }
        guard shape.count == channelAxisFromEnd, shape[0] == channels, shape.dropFirst().allSatisfy({ $0 == 1 }) else {
            return nil
        }
        return constant.values
    }
}

// MARK: - Lowering of single nodes

package struct NodeAttributes {
    package let node: OnnxNode
    package let label: String

    package func int(_ name: String, default value: Int) throws(ModelLoadError) -> Int {
        switch node.attributes[name] {
        case nil: return value
        case let .int(v)?: return v
        default: throw ModelLoadError(reason: "\(label): attribute \(name) should be an integer")
        }
    }

    package func ints(_ name: String) throws(ModelLoadError) -> [Int]? {
        switch node.attributes[name] {
        case nil: return nil
        case let .ints(v)?: return v
        default: throw ModelLoadError(reason: "\(label): attribute \(name) should be a list of integers")
        }
    }

    package func float(_ name: String, default value: Float) throws(ModelLoadError) -> Float {
        switch node.attributes[name] {
        case nil: return value
        case let .float(v)?: return v
        default: throw ModelLoadError(reason: "\(label): attribute \(name) should be a float")
        }
    }

    package func string(_ name: String, default value: String) throws(ModelLoadError) -> String {
        switch node.attributes[name] {
        case nil: return value
        case let .string(v)?: return v
        default: throw ModelLoadError(reason: "\(label): attribute \(name) should be a string")
        }
    }

    package func padding(spatialRank: Int) throws(ModelLoadError) -> ConvPadding {
        switch try string("auto_pad", default: "NOTSET") {
        case "NOTSET":
            let pads = try ints("pads") ?? [Int](repeating: 0, count: 2 * spatialRank)
            guard pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else {
                throw ModelLoadError(reason: "\(label): pads \(pads) are not four non-negative numbers")
            }
            return .explicit(pads[0], pads[1], pads[2], pads[3])
        case "SAME_UPPER": return .sameUpper
        case "SAME_LOWER": return .sameLower
        case "VALID": return .valid
        case let other: throw ModelLoadError(reason: "\(label): auto_pad \(other) is not supported")
        }
    }

    package func pair(_ name: String, default value: Int) throws(ModelLoadError) -> (Int, Int) {
        guard let list = try ints(name) else { return (value, value) }
        guard list.count == 2, list.allSatisfy({ $0 >= 1 }) else {
            throw ModelLoadError(reason: "\(label): \(name) \(list) is not two positive numbers (only 2-D is supported)")
        }
        return (list[0], list[1])
    }
}

extension CompiledGraph {
    fileprivate struct Lowered {
        var operation: Operation
        var runtimeInputs: [String]
    }

    fileprivate static func lower(_ node: OnnxNode, label: String, attributes a: inout NodeAttributes,
                                  constants: [String: OnnxTensor], opset: Int) throws(ModelLoadError) -> Lowered {
        func constant(_ index: Int) -> OnnxTensor? {
            index < node.inputs.count && !node.inputs[index].isEmpty ? constants[node.inputs[index]] : nil
        }
        func requireInputs(_ range: ClosedRange<Int>) throws(ModelLoadError) {
            guard range.contains(node.inputs.count) else {
                throw ModelLoadError(reason: "\(label) has \(node.inputs.count) inputs, expected \(range.lowerBound)...\(range.upperBound)")
            }
        }
        func floatConstant(_ t: OnnxTensor, _ what: String) throws(ModelLoadError) -> [Float] {
            guard t.dataType == OnnxDataType.float.rawValue || t.dataType == OnnxDataType.double.rawValue else {
                throw ModelLoadError(reason: "\(label): \(what) \(t.name) is not a float tensor")
            }
            return t.floats
        }
        switch node.opType {
        case "Conv":
            try requireInputs(2...3)
            guard let w = constant(1), w.dims.count == 4 else {
                throw ModelLoadError(reason: "\(label): weights must be a constant 4-D tensor")
            }
            let weights = try floatConstant(w, "weight")
            let group = try a.int("group", default: 1)
            let (outChannels, inPerGroup, kh, kw) = (w.dims[0], w.dims[1], w.dims[2], w.dims[3])
            guard group >= 1, outChannels % group == 0, outChannels > 0, inPerGroup > 0 else {
                throw ModelLoadError(reason: "\(label): group \(group) does not divide weight shape \(w.dims)")
            }
            if let kernelShape = try a.ints("kernel_shape"), kernelShape != [kh, kw] {
                throw ModelLoadError(reason: "\(label): kernel_shape \(kernelShape) disagrees with weight shape \(w.dims)")
            }
            var bias = [Float](repeating: 0, count: outChannels)
            if let b = constant(2) {
                guard b.dims == [outChannels] else {
                    throw ModelLoadError(reason: "\(label): bias shape \(b.dims) should be [\(outChannels)]")
                }
                bias = try floatConstant(b, "bias")
            } else if node.inputs.count == 3 && !node.inputs[2].isEmpty {
                throw ModelLoadError(reason: "\(label): bias must be a constant")
            }
            let layer = ConvLayer.pack(outChannels: outChannels, inChannels: inPerGroup * group, kernelHeight: kh,
                                       kernelWidth: kw, strides: try a.pair("strides", default: 1),
                                       dilations: try a.pair("dilations", default: 1),
                                       padding: try a.padding(spatialRank: 2), group: group, weights: weights,
                                       bias: bias, activation: .none, slopes: [])
            return Lowered(operation: .conv(layer), runtimeInputs: [node.inputs[0]])

        case "MaxPool":
            try requireInputs(1...1)
            guard let kernel = try a.ints("kernel_shape"), kernel.count == 2, kernel.allSatisfy({ $0 >= 1 }) else {
                throw ModelLoadError(reason: "\(label): kernel_shape must give two sizes (only 2-D pooling is supported)")
            }
            guard try a.pair("dilations", default: 1) == (1, 1) else {
                throw ModelLoadError(reason: "\(label): dilated pooling is not supported")
            }
            guard try a.int("storage_order", default: 0) == 0 else {
                throw ModelLoadError(reason: "\(label): storage_order 1 is not supported")
            }
            let layer = PoolLayer(kernelHeight: kernel[0], kernelWidth: kernel[1], strides: try a.pair("strides", default: 1),
                                  padding: try a.padding(spatialRank: 2), ceilMode: try a.int("ceil_mode", default: 0) != 0)
            return Lowered(operation: .maxPool(layer), runtimeInputs: [node.inputs[0]])

        case "Concat":
            guard !node.inputs.isEmpty else { throw ModelLoadError(reason: "\(label) has no inputs") }
            if let name = node.inputs.first(where: { constants[$0] != nil }) {
                throw ModelLoadError(reason: "\(label): concatenating the constant \(name) with computed tensors is not supported")
            }
            return Lowered(operation: .concat(axis: try a.int("axis", default: 1)), runtimeInputs: node.inputs)

        case "BatchNormalization":
            try requireInputs(5...5)
            var parameters: [[Float]] = []
            for index in 1...4 {
                guard let t = constant(index), t.dims.count == 1 else {
                    throw ModelLoadError(reason: "\(label): scale, bias, mean and variance must be constant 1-D tensors")
                }
                parameters.append(try floatConstant(t, "parameter"))
            }
            let channels = parameters[0].count
            guard parameters.allSatisfy({ $0.count == channels }) else {
                throw ModelLoadError(reason: "\(label): scale, bias, mean and variance differ in length")
            }
            let epsilon = try a.float("epsilon", default: 1e-5)
            let scale = (0..<channels).map { parameters[0][$0] / (parameters[3][$0] + epsilon).squareRoot() }
            let shift = (0..<channels).map { parameters[1][$0] - parameters[2][$0] * scale[$0] }
            return Lowered(operation: .batchNorm(BatchNormLayer(scale: scale, shift: shift)), runtimeInputs: [node.inputs[0]])

        case "Relu", "Sigmoid":
            try requireInputs(1...1)
            return Lowered(operation: node.opType == "Relu" ? .relu : .sigmoid, runtimeInputs: [node.inputs[0]])

        case "Add", "PRelu":
            try requireInputs(2...2)
            let op: BinaryOperator = node.opType == "Add" ? .add : .prelu
            if let c = constant(1) {
                let operand = ConstantOperand(shape: c.dims, values: try floatConstant(c, "operand"))
                return Lowered(operation: .binary(op, constant: operand), runtimeInputs: [node.inputs[0]])
            }
            if op == .add, let c = constant(0) {
                let operand = ConstantOperand(shape: c.dims, values: try floatConstant(c, "operand"))
                return Lowered(operation: .binary(op, constant: operand), runtimeInputs: [node.inputs[1]])
            }
            return Lowered(operation: .binary(op, constant: nil), runtimeInputs: node.inputs)

        case "Softmax":
            try requireInputs(1...1)
            // Before opset 13 Softmax normalised over all axes from `axis` on, with default 1.
            let legacy = opset < 13
            let axis = try a.int("axis", default: legacy ? 1 : -1)
            return Lowered(operation: .softmax(axis: axis, flattensTrailingAxes: legacy), runtimeInputs: [node.inputs[0]])

        case "Transpose":
            try requireInputs(1...1)
            return Lowered(operation: .transpose(perm: try a.ints("perm") ?? []), runtimeInputs: [node.inputs[0]])

        case "Reshape":
            try requireInputs(2...2)
            guard let shape = constant(1), shape.dims.count == 1,
                  shape.dataType == OnnxDataType.int64.rawValue || shape.dataType == OnnxDataType.int32.rawValue else {
                throw ModelLoadError(reason: "\(label): the target shape must be a constant 1-D integer tensor")
            }
            return Lowered(operation: .reshape(shape: shape.integers, allowZero: try a.int("allowzero", default: 0) != 0),
                           runtimeInputs: [node.inputs[0]])

        case "Flatten":
            try requireInputs(1...1)
            return Lowered(operation: .flatten(axis: try a.int("axis", default: 1)), runtimeInputs: [node.inputs[0]])

        case "MatMul":
            try requireInputs(2...2)
            guard let b = constant(1), b.dims.count == 2 else {
                throw ModelLoadError(reason: "\(label): only a constant 2-D right-hand side is supported")
            }
            let layer = DenseLayer.pack(inFeatures: b.dims[0], outFeatures: b.dims[1], weights: try floatConstant(b, "weight"),
                                        bias: [Float](repeating: 0, count: b.dims[1]), activation: .none, slopes: [])
            return Lowered(operation: .dense(layer), runtimeInputs: [node.inputs[0]])

        case "Resize":
            try requireInputs(2...4)
            let mode = try a.string("mode", default: "nearest")
            guard mode == "nearest" || mode == "linear" else {
                throw ModelLoadError(reason: "\(label): mode \(mode) is not supported (nearest and linear are)")
            }
            let coordinateMode = try a.string("coordinate_transformation_mode", default: opset >= 11 ? "half_pixel" : "asymmetric")
            let coordinateModes = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"]
                + (mode == "nearest" ? ["tf_half_pixel_for_nearest"] : [])
            guard coordinateModes.contains(coordinateMode) else {
                throw ModelLoadError(reason: "\(label): coordinate_transformation_mode \(coordinateMode) is not supported")
            }
            let nearestMode = try a.string("nearest_mode", default: "round_prefer_floor")
            guard ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"].contains(nearestMode) else {
                throw ModelLoadError(reason: "\(label): nearest_mode \(nearestMode) is not supported")
            }
            // Opset 10: (X, scales). Opset 11+: (X, roi, scales[, sizes]), empty names for absent ones.
            let scalesIndex = opset < 11 ? 1 : 2
            var layer = ResizeLayer(scales: nil, sizes: nil, coordinateMode: coordinateMode, nearestMode: nearestMode)
            if let scales = constant(scalesIndex), scales.elementCount > 0 {
                layer.scales = try floatConstant(scales, "scales")
            } else if let sizes = constant(3), sizes.elementCount > 0 {
                layer.sizes = sizes.integers
            }
            for index in 1..<node.inputs.count where !node.inputs[index].isEmpty && constants[node.inputs[index]] == nil {
                throw ModelLoadError(reason: "\(label): roi, scales and sizes must be constants (or computed from shapes)")
            }
            guard layer.scales != nil || layer.sizes != nil else {
                throw ModelLoadError(reason: "\(label): neither scales nor sizes are given")
            }
            return Lowered(operation: mode == "linear" ? .resizeLinear(layer) : .resizeNearest(layer), runtimeInputs: [node.inputs[0]])

        default:
            // A shape operator reading a computed tensor (not a shape) lands here.
            throw ModelLoadError(reason: "unsupported operator \(node.opType) (node \(node.name)) on computed tensors")
        }
    }
}

/// A layer's packed weights, made once by the first caller (plans can be made on several
/// threads at once).
private final class PackedConvKernel: Sendable {
    private let packed = Mutex<ConvKernel?>(nil)

    func kernel(_ make: () -> ConvKernel) -> ConvKernel {
        packed.withLock { packed in
            if let packed { return packed }
            let kernel = make()
            packed = kernel
            return kernel
        }
    }
}
