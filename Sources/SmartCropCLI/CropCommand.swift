import ArgumentParser
import SmartCrop
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Options shared by `crop` and `batch`: how the crop is chosen.
struct CropChoiceOptions: ParsableArguments {
    @Option(help: "How to choose the crop: auto, face, subject, center, focal, entropy, attention, trim or rect.")
    var mode: String = "auto"

    @Option(help: "Face framing: closeup, head-shoulders, upper-body or half-body (mode face; with auto, zooms too).")
    var preset: String?

    @Option(help: "Extra room around the subject, 0-50 %.")
    var padding: Double = 0

    @Option(help: "Which faces to keep: all, largest or index:N.")
    var faces: String = "all"

    @Option(help: "Face detector sensitivity, 0-1 (higher finds more faces).")
    var sensitivity: Double = 0.5

    @Option(help: "YuNet model file (face_detection_yunet_2023mar.onnx); default $SMARTCROP_FACE_MODEL, else the installed one (smartcrop models), else the embedded MTCNN; \"none\": MTCNN.")
    var faceModel: String?

    @Option(help: "U-2-Netp subject model file (u2netp.onnx); default $SMARTCROP_SUBJECT_MODEL, else the installed one (smartcrop models), else the heuristic subject map; \"none\": the heuristic map.")
    var subjectModel: String?

    @Option(help: "The subject model's square input side, a multiple of 32 (default $SMARTCROP_SUBJECT_SIZE, else 224).")
    var subjectSize: Int?

    @Option(help: "Focal point X,Y in 0..1 (mode focal).", transform: parseFocal)
    var focal: Point?

    @Option(help: "Rectangle x,y,w,h in source pixels (mode rect).", transform: parseRect)
    var rect: PixelRect?

    @Option(help: "Trim: how far (0-255) from the background colour still counts as background.")
    var threshold: Int = 30

    @Flag(help: "Trim: pad the result to a square.")
    var padToSquare = false

    @Option(help: "Trim: colour of added padding, e.g. #ffffff.")
    var padColor: String = "#ffffff"

    @Option(help: "Refuse images with more pixels than this (all frames of an animation together), before decoding.")
    var maxPixels: Int = 100_000_000

    @Option(help: "Refuse animations with more frames than this, before decoding.")
    var maxFrames: Int = DecodeLimits.defaultMaxFrames

    @Flag(help: "Write the first frame of an animated GIF or WebP as a still (by default GIF and WebP outputs stay animated).")
    var noAnimation = false

    @Option(help: "Damaged files: truncated (refuse truncated files, the default), none (decode what can be decoded, with a warning), error or warning (stricter).")
    var failOn: String = DecodeFailurePolicy.truncated.rawValue

    func validate() throws {
        if !(0...50).contains(padding) { throw ValidationError("--padding must be between 0 and 50") }
        if !(0...1).contains(sensitivity) { throw ValidationError("--sensitivity must be between 0 and 1") }
        if !(0...255).contains(threshold) { throw ValidationError("--threshold must be between 0 and 255") }
        if maxPixels < 1 { throw ValidationError("--max-pixels must be positive") }
        if maxFrames < 1 { throw ValidationError("--max-frames must be positive") }
        if DecodeFailurePolicy(rawValue: failOn) == nil { throw ValidationError("--fail-on must be none, truncated, error or warning") }
        _ = try settings(width: 1, height: 1)
    }

    /// The smart-crop settings for one output size.
    func settings(width: Int, height: Int) throws -> SmartCropSettings {
        var settings = SmartCropSettings(width: width, height: height)
        switch mode.lowercased() {
        case "auto": settings.mode = .auto
        case "subject": settings.mode = .subject
        case "face", "faces": settings.mode = .face
        case "center", "centre": settings.mode = .center
        case "focal": settings.mode = .focal
        case "entropy": settings.mode = .subject; settings.strategy = .entropy
        case "attention": settings.mode = .subject; settings.strategy = .attention
        case "trim": settings.mode = .trim
        case "rect": settings.mode = .rect
        default: throw ValidationError("--mode must be one of auto, face, subject, center, focal, entropy, attention, trim, rect")
        }
        if settings.mode == .rect {
            guard let rect else { throw ValidationError("--mode rect needs --rect x,y,w,h") }
            settings.rect = rect
        } else if rect != nil {
            throw ValidationError("--rect only applies with --mode rect")
        }
        if let focal {
            guard settings.mode == .focal else { throw ValidationError("--focal only applies with --mode focal") }
            settings.focal = focal
        }
        if let preset {
            guard let value = FacePreset(rawValue: preset.lowercased()) else {
                throw ValidationError("--preset must be closeup, head-shoulders, upper-body or half-body")
            }
            settings.facePreset = value
        }
        guard let policy = FacePolicy(parsing: faces) else { throw ValidationError("--faces must be all, largest or index:N") }
        settings.faces = policy
        guard let colour = Colour(parsing: padColor) else { throw ValidationError("--pad-color must be a colour such as #ffffff") }
        settings.padColor = colour
        if padToSquare, settings.mode != .trim { throw ValidationError("--pad-to-square \(SmartCropSettings.padToSquareOnlyInTrim)") }
        settings.padToSquare = padToSquare
        settings.padding = padding
        settings.sensitivity = sensitivity
        settings.threshold = threshold
        settings.animated = !noAnimation
        return settings
    }

