// A hand-written decoder for the subset of the ONNX protobuf schema (onnx.proto3) that inference
// needs. A generated swift-protobuf model would pull a plugin build and a dependency into a module
// that must stay small; the wire format itself is five rules.

/// Why a byte buffer is not a model we can read. Wrapped into a `ModelError`
/// by the loader, which knows the model's display name.
package struct ProtobufError: Error, Equatable {
    package var reason: String
}

/// Elements of ONNX `TensorProto.DataType` that can appear in the graphs we run.
package enum OnnxDataType: Int32, Sendable {
    case float = 1
    case int32 = 6
    case int64 = 7
    case double = 11
}

/// A constant tensor from the model (initializer or attribute). Integer tensors are kept apart
/// because they only ever describe shapes and axes, never activations.
package struct OnnxTensor: Sendable, Equatable {
    package var name: String = ""
    package var dims: [Int] = []
    package var dataType: Int32 = 0
    package var floats: [Float] = []
    package var integers: [Int] = []

    package var elementCount: Int { dims.reduce(1, *) }
}

package enum OnnxAttribute: Sendable, Equatable {
    case float(Float)
    case int(Int)
    case string(String)
    case tensor(OnnxTensor)
    case floats([Float])
    case ints([Int])
    case strings([String])
    /// Graph, sparse-tensor and type attributes: none of the supported operators take them, so
    /// they are recorded only to be refused with a clear message.
    case unsupported(type: Int)
}

package struct OnnxNode: Sendable, Equatable {
    package var name: String = ""
    package var opType: String = ""
    package var domain: String = ""
    package var inputs: [String] = []
    package var outputs: [String] = []
    package var attributes: [String: OnnxAttribute] = [:]
}

/// One dimension of a declared graph input or output: a number, a symbolic name, or nothing.
package enum OnnxDimension: Sendable, Equatable {
    case value(Int)
    case symbol(String)
    case unknown
}

package struct OnnxValueInfo: Sendable, Equatable {
    package var name: String = ""
    package var elementType: Int32 = 0
    package var dims: [OnnxDimension] = []
}

package struct OnnxGraph: Sendable, Equatable {
    package var name: String = ""
    package var nodes: [OnnxNode] = []
    package var initializers: [OnnxTensor] = []
    package var inputs: [OnnxValueInfo] = []
    package var outputs: [OnnxValueInfo] = []
}

package struct OnnxModel: Sendable, Equatable {
    package var irVersion: Int = 0
    package var producerName: String = ""
    /// Version of the default ("" or "ai.onnx") operator set.
    package var opsetVersion: Int = 0
    package var graph = OnnxGraph()

    /// Decodes a serialized `ModelProto`. Throws `ProtobufError` for anything truncated or
    /// malformed; semantic checks (supported operators, shapes) happen in the graph compiler.
    package init(serialized bytes: [UInt8]) throws(ProtobufError) {
        var sawGraph = false
        try bytes.withUnsafeBufferPointer { (buffer) throws(ProtobufError) in
            var reader = WireReader(buffer, range: 0..<buffer.count)
            while let field = try reader.nextField() {
                switch (field.number, field.wireType) {
                case (1, .varint): irVersion = Int(truncatingIfNeeded: try reader.readVarint())
                case (2, .lengthDelimited): producerName = try reader.readString()
                case (7, .lengthDelimited):
                    graph = try OnnxGraph(try reader.readSubmessage())
                    sawGraph = true
                case (8, .lengthDelimited):
                    var opset = try reader.readSubmessage()
                    var domain = ""
                    var version = 0
                    while let f = try opset.nextField() {
                        switch (f.number, f.wireType) {
                        case (1, .lengthDelimited): domain = try opset.readString()
                        case (2, .varint): version = Int(truncatingIfNeeded: try opset.readVarint())
                        default: try opset.skip(f.wireType)
                        }
                    }
                    if domain.isEmpty || domain == "ai.onnx" { opsetVersion = version }
                default: try reader.skip(field.wireType)
                }
            }
        }
        if !sawGraph { throw ProtobufError(reason: "the file holds no ONNX graph") }
    }
}

// MARK: - Wire format

package enum WireType: UInt64 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

