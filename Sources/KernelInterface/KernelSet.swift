// The seam between the runtime and the kernels: a plan is a list of `StepKernel`s, and a
// `KernelSet` runs them. There is one kernel set per instruction set, the same source compiled
// with different target CPUs (see Package.swift), and the runtime picks one at run time.

/// The instruction sets the kernels are compiled for, by the names `SMARTCROP_ISA` takes.
package enum InstructionSet: String, Sendable, CaseIterable, CustomStringConvertible {
    /// AVX-512 F/BW/DQ/VL with FMA: the hottest kernels use 16-float vectors.
    case avx512
    /// AVX2 with FMA (x86-64-v3): 8-float vectors.
    case avx2
    /// What any CPU of the architecture runs: SSE4.2 (x86-64-v2) on x86-64, NEON on arm64.
    case baseline

    package var description: String { rawValue }
}

/// One compiled copy of the kernels.
package protocol KernelSet {
    static var instructionSet: InstructionSet { get }

    /// Runs one planned step on `arena`: its inputs at `inputOffsets`, its output at
    /// `outputOffset`, kernel scratch at `scratch`. With `threads` above 1 the direct and
    /// Winograd convolutions split their output rows over that many threads (a Winograd layer
    /// then uses one scratch slot per thread); the result is the same.
    static func run(_ kernel: StepKernel, inputOffsets: [Int], outputOffset: Int, arena: MutableFloatPointer,
                    scratch: MutableFloatPointer, threads: Int)
}

/// What a plan step computes, with everything resolved for one input shape.
package enum StepKernel: Sendable {
    case convDirect(DirectConvWeights, ConvGeometry, channelsLast: Bool)
    /// 3×3 stride 1 as Winograd F(2×2, 3×3); `winogradScratchCount` floats of scratch per thread.
    case convWinograd(WinogradWeights, ConvGeometry)
    case convDepthwise(DepthwiseConvWeights, ConvGeometry, pool: PoolGeometry?)
    /// 1×1 then depthwise 3×3; the geometry is the depthwise layer's.
    case convPointwiseDepthwise(DirectConvWeights, DepthwiseConvWeights, ConvGeometry, pool: PoolGeometry?, stem: StemConvolution?)
    /// The same pair with its 1×1 layer in int8 (geometry `pointwise`): the step's input is
    /// quantised once into scratch, after `pointwiseDepthwiseScratchCount`, and each 1×1 row the
    /// depthwise layer needs is computed from it; the depthwise layer stays float.
    case convPointwiseInt8Depthwise(Int8Convolution, pointwise: ConvGeometry, DepthwiseConvWeights, ConvGeometry, pool: PoolGeometry?)
    case convGeneral([PackedWeights], ConvGeometry)
    /// Group 1, blocked input and output, ReLU or no activation: the input quantised to u8 into
    /// scratch (int8_kernels.h's padded layout), int32 sums, float output.
    case convInt8(Int8Convolution, ConvGeometry)
    /// `convInt8` whose input is a concatenation of `pieces` (one piece: no concatenation), some
    /// of them resized or max-pooled: the quantiser makes each input row from the step's inputs
    /// (one per piece), so neither the pieces nor the concatenation are ever stored as float.
    case convInt8Gathered(Int8Convolution, ConvGeometry, pieces: [Int8InputPiece])
    /// Depthwise 3×3 in int8: the input quantised to u8 into scratch (int8_kernels.h's depthwise
    /// layout, `int8DepthwiseScratchCount` floats), int32 sums, float output.
    case convDepthwiseInt8(Int8DepthwiseConvolution, ConvGeometry)
    case maxPool(PoolGeometry)
    case maxPoolBlocked(PoolGeometry)
    case relu(count: Int)
    case sigmoid(count: Int)
    case binarySameShape(BinaryOperator, count: Int, constant: [Float]?)
    case binaryBroadcast(BinaryOperator, outShape: [Int], aStrides: [Int], bStrides: [Int], constant: [Float]?)
    case softmax(outer: Int, axisLength: Int, inner: Int)
    case transpose(inShape: [Int], perm: [Int])
    case dense(PackedWeights, rows: Int)
    case resizeNearest(planes: Int, inHeight: Int, inWidth: Int, rows: [Int], columns: [Int])
    case resizeNearestBlocked(planes: Int, inHeight: Int, inWidth: Int, rows: [Int], columns: [Int])
    /// Planes of `lanes` floats per pixel: 8 for blocked tensors, 1 for plain.
    case resizeLinear(planes: Int, inHeight: Int, inWidth: Int, rows: [LinearTap], columns: [LinearTap], lanes: Int)
    /// Plain tensors joined along an axis: `outer` runs of each input's `pieces[i]` floats.
    case concatPlain(outer: Int, pieces: [Int])
    /// A tensor copied into a slice of a concatenation's buffer, when its producer could not
    /// write there itself.
    case copy(count: Int)
    case toBlocked(batch: Int, channels: Int, plane: Int)
    case toPlain(batch: Int, channels: Int, plane: Int)
    /// Transpose(0, 2, 3, 1) of a blocked tensor.
    case blockedToNHWC(batch: Int, channels: Int, plane: Int)
    /// Channels of a blocked tensor copied out as plain, blocked or NHWC.
    case copyChannels(batch: Int, channels: Int, start: Int, count: Int, plane: Int, layout: ChannelCopyLayout)
    /// Channels of a plain NCHW tensor.
    case sliceChannels(batch: Int, channels: Int, start: Int, count: Int, plane: Int)
    /// Reshape, Flatten, layout-preserving transposes and in-place concatenations share their
    /// inputs' memory.
    case alias
}
