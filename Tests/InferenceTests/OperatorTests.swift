import Foundation
import Testing
@testable import Inference
import OnnxTestSupport

/// Every operator through the whole path (protobuf → compiler → plan → kernel) on cases small
/// enough to work out by hand.
@Suite struct OperatorTests {
    let oneToNine: [Float] = (1...9).map(Float.init)

    // MARK: Conv

    @Test func convWithPaddingAndBias() throws {
        // 3×3 box filter over 1...9 with a zero border: each output is its neighbourhood's sum, + 1.
        let r = try runSingleNode("Conv", input: oneToNine, shape: [1, 1, 3, 3], extraInputs: ["w", "b"],
                                  attributes: [.ints("pads", [1, 1, 1, 1]), .ints("kernel_shape", [3, 3])],
                                  initializers: [.floats("w", [1, 1, 3, 3], Array(repeating: 1, count: 9)),
                                                 .floats("b", [1], [1])])
        #expect(r.shape == [1, 1, 3, 3])
        expectClose(r.values, [13, 22, 17, 28, 46, 34, 25, 40, 29])
    }

    @Test func convWithStrideTwo() throws {
        // 2×2 sums of the four quadrants of 0...15.
        let r = try runSingleNode("Conv", input: (0..<16).map(Float.init), shape: [1, 1, 4, 4], extraInputs: ["w"],
                                  attributes: [.ints("strides", [2, 2])],
                                  initializers: [.floats("w", [1, 1, 2, 2], [1, 1, 1, 1])])
        #expect(r.shape == [1, 1, 2, 2])
        expectClose(r.values, [10, 18, 42, 50])
    }

    @Test func convWithDilation() throws {
        // A 3×3 kernel dilated by 2 covers a 5×5 input's corners, edge midpoints and centre.
        let r = try runSingleNode("Conv", input: (0..<25).map(Float.init), shape: [1, 1, 5, 5], extraInputs: ["w"],
                                  attributes: [.ints("dilations", [2, 2])],
                                  initializers: [.floats("w", [1, 1, 3, 3], Array(repeating: 1, count: 9))])
        #expect(r.shape == [1, 1, 1, 1])
        expectClose(r.values, [0 + 2 + 4 + 10 + 12 + 14 + 20 + 22 + 24])
    }

    @Test func depthwiseConvKeepsChannelsApart() throws {
        // group = 2: channel 0 has an identity kernel, channel 1 a box filter.
        var identity = [Float](repeating: 0, count: 9)
        identity[4] = 1
        let input = oneToNine + oneToNine.map { $0 * 10 }
        let r = try runSingleNode("Conv", input: input, shape: [1, 2, 3, 3], extraInputs: ["w"],
                                  attributes: [.int("group", 2), .ints("pads", [1, 1, 1, 1])],
                                  initializers: [.floats("w", [2, 1, 3, 3], identity + Array(repeating: 1, count: 9))])
        expectClose(r.values, oneToNine + [12, 21, 16, 27, 45, 33, 24, 39, 28].map { $0 * 10 })
    }

    @Test func depthwiseConvOnWideRowsUsesVectorPath() throws {
        // 2×20 of ones, box filter: interior columns see 2 rows × 3 columns, edge columns 2 × 2.
        let r = try runSingleNode("Conv", input: Array(repeating: 1, count: 40), shape: [1, 1, 2, 20], extraInputs: ["w"],
                                  attributes: [.int("group", 1), .ints("pads", [1, 1, 1, 1])],
                                  initializers: [.floats("w", [1, 1, 3, 3], Array(repeating: 1, count: 9))])
        let row: [Float] = [4] + Array(repeating: 6, count: 18) + [4]
        expectClose(r.values, row + row)
    }

    @Test func groupedConvWithTwoInputChannelsPerGroup() throws {
        // group = 2, each group sums its two input channels (1×1 kernel of ones): general path.
        let input: [Float] = [1, 2, 10, 20, 100, 200, 1000, 2000]   // 4 channels × 1×2
        let r = try runSingleNode("Conv", input: input, shape: [1, 4, 1, 2], extraInputs: ["w"],
                                  attributes: [.int("group", 2)],
                                  initializers: [.floats("w", [2, 2, 1, 1], [1, 1, 1, 1])])
        expectClose(r.values, [11, 22, 1100, 2200])
    }

