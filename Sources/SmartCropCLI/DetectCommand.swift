import ArgumentParser
import SmartCrop
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Find faces in an image.",
        discussion: """
        Detection runs on a copy of the image whose longest side is 640 px, decoded at that size.
        --sensitivity (0-1, default 0.5) maps linearly onto the detector's score threshold:
        YuNet 0.9 - 0.6 s (0.6 at the default), MTCNN 0.9 - 0.4 s (0.7 at the default).
        """
    )

    @Argument(help: "The image (JPEG, PNG, WebP, AVIF, HEIC, GIF or TIFF).")
    var input: String

    @Flag(help: "Print the faces as JSON.")
    var json = false

    @Option(help: "auto (YuNet when its model is given, else MTCNN), yunet or mtcnn.")
    var detector: String = "auto"

    @Option(help: "0-1: higher finds more, less certain faces.")
    var sensitivity: Double = 0.5

    @Option(help: "Smallest face to report, in source pixels (default: 20 px of the 640 px analysis image).")
    var minFace: Double?

    @Option(help: "Write the image with the faces drawn on it (PNG, JPEG or WebP by extension).")
    var draw: String?

    @Option(help: "YuNet model file (face_detection_yunet_2023mar.onnx); default $SMARTCROP_FACE_MODEL, else the installed one (smartcrop models); \"none\": MTCNN.")
    var faceModel: String?

    func validate() throws {
        guard DetectorChoice(rawValue: detector) != nil else { throw ValidationError("--detector must be auto, yunet or mtcnn") }
        guard (0...1).contains(sensitivity) else { throw ValidationError("--sensitivity must be between 0 and 1") }
        if let minFace, minFace <= 0 { throw ValidationError("--min-face must be positive") }
    }

    struct Answer: Encodable {
        struct Source: Encodable { let width: Int; let height: Int }
        let source: Source
        let detector: String
        let threshold: Double
        let faces: [FaceJSON]
        /// The compiled inference kernels that ran (see `smartcrop --version`).
        let kernels: String
    }

    func run() throws {
        let source = try OpenedSource(.file(input))
        let models = try FaceModels(yunetModel: faceModel, givenBy: "--face-model")
        warnAboutModels(face: models, subject: nil)
        var search = FaceSearch(detector: DetectorChoice(rawValue: detector)!, sensitivity: sensitivity)
        search.minFaceSize = minFace
        // A one-shot command owns the machine.
        let (report, image) = try FaceFinder.detectShowing(source, models: models, search: search,
                                                           threads: ProcessInfo.processInfo.activeProcessorCount)
        if let draw {
            let format = try outputFormat(explicit: nil, path: draw) ?? .png
            let drawn = try image.annotated(faces: report.faces, sourceWidth: source.info.width, sourceHeight: source.info.height)
            try writeAtomically(try drawn.encoded(EncodeOptions(format: format)), to: draw)
        }
        let faces = report.faces.map(FaceJSON.init)
        if json {
            try printJSON(Answer(source: .init(width: source.info.width, height: source.info.height), detector: report.detector,
                                 threshold: (report.threshold * 1000).rounded() / 1000, faces: faces,
                                 kernels: KernelReport.current.selected ?? ""))
        } else {
            print("\(report.faces.count) face\(report.faces.count == 1 ? "" : "s") (\(report.detector))")
            for f in faces { print("  \(Int(f.width))x\(Int(f.height))+\(Int(f.x))+\(Int(f.y)) score \(f.score)") }
        }
    }
}
