import Inference

/// A minimal protobuf writer, independent of the reader under test, for building ONNX models by
/// hand in tests.
package struct ProtoWriter {
    package var bytes: [UInt8] = []

    package init() {}

    package mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    package mutating func tag(_ field: Int, _ wireType: Int) { varint(UInt64(field << 3 | wireType)) }

    package mutating func int(_ field: Int, _ value: Int) {
        tag(field, 0)
        varint(UInt64(bitPattern: Int64(value)))
    }

    package mutating func bytes(_ field: Int, _ value: [UInt8]) {
        tag(field, 2)
        varint(UInt64(value.count))
        bytes += value
    }

    package mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    package mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var inner = ProtoWriter()
        build(&inner)
        bytes(field, inner.bytes)
    }

    package mutating func float(_ field: Int, _ value: Float) {
        tag(field, 5)
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value.bitPattern >> (8 * UInt32(i)))) }
    }

    package static func littleEndian(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * UInt32($0))) } }
    }

    package mutating func packedFloats(_ field: Int, _ values: [Float]) { bytes(field, Self.littleEndian(values)) }

    package mutating func packedInts(_ field: Int, _ values: [Int]) {
        var inner = ProtoWriter()
        for v in values { inner.varint(UInt64(bitPattern: Int64(v))) }
        bytes(field, inner.bytes)
    }
}

package enum TestAttribute {
    case int(String, Int)
    case ints(String, [Int])
    case float(String, Float)
    case string(String, String)
    case tensor(String, TestTensor)
}

package struct TestTensor {
    package enum Storage { case rawFloats, packedFloats, int64s }
    package var name: String
    package var dims: [Int]
    package var floats: [Float] = []
    package var integers: [Int] = []
    package var storage: Storage = .rawFloats

    package static func floats(_ name: String, _ dims: [Int], _ values: [Float], raw: Bool = true) -> TestTensor {
        TestTensor(name: name, dims: dims, floats: values, storage: raw ? .rawFloats : .packedFloats)
    }

    package static func int64s(_ name: String, _ values: [Int]) -> TestTensor {
        TestTensor(name: name, dims: [values.count], integers: values, storage: .int64s)
    }

    /// A rank-0 int64 tensor (a Gather index).
    package static func int64Scalar(_ name: String, _ value: Int) -> TestTensor {
        TestTensor(name: name, dims: [], integers: [value], storage: .int64s)
    }

    package func write(_ w: inout ProtoWriter) {
        w.packedInts(1, dims)
        switch storage {
        case .rawFloats:
            w.int(2, 1)
            w.bytes(9, ProtoWriter.littleEndian(floats))
        case .packedFloats:
            w.int(2, 1)
            w.packedFloats(4, floats)
        case .int64s:
            w.int(2, 7)
            w.packedInts(7, integers)
        }
        w.string(8, name)
    }
}

package struct TestNode {
    package var op: String
    package var inputs: [String]
    package var outputs: [String]
    package var attributes: [TestAttribute] = []

    package init(_ op: String, _ inputs: [String], _ outputs: [String], _ attributes: [TestAttribute] = []) {
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }
}

/// Serialises a one-input model. `inputDims` entries of nil become symbolic dimensions.
package func makeModel(inputDims: [Int?], outputs: [String], nodes: [TestNode], initializers: [TestTensor] = [],
               opset: Int = 13) -> [UInt8] {
    var model = ProtoWriter()
    model.int(1, 7)
    model.string(2, "smartcrop-tests")
    model.message(8) { $0.string(1, ""); $0.int(2, opset) }
    model.message(7) { graph in
        for node in nodes {
            graph.message(1) { n in
                for input in node.inputs { n.string(1, input) }
                for output in node.outputs { n.string(2, output) }
                n.string(3, "\(node.op)_\(node.outputs.first ?? "")")
                n.string(4, node.op)
                for attribute in node.attributes {
                    n.message(5) { a in
                        switch attribute {
                        case let .int(name, v): a.string(1, name); a.int(20, 2); a.int(3, v)
                        case let .ints(name, v):
                            a.string(1, name); a.int(20, 7)
                            for x in v { a.int(8, x) } // unpacked, as the official writer does
                        case let .float(name, v): a.string(1, name); a.int(20, 1); a.float(2, v)
                        case let .string(name, v): a.string(1, name); a.int(20, 3); a.string(4, v)
                        case let .tensor(name, t): a.string(1, name); a.int(20, 4); a.message(5) { t.write(&$0) }
                        }
                    }
                }
            }
        }
        graph.string(2, "test-graph")
        for t in initializers { graph.message(5) { t.write(&$0) } }
        graph.message(11) { v in
            v.string(1, "x")
            v.message(2) { type in
                type.message(1) { tensor in
                    tensor.int(1, 1)
                    tensor.message(2) { shape in
                        for (i, d) in inputDims.enumerated() {
                            shape.message(1) { dim in
                                if let d { dim.int(1, d) } else { dim.string(2, "d\(i)") }
                            }
                        }
                    }
                }
            }
        }
        for output in outputs { graph.message(12) { $0.string(1, output) } }
    }
    return model.bytes
}

/// Builds a one-node model on input "x" producing "y", runs it, returns (shape, values).
package func runSingleNode(_ op: String, input: [Float], shape: [Int], extraInputs: [String] = [],
                   attributes: [TestAttribute] = [], initializers: [TestTensor] = [],
                   opset: Int = 13) throws -> (shape: [Int], values: [Float]) {
    let bytes = makeModel(inputDims: shape.map { Optional($0) }, outputs: ["y"],
                          nodes: [TestNode(op, ["x"] + extraInputs, ["y"], attributes)],
                          initializers: initializers, opset: opset)
    let network = try loadNetwork(bytes)
    let result = try network.run(input, shape: shape)
    return result[0]
}