    @Test func pointwiseConvOverManyPixelsAndOddChannelCount() throws {
        // 2 input channels → 3 outputs over 7×5 = 35 pixels, crossing the 16-, 8- and 1-column
        // paths and a partly filled panel of output rows. x[c][p] = p + 100c.
        let pixels = 35
        let input = (0..<2).flatMap { c in (0..<pixels).map { Float($0 + 100 * c) } }
        let weights: [Float] = [1, 0, 0, 1, 2, -1]          // out0 = x0, out1 = x1, out2 = 2x0 - x1
        let r = try runSingleNode("Conv", input: input, shape: [1, 2, 7, 5], extraInputs: ["w", "b"],
                                  initializers: [.floats("w", [3, 2, 1, 1], weights), .floats("b", [3], [0.5, 0, -1])])
        let out0: [Float] = (0..<pixels).map { Float($0) + 0.5 }
        let out1: [Float] = (0..<pixels).map { Float($0 + 100) }
        let out2: [Float] = (0..<pixels).map { p -> Float in 2 * Float(p) - Float(p + 100) - 1 }
        let expected = out0 + out1 + out2
        expectClose(r.values, expected)
    }

    @Test func blockedConvWithPartialChannelBlockAndOddOutputBlocks() throws {
        // 9 input channels (one whole block of 8 and a partial one) of ones on 6×7, 3×3 kernel of
        // ones scaled by (oc + 1), padding 1, 17 output channels (a pair of blocks and a single
        // one): each output is (oc + 1) · 9 · (taps inside the image) = 9, 6 or 4 taps for interior,
        // edge and corner pixels. Covers the 4-pixel tiles, the 1-pixel tails and the border path.
        let (channels, outChannels, height, width) = (9, 17, 6, 7)
        let weights = (0..<outChannels).flatMap { oc in [Float](repeating: Float(oc + 1), count: channels * 9) }
        let r = try runSingleNode("Conv", input: Array(repeating: 1, count: channels * height * width),
                                  shape: [1, channels, height, width], extraInputs: ["w"],
                                  attributes: [.ints("pads", [1, 1, 1, 1]), .ints("kernel_shape", [3, 3])],
                                  initializers: [.floats("w", [outChannels, channels, 3, 3], weights)])
        #expect(r.shape == [1, outChannels, height, width])
        func taps(_ i: Int, _ size: Int) -> Int { i == 0 || i == size - 1 ? 2 : 3 }
        let expected = (0..<outChannels).flatMap { oc in
            (0..<height).flatMap { y in (0..<width).map { x in Float((oc + 1) * channels * taps(y, height) * taps(x, width)) } }
        }
        expectClose(r.values, expected)
    }

    @Test func pointwiseConvOnTenChannels() throws {
        // 1×1 on 10 channels (blocked, last block partial) over 3×5 pixels: out0 sums the
        // channels, out1 takes channel 9 alone. x[c][p] = p + 100c.
        let pixels = 15
        let input = (0..<10).flatMap { c in (0..<pixels).map { Float($0 + 100 * c) } }
        let weights = [Float](repeating: 1, count: 10) + [Float](repeating: 0, count: 9) + [1]
        let r = try runSingleNode("Conv", input: input, shape: [1, 10, 3, 5], extraInputs: ["w"],
                                  initializers: [.floats("w", [2, 10, 1, 1], weights)])
        let sums = (0..<pixels).map { Float(10 * $0 + 4500) }
        let last = (0..<pixels).map { Float($0 + 900) }
        expectClose(r.values, sums + last)
    }

    @Test func convSameUpperPadsTheEnd() throws {
        // 1×4 input, kernel 1×2, stride 1, SAME_UPPER: the extra column of padding goes at the end.
        let r = try runSingleNode("Conv", input: [1, 2, 3, 4], shape: [1, 1, 1, 4], extraInputs: ["w"],
                                  attributes: [.string("auto_pad", "SAME_UPPER")],
                                  initializers: [.floats("w", [1, 1, 1, 2], [1, 10])])
        expectClose(r.values, [21, 32, 43, 4])
    }

    @Test func convFollowedByReluAndPReluAreFused() throws {
        // Conv (negating 1×1) → Relu, and Conv → PRelu(slope 0.25): the graph shrinks to one
        // step each and negative values are clipped or scaled.
        let input: [Float] = [-2, -1, 1, 2]
        for (activation, expected) in [("Relu", [Float(2), 1, 0, 0]), ("PRelu", [2, 1, -0.25, -0.5])] {
            let nodes = [TestNode("Conv", ["x", "w"], ["c"]),
                         TestNode(activation, activation == "PRelu" ? ["c", "slope"] : ["c"], ["y"])]
            let bytes = makeModel(inputDims: [1, 1, 2, 2], outputs: ["y"], nodes: nodes,
                                  initializers: [.floats("w", [1, 1, 1, 1], [-1]), .floats("slope", [1, 1, 1], [0.25])])
            let network = try loadNetwork(bytes)
            #expect(network.graph!.steps.count == 1, "\(activation) should fold into the Conv")
            expectClose(try network.run(input, shape: [1, 1, 2, 2])[0].values, expected)
        }
    }