package struct WireReader {
    package let buffer: UnsafeBufferPointer<UInt8>
    private(set) var position: Int
    package let end: Int

    package init(_ buffer: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        self.buffer = buffer
        position = range.lowerBound
        end = range.upperBound
    }

    package var isAtEnd: Bool { position >= end }

    package mutating func readVarint() throws(ProtobufError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw ProtobufError(reason: "truncated (varint runs past the end)") }
            let byte = buffer[position]
            position += 1
            if shift == 63 && byte > 1 { throw ProtobufError(reason: "malformed varint") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw ProtobufError(reason: "malformed varint") }
        }
    }

    package mutating func nextField() throws(ProtobufError) -> (number: Int, wireType: WireType)? {
        if isAtEnd { return nil }
        let key = try readVarint()
        guard let wireType = WireType(rawValue: key & 7) else {
            throw ProtobufError(reason: "malformed (wire type \(key & 7) at byte \(position))")
        }
        let number = Int(key >> 3)
        if number == 0 { throw ProtobufError(reason: "malformed (field number 0 at byte \(position))") }
        return (number, wireType)
    }

    package mutating func readLength() throws(ProtobufError) -> Range<Int> {
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw ProtobufError(reason: "truncated (a field of \(length) bytes runs past the end)")
        }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    package mutating func readSubmessage() throws(ProtobufError) -> WireReader {
        WireReader(buffer, range: try readLength())
    }

    package mutating func readBytes() throws(ProtobufError) -> UnsafeBufferPointer<UInt8> {
        let range = try readLength()
        return UnsafeBufferPointer(rebasing: buffer[range])
    }

    package mutating func readString() throws(ProtobufError) -> String {
        String(decoding: try readBytes(), as: UTF8.self)
    }

    package mutating func readFixed32() throws(ProtobufError) -> UInt32 {
        guard end - position >= 4 else { throw ProtobufError(reason: "truncated (fixed32 past the end)") }
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(buffer[position + i]) << (8 * UInt32(i)) }
        position += 4
        return value
    }

    package mutating func skip(_ wireType: WireType) throws(ProtobufError) {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64:
            guard end - position >= 8 else { throw ProtobufError(reason: "truncated (fixed64 past the end)") }
            position += 8
        case .lengthDelimited: _ = try readLength()
        case .fixed32: _ = try readFixed32()
        case .startGroup, .endGroup:
            throw ProtobufError(reason: "malformed (deprecated group encoding)")
        }
    }

    /// Repeated scalars may arrive packed (one length-delimited run) or one per tag, depending on
    /// the writer; both are legal for proto2 and proto3 readers.
    package mutating func appendInt64s(_ wireType: WireType, to values: inout [Int]) throws(ProtobufError) {
        if wireType == .lengthDelimited {
            var packed = try readSubmessage()
            while !packed.isAtEnd { values.append(Int(truncatingIfNeeded: try packed.readVarint())) }
        } else if wireType == .varint {
            values.append(Int(truncatingIfNeeded: try readVarint()))
        } else {
            throw ProtobufError(reason: "malformed (integer list with wire type \(wireType.rawValue))")
        }
    }

    package mutating func appendInt32s(_ wireType: WireType, to values: inout [Int]) throws(ProtobufError) {
        if wireType == .lengthDelimited {
            var packed = try readSubmessage()
            while !packed.isAtEnd { values.append(Int(Int32(truncatingIfNeeded: try packed.readVarint()))) }
        } else if wireType == .varint {
            values.append(Int(Int32(truncatingIfNeeded: try readVarint())))
        } else {
            throw ProtobufError(reason: "malformed (integer list with wire type \(wireType.rawValue))")
        }
    }

    package mutating func appendFloats(_ wireType: WireType, to values: inout [Float]) throws(ProtobufError) {
        if wireType == .lengthDelimited {
            var packed = try readSubmessage()
            guard (packed.end - packed.position) % 4 == 0 else {
                throw ProtobufError(reason: "malformed (packed floats not a multiple of 4 bytes)")
            }
            values.reserveCapacity(values.count + (packed.end - packed.position) / 4)
            while !packed.isAtEnd { values.append(Float(bitPattern: try packed.readFixed32())) }
        } else if wireType == .fixed32 {
            values.append(Float(bitPattern: try readFixed32()))
        } else {
            throw ProtobufError(reason: "malformed (float list with wire type \(wireType.rawValue))")
        }
    }

    package mutating func appendDoubles(_ wireType: WireType, to values: inout [Float]) throws(ProtobufError) {
        func readFixed64(_ r: inout WireReader) throws(ProtobufError) -> UInt64 {
            let low = UInt64(try r.readFixed32())
            return low | UInt64(try r.readFixed32()) << 32
        }
        if wireType == .lengthDelimited {
            var packed = try readSubmessage()
            while !packed.isAtEnd { values.append(Float(Double(bitPattern: try readFixed64(&packed)))) }
        } else if wireType == .fixed64 {
            values.append(Float(Double(bitPattern: try readFixed64(&self))))
        } else {
            throw ProtobufError(reason: "malformed (double list with wire type \(wireType.rawValue))")
        }
    }
}

