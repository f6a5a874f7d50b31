// What an int8 convolution step carries: weights quantised per output channel, the per-tensor
// quantisation of its input, and the factors that scale the int32 sums back to float. The
// kernels are C (CInt8Kernels, CInt8KernelsVNNI for CPUs with AVX-512 VNNI and
// CInt8KernelsAVXVNNI for those with AVX-VNNI; see Package.swift), and the byte layouts below are
// theirs (CInt8Kernels/include/int8_kernels.h), the same for all three.

import CInt8Kernels

extension ConvGeometry {
    /// The int8 kernels' geometry of this convolution.
    package var int8Kernel: smartcrop_int8_conv_geometry {
        smartcrop_int8_conv_geometry(
            in_channels: Int32(inChannels), in_height: Int32(inHeight), in_width: Int32(inWidth),
            out_channels: Int32(outChannels), out_height: Int32(outHeight), out_width: Int32(outWidth),
            kernel_height: Int32(kernelHeight), kernel_width: Int32(kernelWidth),
            stride_y: Int32(strideY), stride_x: Int32(strideX), dilation_y: Int32(dilationY), dilation_x: Int32(dilationX),
            pad_top: Int32(padTop), pad_left: Int32(padLeft))
    }

    /// Floats of scratch the int8 convolution needs: its quantised input, as bytes.
    package var int8ScratchCount: Int {
        var g = int8Kernel
        return (Int(smartcrop_int8_input_bytes(&g)) + 3) / 4
    }
}

/// Which int8 kernel runs a step.
package enum Int8Implementation: String, Sendable, Equatable {
    /// AVX-512 VNNI; only on CPUs that report it.
    case vnni
    /// AVX-VNNI, 256-bit (AVX2 CPUs without AVX-512 have it: Alder Lake and later, Sierra
    /// Forest); only on CPUs that report it.
    case avxVNNI = "avx-vnni"
    /// The portable scalar loops of the same arithmetic: the tests' yardstick, and a way to run an
    /// int8 network on any CPU in tests.
    case reference
}