    @Test func siblingHeadsAreMergedAndSliced() throws {
        // Two 1×1 → depthwise 3×3 heads on the same 9-channel input of ones (4×5, padding 1):
        // head A sums the channels (9) then box-filters (× taps inside: 4, 6 or 9) and is read
        // through Transpose to NHWC; head B gives 9·(oc + 1) on 3 channels then an identity
        // kernel and is a graph output as it is. They run as one pair over 4 channels + slices.
        var identity = [Float](repeating: 0, count: 9)
        identity[4] = 1
        let nodes = [TestNode("Conv", ["x", "wa"], ["a1"]),
                     TestNode("Conv", ["a1", "ka"], ["a2"], [.ints("pads", [1, 1, 1, 1])]),
                     TestNode("Transpose", ["a2"], ["a"], [.ints("perm", [0, 2, 3, 1])]),
                     TestNode("Conv", ["x", "wb"], ["b1"]),
                     TestNode("Conv", ["b1", "kb"], ["b"], [.ints("pads", [1, 1, 1, 1]), .int("group", 3)])]
        let bytes = makeModel(inputDims: [1, 9, 4, 5], outputs: ["a", "b"], nodes: nodes,
                              initializers: [.floats("wa", [1, 9, 1, 1], Array(repeating: 1, count: 9)),
                                             .floats("ka", [1, 1, 3, 3], Array(repeating: 1, count: 9)),
                                             .floats("wb", [3, 9, 1, 1], (0..<27).map { Float($0 / 9 + 1) }),
                                             .floats("kb", [3, 1, 3, 3], identity + identity + identity)])
        let network = try loadNetwork(bytes)
        #expect(network.graph!.steps.contains { if case .channelSlice = $0.operation { return true } else { return false } })
        let outputs = try network.run(Array(repeating: 1, count: 9 * 20), shape: [1, 9, 4, 5])
        func taps(_ i: Int, _ size: Int) -> Int { i == 0 || i == size - 1 ? 2 : 3 }
        #expect(outputs[0].shape == [1, 4, 5, 1])
        expectClose(outputs[0].values, (0..<4).flatMap { y in (0..<5).map { x in Float(9 * taps(y, 4) * taps(x, 5)) } })
        #expect(outputs[1].shape == [1, 3, 4, 5])
        expectClose(outputs[1].values, (0..<3).flatMap { oc in [Float](repeating: Float(9 * (oc + 1)), count: 20) })
    }

    // MARK: MaxPool

    @Test func maxPoolCeilModeKeepsThePartialWindow() throws {
        let floor = try runSingleNode("MaxPool", input: oneToNine, shape: [1, 1, 3, 3],
                                      attributes: [.ints("kernel_shape", [2, 2]), .ints("strides", [2, 2])])
        #expect(floor.shape == [1, 1, 1, 1])
        expectClose(floor.values, [5])
        let ceil = try runSingleNode("MaxPool", input: oneToNine, shape: [1, 1, 3, 3],
                                     attributes: [.ints("kernel_shape", [2, 2]), .ints("strides", [2, 2]), .int("ceil_mode", 1)])
        #expect(ceil.shape == [1, 1, 2, 2])
        expectClose(ceil.values, [5, 6, 8, 9])
    }

    @Test func maxPoolPaddingNeverWins() throws {
        // All-negative input: zero padding would win a max, ONNX padding must not.
        let r = try runSingleNode("MaxPool", input: [-1, -2, -3, -4], shape: [1, 1, 2, 2],
                                  attributes: [.ints("kernel_shape", [3, 3]), .ints("pads", [1, 1, 1, 1])])
        #expect(r.shape == [1, 1, 2, 2])
        expectClose(r.values, [-1, -1, -1, -1])
    }