// MARK: - Messages

extension OnnxGraph {
    package init(_ reader: WireReader) throws(ProtobufError) {
        var reader = reader
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, .lengthDelimited): nodes.append(try OnnxNode(try reader.readSubmessage()))
            case (2, .lengthDelimited): name = try reader.readString()
            case (5, .lengthDelimited): initializers.append(try OnnxTensor(try reader.readSubmessage()))
            case (11, .lengthDelimited): inputs.append(try OnnxValueInfo(try reader.readSubmessage()))
            case (12, .lengthDelimited): outputs.append(try OnnxValueInfo(try reader.readSubmessage()))
            case (15, .lengthDelimited):
                throw ProtobufError(reason: "sparse initializers are not supported")
            default: try reader.skip(field.wireType)
            }
        }
    }
}

extension OnnxNode {
    package init(_ reader: WireReader) throws(ProtobufError) {
        var reader = reader
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, .lengthDelimited): inputs.append(try reader.readString())
            case (2, .lengthDelimited): outputs.append(try reader.readString())
            case (3, .lengthDelimited): name = try reader.readString()
            case (4, .lengthDelimited): opType = try reader.readString()
            case (5, .lengthDelimited):
                let (attributeName, value) = try OnnxNode.readAttribute(try reader.readSubmessage())
                attributes[attributeName] = value
            case (7, .lengthDelimited): domain = try reader.readString()
            default: try reader.skip(field.wireType)
            }
        }
    }

    private static func readAttribute(_ reader: WireReader) throws(ProtobufError) -> (String, OnnxAttribute) {
        var reader = reader
        var name = ""
        var declaredType = 0
        var f: Float?
        var i: Int?
        var s: String?
        var t: OnnxTensor?
        var floats: [Float] = []
        var ints: [Int] = []
        var strings: [String] = []
        var sawOther = false
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, .lengthDelimited): name = try reader.readString()
            case (2, .fixed32): f = Float(bitPattern: try reader.readFixed32())
            case (3, .varint): i = Int(truncatingIfNeeded: try reader.readVarint())
            case (4, .lengthDelimited): s = try reader.readString()
            case (5, .lengthDelimited): t = try OnnxTensor(try reader.readSubmessage())
            case (7, _): try reader.appendFloats(field.wireType, to: &floats)
            case (8, _): try reader.appendInt64s(field.wireType, to: &ints)
            case (9, .lengthDelimited): strings.append(try reader.readString())
            case (20, .varint): declaredType = Int(truncatingIfNeeded: try reader.readVarint())
            case (6, _), (10, _), (11, _), (14, _), (15, _), (22, _), (23, _):
                sawOther = true
                try reader.skip(field.wireType)
            default: try reader.skip(field.wireType)
            }
        }
        // `type` is authoritative (an INTS attribute may legitimately be empty); writers from
        // before IR v3 omit it, so fall back to whichever field is present.
        let value: OnnxAttribute
        switch declaredType {
        case 1: value = .float(f ?? 0)
        case 2: value = .int(i ?? 0)
        case 3: value = .string(s ?? "")
        case 4:
            guard let t else { throw ProtobufError(reason: "malformed (tensor attribute \(name) without a tensor)") }
            value = .tensor(t)
        case 6: value = .floats(floats)
        case 7: value = .ints(ints)
        case 8: value = .strings(strings)
        case 0:
            if let t { value = .tensor(t) }
            else if let s { value = .string(s) }
            else if !floats.isEmpty { value = .floats(floats) }
            else if !ints.isEmpty { value = .ints(ints) }
            else if !strings.isEmpty { value = .strings(strings) }
            else if let f { value = .float(f) }
            else if let i { value = .int(i) }
            else if sawOther { value = .unsupported(type: 0) }
            else { throw ProtobufError(reason: "malformed (attribute \(name) has no value)") }
        default: value = .unsupported(type: declaredType)
        }
        return (name, value)
    }
}

