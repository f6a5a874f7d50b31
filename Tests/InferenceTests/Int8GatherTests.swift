import CInt8Kernels
@testable import Inference
import OnnxTestSupport
import Testing

/// The int8 pooling, resize and concatenation: an int8 convolution whose input is
/// concat(resize(a), b, maxpool(c)) makes its u8 input from a, b and c (StepKernel.convInt8Gathered).
/// Its bytes are held to a float64 evaluation of the resize, max and copy followed by
/// int8_kernels.h's quantisation, and its output to the same convolution over the concatenation
/// made by the float kernels, bit for bit, on every kernel set and int8 kernel the CPU runs.
@Suite struct Int8GatherTests {
    // The convolution's input: 10×14, 16 channels upsampled 2× from 5×7, 8 as they are, and 11
    // max-pooled 2×2 from 19×27 (its last row and column of windows hang over the edge, and its
    // second block is partial).
    static let (height, width) = (10, 14)
    static let resized = (channels: 16, height: 5, width: 7)
    static let plain = 8
    static let pooled = (channels: 11, height: 19, width: 27)
    static let channels = resized.channels + plain + pooled.channels
    static let outChannels = 20
    static let quantization = ActivationQuantization(min: -1, max: 2)

    static let rowTaps = linearSourceTaps(inSize: resized.height, outSize: height, scale: 2, coordinateMode: "half_pixel")
    static let columnTaps = linearSourceTaps(inSize: resized.width, outSize: width, scale: 2, coordinateMode: "half_pixel")
    static let pool = PoolGeometry(planes: channelBlocks(pooled.channels), inHeight: pooled.height, inWidth: pooled.width,
                                   outHeight: height, outWidth: width, kernelHeight: 2, kernelWidth: 2, strideY: 2, strideX: 2,
                                   padTop: 0, padLeft: 0)
    static let pieces = [
        Int8InputPiece(channels: resized.channels, source: .resizedLinear(inHeight: resized.height, inWidth: resized.width,
                                                                          rows: rowTaps, columns: columnTaps)),
        Int8InputPiece(channels: plain, source: .tensor),
        Int8InputPiece(channels: pooled.channels, source: .maxPooled(pool)),
    ]
    static let geometry = ConvGeometry(batch: 1, inChannels: channels, inHeight: height, inWidth: width, outChannels: outChannels,
                                       outHeight: height, outWidth: width, kernelHeight: 3, kernelWidth: 3, strideY: 1, strideX: 1,
                                       dilationY: 1, dilationX: 1, padTop: 1, padLeft: 1, group: 1)

    // Arena: the three sources, the concatenation the float kernels make, the output, scratch.
    static let sourceCounts = [blockedCount([1, resized.channels, resized.height, resized.width]),
                               blockedCount([1, plain, height, width]),
                               blockedCount([1, pooled.channels, pooled.height, pooled.width])]
    static let sourceOffsets = [0, sourceCounts[0], sourceCounts[0] + sourceCounts[1]]
    static let concatOffset = sourceCounts.reduce(0, +)
    static let concatCount = blockedCount([1, channels, height, width])
    static let outputOffset = concatOffset + concatCount
    static let outputCount = blockedCount([1, outChannels, height, width])
    static let scratchOffset = outputOffset + outputCount
    static let arenaCount = scratchOffset + geometry.int8ScratchCount + 64

    /// The sources (blocked, padding lanes zero), reaching a little past the calibrated range.
    static let sources: [Float] = {
        var random = SplitMix(seed: 2024)
        var values = [Float](repeating: 0, count: concatOffset)
        let shapes = [(resized.channels, resized.height * resized.width), (plain, height * width),
                      (pooled.channels, pooled.height * pooled.width)]
        for (index, (count, plane)) in shapes.enumerated() {
            for c in 0..<count {
                for i in 0..<plane {
                    values[sourceOffsets[index] + ((c / 8) * plane + i) * 8 + c % 8] = Float(random.unit() * 3.6 - 1.3)
                }
            }
        }
        return values
    }()

