import Inference
import OnnxTestSupport
import Testing

/// 3×3 stride-1 layers run as Winograd F(2×2, 3×3): against a naive convolution in double
/// precision, at odd and even sizes, with every kind of padding, several images, partial
/// channel blocks, an odd number of output blocks, bias, ReLU and PReLU, and split over threads.
@Suite struct WinogradTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var batch: Int, channels: Int, outChannels: Int, height: Int, width: Int
        /// ONNX order: top, left, bottom, right.
        var pads: [Int]
        var activation: String?
        var testDescription: String {
            "\(batch)x\(channels)x\(height)x\(width)→\(outChannels) pads \(pads) \(activation ?? "linear")"
        }
    }

    static let cases: [Case] = [
        Case(batch: 1, channels: 16, outChannels: 16, height: 24, width: 24, pads: [1, 1, 1, 1], activation: "Relu"),
        Case(batch: 2, channels: 12, outChannels: 24, height: 7, width: 9, pads: [1, 1, 1, 1], activation: nil),
        Case(batch: 1, channels: 20, outChannels: 40, height: 5, width: 6, pads: [0, 0, 0, 0], activation: "PRelu"),
        Case(batch: 1, channels: 8, outChannels: 16, height: 1, width: 1, pads: [1, 1, 1, 1], activation: nil),
        Case(batch: 1, channels: 16, outChannels: 8, height: 6, width: 11, pads: [0, 1, 1, 0], activation: "Relu"),
        Case(batch: 1, channels: 32, outChannels: 64, height: 9, width: 130, pads: [2, 2, 2, 2], activation: nil),
    ]

    /// NCHW, group 1, 3×3, stride 1, the given padding; sums in double precision.
    static func naive(_ c: Case, _ x: [Float], _ w: [Float], _ bias: [Float], slopes: [Float]) -> [Float] {
        let outHeight = c.height + c.pads[0] + c.pads[2] - 2, outWidth = c.width + c.pads[1] + c.pads[3] - 2
        var out = [Float](repeating: 0, count: c.batch * c.outChannels * outHeight * outWidth)
        for n in 0..<c.batch {
            for o in 0..<c.outChannels {
                for y in 0..<outHeight {
                    for xx in 0..<outWidth {
                        var sum = Double(bias[o])
                        for ch in 0..<c.channels {
                            for ky in 0..<3 {
                                for kx in 0..<3 {
                                    let iy = y - c.pads[0] + ky, ix = xx - c.pads[1] + kx
                                    guard iy >= 0, iy < c.height, ix >= 0, ix < c.width else { continue }
                                    sum += Double(x[((n * c.channels + ch) * c.height + iy) * c.width + ix])
                                        * Double(w[((o * c.channels + ch) * 3 + ky) * 3 + kx])
                                }
                            }
                        }
                        var v = Float(sum)
                        if c.activation == "Relu" { v = max(v, 0) }
                        if c.activation == "PRelu", v < 0 { v *= slopes[o] }
                        out[((n * c.outChannels + o) * outHeight + y) * outWidth + xx] = v
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: cases)
    func matchesANaiveConvolution(_ c: Case) throws {
        let x = (0..<(c.batch * c.channels * c.height * c.width)).map { Float(($0 * 7) % 13) / 6 - 1 }
        let w = (0..<(c.outChannels * c.channels * 9)).map { Float(($0 * 5) % 11) / 10 - 0.5 }
        let bias = (0..<c.outChannels).map { Float($0 % 5) / 4 - 0.5 }
        let slopes = (0..<c.outChannels).map { Float($0 % 3 + 1) / 10 }
        var nodes = [TestNode("Conv", ["x", "w", "b"], [c.activation == nil ? "y" : "c"], [.ints("pads", c.pads)])]
        var initializers: [TestTensor] = [.floats("w", [c.outChannels, c.channels, 3, 3], w), .floats("b", [c.outChannels], bias)]
        if c.activation == "Relu" { nodes.append(TestNode("Relu", ["c"], ["y"])) }
        if c.activation == "PRelu" {
            nodes.append(TestNode("PRelu", ["c", "s"], ["y"]))
            initializers.append(.floats("s", [c.outChannels, 1, 1], slopes))
        }
        let shape = [c.batch, c.channels, c.height, c.width]
        let bytes = makeModel(inputDims: shape, outputs: ["y"], nodes: nodes, initializers: initializers)
        let expected = Self.naive(c, x, w, bias, slopes: slopes)
        for set in supportedInstructionSets {
            let network = try loadNetwork(bytes, instructionSet: set)
            let plan = try network.plan(for: shape)
            #expect(plan.steps.contains { if case .convWinograd = $0.kernel { true } else { false } }, "runs as Winograd")
            for threads in [1, 3] {
                let result = try network.run(inputShape: shape, threads: threads, fill: { _ = $0.initialize(from: x) },
                                             read: { Array($0[0]) })
                expectClose(result, expected, tolerance: 2e-5)
            }
        }
    }

    @Test func fewOutputsFromManyInputsStayDirect() throws {
        // 64 → 16: the input transform would cost more than the multiplies it saves.
        let bytes = makeModel(inputDims: [1, 64, 8, 8], outputs: ["y"],
                              nodes: [TestNode("Conv", ["x", "w"], ["y"], [.ints("pads", [1, 1, 1, 1])])],
                              initializers: [.floats("w", [16, 64, 3, 3], [Float](repeating: 0.01, count: 16 * 64 * 9))])
        let plan = try loadNetwork(bytes).plan(for: [1, 64, 8, 8])
        #expect(plan.steps.contains { if case .convDirect = $0.kernel { true } else { false } })
        #expect(!plan.steps.contains { if case .convWinograd = $0.kernel { true } else { false } })
    }
}
