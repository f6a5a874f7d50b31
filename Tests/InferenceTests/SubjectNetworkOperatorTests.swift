import Foundation
import Testing
@testable import Inference
import OnnxTestSupport

/// The operators and importer rules U-2-Netp needs, on cases small enough to work out by hand
/// (or against a naive loop where the case must be large enough to reach the fast kernels).
@Suite struct SubjectNetworkOperatorTests {
    // MARK: Resize, linear

    /// [0, 10] resized to four columns (or one) with `mode`, given `sizes` (opset 11 inputs).
    func resizeRow(_ mode: String, width: Int, bySizes: Bool = true) throws -> [Float] {
        let scales: [Float] = bySizes ? [] : [1, 1, 1, Float(width) / 2]
        let r = try runSingleNode("Resize", input: [0, 10], shape: [1, 1, 1, 2], extraInputs: ["roi", "scales"] + (bySizes ? ["sizes"] : []),
                                  attributes: [.string("mode", "linear"), .string("coordinate_transformation_mode", mode)],
                                  initializers: [.floats("roi", [0], []), .floats("scales", [scales.count], scales)]
                                      + (bySizes ? [.int64s("sizes", [1, 1, 1, width])] : []),
                                  opset: 11)
        #expect(r.shape == [1, 1, 1, width])
        return r.values
    }

    @Test func linearResizeCoordinateModes() throws {
        // half_pixel: sources -0.25, 0.25, 0.75, 1.25, clamped into [0, 1].
        expectClose(try resizeRow("half_pixel", width: 4), [0, 2.5, 7.5, 10])
        expectClose(try resizeRow("half_pixel", width: 4, bySizes: false), [0, 2.5, 7.5, 10])
        expectClose(try resizeRow("pytorch_half_pixel", width: 4), [0, 2.5, 7.5, 10])
        // align_corners: 0, 1/3, 2/3, 1.
        expectClose(try resizeRow("align_corners", width: 4), [0, 10.0 / 3, 20.0 / 3, 10])
        // asymmetric: 0, 0.5, 1, 1.5 (clamped to 1).
        expectClose(try resizeRow("asymmetric", width: 4), [0, 5, 10, 10])
        expectClose(try resizeRow("asymmetric", width: 4, bySizes: false), [0, 5, 10, 10])
        // One output column: half_pixel maps it to source 0.5, pytorch_half_pixel to 0.
        expectClose(try resizeRow("half_pixel", width: 1), [5])
        expectClose(try resizeRow("pytorch_half_pixel", width: 1), [0])
    }

