#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Which model runs for a slot, where its file came from and whether it is a pinned file: what
/// `smartcrop models` prints, the server logs at start and `/v1/info` answers.
public struct ModelReport: Codable, Sendable, Equatable {
    public let slot: ModelSlot
    /// What runs: "YuNet", "the embedded MTCNN", "U-2-Netp", "the heuristic subject map".
    public let runs: String
    /// The file in use (or found and refused); nil when none.
    public let path: String?
    /// "given by --face-model", "found in the user data folder (…)".
    public let origin: String?
    public let bytes: Int?
    public let sha256: String?
    /// The pinned file it is, by its bytes; nil for a file of one's own (or a refused one).
    public let pinned: String?
    /// The subject model's input side, and whether the file fixes it.
    public let inputSize: Int?
    public let fixedInputSize: Bool?
    /// What its convolutions run in: "float32", or "int8" on CPUs with VNNI for a model file
    /// with a calibration table (SMARTCROP_PRECISION forces one); nil for the heuristic map.
    public let precision: String?
    /// What was got past: a refused file, an input size that was ignored.
    public let notes: [String]
    /// The folders looked in, when no file was named.
    public let searched: [String]

    enum CodingKeys: String, CodingKey {
        case slot, runs, path, origin, bytes, sha256, pinned, notes, searched, precision
        case inputSize = "input_size", fixedInputSize = "fixed_input_size"
    }

    /// The reports of both slots for these models (the subject model is loaded if it was not).
    public static func describe(face: FaceModels, subject: SubjectModels, search: ModelSearch = ModelSearch()) -> [ModelReport] {
        let searched = search.folders.map(\.description)
        let subjectModel = (try? subject.model()) ?? nil
        return [
            report(.face, location: face.location, inUse: face.hasYuNet, runs: face.hasYuNet ? "YuNet" : ModelSlot.face.embeddedDefault,
                   notes: face.notes, searched: searched, precision: face.precision),
            report(.subject, location: subject.location, inUse: subjectModel != nil,
                   runs: subjectModel != nil ? "U-2-Netp" : ModelSlot.subject.embeddedDefault, notes: subject.notes, searched: searched,
                   inputSize: subjectModel?.inputSize, fixed: subjectModel?.hasFixedInputSize, precision: subjectModel?.precision),
        ]
    }

    private static func report(_ slot: ModelSlot, location: ModelLocation?, inUse: Bool, runs: String, notes: [String],
                               searched: [String], inputSize: Int? = nil, fixed: Bool? = nil, precision: String?) -> ModelReport {
        let bytes = location.flatMap { FileManager.default.contents(atPath: $0.path) }.map { [UInt8]($0) }
        return ModelReport(slot: slot, runs: runs, path: location?.path, origin: location?.origin.description, bytes: bytes?.count,
                           sha256: bytes.map(PinnedModels.sha256Hex),
                           pinned: bytes.flatMap { PinnedModels.identify($0, slot: slot)?.name },
                           inputSize: inputSize, fixedInputSize: fixed, precision: precision, notes: notes,
                           searched: location == nil ? searched : [])
    }

    /// The same without file-system paths, for answers to API clients.
    public var withoutPaths: ModelReport {
        ModelReport(slot: slot, runs: runs, path: path.map { String($0.split(separator: "/").last ?? "") },
                    origin: origin.map { $0.hasPrefix("given") ? "given" : "found by default" }, bytes: bytes, sha256: sha256,
                    pinned: pinned, inputSize: inputSize, fixedInputSize: fixedInputSize, precision: precision, notes: [], searched: [])
    }

    /// A few lines for people.
    public var text: String {
        var lines = ["\(slot): \(runs)"]
        if let path, let origin {
            lines.append("  file: \(path) (\(origin))")
            if let bytes, let sha256 {
                lines.append("  \(bytes) bytes, sha256 \(sha256): " + (pinned.map { "the pinned \($0)" } ?? "not a pinned file"))
            }
        } else {
            lines.append("  no \(slot.fileName) in: " + (searched.isEmpty ? "(no folder)" : searched.joined(separator: ", ")))
        }
        if let inputSize { lines.append("  input \(inputSize)x\(inputSize)" + (fixedInputSize == true ? " (fixed by the file)" : "")) }
        if let precision { lines.append("  runs in \(precision)") }
        lines += notes.map { "  warning: \($0)" }
        return lines.joined(separator: "\n")
    }
}