    static func convolution(_ implementation: Int8Implementation) -> Int8Convolution {
        var random = SplitMix(seed: 7)
        let weights = (0..<(outChannels * channels * 9)).map { _ in Float(random.unit() * 2 - 1) * 0.3 }
        let bias = (0..<outChannels).map { _ in Float(random.unit() - 0.5) }
        return Int8Convolution(weights: Int8ConvWeights(outChannels: outChannels, inChannels: channels, kernelHeight: 3, kernelWidth: 3,
                                                        weights: weights, bias: bias, activation: .none),
                               input: quantization, implementation: implementation)
    }

    static var implementations: [Int8Implementation] { PrecisionSelection.int8Kernels + [.reference] }

    /// Runs the gathered step (or, with `materialised`, the float resize and pool into a
    /// concatenation and then `convInt8` over it); returns the arena.
    static func run(_ implementation: Int8Implementation, _ instructionSet: InstructionSet, threads: Int, materialised: Bool) -> [Float] {
        let arena = MutableFloatPointer.allocate(capacity: arenaCount)
        defer { arena.deallocate() }
        arena.initialize(repeating: .nan, count: arenaCount)
        sources.withUnsafeBufferPointer { arena.update(from: $0.baseAddress!, count: $0.count) }
        let kernels = KernelSelection.kernels(instructionSet)
        let conv = convolution(implementation)
        func step(_ kernel: StepKernel, _ inputs: [Int], _ output: Int) {
            kernels.run(kernel, inputOffsets: inputs, outputOffset: output, arena: arena, scratch: arena + scratchOffset, threads: threads)
        }
        if materialised {
            step(.resizeLinear(planes: channelBlocks(resized.channels), inHeight: resized.height, inWidth: resized.width,
                               rows: rowTaps, columns: columnTaps, lanes: channelBlock), [sourceOffsets[0]], concatOffset)
            let plainOffset = concatOffset + blockedCount([1, resized.channels, height, width])
            (arena + plainOffset).update(from: arena + sourceOffsets[1], count: sourceCounts[1])
            step(.maxPoolBlocked(pool), [sourceOffsets[2]], plainOffset + sourceCounts[1])
            step(.convInt8(conv, geometry), [concatOffset], outputOffset)
        } else {
            step(.convInt8Gathered(conv, geometry, pieces: pieces), sourceOffsets, outputOffset)
        }
        return Array(UnsafeBufferPointer(start: arena, count: arenaCount))
    }

    /// The input channel `c` at (y, x) in float64: the bilinear interpolation (with the taps'
    /// float32 weights), the value, or the window's maximum.
    static func exactInput(_ c: Int, _ y: Int, _ x: Int) -> Double {
        func source(_ index: Int, _ channel: Int, _ plane: Int, _ pixel: Int) -> Double {
            Double(sources[sourceOffsets[index] + ((channel / 8) * plane + pixel) * 8 + channel % 8])
        }
        if c < resized.channels {
            let plane = resized.height * resized.width
            let r = rowTaps[y], k = columnTaps[x]
            func at(_ sy: Int, _ sx: Int) -> Double { source(0, c, plane, sy * resized.width + sx) }
            let top = at(r.low, k.low) + Double(k.weight) * (at(r.low, k.high) - at(r.low, k.low))
            let bottom = at(r.high, k.low) + Double(k.weight) * (at(r.high, k.high) - at(r.high, k.low))
            return top + Double(r.weight) * (bottom - top)
        }
        if c < resized.channels + plain { return source(1, c - resized.channels, height * width, y * width + x) }
        // The pooled piece's padding lanes (channels past 11) are zero, as in any blocked tensor.
        let channel = c - resized.channels - plain
        var best = -Double.infinity
        for sy in (2 * y)..<min(2 * y + 2, pooled.height) {
            for sx in (2 * x)..<min(2 * x + 2, pooled.width) {
                best = max(best, source(2, channel, pooled.height * pooled.width, sy * pooled.width + sx))
            }
        }
        return best
    }