    @Test func linearResizeOfBlockedChannelsIsBilinear() throws {
        // A 1×1 convolution first puts nine channels in the blocked layout (two blocks, the second
        // partial). Channel c of the input is the plane [[0, 10], [20, 30]] × (c + 1); upsampled
        // 2× with half_pixel, bilinear interpolation of a plane that is linear in x and y stays
        // linear: out[y][x] = (row(y) + column(x)) × (c + 1), with column = [0, 2.5, 7.5, 10] and
        // row = [0, 5, 15, 20].
        let channels = 9
        let input = (0..<channels).flatMap { c in [0, 10, 20, 30].map { $0 * Float(c + 1) } }
        var identity = [Float](repeating: 0, count: channels * channels)
        for c in 0..<channels { identity[c * channels + c] = 1 }
        let bytes = makeModel(inputDims: [1, channels, 2, 2], outputs: ["y"], nodes: [
            TestNode("Conv", ["x", "w"], ["c"]),
            TestNode("Resize", ["c", "roi", "scales"], ["y"], [.string("mode", "linear"),
                                                               .string("coordinate_transformation_mode", "half_pixel")]),
        ], initializers: [.floats("w", [channels, channels, 1, 1], identity), .floats("roi", [0], []),
                          .floats("scales", [4], [1, 1, 2, 2])], opset: 11)
        let network = try loadNetwork(bytes)
        let plan = try network.plan(for: [1, channels, 2, 2])
        #expect(plan.steps.contains { if case .resizeLinear(_, _, _, _, _, channelBlock) = $0.kernel { true } else { false } },
                "the resize runs on the blocked tensor")
        let out = try network.run(input, shape: [1, channels, 2, 2])[0]
        #expect(out.shape == [1, channels, 4, 4])
        let row: [Float] = [0, 5, 15, 20], column: [Float] = [0, 2.5, 7.5, 10]
        expectClose(out.values, (0..<channels).flatMap { c in row.flatMap { r in column.map { (r + $0) * Float(c + 1) } } })
    }

    // MARK: Concat

    /// x (eight channels of 1×3) through two 1×1 convolutions: `a` = x (8 channels) and
    /// `b` = the sum of x's channels (`bChannels` copies), then Concat(inputs) along channels.
    func concatModel(_ inputs: [String], bChannels: Int = 3) -> [UInt8] {
        var identity = [Float](repeating: 0, count: 64)
        for c in 0..<8 { identity[c * 8 + c] = 1 }
        return makeModel(inputDims: [1, 8, 1, 3], outputs: ["y"], nodes: [
            TestNode("Conv", ["x", "wa"], ["a"]),
            TestNode("Conv", ["x", "wb"], ["b"]),
            TestNode("Concat", inputs, ["y"], [.int("axis", 1)]),
        ], initializers: [.floats("wa", [8, 8, 1, 1], identity),
                          .floats("wb", [bChannels, 8, 1, 1], [Float](repeating: 1, count: bChannels * 8))])
    }

    let eightChannels: [Float] = (0..<24).map(Float.init)
    var channelSums: [Float] { (0..<3).map { x in (0..<8).reduce(0) { $0 + eightChannels[$1 * 3 + x] } } }

    @Test func channelConcatWritesInPlace() throws {
        let network = try loadNetwork(concatModel(["a", "b"]))
        let plan = try network.plan(for: [1, 8, 1, 3])
        // The producers write into the concatenation: no copy step, no plain concatenation.
        #expect(!plan.steps.contains { step in
            switch step.kernel { case .copy, .concatPlain: true; default: false }
        }, "\(plan.steps.map(\.label))")
        let out = try network.run(eightChannels, shape: [1, 8, 1, 3])[0]
        #expect(out.shape == [1, 11, 1, 3])
        expectClose(out.values, eightChannels + channelSums + channelSums + channelSums)
    }

    @Test func channelConcatOfOneTensorTwiceCopiesTheSecond() throws {
        let network = try loadNetwork(concatModel(["a", "a", "b"]))
        let plan = try network.plan(for: [1, 8, 1, 3])
        #expect(plan.steps.filter { if case .copy = $0.kernel { true } else { false } }.count == 1)
        let out = try network.run(eightChannels, shape: [1, 8, 1, 3])[0]
        #expect(out.shape == [1, 19, 1, 3])
        expectClose(out.values, eightChannels + eightChannels + channelSums + channelSums + channelSums)
    }

    @Test func concatWhereBlocksDoNotLineUpIsCopied() throws {
        // b (3 channels) first: a would start mid-block, so the plain concatenation runs.
        let network = try loadNetwork(concatModel(["b", "a"]))
        let plan = try network.plan(for: [1, 8, 1, 3])
        #expect(plan.steps.contains { if case .concatPlain = $0.kernel { true } else { false } })
        let out = try network.run(eightChannels, shape: [1, 8, 1, 3])[0]
        expectClose(out.values, channelSums + channelSums + channelSums + eightChannels)
    }

    @Test func concatAlongRows() throws {
        let bytes = makeModel(inputDims: [1, 1, 2, 2], outputs: ["y"], nodes: [
            TestNode("Relu", ["x"], ["r"]),
            TestNode("Concat", ["x", "r"], ["y"], [.int("axis", 2)]),
        ])
        let out = try loadNetwork(bytes).run([1, -2, 3, -4], shape: [1, 1, 2, 2])[0]
        #expect(out.shape == [1, 1, 4, 2])
        expectClose(out.values, [1, -2, 3, -4, 1, 0, 3, 0])
    }

    // MARK: Dilated convolution

    /// A naive convolution of one image (NCHW, group 1, symmetric padding = dilation).
    func naiveConv(_ x: [Float], channels: Int, height: Int, width: Int, weights: [Float], outChannels: Int,
                   dilation d: Int) -> [Float] {
        var out = [Float](repeating: 0, count: outChannels * height * width)
        for o in 0..<outChannels {
            for y in 0..<height {
                for xx in 0..<width {
                    var sum: Float = 0
                    for c in 0..<channels {
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let iy = y - d + ky * d, ix = xx - d + kx * d
                                guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                                sum += x[(c * height + iy) * width + ix] * weights[((o * channels + c) * 3 + ky) * 3 + kx]
                            }
                        }
                    }
                    out[(o * height + y) * width + xx] = sum
                }
            }
        }
        return out
    }

    @Test(arguments: [2, 4, 8])
    func dilatedThreeByThreeConvolution(dilation: Int) throws {
        // 24×24 with padding = dilation leaves interior pixels for the fast kernel and edges for
        // the border path; sixteen output channels (the two-block tile) and one (the
        // single-channel kernel).
        let (channels, height, width) = (16, 24, 24)
        let x = (0..<(channels * height * width)).map { Float(($0 * 7) % 13) - 6 }
        for outChannels in [16, 1] {
            let w = (0..<(outChannels * channels * 9)).map { Float(($0 * 5) % 11) / 10 - 0.5 }
            let r = try runSingleNode("Conv", input: x, shape: [1, channels, height, width], extraInputs: ["w"],
                                      attributes: [.ints("dilations", [dilation, dilation]), .ints("kernel_shape", [3, 3]),
                                                   .ints("pads", [dilation, dilation, dilation, dilation])],
                                      initializers: [.floats("w", [outChannels, channels, 3, 3], w)])
            #expect(r.shape == [1, outChannels, height, width])
            expectClose(r.values, naiveConv(x, channels: channels, height: height, width: width, weights: w,
                                            outChannels: outChannels, dilation: dilation), tolerance: 1e-4)
        }
    }

    @Test func threadsSplitConvolutionRowsWithTheSameResult() throws {
        let (channels, height, width) = (16, 24, 24)
        let x = (0..<(channels * height * width)).map { Float(($0 * 7) % 13) - 6 }
        let w = (0..<(16 * channels * 9)).map { Float(($0 * 5) % 11) / 10 - 0.5 }
        let bytes = makeModel(inputDims: [1, channels, height, width], outputs: ["y"], nodes: [
            TestNode("Conv", ["x", "w"], ["c"], [.ints("pads", [2, 2, 2, 2]), .ints("dilations", [2, 2])]),
            TestNode("Relu", ["c"], ["y"]),
        ], initializers: [.floats("w", [16, channels, 3, 3], w)])
        let network = try loadNetwork(bytes)
        func run(_ threads: Int) throws -> [Float] {
            try network.run(inputShape: [1, channels, height, width], threads: threads,
                            fill: { _ = $0.initialize(from: x) }, read: { Array($0[0]) })
        }
        let one = try run(1)
        #expect(try run(2) == one)
        #expect(try run(3) == one)
    }

    @Test func onlyTheOutputsReadAreComputed() throws {
        let bytes = makeModel(inputDims: [1, 4], outputs: ["a", "b"], nodes: [
            TestNode("Relu", ["x"], ["a"]),
            TestNode("Sigmoid", ["x"], ["s"]),
            TestNode("Relu", ["s"], ["b"]),
        ])
        let all = try Network(model: bytes, source: ModelSource(name: "two.onnx", remedy: ""))
        #expect(all.graph?.steps.count == 3)
        let first = try Network(model: bytes, source: ModelSource(name: "two.onnx", remedy: ""), outputs: .first(1))
        #expect(first.outputNames == ["a"])
        #expect(first.graph?.steps.count == 1, "the Sigmoid and Relu behind b are dropped")
        expectClose(try first.run([-1, 2, -3, 4], shape: [1, 4])[0].values, [0, 2, 0, 4])
    }

    // MARK: Importer

    /// U-2-Netp's `_upsample_like(c, x)` as PyTorch writes it: Resize's sizes built from
    /// Shape(c)[0:2] and Shape(x)'s height and width (Gather, Unsqueeze, Concat, Cast).
    func upsampleLikeModel() -> [UInt8] {
        makeModel(inputDims: [1, 1, nil, nil], outputs: ["y"], nodes: [
            TestNode("Conv", ["x", "w"], ["c"], [.ints("strides", [2, 2])]),
            TestNode("Shape", ["c"], ["c_shape"]),
            TestNode("Slice", ["c_shape", "zero", "two"], ["c_nc"]),
            TestNode("Shape", ["x"], ["x_shape"]),
            TestNode("Gather", ["x_shape", "index2"], ["h"], [.int("axis", 0)]),
            TestNode("Gather", ["x_shape", "index3"], ["w_"], [.int("axis", 0)]),
            TestNode("Unsqueeze", ["h"], ["h1"], [.ints("axes", [0])]),
            TestNode("Unsqueeze", ["w_"], ["w1"], [.ints("axes", [0])]),
            TestNode("Concat", ["h1", "w1"], ["hw"], [.int("axis", 0)]),
            TestNode("Cast", ["hw"], ["hw64"], [.int("to", 7)]),
            TestNode("Concat", ["c_nc", "hw64"], ["sizes"], [.int("axis", 0)]),
            TestNode("Resize", ["c", "roi", "scales", "sizes"], ["y"], [.string("mode", "linear"),
                                                                        .string("coordinate_transformation_mode", "half_pixel")]),
        ], initializers: [.floats("w", [1, 1, 1, 1], [1]), .int64s("zero", [0]), .int64s("two", [2]),
                          .int64Scalar("index2", 2), .int64Scalar("index3", 3), .floats("roi", [0], []),
                          .floats("scales", [0], [])], opset: 11)
    }

    @Test func shapeSubgraphsFoldForEachInputSize() throws {
        let network = try loadNetwork(upsampleLikeModel())
        #expect(network.graph == nil, "the sizes depend on the input, so the graph compiles per size")
        // 2×4: the stride-2 convolution keeps x[0][0] and x[0][2]; upsampled back to 2×4 with
        // half_pixel, columns see sources -0.25, 0.25, 0.75, 1.25 (clamped) and both rows the same.
        let wide = try network.run([1, 2, 5, 6, 7, 8, 9, 10], shape: [1, 1, 2, 4])[0]
        #expect(wide.shape == [1, 1, 2, 4])
        expectClose(wide.values, [1, 2, 4, 5, 1, 2, 4, 5])
        // 4×1 at another size: the same graph, other constants.
        let tall = try network.run([3, 0, 7, 0], shape: [1, 1, 4, 1])[0]
        #expect(tall.shape == [1, 1, 4, 1])
        expectClose(tall.values, [3, 4, 6, 7])
    }

    @Test func fixedSizeSpellingOfSizesLoadsOnce() throws {
        let bytes = makeModel(inputDims: [1, 1, 2, 2], outputs: ["y"], nodes: [
            TestNode("Resize", ["x", "roi", "scales", "sizes"], ["y"], [.string("mode", "linear")]),
        ], initializers: [.floats("roi", [0], []), .floats("scales", [0], []), .int64s("sizes", [1, 1, 4, 4])], opset: 11)
        let network = try loadNetwork(bytes)
        #expect(network.graph != nil, "constant sizes need no per-size compilation")
        #expect(try network.run([0, 10, 20, 30], shape: [1, 1, 2, 2])[0].shape == [1, 1, 4, 4])
    }

    @Test func batchNormalizationFoldsIntoTheConvolution() throws {
        // conv = 2x + 1; BN = 3 (conv - 1) / sqrt(var + eps) + 0.5 with var + eps = 4: 3x + 0.5.
        let bytes = makeModel(inputDims: [1, 1, 1, 3], outputs: ["y"], nodes: [
            TestNode("Conv", ["x", "w", "b"], ["c"]),
            TestNode("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"], [.float("epsilon", 0.5)]),
            TestNode("Relu", ["n"], ["y"]),
        ], initializers: [.floats("w", [1, 1, 1, 1], [2]), .floats("b", [1], [1]), .floats("scale", [1], [3]),
                          .floats("shift", [1], [0.5]), .floats("mean", [1], [1]), .floats("var", [1], [3.5])])
        let network = try loadNetwork(bytes)
        #expect(network.graph?.steps.count == 1, "Conv, BatchNormalization and Relu become one step")
        expectClose(try network.run([1, -1, 2], shape: [1, 1, 1, 3])[0].values, [3.5, 0, 6.5])
    }

    @Test func batchNormalizationWithoutAConvolutionIsRefusedByName() {
        let bytes = makeModel(inputDims: [1, 1, 1, 1], outputs: ["y"], nodes: [
            TestNode("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"]),
        ], initializers: [.floats("s", [1], [1]), .floats("b", [1], [0]), .floats("m", [1], [0]), .floats("v", [1], [1])])
        #expect { try loadNetwork(bytes, name: "bn.onnx") } throws: { "\($0)".contains("BatchNormalization_y") }
    }

    @Test func identityIsDropped() throws {
        let bytes = makeModel(inputDims: [1, 4], outputs: ["y"], nodes: [
            TestNode("Relu", ["x"], ["r"]),
            TestNode("Identity", ["r"], ["y"]),
        ])
        let network = try loadNetwork(bytes)
        #expect(network.graph?.steps.count == 1)
        expectClose(try network.run([-1, 2, -3, 4], shape: [1, 4])[0].values, [0, 2, 0, 4])
    }

    @Test func unsupportedOperatorIsNamedWithItsNode() {
        let bytes = makeModel(inputDims: [1, 4], outputs: ["y"], nodes: [TestNode("LSTM", ["x"], ["y"])])
        #expect { try loadNetwork(bytes, name: "odd.onnx") } throws: { error in
            "\(error)".contains("LSTM") && "\(error)".contains("LSTM_y") && "\(error)".contains("odd.onnx")
        }
        // A shape operator on a computed tensor is not folded, and is refused by name too.
        let mul = makeModel(inputDims: [1, 4], outputs: ["y"], nodes: [TestNode("Mul", ["x", "two"], ["y"])],
                            initializers: [.floats("two", [1], [2])])
        #expect { try loadNetwork(mul) } throws: { "\($0)".contains("Mul") && "\($0)".contains("Mul_y") }
    }
}