    var limits: DecodeLimits {
        DecodeLimits(maxPixels: maxPixels, failOn: DecodeFailurePolicy(rawValue: failOn) ?? .truncated, maxFrames: maxFrames)
    }

    func pipelineOptions(explain: Bool) throws -> PipelineOptions {
        var options = PipelineOptions(limits: limits, faceModels: try FaceModels(yunetModel: faceModel, givenBy: "--face-model"))
        // Loaded while the photo decodes (the runner's warm-up); a bad file still fails the
        // command before anything is written.
        options.subjectModels = try SubjectModels(modelPath: subjectModel, inputSize: subjectSize, loadNow: false,
                                                  givenBy: "--subject-model")
        options.explain = explain
        return options
    }
}

/// One requested output: `WxH`, optionally `:format`, `:qQUALITY` and `:sSIGMA`.
struct OutputSpec: Sendable {
    var width: Int
    var height: Int
    var format: ImageFormat?
    var quality: Int?
    var sharpen: Double?

    var name: String { "\(width)x\(height)" }

    static func parseList(_ text: String) throws -> [OutputSpec] {
        let specs = try text.split(separator: ",").map { try parse(String($0)) }
        guard !specs.isEmpty else { throw ValidationError("--size needs at least one WxH") }
        return specs
    }

    static func parse(_ text: String) throws -> OutputSpec {
        let parts = text.split(separator: ":").map(String.init)
        let size = parts[0].lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard size.count == 2, let w = Int(size[0]), let h = Int(size[1]) else {
            throw ValidationError("size must look like 256x256 (optionally 256x256:webp:q80:s0.5), got \"\(text)\"")
        }
        guard (1...Pipeline.maxDimension).contains(w), (1...Pipeline.maxDimension).contains(h) else {
            throw ValidationError("size sides must be between 1 and \(Pipeline.maxDimension), got \(parts[0])")
        }
        var spec = OutputSpec(width: w, height: h)
        for part in parts.dropFirst() {
            if let format = ImageFormat(name: part), format.canEncode {
                spec.format = format
            } else if part.hasPrefix("q"), let q = Int(part.dropFirst()), (1...100).contains(q) {
                spec.quality = q
            } else if part.hasPrefix("s"), let sigma = Double(part.dropFirst()), (0.01...10).contains(sigma) {
                spec.sharpen = sigma
            } else {
                throw ValidationError("unknown size option \"\(part)\" in \"\(text)\": use a format (webp, jpeg, png, avif), qQUALITY or sSIGMA")
            }
        }
        return spec
    }

    /// The pipeline for this output.
    func pipeline(_ choice: CropChoiceOptions, format defaultFormat: ImageFormat?, quality defaultQuality: Int?,
                  sharpen defaultSharpen: Double?, metadata: MetadataOptions = MetadataOptions()) throws -> Pipeline {
        var operations: [ImageOperation] = [.smartCrop(try choice.settings(width: width, height: height))]
        if let sigma = sharpen ?? defaultSharpen { operations.append(.sharpen(sigma: sigma)) }
        let quality = quality ?? defaultQuality
        if let format = format ?? defaultFormat ?? (quality != nil ? .jpeg : nil) {
            var convert = ConvertOperation(format: format, quality: quality)
            convert.keepICC = metadata.keepICC
            convert.keepMetadata = metadata.keepMetadata
            operations.append(.convert(convert))
        }
        return Pipeline(operations)
    }
}

/// What of the source's metadata the outputs keep; by default none (sRGB, no profile).
struct MetadataOptions: ParsableArguments {
    @Flag(name: .customLong("keep-icc"), help: "Keep the ICC profile the pixels are in (by default: converted to sRGB, no profile written).")
    var keepICC = false

    @Flag(help: "Keep EXIF, XMP, IPTC and the ICC profile (by default all metadata is stripped).")
    var keepMetadata = false
}