extension OnnxTensor {
    package init(_ reader: WireReader) throws(ProtobufError) {
        var reader = reader
        var raw: UnsafeBufferPointer<UInt8>?
        var externalData = false
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, _): try reader.appendInt64s(field.wireType, to: &dims)
            case (2, .varint): dataType = Int32(truncatingIfNeeded: try reader.readVarint())
            case (4, _): try reader.appendFloats(field.wireType, to: &floats)
            case (5, _): try reader.appendInt32s(field.wireType, to: &integers)
            case (7, _): try reader.appendInt64s(field.wireType, to: &integers)
            case (8, .lengthDelimited): name = try reader.readString()
            case (9, .lengthDelimited): raw = try reader.readBytes()
            case (10, _): try reader.appendDoubles(field.wireType, to: &floats)
            case (13, .lengthDelimited):
                externalData = true
                try reader.skip(field.wireType)
            case (14, .varint):
                let location = try reader.readVarint()
                externalData = externalData || location == 1
            default: try reader.skip(field.wireType)
            }
        }
        if externalData {
            throw ProtobufError(reason: "tensor \(name) keeps its data in an external file")
        }
        if dims.contains(where: { $0 < 0 }) {
            throw ProtobufError(reason: "malformed (tensor \(name) has a negative dimension)")
        }
        guard let type = OnnxDataType(rawValue: dataType) else {
            throw ProtobufError(reason: "tensor \(name) has data type \(dataType), which is not supported")
        }
        if let raw {
            try decodeRaw(raw, type: type)
        }
        let stored = (type == .float || type == .double) ? floats.count : integers.count
        if stored != elementCount {
            throw ProtobufError(reason: "malformed (tensor \(name) holds \(stored) values for shape \(dims))")
        }
    }

    private mutating func decodeRaw(_ raw: UnsafeBufferPointer<UInt8>, type: OnnxDataType) throws(ProtobufError) {
        let width: Int
        switch type {
        case .float, .int32: width = 4
        case .int64, .double: width = 8
        }
        guard raw.count == elementCount * width else {
            throw ProtobufError(reason: "malformed (tensor \(name) has \(raw.count) bytes of data, shape \(dims) needs \(elementCount * width))")
        }
        let base = UnsafeRawPointer(raw.baseAddress)
        switch type {
        case .float:
            floats = (0..<elementCount).map { Float(bitPattern: UInt32(littleEndian: base!.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        case .double:
            floats = (0..<elementCount).map { Float(Double(bitPattern: UInt64(littleEndian: base!.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))) }
        case .int32:
            integers = (0..<elementCount).map { Int(Int32(bitPattern: UInt32(littleEndian: base!.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))) }
        case .int64:
            integers = (0..<elementCount).map { Int(Int64(bitPattern: UInt64(littleEndian: base!.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))) }
        }
    }
}

extension OnnxValueInfo {
    package init(_ reader: WireReader) throws(ProtobufError) {
        var reader = reader
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, .lengthDelimited): name = try reader.readString()
            case (2, .lengthDelimited):
                var type = try reader.readSubmessage()
                while let typeField = try type.nextField() {
                    guard typeField.number == 1, typeField.wireType == .lengthDelimited else {
                        try type.skip(typeField.wireType)
                        continue
                    }
                    var tensorType = try type.readSubmessage()
                    while let f = try tensorType.nextField() {
                        switch (f.number, f.wireType) {
                        case (1, .varint): elementType = Int32(truncatingIfNeeded: try tensorType.readVarint())
                        case (2, .lengthDelimited): dims = try Self.readShape(try tensorType.readSubmessage())
                        default: try tensorType.skip(f.wireType)
                        }
                    }
                }
            default: try reader.skip(field.wireType)
            }
        }
    }

    private static func readShape(_ reader: WireReader) throws(ProtobufError) -> [OnnxDimension] {
        var reader = reader
        var dims: [OnnxDimension] = []
        while let field = try reader.nextField() {
            guard field.number == 1, field.wireType == .lengthDelimited else {
                try reader.skip(field.wireType)
                continue
            }
            var dimension = try reader.readSubmessage()
            var value = OnnxDimension.unknown
            while let f = try dimension.nextField() {
                switch (f.number, f.wireType) {
                case (1, .varint): value = .value(Int(truncatingIfNeeded: try dimension.readVarint()))
                case (2, .lengthDelimited): value = .symbol(try dimension.readString())
                default: try dimension.skip(f.wireType)
                }
            }
            dims.append(value)
        }
        return dims
    }
}
