import Inference
import OnnxTestSupport
import Testing

/// The int8 convolution (u8 activations, s8 weights per output channel, int32 sums) against a
/// float64 evaluation of the same quantised arithmetic, written here from its definition in
/// CInt8Kernels/include/int8_kernels.h: the input rounded to its u8 grid, the weights to their
/// s8 grids, the integer products summed exactly and scaled back. What is left between the two
/// is float32 rounding of the final scaling, so the bound is relative to the terms summed.
/// Each kernel (the VNNI one where the CPU has VNNI, and the portable reference) runs through
/// every kernel set the CPU runs, on one thread and split over three.
@Suite struct Int8ConvolutionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var inChannels: Int, outChannels: Int, height: Int, width: Int
        var kernel: Int, stride: Int, dilation: Int, pad: Int
        var relu: Bool
        /// The calibrated input range; inputs reach past it, so the clamping is exercised.
        var low: Float, high: Float
        var testDescription: String {
            "\(inChannels)x\(height)x\(width)→\(outChannels) k\(kernel) s\(stride) d\(dilation) p\(pad)\(relu ? " relu" : "")"
        }
    }

    static let cases: [Case] = [
        // U-2-Netp's shapes: 64→16 and 16→64 3×3, dilated 2, 4 and 8 at small sizes.
        Case(inChannels: 64, outChannels: 16, height: 14, width: 30, kernel: 3, stride: 1, dilation: 1, pad: 1, relu: true, low: 0, high: 3),
        Case(inChannels: 16, outChannels: 64, height: 9, width: 27, kernel: 3, stride: 1, dilation: 2, pad: 2, relu: true, low: 0, high: 1.5),
        Case(inChannels: 32, outChannels: 16, height: 12, width: 12, kernel: 3, stride: 1, dilation: 8, pad: 8, relu: false, low: 0, high: 2),
        // Groups of outputs of every tile width (4, 2 and 1 groups of 16), partial blocks of
        // input and output channels, strides, no padding, a 1×1 layer, a signed input range.
        Case(inChannels: 20, outChannels: 120, height: 7, width: 31, kernel: 3, stride: 2, dilation: 1, pad: 1, relu: false, low: -1, high: 2),
        Case(inChannels: 8, outChannels: 40, height: 5, width: 50, kernel: 1, stride: 1, dilation: 1, pad: 0, relu: true, low: -0.5, high: 0.5),
        Case(inChannels: 128, outChannels: 8, height: 6, width: 7, kernel: 3, stride: 1, dilation: 1, pad: 0, relu: true, low: 0, high: 4),
    ]

    static var implementations: [Int8Implementation] { PrecisionSelection.hasVNNI ? [.vnni, .reference] : [.reference] }

    struct Output {
        var values: [Float]
        var height: Int
        var width: Int
    }

    /// Runs one layer on `instructionSet`'s kernel set; returns the NCHW output.
    static func run(_ c: Case, _ x: [Float], _ w: [Float], _ bias: [Float], _ implementation: Int8Implementation,
                    _ instructionSet: InstructionSet, threads: Int) -> Output {
        let outHeight = (c.height + 2 * c.pad - c.dilation * (c.kernel - 1) - 1) / c.stride + 1
        let outWidth = (c.width + 2 * c.pad - c.dilation * (c.kernel - 1) - 1) / c.stride + 1
        let geometry = ConvGeometry(batch: 1, inChannels: c.inChannels, inHeight: c.height, inWidth: c.width,
                                    outChannels: c.outChannels, outHeight: outHeight, outWidth: outWidth,
                                    kernelHeight: c.kernel, kernelWidth: c.kernel, strideY: c.stride, strideX: c.stride,
                                    dilationY: c.dilation, dilationX: c.dilation, padTop: c.pad, padLeft: c.pad, group: 1)
        let weights = Int8ConvWeights(outChannels: c.outChannels, inChannels: c.inChannels, kernelHeight: c.kernel, kernelWidth: c.kernel,
                                      weights: w, bias: bias, activation: c.relu ? .relu : .none)
        let convolution = Int8Convolution(weights: weights, input: ActivationQuantization(min: c.low, max: c.high),
                                          implementation: implementation)
        let inCount = blockedCount([1, c.inChannels, c.height, c.width])
        let outCount = blockedCount([1, c.outChannels, outHeight, outWidth])
        // Generous scratch: the padded byte buffer is smaller than the input's floats times four.
        let scratchCount = 4 * (c.height + 2 * c.pad + 16 * c.dilation) * (c.width + 2 * c.pad + 64 * c.stride + 16 * c.dilation)
            * channelBlocks(c.inChannels) * 8
        let arena = MutableFloatPointer.allocate(capacity: inCount + outCount + scratchCount)
        defer { arena.deallocate() }
        arena.initialize(repeating: .nan, count: inCount + outCount + scratchCount)
        arena.initialize(repeating: 0, count: inCount)
        let plane = c.height * c.width
        for ch in 0..<c.inChannels {
            for i in 0..<plane { arena[((ch / 8) * plane + i) * 8 + ch % 8] = x[ch * plane + i] }
        }
        KernelSelection.kernels(instructionSet).run(.convInt8(convolution, geometry), inputOffsets: [0], outputOffset: inCount,
                                                    arena: arena, scratch: arena + inCount + outCount, threads: threads)
        let outPlane = outHeight * outWidth
        var values = [Float](repeating: 0, count: c.outChannels * outPlane)
        for o in 0..<c.outChannels {
            for i in 0..<outPlane { values[o * outPlane + i] = arena[inCount + ((o / 8) * outPlane + i) * 8 + o % 8] }
        }
        // The padding lanes of the last output block must stay zero, as every NCHWc8 producer keeps them.
        for o in c.outChannels..<(channelBlocks(c.outChannels) * 8) {
            for i in 0..<outPlane where arena[inCount + ((o / 8) * outPlane + i) * 8 + o % 8] != 0 {
                Issue.record("padding lane \(o) at \(i) is \(arena[inCount + ((o / 8) * outPlane + i) * 8 + o % 8])")
                break
            }
        }
        return Output(values: values, height: outHeight, width: outWidth)
    }

    /// The quantised arithmetic in float64: the value and the sum of term magnitudes (the scale of
    /// float32's rounding) of every output.
    static func reference(_ c: Case, _ x: [Float], _ w: [Float], _ bias: [Float], outHeight: Int, outWidth: Int) -> [(Double, Double)] {
        let q = ActivationQuantization(min: c.low, max: c.high)
        let zero = Int(q.zeroPoint)
        func quantized(_ v: Float) -> Int {
            let r = min(max((v * q.inverseScale).rounded(.toNearestOrEven), -1024), 1024)
            return min(max(Int(r) + zero, 0), 255)
        }
        let taps = c.kernel * c.kernel, perChannel = c.inChannels * taps
        var result: [(Double, Double)] = []
        for o in 0..<c.outChannels {
            let peak = w[(o * perChannel)..<((o + 1) * perChannel)].map { abs(Double($0)) }.max()!
            let weightScale = peak > 0 ? Float(peak) / 127 : 1
            func weight(_ i: Int, _ ky: Int, _ kx: Int) -> Int {
                Int(min(max((w[((o * c.inChannels + i) * c.kernel + ky) * c.kernel + kx] / weightScale).rounded(), -127), 127))
            }
            let multiplier = Double(q.scale) * Double(weightScale)
            for y in 0..<outHeight {
                for xx in 0..<outWidth {
                    var sum = 0, magnitude = 0
                    for i in 0..<c.inChannels {
                        for ky in 0..<c.kernel {
                            for kx in 0..<c.kernel {
                                let iy = y * c.stride + ky * c.dilation - c.pad, ix = xx * c.stride + kx * c.dilation - c.pad
                                let value = iy >= 0 && iy < c.height && ix >= 0 && ix < c.width
                                    ? quantized(x[(i * c.height + iy) * c.width + ix]) : zero
                                sum += (value - zero) * weight(i, ky, kx)
                                magnitude += value * abs(weight(i, ky, kx)) + zero * abs(weight(i, ky, kx))
                            }
                        }
                    }
                    var out = Double(sum) * multiplier + Double(bias[o])
                    if c.relu { out = max(out, 0) }
                    result.append((out, Double(magnitude) * multiplier + abs(Double(bias[o]))))
                }
            }
        }
        return result
    }

    @Test(arguments: cases, supportedInstructionSets)
    func matchesTheQuantisedArithmetic(_ c: Case, instructionSet: InstructionSet) {
        var random = SplitMix(seed: UInt64(c.inChannels * 1000 + c.outChannels * 10 + c.kernel))
        let span = c.high - c.low
        let x = (0..<(c.inChannels * c.height * c.width)).map { _ in c.low - 0.1 * span + Float(random.unit()) * 1.2 * span }
        let w = (0..<(c.outChannels * c.inChannels * c.kernel * c.kernel)).map { i in
            // Channels of very different magnitudes: each has its own scale.
            Float(random.unit() * 2 - 1) * (i / (c.inChannels * c.kernel * c.kernel) % 3 == 0 ? 0.02 : 0.5)
        }
        let bias = (0..<c.outChannels).map { _ in Float(random.unit() * 2 - 1) }
        var outputs: [Int8Implementation: [Float]] = [:]
        for implementation in Self.implementations {
            let one = Self.run(c, x, w, bias, implementation, instructionSet, threads: 1)
            let split = Self.run(c, x, w, bias, implementation, instructionSet, threads: 3)
            #expect(one.values == split.values, "\(implementation): rows split over threads give another result")
            let expected = Self.reference(c, x, w, bias, outHeight: one.height, outWidth: one.width)
            var worst = 0.0
            for (value, (exact, magnitude)) in zip(one.values, expected) {
                worst = max(worst, abs(Double(value) - exact) / max(magnitude, 1e-6))
            }
            // float32 rounds the int32 → float conversion, the multiplier and offset, and the fused
            // multiply-add: a few units of 2⁻²⁴ of the terms' magnitude.
            #expect(worst < 4e-7, "\(implementation): worst error \(worst) of the terms' magnitude")
            outputs[implementation] = one.values
        }
        if let vnni = outputs[.vnni], let reference = outputs[.reference] {
            #expect(vnni == reference, "the VNNI kernel differs from the portable reference")
        }
    }

    @Test func zeroIsExactOnEveryGrid() {
        for (low, high) in [(Float(0), Float(3.7)), (-1.25, 0.8), (-2, 0), (0.5, 2), (0, 0)] {
            let q = ActivationQuantization(min: low, max: high)
            #expect((0...255).contains(q.zeroPoint))
            #expect(q.scale * Float(Int32(0) - q.zeroPoint) <= 0 || low >= 0)
            // The grid reaches both ends of the range (widened to hold 0), within half a step.
            #expect(q.scale * Float(0 - Int(q.zeroPoint)) <= min(low, 0) + q.scale / 2)
            #expect(q.scale * Float(255 - Int(q.zeroPoint)) >= max(high, 0) - q.scale / 2)
        }
    }

    @Test func precisionSetting() {
        #expect(PrecisionSelection.choose(forced: nil, hasVNNI: true) == .success(nil))
        #expect(PrecisionSelection.choose(forced: "", hasVNNI: false) == .success(nil))
        #expect(PrecisionSelection.choose(forced: "float32", hasVNNI: false) == .success(.float32))
        #expect(PrecisionSelection.choose(forced: "INT8", hasVNNI: true) == .success(.int8))
        guard case let .failure(error) = PrecisionSelection.choose(forced: "int8", hasVNNI: false) else {
            Issue.record("int8 without VNNI was accepted")
            return
        }
        #expect(error.description.contains("VNNI"))
        guard case .failure = PrecisionSelection.choose(forced: "fp16", hasVNNI: true) else {
            Issue.record("an unknown precision was accepted")
            return
        }
    }
}
