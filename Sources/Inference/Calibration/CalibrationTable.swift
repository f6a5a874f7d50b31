// The activation ranges that let a model run in int8, measured once per model file by running
// it in float32 over a calibration set (`make calibration`, tools/calibration/calibrate.sh) and
// kept in Calibration/json/<model>.json. CalibratedModels.swift embeds those files, so the
// runtime reads no file and the ranges cannot drift from the binary. A table is measured on one
// model file (its sha256) and serves any other export of the same weights, found by the
// convolutions that read each tensor (ConvolutionFingerprint.swift).

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

package struct CalibratedModel: Decodable, Sendable {
    package struct TensorRange: Decodable, Sendable {
        package var min: Float
        package var max: Float

        package init(min: Float, max: Float) {
            self.min = min
            self.max = max
        }
    }

    /// The file name it was measured on, for people.
    package var model: String
    package var sha256: String
    package var bytes: Int
    /// How the ranges were measured (input size, images, statistic), for people.
    package var method: String
    /// Whether int8 runs unasked where the CPU has VNNI (absent: yes). False for a model whose
    /// int8 measured outside the quality bounds: it runs in int8 only when SMARTCROP_PRECISION
    /// asks for it.
    package var automatic: Bool?
    /// Each convolution input's range, by its ONNX tensor name; a convolution whose input is not
    /// here stays float32.
    package var tensors: [String: TensorRange]
    /// The inputs measured but left in float32, with the mean mask difference each caused alone.
    package var float: [String: Double]
    /// How many convolutions the measured file has, and the weights of the first one reading each
    /// tensor of `tensors`: what finds the tensors again in another export.
    package var convolutions: Int?
    package var readers: [String: ConvolutionFingerprint]?

    package init(model: String, sha256: String, bytes: Int, method: String, automatic: Bool? = nil, tensors: [String: TensorRange],
                 float: [String: Double], convolutions: Int? = nil, readers: [String: ConvolutionFingerprint]? = nil) {
        self.model = model
        self.sha256 = sha256
        self.bytes = bytes
        self.method = method
        self.automatic = automatic
        self.tensors = tensors
        self.float = float
        self.convolutions = convolutions
        self.readers = readers
    }

    package var quantizations: [String: ActivationQuantization] {
        tensors.mapValues { ActivationQuantization(min: $0.min, max: $0.max) }
    }
}

package enum CalibrationTable {
    package static let models: [CalibratedModel] = documents.map { document in
        do {
            return try decode(document)
        } catch {
            fatalError("an embedded calibration table does not decode: \(error)")
        }
    }

    package static func decode(_ document: String) throws -> CalibratedModel {
        try JSONDecoder().decode(CalibratedModel.self, from: Data(document.utf8))
    }

    /// The table of the model whose file is `bytes`, if there is one. Hashes only files of a
    /// calibrated size.
    package static func model(for bytes: [UInt8]) -> CalibratedModel? {
        let candidates = models.filter { $0.bytes == bytes.count }
        guard !candidates.isEmpty else { return nil }
        let digest = sha256Hex(bytes)
        return candidates.first { $0.sha256 == digest }
    }

    /// The quantisation of each convolution input of `model`, from the table of its own file or
    /// else of a file with the same weights under other names (another export of the network).
    /// `automatic` is the table's: whether int8 runs unasked.
    package static func quantizations(for bytes: [UInt8], parsed onnx: OnnxModel)
        -> (inputs: [String: ActivationQuantization], automatic: Bool)? {
        if let table = model(for: bytes) { return (table.quantizations, table.automatic ?? true) }
        // Counting the convolutions first spares fingerprinting the weights of every other model.
        let convolutions = onnx.graph.nodes.count { $0.opType == "Conv" }
        let tables = models.filter { $0.readers != nil && $0.convolutions == convolutions }
        guard !tables.isEmpty else { return nil }
        let readers = ConvolutionReader.all(in: onnx)
        for table in tables {
            if let ranges = ranges(of: table, renamedFor: readers) {
                return (ranges.mapValues { ActivationQuantization(min: $0.min, max: $0.max) }, table.automatic ?? true)
            }
        }
        return nil
    }

    /// `table`'s ranges under the names of the model whose convolutions are `readers`, when that
    /// model has as many convolutions and every calibrated tensor is read, in exactly one place,
    /// by a convolution with the weights that read it in the measured file; else nil (the model
    /// then runs in float32).
    package static func ranges(of table: CalibratedModel, renamedFor readers: [ConvolutionReader]) -> [String: CalibratedModel.TensorRange]? {
        guard let tableReaders = table.readers, table.convolutions == readers.count else { return nil }
        var renamed: [String: CalibratedModel.TensorRange] = [:]
        for (name, range) in table.tensors {
            guard let fingerprint = tableReaders[name] else { return nil }
            let inputs = Set(readers.lazy.filter { $0.fingerprint.matches(fingerprint) }.map(\.input))
            guard inputs.count == 1, let input = inputs.first, renamed[input] == nil else { return nil }
            renamed[input] = range
        }
        return renamed
    }

    /// A table's document as `make calibration` writes it (one tensor a line, sorted), with the
    /// readers of `model`'s ranges: the first convolution reading each calibrated tensor.
    package static func document(of table: CalibratedModel, model: OnnxModel) -> String {
        func round5(_ value: Double) -> Double { (value * 1e5).rounded() / 1e5 }
        var json = "{\n  \"model\": \"\(table.model)\",\n  \"sha256\": \"\(table.sha256)\",\n  \"bytes\": \(table.bytes),\n"
        json += "  \"method\": \"\(table.method)\",\n"
        if let automatic = table.automatic { json += "  \"automatic\": \(automatic),\n" }
        json += "  \"float\": {" + table.float.keys.sorted().map { "\"\($0)\": \(round5(table.float[$0]!))" }.joined(separator: ", ") + "},\n"
        json += "  \"tensors\": {\n"
        json += table.tensors.keys.sorted().map { key in
            "    \"\(key)\": {\"min\": \(table.tensors[key]!.min), \"max\": \(table.tensors[key]!.max)}"
        }.joined(separator: ",\n")
        let readers = ConvolutionReader.all(in: model)
        var first: [String: ConvolutionFingerprint] = [:]
        for reader in readers where first[reader.input] == nil { first[reader.input] = reader.fingerprint }
        json += "\n  },\n  \"convolutions\": \(readers.count),\n  \"readers\": {\n"
        json += table.tensors.keys.sorted().compactMap { name -> String? in
            guard let f = first[name] else { return nil }
            return "    \"\(name)\": {\"shape\": \(f.shape), \"sum\": \(f.sum), \"abs\": \(f.abs), \"squares\": \(f.squares), "
                + "\"samples\": \(f.samples)}"
        }.joined(separator: ",\n")
        return json + "\n  }\n}\n"
    }
}