/// An activation tensor as u8: real = scale · (q − zeroPoint), q in 0...255.
package struct ActivationQuantization: Sendable, Equatable {
    package let scale: Float
    package let zeroPoint: Int32

    /// The u8 grid over [min, max], widened to hold 0 exactly: the quantised input's padding is
    /// the zero point, and a ReLU output's floor then costs no rounding.
    package init(min: Float, max: Float) {
        let low = Swift.min(min, 0), high = Swift.max(max, 0)
        let span = high - low
        scale = span > 0 ? span / 255 : 1
        zeroPoint = Int32(Swift.min(Swift.max((-low / scale).rounded(), 0), 255))
    }

    package init(scale: Float, zeroPoint: Int32) {
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// The factor the kernels multiply by (float32, as both kernels use it).
    package var inverseScale: Float { 1 / scale }
}

/// The symmetric s8 scale of one output channel's weights: its largest magnitude maps to 127.
@inlinable func symmetricScale(_ weights: some Collection<Float>) -> Float {
    let peak = weights.reduce(Float(0)) { Swift.max($0, abs($1)) }
    return peak > 0 ? peak / 127 : 1
}

/// `weight` on the s8 grid of `scale` (symmetric, so -128 is never used).
@inlinable func quantizedWeight(_ weight: Float, scale: Float) -> Int32 {
    Int32(Swift.min(Swift.max((weight / scale).rounded(), -127), 127))
}

/// Per output channel, the multiplier (input scale × weight scale) and offset (bias −
/// multiplier · zero point · Σ q) that turn an int32 sum into the float output: `padded`
/// multipliers, then `padded` offsets.
func int8Epilogue(input: ActivationQuantization, weightScales: [Float], weightSums: [Int32], bias: [Float],
                  padded: Int) -> ConstantBuffer {
    let epilogue = ConstantBuffer(count: 2 * padded)
    for c in weightScales.indices {
        let multiplier = Float(input.scale) * weightScales[c]
        epilogue.base[c] = multiplier
        epilogue.base[padded + c] = Float(Double(bias[c]) - Double(multiplier) * Double(input.zeroPoint) * Double(weightSums[c]))
    }
    return epilogue
}

/// A convolution's weights as s8, symmetric per output channel (scale = max |w| / 127, so a
/// channel of small weights keeps its own resolution), packed for the int8 kernels:
/// [16-channel output group][ky][kx][4-channel input group][16 outputs][4 inputs].
package struct Int8ConvWeights: Sendable {
    package let outChannels: Int
    package let inChannels: Int
    package let kernelHeight: Int
    package let kernelWidth: Int
    package let activation: ActivationKind
    /// The packed bytes (a ConstantBuffer for its 64-byte alignment; read as Int8).
    package let packed: ConstantBuffer
    package let weightScales: [Float]
    /// Σ q over each output channel's weights, for the input's zero point.
    package let weightSums: [Int32]
    package let bias: [Float]

    /// Input channels as the kernels see them: whole blocks of eight.
    @inlinable package var paddedInChannels: Int { channelBlocks(inChannels) * channelBlock }
    @inlinable package var outputGroups: Int { (outChannels + 15) / 16 }

    /// `weights` is OIHW; `activation` is none or ReLU (PRelu layers stay float).
    package init(outChannels: Int, inChannels: Int, kernelHeight: Int, kernelWidth: Int, weights: [Float], bias: [Float],
                 activation: ActivationKind) {
        precondition(activation != .prelu, "int8 convolutions fuse ReLU only")
        self.outChannels = outChannels
        self.inChannels = inChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.activation = activation
        self.bias = bias
        let taps = kernelHeight * kernelWidth
        let groups = channelBlocks(inChannels) * channelBlock / 4
        let outputGroups = (outChannels + 15) / 16
        let bytes = outputGroups * taps * groups * 64
        packed = ConstantBuffer(count: (bytes + 3) / 4)
        let destination = UnsafeMutableRawPointer(packed.base).bindMemory(to: Int8.self, capacity: bytes)
        var scales = [Float](repeating: 1, count: outChannels)
        var sums = [Int32](repeating: 0, count: outChannels)
        let perChannel = inChannels * taps
        for oc in 0..<outChannels {
            let scale = symmetricScale(weights[(oc * perChannel)..<((oc + 1) * perChannel)])
            scales[oc] = scale
            var sum: Int32 = 0
            for ic in 0..<inChannels {
                for tap in 0..<taps {
                    let q = quantizedWeight(weights[(oc * inChannels + ic) * taps + tap], scale: scale)
                    destination[(((oc / 16) * taps + tap) * groups + ic / 4) * 64 + (oc % 16) * 4 + ic % 4] = Int8(q)
                    sum += q
                }
            }
            sums[oc] = sum
        }
        weightScales = scales
        weightSums = sums
    }
}

/// An int8 convolution step: the weights, the quantisation of the input it reads, and per output
/// channel the multiplier (input scale × weight scale) and offset (bias − multiplier · zero
/// point · Σ q) that turn an int32 sum into the float output, 16 floats per output group each.
package struct Int8Convolution: Sendable {
    package let weights: Int8ConvWeights
    package let input: ActivationQuantization
    package let implementation: Int8Implementation
    /// Multipliers, then offsets.
    package let epilogue: ConstantBuffer

    @inlinable package var offsetStart: Int { weights.outputGroups * 16 }

    package init(weights: Int8ConvWeights, input: ActivationQuantization, implementation: Int8Implementation) {
        self.weights = weights
        self.input = input
        self.implementation = implementation
        epilogue = int8Epilogue(input: input, weightScales: weights.weightScales, weightSums: weights.weightSums, bias: weights.bias,
                                padded: weights.outputGroups * 16)
    }
}

/// One part of an int8 convolution's input, in channel order (see `StepKernel.convInt8Gathered`):
/// a blocked tensor read as it is, or one the quantiser resizes or max-pools row by row. Each
/// part but the last holds a whole number of channel blocks, so every part starts on one.
package struct Int8InputPiece: Sendable {
    package enum Source: Sendable {
        case tensor
        /// Bilinear, as `StepKernel.resizeLinear` with 8 lanes: one tap per output row and column.
        case resizedLinear(inHeight: Int, inWidth: Int, rows: [LinearTap], columns: [LinearTap])
        /// As `StepKernel.maxPoolBlocked` (the geometry's `planes` unused).
        case maxPooled(PoolGeometry)
    }

    package var channels: Int
    package var source: Source

    package init(channels: Int, source: Source) {
        self.channels = channels
        self.source = source
    }
}

extension ConvGeometry {
    /// Floats of scratch the int8 depthwise convolution needs: its quantised input, as bytes.
    package var int8DepthwiseScratchCount: Int {
        var g = int8Kernel
        return (Int(smartcrop_int8_dw_input_bytes(&g)) + 3) / 4
    }
}

/// A depthwise 3×3 convolution's weights as s8, symmetric per channel like `Int8ConvWeights`,
/// packed for the int8 depthwise kernels: [16-channel group][tap][16 channels], each weight in
/// the low byte of an int32 lane.
package struct Int8DepthwiseWeights: Sendable {
    package let channels: Int
    package let activation: ActivationKind
    package let packed: ConstantBuffer
    package let weightScales: [Float]
    package let weightSums: [Int32]
    package let bias: [Float]

    @inlinable package var groups: Int { (channels + 15) / 16 }

    /// `weights` is [channels][3][3]; `activation` none or ReLU.
    package init(channels: Int, weights: [Float], bias: [Float], activation: ActivationKind) {
        precondition(activation != .prelu, "int8 convolutions fuse ReLU only")
        precondition(weights.count == channels * 9, "depthwise 3×3 weights")
        self.channels = channels
        self.activation = activation
        self.bias = bias
        let groups = (channels + 15) / 16
        packed = ConstantBuffer(count: groups * 9 * 16)
        let lanes = UnsafeMutableRawPointer(packed.base).bindMemory(to: Int32.self, capacity: groups * 9 * 16)
        lanes.initialize(repeating: 0, count: groups * 9 * 16)
        var scales = [Float](repeating: 1, count: channels)
        var sums = [Int32](repeating: 0, count: channels)
        for c in 0..<channels {
            let taps = weights[(c * 9)..<(c * 9 + 9)]
            let scale = symmetricScale(taps)
            scales[c] = scale
            for (tap, w) in taps.enumerated() {
                let q = quantizedWeight(w, scale: scale)
                // The low byte only: vpdpbusd multiplies it by a zero-extended input byte.
                lanes[((c / 16) * 9 + tap) * 16 + c % 16] = q & 0xFF
                sums[c] += q
            }
        }
        weightScales = scales
        weightSums = sums
    }
}

/// An int8 depthwise step: as `Int8Convolution`, with per-channel multipliers and offsets.
package struct Int8DepthwiseConvolution: Sendable {
    package let weights: Int8DepthwiseWeights
    package let input: ActivationQuantization
    package let implementation: Int8Implementation
    /// Multipliers, then offsets, 16 floats per group each.
    package let epilogue: ConstantBuffer

    @inlinable package var offsetStart: Int { weights.groups * 16 }

    package init(weights: Int8DepthwiseWeights, input: ActivationQuantization, implementation: Int8Implementation) {
        self.weights = weights
        self.input = input
        self.implementation = implementation
        epilogue = int8Epilogue(input: input, weightScales: weights.weightScales, weightSums: weights.weightSums, bias: weights.bias,
                                padded: weights.groups * 16)
    }
}
