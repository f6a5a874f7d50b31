import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SmartCrop

struct CropCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crop",
        abstract: "Crop one image to a size, choosing the region by face, subject or a fixed rule.",
        discussion: "Without -o, prints the decision as JSON and writes no image."
    )

    @Argument(help: "The image to crop (JPEG, PNG, WebP, AVIF, HEIC, GIF or TIFF).")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the result; its extension picks the format.")
    var output: String?

    @Option(help: "Output size, WxH.", transform: parseSize)
    var size: Size

    @Option(help: "How to choose the crop: auto, subject, face, center, focal, entropy, attention, trim or rect.")
    var mode: String = "auto"

    @Option(help: "Focal point X,Y in 0..1 (mode focal).", transform: parseFocal)
    var focal: Point?

    @Option(help: "Rectangle x,y,w,h in source pixels (mode rect).", transform: parseRect)
    var rect: PixelRect?

    @Option(help: "Output format: jpeg, png, webp or avif.")
    var format: String?

    @Option(help: "Encoder quality, 1-100.")
    var quality: Int?

    @Option(help: "Sharpen the result with this sigma.")
    var sharpen: Double?

    @Option(help: "Trim: how far (0-255) from the background colour still counts as background.")
    var threshold: Int = 30

    @Option(help: "Refuse images with more pixels than this, before decoding.")
    var maxPixels: Int = 100_000_000

    @Flag(help: "Print the decision as JSON.")
    var json = false

    func validate() throws {
        if let quality, !(1...100).contains(quality) { throw ValidationError("--quality must be between 1 and 100") }
        if let sharpen, !(0.01...10).contains(sharpen) { throw ValidationError("--sharpen must be between 0.01 and 10") }
        if !(0...255).contains(threshold) { throw ValidationError("--threshold must be between 0 and 255") }
        if maxPixels < 1 { throw ValidationError("--max-pixels must be positive") }
        _ = try settings()
    }

    func settings() throws -> SmartCropSettings {
        var settings = SmartCropSettings(width: size.width, height: size.height)
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
        default: throw ValidationError("--mode must be one of auto, subject, face, center, focal, entropy, attention, trim, rect")
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
        settings.threshold = threshold
        return settings
    }

    func run() throws {
        var operations: [ImageOperation] = [.smartCrop(try settings())]
        if let sharpen { operations.append(.sharpen(sigma: sharpen)) }
        if let format = try outputFormat(explicit: format, path: output) {
            operations.append(.convert(ConvertOperation(format: format, quality: quality)))
        } else if let quality {
            operations.append(.convert(ConvertOperation(format: .jpeg, quality: quality)))
        }
        let result = try PipelineRunner.run(Pipeline(operations), on: .file(input),
                                            options: PipelineOptions(limits: DecodeLimits(maxPixels: maxPixels)))
        if let output {
            try writeAtomically(result.data, to: output)
        }
        if json || output == nil {
            try printJSON(CropReport(result, path: output))
        } else {
            let crop = result.decision.map { " from \($0.crop) (\($0.strategy))" } ?? ""
            print("wrote \(output!): \(result.width)x\(result.height) \(result.format.rawValue), \(result.data.count) bytes\(crop)")
        }
    }
}

struct Size: Sendable {
    let width: Int
    let height: Int
}

func parseSize(_ text: String) throws -> Size {
    let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
    guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else {
        throw ValidationError("size must look like 256x256, got \"\(text)\"")
    }
    guard (1...Pipeline.maxDimension).contains(w), (1...Pipeline.maxDimension).contains(h) else {
        throw ValidationError("size sides must be between 1 and \(Pipeline.maxDimension), got \(text)")
    }
    return Size(width: w, height: h)
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
