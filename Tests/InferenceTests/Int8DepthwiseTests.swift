import Inference
import OnnxTestSupport
import Testing

/// The int8 depthwise 3×3 convolution against a float64 evaluation of the same quantised
/// arithmetic (CInt8Kernels/include/int8_kernels.h): the input on its u8 grid, each channel's
/// nine weights on their own s8 grid, the integer products summed exactly and scaled back. Each
/// kernel (VNNI where the CPU has it, and the portable reference) runs through every kernel set
/// the CPU runs, on one thread and split over three, and the two kernels must agree bit for bit.
@Suite struct Int8DepthwiseTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var channels: Int, height: Int, width: Int
        var stride: Int, dilation: Int, pad: Int
        var relu: Bool
        /// The calibrated input range; inputs reach past it, so the clamping is exercised.
        var low: Float, high: Float
        var testDescription: String {
            "\(channels)x\(height)x\(width) s\(stride) d\(dilation) p\(pad)\(relu ? " relu" : "")"
        }
    }

    static let cases: [Case] = [
        // YuNet's: 64 and 16 channels, stride 1, pad 1, ReLU, a signed input (the linear 1×1
        // layer before it); rows of 4-pixel tiles with and without a remainder.
        Case(channels: 64, height: 10, width: 20, stride: 1, dilation: 1, pad: 1, relu: true, low: -2, high: 3),
        Case(channels: 16, height: 7, width: 13, stride: 1, dilation: 1, pad: 1, relu: true, low: -1, high: 1),
        // Partial groups of 16 (one block of 8 only, and 40 = two groups and a half), stride 2,
        // dilation, no padding, no activation, a ReLU-only input.
        Case(channels: 8, height: 9, width: 11, stride: 2, dilation: 1, pad: 1, relu: false, low: 0, high: 2),
        Case(channels: 40, height: 12, width: 9, stride: 1, dilation: 2, pad: 2, relu: true, low: 0, high: 4),
        Case(channels: 24, height: 5, width: 6, stride: 1, dilation: 1, pad: 0, relu: false, low: -0.5, high: 0.5),
    ]

    static var implementations: [Int8Implementation] { PrecisionSelection.hasVNNI ? [.vnni, .reference] : [.reference] }

    static func geometry(_ c: Case) -> ConvGeometry {
        let outHeight = (c.height + 2 * c.pad - 2 * c.dilation - 1) / c.stride + 1
        let outWidth = (c.width + 2 * c.pad - 2 * c.dilation - 1) / c.stride + 1
        return ConvGeometry(batch: 1, inChannels: c.channels, inHeight: c.height, inWidth: c.width,
                            outChannels: c.channels, outHeight: outHeight, outWidth: outWidth,
                            kernelHeight: 3, kernelWidth: 3, strideY: c.stride, strideX: c.stride,
                            dilationY: c.dilation, dilationX: c.dilation, padTop: c.pad, padLeft: c.pad, group: c.channels)
    }

    /// Runs one layer on `instructionSet`'s kernel set; returns the NCHW output.
    static func run(_ c: Case, _ x: [Float], _ w: [Float], _ bias: [Float], _ implementation: Int8Implementation,
                    _ instructionSet: InstructionSet, threads: Int) -> [Float] {
        let geometry = geometry(c)
        let convolution = Int8DepthwiseConvolution(
            weights: Int8DepthwiseWeights(channels: c.channels, weights: w, bias: bias, activation: c.relu ? .relu : .none),
            input: ActivationQuantization(min: c.low, max: c.high), implementation: implementation)
        let inCount = blockedCount([1, c.channels, c.height, c.width])
        let outPlane = geometry.outHeight * geometry.outWidth
        let outCount = blockedCount([1, c.channels, geometry.outHeight, geometry.outWidth])
        let scratchCount = geometry.int8DepthwiseScratchCount
        let arena = MutableFloatPointer.allocate(capacity: inCount + outCount + scratchCount)
        defer { arena.deallocate() }
        arena.initialize(repeating: .nan, count: inCount + outCount + scratchCount)
        arena.initialize(repeating: 0, count: inCount)
        let plane = c.height * c.width
        for ch in 0..<c.channels {
            for i in 0..<plane { arena[((ch / 8) * plane + i) * 8 + ch % 8] = x[ch * plane + i] }
        }
        KernelSelection.kernels(instructionSet).run(.convDepthwiseInt8(convolution, geometry), inputOffsets: [0], outputOffset: inCount,
                                                    arena: arena, scratch: arena + inCount + outCount, threads: threads)
        var values = [Float](repeating: 0, count: c.channels * outPlane)
        for o in 0..<c.channels {
            for i in 0..<outPlane { values[o * outPlane + i] = arena[inCount + ((o / 8) * outPlane + i) * 8 + o % 8] }
        }
        return values
    }

    /// The quantised arithmetic in float64: each output's value and the sum of its terms'
    /// magnitudes (the scale of float32's rounding).
    static func reference(_ c: Case, _ x: [Float], _ w: [Float], _ bias: [Float]) -> [(Double, Double)] {
        let g = geometry(c)
        let q = ActivationQuantization(min: c.low, max: c.high)
        let zero = Int(q.zeroPoint)
        func quantized(_ v: Float) -> Int {
            let r = min(max((v * q.inverseScale).rounded(.toNearestOrEven), -1024), 1024)
            return min(max(Int(r) + zero, 0), 255)
        }
        var result: [(Double, Double)] = []
        for ch in 0..<c.channels {
            let peak = w[(ch * 9)..<(ch * 9 + 9)].map { abs(Double($0)) }.max()!
            let weightScale = peak > 0 ? Float(peak) / 127 : 1
            let weights = (0..<9).map { Int(min(max((w[ch * 9 + $0] / weightScale).rounded(), -127), 127)) }
            let multiplier = Double(q.scale) * Double(weightScale)
            for y in 0..<g.outHeight {
                for xx in 0..<g.outWidth {
                    var sum = 0, magnitude = 0
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let iy = y * c.stride + ky * c.dilation - c.pad, ix = xx * c.stride + kx * c.dilation - c.pad
                            let value = iy >= 0 && iy < c.height && ix >= 0 && ix < c.width
                                ? quantized(x[(ch * c.height + iy) * c.width + ix]) : zero
                            sum += (value - zero) * weights[ky * 3 + kx]
                            magnitude += (value + zero) * abs(weights[ky * 3 + kx])
                        }
                    }
                    var out = Double(sum) * multiplier + Double(bias[ch])
                    if c.relu { out = max(out, 0) }
                    result.append((out, Double(magnitude) * multiplier + abs(Double(bias[ch]))))
                }
            }
        }
        return result
    }

    @Test(arguments: cases, supportedInstructionSets)
    func matchesTheQuantisedArithmetic(_ c: Case, instructionSet: InstructionSet) {
        var random = SplitMix(seed: UInt64(c.channels * 1000 + c.width * 10 + c.stride))
        let span = c.high - c.low
        let x = (0..<(c.channels * c.height * c.width)).map { _ in c.low - 0.1 * span + Float(random.unit()) * 1.2 * span }
        // Channels of very different magnitudes: each has its own scale.
        let w = (0..<(c.channels * 9)).map { i in Float(random.unit() * 2 - 1) * ((i / 9) % 3 == 0 ? 0.02 : 0.8) }
        let bias = (0..<c.channels).map { _ in Float(random.unit() * 2 - 1) }
        let expected = Self.reference(c, x, w, bias)
        var outputs: [Int8Implementation: [Float]] = [:]
        for implementation in Self.implementations {
            let one = Self.run(c, x, w, bias, implementation, instructionSet, threads: 1)
            let split = Self.run(c, x, w, bias, implementation, instructionSet, threads: 3)
            #expect(one == split, "\(implementation): rows split over threads give another result")
            var worst = 0.0
            for (value, (exact, magnitude)) in zip(one, expected) {
                worst = max(worst, abs(Double(value) - exact) / max(magnitude, 1e-6))
            }
            // float32 rounds the int32 → float conversion, the multiplier and offset, and the fused
            // multiply-add: a few units of 2⁻²⁴ of the terms' magnitude.
            #expect(worst < 4e-7, "\(implementation): worst error \(worst) of the terms' magnitude")
            outputs[implementation] = one
        }
        if let vnni = outputs[.vnni], let reference = outputs[.reference] {
            #expect(vnni == reference, "the VNNI kernel differs from the portable reference")
        }
    }
}
