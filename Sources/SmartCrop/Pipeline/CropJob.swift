#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The crop-job shape some image tools accept:
/// `{"operation": "crop", "input", "output", "rect" | "gravity", "focal_x", "focal_y",
///   "width", "height", "format", "quality", "inline"}`.
/// With `gravity`, `width` × `height` is the output size and the crop is the largest region of
/// that shape, placed by the gravity. With `rect`, that region is cut and, when a size is
/// given, fitted to it (cover).
public struct CropJob: Sendable, Equatable {
    public var input: String
    public var output: String?
    public var inline: Bool
    public var pipeline: Pipeline

    public static func parse(_ data: Data) throws -> CropJob {
        var r = try FieldReader(JSONValue.parse(data, field: "job"), path: "")
        let operation = try r.string("operation") ?? "crop"
        guard operation == "crop" else {
            throw SmartCropError.invalidArgument(field: "operation", message: "must be \"crop\", got \"\(operation)\"")
        }
        guard let input = try r.string("input"), !input.isEmpty else {
            throw SmartCropError.invalidArgument(field: "input", message: "is required")
        }
        let output = try r.string("output")
        let inline = try r.bool("inline") ?? false
        if output == nil, !inline {
            throw SmartCropError.invalidArgument(field: "output", message: "is required unless inline is true")
        }
        let width = try r.int("width", in: OperationParser.sizeRange)
        let height = try r.int("height", in: OperationParser.sizeRange)
        var operations: [ImageOperation] = []
        if var rect = try r.object("rect") {
            if r.has("gravity") {
                throw SmartCropError.invalidArgument(field: "gravity", message: "cannot be combined with rect")
            }
            operations.append(.crop(CropOperation(rect: try OperationParser.pixelRect(&rect))))
            if width != nil || height != nil {
                operations.append(.resize(ResizeOperation(width: width, height: height, fit: .cover)))
            }
        } else {
            let gravity = try r.choice("gravity", choices: ["center", "focal_point", "entropy", "attention"],
                                       aliases: ["centre": "center", "focal": "focal_point"]) ?? "center"
            guard width != nil || height != nil else {
                throw SmartCropError.invalidArgument(field: "width", message: "width and height (or rect) are required")
            }
            var settings = SmartCropSettings(width: width, height: height)
            switch gravity {
            case "focal_point": settings.mode = .focal
            case "entropy": settings.mode = .subject; settings.strategy = .entropy
            case "attention": settings.mode = .subject; settings.strategy = .attention
            default: settings.mode = .center
            }
            settings.focal = try OperationParser.focal(&r)
            if settings.focal != nil, settings.mode != .focal {
                throw SmartCropError.invalidArgument(field: "focal_x", message: "only applies with gravity focal_point")
            }
            operations.append(.smartCrop(settings))
        }
        let quality = try r.int("quality", in: 1...100)
        if let name = try r.choice("format", choices: ImageFormat.encodable.map(\.rawValue), aliases: ["jpg": "jpeg"]) {
            operations.append(.convert(ConvertOperation(format: ImageFormat(rawValue: name)!, quality: quality)))
        } else if let quality {
            let format = output.flatMap { ImageFormat(name: URL(fileURLWithPath: $0).pathExtension) }
            guard let format, format.canEncode else {
                throw SmartCropError.invalidArgument(field: "format", message: "is required with quality when the output name has no image extension")
            }
            operations.append(.convert(ConvertOperation(format: format, quality: quality)))
        }
        try r.finish()
        return CropJob(input: input, output: output, inline: inline, pipeline: Pipeline(operations))
    }
}
