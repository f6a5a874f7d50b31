import CInt8Kernels
import CInt8KernelsAVXVNNICheck
import Inference
import OnnxTestSupport
import Testing

/// The int8 convolution (u8 activations, s8 weights per output channel, int32 sums) against a
/// float64 evaluation of the same quantised arithmetic, written here from its definition in
/// CInt8Kernels/include/int8_kernels.h: the input rounded to its u8 grid, the weights to their
/// s8 grids, the integer products summed exactly and scaled back. What is left between the two
/// is float32 rounding of the final scaling, so the bound is relative to the terms summed.
/// Each kernel (AVX-512 VNNI and AVX-VNNI where the CPU has them, and the portable reference) runs
/// through every kernel set the CPU runs, on one thread and split over three.
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

    static var implementations: [Int8Implementation] { PrecisionSelection.int8Kernels + [.reference] }

    /// Whether vpdpbusd_trap.c's handler is there (it reads Linux's signal frames).
    static var trapsOnThisOS: Bool {
        #if os(Linux) && arch(x86_64)
        return true
        #else
        return false
        #endif
    }

    struct Output {
        var values: [Float]
        var height: Int
        var width: Int
    }

    /// Runs one layer on `instructionSet`'s kernel set; returns the NCHW output.
    static func geometry(_ c: Case) -> ConvGeometry {
        let outHeight = (c.height + 2 * c.pad - c.dilation * (c.kernel - 1) - 1) / c.stride + 1
        let outWidth = (c.width + 2 * c.pad - c.dilation * (c.kernel - 1) - 1) / c.stride + 1
        return ConvGeometry(batch: 1, inChannels: c.inChannels, inHeight: c.height, inWidth: c.width,
                            outChannels: c.outChannels, outHeight: outHeight, outWidth: outWidth,
                            kernelHeight: c.kernel, kernelWidth: c.kernel, strideY: c.stride, strideX: c.stride,
                            dilationY: c.dilation, dilationX: c.dilation, padTop: c.pad, padLeft: c.pad, group: 1)
    }

    static func convolution(_ c: Case, _ w: [Float], _ bias: [Float], _ implementation: Int8Implementation) -> Int8Convolution {
        let weights = Int8ConvWeights(outChannels: c.outChannels, inChannels: c.inChannels, kernelHeight: c.kernel, kernelWidth: c.kernel,
                                      weights: w, bias: bias, activation: c.relu ? .relu : .none)
        return Int8Convolution(weights: weights, input: ActivationQuantization(min: c.low, max: c.high), implementation: implementation)
    }

    /// The case's random input, weights and bias.
    static func data(_ c: Case) -> (x: [Float], w: [Float], bias: [Float]) {
        var random = SplitMix(seed: UInt64(c.inChannels * 1000 + c.outChannels * 10 + c.kernel))
        let span = c.high - c.low
        let x = (0..<(c.inChannels * c.height * c.width)).map { _ in c.low - 0.1 * span + Float(random.unit()) * 1.2 * span }
        let w = (0..<(c.outChannels * c.inChannels * c.kernel * c.kernel)).map { i in
            // Channels of very different magnitudes: each has its own scale.
            Float(random.unit() * 2 - 1) * (i / (c.inChannels * c.kernel * c.kernel) % 3 == 0 ? 0.02 : 0.5)
        }
        let bias = (0..<c.outChannels).map { _ in Float(random.unit() * 2 - 1) }
        return (x, w, bias)
    }

    static func run(_ c: Case, _ x: [Float], _ w: [Float], _ bias: [Float], _ implementation: Int8Implementation,
                    _ instructionSet: InstructionSet, threads: Int) -> Output {
        let geometry = Self.geometry(c)
        let outHeight = geometry.outHeight, outWidth = geometry.outWidth
        let convolution = Self.convolution(c, w, bias, implementation)
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
        let (x, w, bias) = Self.data(c)
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
        for kernel in PrecisionSelection.int8Kernels {
            #expect(outputs[kernel] == outputs[.reference], "the \(kernel) kernel differs from the portable reference")
        }
    }

    /// The AVX-VNNI kernels on a CPU that has them, through the runtime's dispatch, bit for bit
    /// the portable reference (matchesTheQuantisedArithmetic also holds them to the arithmetic).
    @Test(.enabled(if: PrecisionSelection.hasAVXVNNI,
                   "needs a CPU with AVX-VNNI (avx_vnni); avxVNNIMachineCodeMatchesReference runs them on AVX-512 VNNI ones"),
          arguments: cases)
    func avxVNNIKernelMatchesReference(_ c: Case) {
        let (x, w, bias) = Self.data(c)
        for set in supportedInstructionSets {
            for threads in [1, 3] {
                #expect(Self.run(c, x, w, bias, .avxVNNI, set, threads: threads).values
                        == Self.run(c, x, w, bias, .reference, set, threads: threads).values, "\(set), \(threads) threads")
            }
        }
    }

    /// The AVX-VNNI kernels' own machine code, the product's, on CPUs without AVX-VNNI: each
    /// vpdpbusd faults, and the test-only SIGILL handler of Tests/CInt8KernelsAVXVNNICheck does
    /// its arithmetic on the saved registers (decoded from the instruction's VEX encoding by the
    /// Intel manual, independently of the compiler); the rest of the kernels is AVX2 and runs as
    /// is. Through the runtime's dispatch, on one thread and three, bit for bit the reference.
    /// (That target is built for AVX-512, hence AVX-512 VNNI for the condition.)
    @Test(.enabled(if: Self.trapsOnThisOS && !PrecisionSelection.hasAVXVNNI && PrecisionSelection.hasVNNI,
                   "for Linux on CPUs with AVX-512 VNNI and without AVX-VNNI; avxVNNIKernelMatchesReference runs on those with it"),
          arguments: cases)
    func avxVNNIMachineCodeMatchesReference(_ c: Case) throws {
        try #require(smartcrop_test_emulate_vpdpbusd() == 1, "the SIGILL handler could not be installed")
        let (x, w, bias) = Self.data(c)
        let before = smartcrop_test_vpdpbusd_emulated()
        for threads in [1, 3] {
            let kernel = Self.run(c, x, w, bias, .avxVNNI, .avx2, threads: threads).values
            let reference = Self.run(c, x, w, bias, .reference, .avx2, threads: threads).values
            let different = zip(kernel, reference).count { $0.bitPattern != $1.bitPattern }
            #expect(different == 0, "\(threads) threads: \(different) of \(reference.count) outputs differ")
        }
        #expect(smartcrop_test_vpdpbusd_emulated() > before, "no vpdpbusd trapped: the kernels did not run")
    }

    /// The AVX-VNNI kernels' source, built with AVX-512 VNNI's 256-bit vpdpbusd in place of
    /// AVX-VNNI's (the same operation in another encoding; Tests/CInt8KernelsAVXVNNICheck), against
    /// the portable reference: the quantised bytes and the outputs bit for bit, with the rows done
    /// in one call and in uneven parts as threads split them. This is how CPUs without AVX-VNNI,
    /// like the AVX-512 machines we develop on, test the tiling, packing and epilogue of that code;
    /// only the instruction's encoding is left to CPUs that have it.
    @Test(.enabled(if: PrecisionSelection.hasVNNI, "needs a CPU with AVX-512 VNNI (avx512_vnni)"),
          arguments: cases + [
              // Widths around the 6-pixel tile, a single pixel, stride 2 with partial tiles.
              Case(inChannels: 24, outChannels: 16, height: 3, width: 1, kernel: 3, stride: 1, dilation: 1, pad: 1, relu: true, low: 0, high: 1),
              Case(inChannels: 8, outChannels: 32, height: 4, width: 6, kernel: 3, stride: 1, dilation: 1, pad: 1, relu: false, low: -1, high: 1),
              Case(inChannels: 40, outChannels: 24, height: 5, width: 13, kernel: 3, stride: 2, dilation: 1, pad: 1, relu: true, low: 0, high: 2),
              Case(inChannels: 3, outChannels: 7, height: 8, width: 25, kernel: 1, stride: 1, dilation: 1, pad: 0, relu: false, low: -2, high: 2),
          ])
    func avxVNNICodeMatchesReference(_ c: Case) {
        let (x, w, bias) = Self.data(c)
        let convolution = Self.convolution(c, w, bias, .reference)
        var g = Self.geometry(c).int8Kernel
        let rows = Int(smartcrop_int8_padded_height(&g)), outRows = Int(g.out_height)
        let bytes = Int(smartcrop_int8_input_bytes(&g))
        let outCount = Int(smartcrop_int8_output_groups(&g)) * 16 * Int(g.out_height) * Int(g.out_width)
        let plane = c.height * c.width
        var input = [Float](repeating: 0, count: channelBlocks(c.inChannels) * 8 * plane)
        for ch in 0..<c.inChannels {
            for i in 0..<plane { input[((ch / 8) * plane + i) * 8 + ch % 8] = x[ch * plane + i] }
        }
        let weights = UnsafeRawPointer(convolution.weights.packed.base).assumingMemoryBound(to: Int8.self)
        let multiplier = UnsafePointer(convolution.epilogue.base), offset = UnsafePointer(convolution.epilogue.base + convolution.offsetStart)
        let relu: Int32 = c.relu ? 1 : 0
        let inverseScale = convolution.input.inverseScale, zeroPoint = convolution.input.zeroPoint
        // Sentinels: a byte or float either kernel leaves unwritten differs from the other's.
        var quantizedReference = [UInt8](repeating: 0xA5, count: bytes), quantizedCheck = [UInt8](repeating: 0x5A, count: bytes)
        var outReference = [Float](repeating: 0, count: outCount), outCheck = [Float](repeating: .nan, count: outCount)
        smartcrop_int8_quantize_reference(input, &quantizedReference, &g, inverseScale, zeroPoint, 0, Int32(rows))
        for part in [0..<(rows / 3), (rows / 3)..<rows] {
            smartcrop_int8_quantize_avxvnni_evex_check(input, &quantizedCheck, &g, inverseScale, zeroPoint,
                                                       Int32(part.lowerBound), Int32(part.upperBound))
        }
        let differentBytes = zip(quantizedCheck, quantizedReference).count { $0 != $1 }
        #expect(differentBytes == 0, "\(differentBytes) of \(bytes) quantised input bytes differ")
        smartcrop_int8_conv_reference(quantizedReference, weights, multiplier, offset, relu, &outReference, &g, 0, Int32(outRows))
        for part in [0..<(outRows / 2), (outRows / 2)..<outRows] {
            smartcrop_int8_conv_avxvnni_evex_check(quantizedReference, weights, multiplier, offset, relu, &outCheck, &g,
                                                   Int32(part.lowerBound), Int32(part.upperBound))
        }
        // Only the blocks the output has are written (the padding lanes of the last one too).
        let written = channelBlocks(c.outChannels) * 8 * Int(g.out_height) * Int(g.out_width)
        let differentOutputs = zip(outCheck[..<written], outReference[..<written]).count { $0.bitPattern != $1.bitPattern }
        #expect(differentOutputs == 0, "\(differentOutputs) of \(written) outputs differ")
        let untouched = outCheck[written...].allSatisfy { $0.isNaN }
        #expect(untouched, "wrote past the output's blocks")
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
        #expect(PrecisionSelection.choose(forced: nil, runsInt8: true) == .success(nil))
        #expect(PrecisionSelection.choose(forced: "", runsInt8: false) == .success(nil))
        #expect(PrecisionSelection.choose(forced: "float32", runsInt8: false) == .success(.float32))
        #expect(PrecisionSelection.choose(forced: "INT8", runsInt8: true) == .success(.int8))
        guard case let .failure(error) = PrecisionSelection.choose(forced: "int8", runsInt8: false) else {
            Issue.record("int8 without VNNI was accepted")
            return
        }
        #expect(error.description.contains("AVX-512 VNNI") && error.description.contains("AVX-VNNI"))
        guard case .failure = PrecisionSelection.choose(forced: "fp16", runsInt8: true) else {
            Issue.record("an unknown precision was accepted")
            return
        }
    }

    /// Which int8 kernels each float kernel set runs, on the CPUs there are: each set stands for
    /// the CPUs it is the widest on, and int8 named outright takes the widest kernel there is.
    @Test func int8KernelPerKernelSet() {
        typealias CPU = (name: String, sets: [InstructionSet], available: [Int8Implementation],
                         automatic: [InstructionSet: Int8Implementation])
        let cpus: [CPU] = [
            ("Haswell, Zen 2", [.avx2, .baseline], [], [:]),
            ("Skylake-SP", [.avx512, .avx2, .baseline], [], [:]),
            ("Alder Lake, Sierra Forest", [.avx2, .baseline], [.avxVNNI], [.avx2: .avxVNNI]),
            ("Zen 4, Ice Lake", [.avx512, .avx2, .baseline], [.vnni], [.avx512: .vnni]),
            ("Sapphire Rapids, Zen 5", [.avx512, .avx2, .baseline], [.vnni, .avxVNNI], [.avx512: .vnni, .avx2: .avxVNNI]),
        ]
        for cpu in cpus {
            for set in cpu.sets {
                #expect(PrecisionSelection.int8Kernel(for: set, named: false, available: cpu.available) == cpu.automatic[set],
                        "\(cpu.name), \(set)")
                #expect(PrecisionSelection.int8Kernel(for: set, named: true, available: cpu.available)
                        == (cpu.automatic[set] ?? cpu.available.first), "\(cpu.name), \(set), int8 named")
            }
        }
    }
}