struct CropCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crop",
        abstract: "Crop one image to one or more sizes, choosing the region by face, subject or a fixed rule.",
        discussion: """
        Without -o, prints the decision as JSON and writes no image. Several sizes
        (--size 48x48,128x128,256x256) decode the image once and detect faces once; -o then
        needs {w} and {h}, e.g. -o 'avatar-{w}x{h}.webp'. Each size may carry its own format,
        quality and sharpening: 48x48:png, 256x256:webp:q80:s0.5.
        """
    )

    @Argument(help: "The image to crop (JPEG, PNG, WebP, AVIF, HEIC, GIF or TIFF).")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the result; its extension picks the format. {w} and {h} name each size.")
    var output: String?

    @Option(help: "Output size(s): WxH[,WxH…], each optionally :format:qQUALITY:sSIGMA.", transform: OutputSpec.parseList)
    var size: [OutputSpec]

    @OptionGroup var choice: CropChoiceOptions

    @Option(help: "Output format: jpeg, png, webp, avif or gif.")
    var format: String?

    @Option(help: "Encoder quality, 1-100.")
    var quality: Int?

    @Option(help: "Sharpen the result with this sigma.")
    var sharpen: Double?

    @Option(help: "Write a picture of the decision: the source (an animation's first frame) with faces and crop drawn, or the subject's importance map.")
    var draw: String?

    @Flag(help: "Print the decision as JSON.")
    var json = false

    @OptionGroup var metadata: MetadataOptions

    func validate() throws {
        if let quality, !(1...100).contains(quality) { throw ValidationError("--quality must be between 1 and 100") }
        if let sharpen, !(0.01...10).contains(sharpen) { throw ValidationError("--sharpen must be between 0.01 and 10") }
        if size.count > 1, let output, !(output.contains("{w}") || output.contains("{h}")) {
            throw ValidationError("with several sizes, -o must contain {w} and {h}, e.g. 'avatar-{w}x{h}.webp'")
        }
        if let format { _ = try outputFormat(explicit: format, path: nil) }
        if let draw { _ = try outputFormat(explicit: nil, path: draw) }
    }

    func path(for spec: OutputSpec) -> String? {
        output.map { $0.replacing("{w}", with: String(spec.width)).replacing("{h}", with: String(spec.height)) }
    }

    func run() throws {
        let source = try OpenedSource(.file(input), limits: choice.limits)
        // A size's own :format wins, then --format, then the extension of that size's file.
        let explicit = try format.map { try outputFormat(explicit: $0, path: nil) }
        let pipelines = try size.map { spec in
            (spec.name, try spec.pipeline(choice, format: try explicit ?? outputFormat(explicit: nil, path: path(for: spec)),
                                          quality: quality, sharpen: sharpen, metadata: metadata))
        }
        var options = try choice.pipelineOptions(explain: draw != nil)
        // A one-shot command owns the machine.
        options.concurrentVariants = true
        options.analysisThreads = ProcessInfo.processInfo.activeProcessorCount
        let results = try PipelineRunner.variants(pipelines, on: source, options: options)
        warnAboutModels(face: options.faceModels, subject: options.subjectModels)
        for (spec, (_, result)) in zip(size, results) {
            if let path = path(for: spec) { try writeAtomically(result.data, to: path) }
        }
        if let draw, let picture = results.first?.1.explanation {
            try writeAtomically(try picture.encoded(EncodeOptions(format: try outputFormat(explicit: nil, path: draw)!)), to: draw)
        }
        if json || output == nil {
            if results.count == 1 {
                try printJSON(CropReport(results[0].1, path: path(for: size[0])))
            } else {
                try printJSON(VariantsReport(results.map(\.1), paths: size.map(path(for:))))
            }
        } else {
            for (spec, (_, result)) in zip(size, results) {
                let crop = result.decision.map { " from \($0.crop) (\($0.strategy))" } ?? ""
                print("wrote \(path(for: spec)!): \(result.width)x\(result.height) \(result.format.rawValue), \(result.data.count) bytes\(crop)")
            }
        }
    }
}

func parseFocal(_ text: String) throws -> Point {
    let parts = text.split(separator: ",").map { Double($0.filter { $0 != " " }) }
    guard parts.count == 2, let x = parts[0], let y = parts[1], (0...1).contains(x), (0...1).contains(y) else {
        throw ValidationError("--focal must be X,Y with both in 0..1, got \"\(text)\"")
    }
    return Point(x: x, y: y)
}

func parseRect(_ text: String) throws -> PixelRect {
    let parts = text.split(separator: ",").map { Int($0.filter { $0 != " " }) }
    guard parts.count == 4, let x = parts[0], let y = parts[1], let w = parts[2], let h = parts[3],
          x >= 0, y >= 0, w > 0, h > 0 else {
        throw ValidationError("--rect must be x,y,w,h with x,y >= 0 and w,h > 0, got \"\(text)\"")
    }
    return PixelRect(x: x, y: y, width: w, height: h)
}
