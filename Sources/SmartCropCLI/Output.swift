import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SmartCrop

/// Writes `data` to `path` atomically: a temporary file next to it, then a rename, so a
/// failure never leaves a partial image behind.
func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent()
    var info = stat()
    guard stat(directory.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
        throw CLIError(message: "cannot write \(path): the folder \(directory.path) does not exist")
    }
    let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString.prefix(8)).tmp")
    guard FileManager.default.createFile(atPath: temporary.path, contents: data) else {
        throw CLIError(message: "cannot write \(path): permission denied or disk full")
    }
    if rename(temporary.path, url.path) != 0 {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(at: temporary)
        throw CLIError(message: "cannot write \(path): \(reason)")
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    writeStandardOutput(try encoder.encode(value) + Data("\n".utf8))
}

func writeStandardOutput(_ data: Data) { writeAll(data, to: STDOUT_FILENO) }
func writeStandardError(_ text: String) { writeAll(Data(text.utf8), to: STDERR_FILENO) }

private func writeAll(_ data: Data, to descriptor: Int32) {
    data.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
            if written <= 0, errno != EINTR { return }
            offset += max(written, 0)
        }
    }
}

struct OutputJSON: Encodable {
    let width: Int
    let height: Int
    let format: String
    let bytes: Int
    let path: String?
    /// Frames of an animated output; absent for a still.
    let frames: Int?

    init(_ result: PipelineOutput, path: String?) {
        width = result.width
        height = result.height
        format = result.format.rawValue
        bytes = result.data.count
        self.path = path
        frames = result.frames > 1 ? result.frames : nil
    }
}

func milliseconds(_ timings: [String: Duration]) -> [String: Double] {
    timings.mapValues { d in
        let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        return (ms * 100).rounded() / 100
    }
}

/// The `--json` answer: what was read, what was cut and why, what was written.
struct CropReport: Encodable {
    struct Source: Encodable {
        let width: Int
        let height: Int
        let format: String
        /// Frames of an animated source; absent for a still.
        let frames: Int?

        init(_ info: SourceInfo) {
            width = info.width
            height = info.height
            format = info.format.rawValue
            frames = info.isAnimated ? info.frames : nil
        }
    }
    let source: Source
    let crop: PixelRect?
    let strategy: String?
    let focalPoint: Point?
    let fallback: String?
    let detector: String?
    let faces: [FaceJSON]?
    let usedFaces: [Int]?
    let leftOutFaces: [LeftOutFace]?
    /// "model" or "heuristic": what made the subject map the crop looked at, if it looked at one;
    /// "skipped" when the faces pinned the crop and none was made.
    let subjectSource: String?
    /// For an animation that stayed one: its frames, and those the decision looked at.
    let frames: Int?
    let analysedFrames: [Int]?
    let output: OutputJSON
    let warnings: [String]?
    let timingsMs: [String: Double]

    init(_ result: PipelineOutput, path: String?) {
        source = Source(result.source)
        let decision = result.decision
        crop = decision?.crop
        strategy = decision?.strategy
        focalPoint = decision?.focalPoint
        fallback = decision?.fallback
        detector = decision?.detector
        faces = decision?.detector == nil ? nil : decision?.faces.map(FaceJSON.init)
        usedFaces = decision?.usedFaces.isEmpty == false ? decision?.usedFaces : nil
        leftOutFaces = decision?.leftOutFaces.isEmpty == false ? decision?.leftOutFaces : nil
        subjectSource = decision?.subjectSource?.rawValue
        frames = decision?.frames
        analysedFrames = decision?.analysedFrames
        output = OutputJSON(result, path: path)
        warnings = result.warnings.isEmpty ? nil : result.warnings
        timingsMs = milliseconds(result.timings)
    }

    enum CodingKeys: String, CodingKey {
        case source, crop, strategy, output, fallback, detector, faces, warnings
        case focalPoint = "focal_point", usedFaces = "used_faces", leftOutFaces = "left_out_faces", timingsMs = "timings_ms"
        case subjectSource = "subject_source", frames, analysedFrames = "analysed_frames"
    }
}

/// The `--json` answer for several sizes from one decode.
struct VariantsReport: Encodable {
    struct Variant: Encodable {
        let crop: PixelRect?
        let strategy: String?
        let subjectSource: String?
        let output: OutputJSON

        enum CodingKeys: String, CodingKey {
            case crop, strategy, output
            case subjectSource = "subject_source"
        }
    }
    let source: CropReport.Source
    let detector: String?
    let faces: [FaceJSON]?
    let variants: [Variant]
    let warnings: [String]?
    /// Per phase over all sizes; the decode is shared, so it counts once.
    let timingsMs: [String: Double]

    enum CodingKeys: String, CodingKey {
        case source, detector, faces, variants, warnings
        case timingsMs = "timings_ms"
    }

    init(_ results: [PipelineOutput], paths: [String?]) {
        let first = results[0]
        source = .init(first.source)
        detector = first.decision?.detector
        faces = detector == nil ? nil : first.decision?.faces.map(FaceJSON.init)
        variants = zip(results, paths).map { result, path in
            Variant(crop: result.decision?.crop, strategy: result.decision?.strategy,
                    subjectSource: result.decision?.subjectSource?.rawValue,
                    output: OutputJSON(result, path: path))
        }
        warnings = first.warnings.isEmpty ? nil : first.warnings
        var total: [String: Duration] = [:]
        for result in results {
            for (phase, time) in result.timings where phase != "decode" { total[phase, default: .zero] += time }
        }
        total["decode"] = first.timings["decode"]
        timingsMs = milliseconds(total)
    }
}

/// The output format: `--format` wins, then the output file's extension, then the default.
func outputFormat(explicit: String?, path: String?) throws -> ImageFormat? {
    if let explicit {
        guard let format = ImageFormat(name: explicit), format.canEncode else {
            throw ValidationErrorLike("--format must be one of jpeg, png, webp, avif, gif")
        }
        return format
    }
    guard let path else { return nil }
    let ext = URL(fileURLWithPath: path).pathExtension
    guard let format = ImageFormat(name: ext), format.canEncode else {
        throw ValidationErrorLike("cannot tell the output format from \"\(path)\"; name it .jpg, .png, .webp, .avif or .gif, or pass --format")
    }
    return format
}

import ArgumentParser
import Glibc
typealias ValidationErrorLike = ValidationError

/// Says on stderr, once per process, what was got past in choosing the models: an installed
/// file that is not a pinned one (the embedded default ran instead), an ignored subject size.
func warnAboutModels(face: FaceModels?, subject: SubjectModels?) {
    for note in (face?.notes ?? []) + (subject?.notes ?? []) where reportedModelNotes.withLock({ $0.insert(note).inserted }) {
        writeStandardError("smartcrop: warning: \(note)\n")
    }
}

private let reportedModelNotes = Mutex<Set<String>>([])
