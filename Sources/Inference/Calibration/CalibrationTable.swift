// The activation ranges that let a model run in int8, measured once per model file by running
// it in float32 over a calibration set (`make calibration`, tools/calibration/calibrate.sh) and
// kept in Calibration/json/<model>.json. CalibratedModels.swift embeds those files, so the
// runtime reads no file and the ranges cannot drift from the binary. A table belongs to one
// model file (its sha256): another export of the same network names its tensors differently.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

package struct CalibratedModel: Decodable, Sendable {
    package struct TensorRange: Decodable, Sendable {
        package var min: Float
        package var max: Float
    }

    /// The file name it was measured on, for people.
    package var model: String
    package var sha256: String
    package var bytes: Int
    /// How the ranges were measured (input size, images, statistic), for people.
    package var method: String
    /// Each convolution input's range, by its ONNX tensor name; a convolution whose input is not
    /// here stays float32.
    package var tensors: [String: TensorRange]
    /// The inputs measured but left in float32, with the mean mask difference each caused alone.
    package var float: [String: Double]

    package var quantizations: [String: ActivationQuantization] {
        tensors.mapValues { ActivationQuantization(min: $0.min, max: $0.max) }
    }
}

package enum CalibrationTable {
    package static let models: [CalibratedModel] = documents.map { document in
        do {
            return try JSONDecoder().decode(CalibratedModel.self, from: Data(document.utf8))
        } catch {
            fatalError("an embedded calibration table does not decode: \(error)")
        }
    }

    /// The table of the model whose file is `bytes`, if there is one. Hashes only files of a
    /// calibrated size.
    package static func model(for bytes: [UInt8]) -> CalibratedModel? {
        let candidates = models.filter { $0.bytes == bytes.count }
        guard !candidates.isEmpty else { return nil }
        let digest = SHA256.hex(bytes)
        return candidates.first { $0.sha256 == digest }
    }
}
