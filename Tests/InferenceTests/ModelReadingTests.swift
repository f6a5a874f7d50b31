import Foundation
import Testing
@testable import Inference
import OnnxTestSupport

@Suite struct ModelReadingTests {
    @Test func readsAHandBuiltModel() throws {
        let bytes = makeModel(
            inputDims: [1, nil, 4, 3], outputs: ["y"],
            nodes: [TestNode("Conv", ["x", "w", "b"], ["y"], [.ints("strides", [2, 1]), .float("alpha", 0.5),
                                                              .string("auto_pad", "VALID"),
                                                              .tensor("t", .int64s("t", [7, -8]))])],
            initializers: [.floats("w", [2, 1, 1, 1], [1.5, -2], raw: true), .floats("b", [2], [0.25, 4], raw: false)],
            opset: 11)
        let model = try OnnxModel(serialized: bytes)
        #expect(model.irVersion == 7)
        #expect(model.producerName == "smartcrop-tests")
        #expect(model.opsetVersion == 11)
        #expect(model.graph.name == "test-graph")
        #expect(model.graph.inputs.first?.dims == [.value(1), .symbol("d1"), .value(4), .value(3)])
        #expect(model.graph.outputs.map(\.name) == ["y"])
        let node = try #require(model.graph.nodes.first)
        #expect(node.opType == "Conv")
        #expect(node.inputs == ["x", "w", "b"])
        #expect(node.attributes["strides"] == .ints([2, 1]))
        #expect(node.attributes["alpha"] == .float(0.5))
        #expect(node.attributes["auto_pad"] == .string("VALID"))
        if case let .tensor(t)? = node.attributes["t"] {
            #expect(t.integers == [7, -8])
        } else {
            Issue.record("tensor attribute not decoded")
        }
        let raw = try #require(model.graph.initializers.first { $0.name == "w" })
        #expect(raw.dims == [2, 1, 1, 1])
        #expect(raw.floats == [1.5, -2])
        let packed = try #require(model.graph.initializers.first { $0.name == "b" })
        #expect(packed.floats == [0.25, 4])
    }

    @Test func acceptsUnpackedRepeatedFloats() throws {
        // float_data written one fixed32 per tag (proto2 style) instead of packed.
        var tensor = ProtoWriter()
        tensor.packedInts(1, [2])
        tensor.int(2, 1)
        tensor.float(4, 3)
        tensor.float(4, -1)
        tensor.string(8, "v")
        var graph = ProtoWriter()
        graph.bytes(5, tensor.bytes)
        var model = ProtoWriter()
        model.bytes(7, graph.bytes)
        #expect(try OnnxModel(serialized: model.bytes).graph.initializers.first?.floats == [3, -1])
    }

    @Test func rejectsTruncatedBytes() {
        let bytes = makeModel(inputDims: [1], outputs: ["y"], nodes: [TestNode("Relu", ["x"], ["y"])])
        for cut in [1, bytes.count / 2, bytes.count - 1] {
            #expect(throws: ProtobufError.self) { try OnnxModel(serialized: Array(bytes.prefix(cut))) }
        }
    }

    @Test func rejectsInitializerWithWrongByteCount() {
        var tensor = ProtoWriter()
        tensor.packedInts(1, [3])
        tensor.int(2, 1)
        tensor.bytes(9, ProtoWriter.littleEndian([1, 2]))  // 8 bytes for 3 floats
        var graph = ProtoWriter()
        graph.bytes(5, tensor.bytes)
        var model = ProtoWriter()
        model.bytes(7, graph.bytes)
        #expect(throws: ProtobufError.self) { try OnnxModel(serialized: model.bytes) }
    }

    @Test func wrongInitializerShapeIsRefused() {
        // Conv bias with 3 values for 2 output channels.
        let bytes = makeModel(inputDims: [1, 1, 2, 2], outputs: ["y"], nodes: [TestNode("Conv", ["x", "w", "b"], ["y"])],
                              initializers: [.floats("w", [2, 1, 1, 1], [1, 1]), .floats("b", [3], [0, 0, 0])])
        #expect { try loadNetwork(bytes, name: "bad-bias.onnx") } throws: { error in
            "\(error)".contains("bad-bias.onnx") && "\(error)".contains("bias")
        }
    }
}