    @Test func maxPoolSameUpperOnOddSize() throws {
        // 1×5 row, kernel 2, stride 2, SAME_UPPER: ceil(5/2) = 3 outputs, the last window is [5, pad].
        let r = try runSingleNode("MaxPool", input: [1, 3, 2, 5, 4], shape: [1, 1, 1, 5],
                                  attributes: [.ints("kernel_shape", [1, 2]), .ints("strides", [1, 2]), .string("auto_pad", "SAME_UPPER")])
        expectClose(r.values, [3, 5, 4])
    }

    @Test func maxPoolTwoByTwoVectorPath() throws {
        // Two rows of 16: pairs from both rows, eight outputs.
        let top = (0..<16).map { Float($0) }
        let bottom = (0..<16).map { Float(15 - $0) }
        let r = try runSingleNode("MaxPool", input: top + bottom, shape: [1, 1, 2, 16],
                                  attributes: [.ints("kernel_shape", [2, 2]), .ints("strides", [2, 2])])
        expectClose(r.values, [15, 13, 11, 9, 9, 11, 13, 15])
    }

    // MARK: Resize

    @Test func resizeNearestDoublesAsymmetricFloor() throws {
        let r = try runSingleNode("Resize", input: [1, 2, 3, 4], shape: [1, 1, 2, 2], extraInputs: ["roi", "scales"],
                                  attributes: [.string("mode", "nearest"), .string("coordinate_transformation_mode", "asymmetric"),
                                               .string("nearest_mode", "floor")],
                                  initializers: [.floats("roi", [0], []), .floats("scales", [4], [1, 1, 2, 2])], opset: 11)
        #expect(r.shape == [1, 1, 4, 4])
        expectClose(r.values, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }

    @Test func resizeNearestModeMatters() throws {
        // 4 → 6 columns (scale 1.5), asymmetric: source x = o / 1.5 = 0, .67, 1.33, 2, 2.67, 3.33.
        let input: [Float] = [10, 20, 30, 40]
        func run(_ mode: String) throws -> [Float] {
            try runSingleNode("Resize", input: input, shape: [1, 1, 1, 4], extraInputs: ["roi", "scales"],
                              attributes: [.string("coordinate_transformation_mode", "asymmetric"), .string("nearest_mode", mode)],
                              initializers: [.floats("roi", [0], []), .floats("scales", [4], [1, 1, 1, 1.5])], opset: 11).values
        }
        expectClose(try run("floor"), [10, 10, 20, 30, 30, 40])
        expectClose(try run("round_prefer_floor"), [10, 20, 20, 30, 40, 40])
    }

    // MARK: Elementwise and layout

    @Test func preluScalesNegativesPerChannel() throws {
        let r = try runSingleNode("PRelu", input: [-2, 4, -2, 4], shape: [1, 2, 1, 2], extraInputs: ["slope"],
                                  initializers: [.floats("slope", [2, 1, 1], [0.5, 3])])
        expectClose(r.values, [-1, 4, -6, 4])
    }

    @Test func softmaxAlongLastAxis() throws {
        let r = try runSingleNode("Softmax", input: [1, 2, 3, 0, 0, 0], shape: [2, 3], attributes: [.int("axis", 1)])
        expectClose(r.values, [0.09003057, 0.24472847, 0.66524096, 1.0 / 3, 1.0 / 3, 1.0 / 3])
    }

    @Test func softmaxOfPairsUsesVectorPath() throws {
        // Nine two-class rows (eight through the vector path, one after): (0, ln 3) gives
        // (1/4, 3/4), (ln 3, 0) the reverse, equal scores one half each.
        let ln3 = Float(1.0986122886681098)
        let rows: [[Float]] = [[0, ln3], [ln3, 0], [5, 5], [0, ln3], [-100, -100 + ln3], [ln3, 0], [0, 0], [7, 7 + ln3], [ln3, 0]]
        let expected: [[Float]] = rows.map { $0[0] == $0[1] ? [0.5, 0.5] : $0[0] < $0[1] ? [0.25, 0.75] : [0.75, 0.25] }
        let r = try runSingleNode("Softmax", input: rows.flatMap { $0 }, shape: [9, 2], attributes: [.int("axis", 1)])
        expectClose(r.values, expected.flatMap { $0 })
    }

    @Test func sigmoidVectorPathMatchesTheFormula() throws {
        // Eleven values: eight through the vector exponential, three after; includes the clamps.
        let input: [Float] = [-120, -20, -1, -0.5, 0, 0.5, 1, 20, 120, 3, -3]
        let r = try runSingleNode("Sigmoid", input: input, shape: [11])
        expectClose(r.values, input.map { 1 / (1 + Float(exp(-Double($0)))) }, tolerance: 1e-6)
    }

    @Test func softmaxLegacyOpsetFlattensTrailingAxes() throws {
        // Opset 12, axis 1 on [1, 2, 2]: one softmax over all four values.
        let r = try runSingleNode("Softmax", input: [0, 0, 0, 0], shape: [1, 2, 2], attributes: [.int("axis", 1)], opset: 12)
        expectClose(r.values, [0.25, 0.25, 0.25, 0.25])
    }

    @Test func matMulAndFusedBias() throws {
        let plain = try runSingleNode("MatMul", input: [1, 2, 3, 4], shape: [2, 2], extraInputs: ["b"],
                                      initializers: [.floats("b", [2, 2], [5, 6, 7, 8])])
        expectClose(plain.values, [19, 22, 43, 50])
        // MatMul → Add(bias) → PRelu folds into one step.
        let bytes = makeModel(inputDims: [2, 2], outputs: ["y"],
                              nodes: [TestNode("MatMul", ["x", "w"], ["m"]), TestNode("Add", ["m", "bias"], ["a"]),
                                      TestNode("PRelu", ["a", "slope"], ["y"])],
                              initializers: [.floats("w", [2, 2], [5, 6, 7, 8]), .floats("bias", [2], [-30, 1]),
                                             .floats("slope", [2], [0.5, 0.5])])
        let network = try loadNetwork(bytes)
        #expect(network.graph!.steps.count == 1)
        expectClose(try network.run([1, 2, 3, 4], shape: [2, 2])[0].values, [-5.5, 23, 13, 51])
    }

    @Test func addBroadcasts() throws {
        let row = try runSingleNode("Add", input: [1, 2, 3, 4, 5, 6], shape: [2, 3], extraInputs: ["c"],
                                    initializers: [.floats("c", [3], [10, 20, 30])])
        expectClose(row.values, [11, 22, 33, 14, 25, 36])
        let column = try runSingleNode("Add", input: [1, 2], shape: [2, 1], extraInputs: ["c"],
                                       initializers: [.floats("c", [1, 3], [10, 20, 30])])
        #expect(column.shape == [2, 3])
        expectClose(column.values, [11, 21, 31, 12, 22, 32])
    }

    @Test func addOfTwoComputedTensors() throws {
        // y = relu(x) + x
        let bytes = makeModel(inputDims: [4], outputs: ["y"],
                              nodes: [TestNode("Relu", ["x"], ["r"]), TestNode("Add", ["r", "x"], ["y"])])
        expectClose(try loadNetwork(bytes).run([-1, 2, -3, 4], shape: [4])[0].values, [-1, 4, -3, 8])
    }

    @Test func transposeMovesAxes() throws {
        let matrix = try runSingleNode("Transpose", input: [1, 2, 3, 4, 5, 6], shape: [2, 3], attributes: [.ints("perm", [1, 0])])
        #expect(matrix.shape == [3, 2])
        expectClose(matrix.values, [1, 4, 2, 5, 3, 6])
        // NCHW → NHWC for 2 channels of 1×2.
        let nhwc = try runSingleNode("Transpose", input: [1, 2, 10, 20], shape: [1, 2, 1, 2], attributes: [.ints("perm", [0, 2, 3, 1])])
        #expect(nhwc.shape == [1, 1, 2, 2])
        expectClose(nhwc.values, [1, 10, 2, 20])
    }

    @Test func reshapeWithZeroAndMinusOne() throws {
        let input = (0..<24).map(Float.init)
        let r = try runSingleNode("Reshape", input: input, shape: [2, 3, 4], extraInputs: ["s"], initializers: [.int64s("s", [0, -1])])
        #expect(r.shape == [2, 12])
        #expect(r.values == input)
    }

    @Test func flattenAtAxisTwo() throws {
        let input = (0..<24).map(Float.init)
        let r = try runSingleNode("Flatten", input: input, shape: [2, 3, 4], attributes: [.int("axis", 2)])
        #expect(r.shape == [6, 4])
        #expect(r.values == input)
    }

    @Test func sigmoidAndRelu() throws {
        expectClose(try runSingleNode("Sigmoid", input: [0, logf3], shape: [2]).values, [0.5, 0.75])
        expectClose(try runSingleNode("Relu", input: [-1, 0, 2], shape: [3]).values, [0, 0, 2])
    }

    private var logf3: Float { Float(1.0986122886681098) } // ln 3: sigmoid(ln 3) = 3/4
}