    @Test(arguments: supportedInstructionSets)
    func gatheredBytesAreTheQuantisedResizePoolAndConcatenation(instructionSet: InstructionSet) {
        var g = Self.geometry.int8Kernel
        let paddedHeight = Int(smartcrop_int8_padded_height(&g)), paddedWidth = Int(smartcrop_int8_padded_width(&g))
        let bufferChannels = Int(smartcrop_int8_channels(&g))
        #expect(bufferChannels == 40)
        let zero = Int(Self.quantization.zeroPoint)
        for implementation in Self.implementations {
            let gathered = Self.run(implementation, instructionSet, threads: 1, materialised: false)
            let split = Self.run(implementation, instructionSet, threads: 3, materialised: false)
            let stored = Self.run(implementation, instructionSet, threads: 1, materialised: true)
            let output = Self.outputOffset..<(Self.outputOffset + Self.outputCount)
            #expect(gathered[output].elementsEqual(stored[output]) { $0.bitPattern == $1.bitPattern },
                    "\(implementation): the gathered input convolves to another result than the stored one")
            #expect(split[output].elementsEqual(gathered[output]) { $0.bitPattern == $1.bitPattern },
                    "\(implementation): rows split over threads give another result")

            // The bytes the step left in scratch: [padded row][group of 4][padded column][4].
            let bytes: [UInt8] = gathered[Self.scratchOffset...].withUnsafeBytes { Array($0.prefix(paddedHeight * paddedWidth * bufferChannels)) }
            var wrong: [String] = [], ties = 0
            for row in 0..<paddedHeight {
                for c in 0..<bufferChannels {
                    for column in 0..<paddedWidth {
                        let byte = Int(bytes[(row * bufferChannels / 4 + c / 4) * paddedWidth * 4 + column * 4 + c % 4])
                        let (y, x) = (row - 1, column - 1)
                        guard y >= 0, y < Self.height, x >= 0, x < Self.width else {
                            if byte != zero { wrong.append("padding (\(row), \(column)) channel \(c) is \(byte)") }
                            continue
                        }
                        let exact = Self.exactInput(c, y, x)
                        // int8_kernels.h: the float32 product, rounded half to even, held to ±1024.
                        let r = min(max((Float(exact) * Self.quantization.inverseScale).rounded(.toNearestOrEven), -1024), 1024)
                        let expected = min(max(Int(r) + zero, 0), 255)
                        // float32 interpolation may land on the other side of a rounding tie.
                        let scaled = exact * Double(Self.quantization.inverseScale)
                        let nearTie = abs(abs(scaled - scaled.rounded(.down)) - 0.5) < 1e-4
                        if byte == expected { continue }
                        if nearTie && abs(byte - expected) == 1 { ties += 1; continue }
                        wrong.append("(\(y), \(x)) channel \(c): \(byte), expected \(expected) from \(exact)")
                    }
                }
            }
            #expect(wrong.isEmpty, "\(implementation) on \(instructionSet): \(wrong.count) wrong bytes, first \(wrong.prefix(5))")
            #expect(ties < 5, "\(ties) ties")
        }
    }

    /// A small network with each kind of gathered input: a convolution on a max pool, one on
    /// concat(upsample, skip), and one on the concatenation of a tensor with a partial block. Its
    /// int8 plan gathers the three inputs and stores none of the pooled, upsampled or concatenated
    /// tensors; the outputs equal those of the plan that stores them, bit for bit.
    @Test(arguments: supportedInstructionSets)
    func networkGathersItsInt8InputsToTheSameResult(instructionSet: InstructionSet) throws {
        var random = SplitMix(seed: 99)
        func weights(_ name: String, _ out: Int, _ inChannels: Int, _ k: Int) -> TestTensor {
            .floats(name, [out, inChannels, k, k], (0..<(out * inChannels * k * k)).map { _ in Float(random.unit() * 2 - 1) * 0.4 })
        }
        func bias(_ name: String, _ out: Int) -> TestTensor { .floats(name, [out], (0..<out).map { _ in Float(random.unit() - 0.5) }) }
        let pad: [TestAttribute] = [.ints("pads", [1, 1, 1, 1]), .ints("kernel_shape", [3, 3])]
        let bytes = makeModel(inputDims: [1, 3, 32, 48], outputs: ["out"], nodes: [
            TestNode("Conv", ["x", "w0", "b0"], ["c0"], pad), TestNode("Relu", ["c0"], ["a"]),
            TestNode("MaxPool", ["a"], ["p"], [.ints("kernel_shape", [2, 2]), .ints("strides", [2, 2])]),
            TestNode("Conv", ["p", "w1", "b1"], ["c1"], pad), TestNode("Relu", ["c1"], ["b"]),
            TestNode("Resize", ["b", "roi", "scales"], ["u"], [.string("mode", "linear"),
                                                               .string("coordinate_transformation_mode", "half_pixel")]),
            TestNode("Concat", ["u", "a"], ["cat1"], [.int("axis", 1)]),
            TestNode("Conv", ["cat1", "w2", "b2"], ["c2"], pad), TestNode("Relu", ["c2"], ["c"]),
            TestNode("Conv", ["c", "w3", "b3"], ["d"], pad),
            TestNode("Concat", ["c", "d"], ["cat2"], [.int("axis", 1)]),
            TestNode("Conv", ["cat2", "w4", "b4"], ["out"], [.ints("kernel_shape", [1, 1])]),
        ], initializers: [weights("w0", 16, 3, 3), bias("b0", 16), weights("w1", 24, 16, 3), bias("b1", 24),
                          weights("w2", 16, 40, 3), bias("b2", 16), weights("w3", 12, 16, 3), bias("b3", 12),
                          weights("w4", 8, 28, 1), bias("b4", 8), .floats("roi", [0], []), .floats("scales", [4], [1, 1, 2, 2])],
            opset: 11)
        let model = try OnnxModel(serialized: bytes)
        let graph = try CompiledGraph(model)
        let shape = [1, 3, 32, 48]
        let input = syntheticInput(count: shape.reduce(1, *), normalised: true)
        // Ranges wide enough for these random weights (calibration is not what is tested here).
        let inputs = ["p": ActivationQuantization(min: 0, max: 6), "cat1": ActivationQuantization(min: 0, max: 12),
                      "c": ActivationQuantization(min: 0, max: 20), "cat2": ActivationQuantization(min: -20, max: 20)]
        for implementation in Self.implementations {
            var results: [[Float]] = []
            for gathers in [true, false] {
                let plan = try ExecutionPlan(graph: graph, inputShape: shape,
                                             int8: Int8Settings(inputs: inputs, implementation: implementation, gathersInputs: gathers))
                let gathered = plan.steps.filter { if case .convInt8Gathered = $0.kernel { true } else { false } }
                let int8 = plan.steps.filter { if case .convInt8 = $0.kernel { true } else { false } }
                #expect(gathered.count == (gathers ? 3 : 0) && int8.count == (gathers ? 1 : 4), "\(plan.steps.map(\.label))")
                let stores = plan.steps.contains {
                    switch $0.kernel {
                    case .maxPoolBlocked, .resizeLinear, .copy: true
                    default: false
                    }
                }
                #expect(stores != gathers, "gathering \(gathers): \(plan.steps.map(\.label))")
                let arena = MutableFloatPointer.allocate(capacity: plan.arenaCount(threads: 2))
                defer { arena.deallocate() }
                arena.initialize(repeating: 0, count: plan.arenaCount(threads: 2))
                input.withUnsafeBufferPointer { (arena + plan.inputOffset).update(from: $0.baseAddress!, count: $0.count) }
                plan.run(arena: arena, kernels: KernelSelection.kernels(instructionSet), threads: 2)
                results.append(Array(UnsafeBufferPointer(start: arena + plan.outputOffsets[0], count: plan.outputShapes[0].reduce(1, *))))
            }
            #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern), "\(implementation)")
            #expect(Set(results[0]).count > 100, "the output is not constant")
        }
    }
}
