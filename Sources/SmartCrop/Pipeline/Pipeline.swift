#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An ordered list of operations, validated as a whole before any pixel is touched.
public struct Pipeline: Sendable, Equatable {
    public static let defaultMaxOperations = 30
    /// The largest output side we accept, so a typo cannot ask for a gigapixel canvas.
    public static let maxDimension = 16_384

    public var operations: [ImageOperation]

    public init(_ operations: [ImageOperation]) { self.operations = operations }

    /// Parses `[{"type": ...}, ...]` (or `{"operations": [...]}`). Errors name the operation
    /// and field, e.g. `operations[2].width_in_px: must be between 1 and 16384, got 0`.
    /// `maxPixels` caps every result the operations alone decide (see `checkSizes`).
    public static func parse(_ data: Data, maxOperations: Int = defaultMaxOperations,
                             maxPixels: Int = DecodeLimits().maxOutputPixels) throws -> Pipeline {
        let json = try JSONValue.parse(data, field: "operations", limits: JSONLimits(maxArrayItems: maxOperations, itemName: "operations"))
        if case .object(let object) = json, let list = object["operations"] {
            return try parse(list, path: "operations", maxOperations: maxOperations, maxPixels: maxPixels)
        }
        return try parse(json, path: "operations", maxOperations: maxOperations, maxPixels: maxPixels)
    }

    public static func parse(_ json: JSONValue, path: String = "operations", maxOperations: Int = defaultMaxOperations,
                             maxPixels: Int = DecodeLimits().maxOutputPixels) throws -> Pipeline {
        guard case .array(let items) = json else {
            throw SmartCropError.invalidArgument(field: path, message: "must be an array of operations, got \(json.typeName)")
        }
        guard !items.isEmpty else {
            throw SmartCropError.invalidArgument(field: path, message: "must hold at least one operation")
        }
        guard items.count <= maxOperations else {
            throw SmartCropError.invalidArgument(field: path, message: "holds \(items.count) operations; the limit is \(maxOperations)")
        }
        let operations = try items.enumerated().map { index, item in
            try OperationParser.parse(item, path: "\(path)[\(index)]")
        }
        try validate(operations, path: path)
        let pipeline = Pipeline(operations)
        try pipeline.checkSizes(maxPixels: maxPixels, path: path)
        return pipeline
    }

    /// Rules that span operations.
    static func validate(_ operations: [ImageOperation], path: String) throws {
        let converts = operations.indices.filter { if case .convert = operations[$0] { return true } else { return false } }
        if converts.count > 1 {
            throw SmartCropError.invalidArgument(field: "\(path)[\(converts[1])]", message: "only one convert operation is allowed")
        }
        if let index = converts.first, index != operations.count - 1 {
            throw SmartCropError.invalidArgument(field: "\(path)[\(index)]", message: "convert must be the last operation")
        }
    }
}

extension SmartCropSettings {
    /// Reads the smart-crop tool's settings object (`{"mode": "face", "width": 256, ...}`);
    /// errors name the field under `path`, e.g. `settings.padding`.
    public static func parse(_ json: JSONValue, path: String = "settings") throws -> SmartCropSettings {
        var reader = try FieldReader(json, path: path)
        let settings = try OperationParser.smartCrop(&reader)
        try reader.finish()
        return settings
    }

    public static func parse(_ data: Data, path: String = "settings") throws -> SmartCropSettings {
        try parse(JSONValue.parse(data, field: path), path: path)
    }
}

extension Pipeline: Codable {
    public init(from decoder: Decoder) throws {
        let json = try JSONValue(from: decoder)
        self = try Pipeline.parse(json)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(operations)
    }
}

extension ImageOperation: Codable {
    public init(from decoder: Decoder) throws {
        let path = decoder.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        self = try OperationParser.parse(JSONValue(from: decoder), path: path.isEmpty ? "operation" : path)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(OperationParser.json(self))
    }
}

/// Turns JSON operations into typed ones (and back), naming the exact field on any error.
enum OperationParser {
    static func parse(_ value: JSONValue, path: String) throws -> ImageOperation {
        var r = try FieldReader(value, path: path)
        guard let type = try r.string("type") else {
            throw SmartCropError.invalidArgument(field: r.field("type"), message: "is required; one of \(ImageOperation.typeNames.joined(separator: ", "))")
        }
        let operation: ImageOperation
        switch type.lowercased() {
        case "smart_crop", "smartcrop", "smart-crop": operation = .smartCrop(try smartCrop(&r))
        case "resize": operation = .resize(try resize(&r))
        case "crop": operation = .crop(try crop(&r))
        case "trim": operation = .trim(try trim(&r))
        case "sharpen": operation = .sharpen(sigma: try r.double("sigma", in: 0.01...10) ?? 1.0)
        case "blur": operation = .blur(sigma: try r.double("sigma", in: 0.3...1000) ?? { throw SmartCropError.invalidArgument(field: r.field("sigma"), message: "is required") }())
        case "rotate":
            let degrees = try r.int("angle", "degrees", in: -3600...3600)
            guard let degrees else { throw SmartCropError.invalidArgument(field: r.field("angle"), message: "is required (a multiple of 90)") }
            guard degrees % 90 == 0 else {
                throw SmartCropError.invalidArgument(field: r.field(r.has("angle") ? "angle" : "degrees"), message: "must be a multiple of 90, got \(degrees)")
            }
            operation = .rotate(quarterTurns: ((degrees / 90) % 4 + 4) % 4)
        case "flip":
            let direction = try r.choice("direction", choices: ["horizontal", "vertical", "both"]) ?? "vertical"
            operation = .flip(horizontal: direction != "vertical", vertical: direction != "horizontal")
        case "flop": operation = .flip(horizontal: true, vertical: false)
        case "pad": operation = .pad(try pad(&r))
        case "convert": operation = .convert(try convert(&r))
        default:
            throw SmartCropError.invalidArgument(field: r.field("type"), message: "unknown operation \"\(type)\"; use one of \(ImageOperation.typeNames.joined(separator: ", "))")
        }
        try r.finish()
        return operation
    }

    static let sizeRange = 1...Pipeline.maxDimension

    static func smartCrop(_ r: inout FieldReader) throws -> SmartCropSettings {
        var s = SmartCropSettings()
        s.width = try r.int("width_in_px", "width", in: sizeRange)
        s.height = try r.int("height_in_px", "height", in: sizeRange)
        // The tool form's legacy names: "attention" meant subject and "content" meant trim.
        if let mode = try r.choice("mode", choices: CropMode.allCases.map(\.rawValue),
                                   aliases: ["attention": "subject", "content": "trim", "centre": "center", "focal_point": "focal", "faces": "face"]) {
            s.mode = CropMode(rawValue: mode)!
        }
        if let strategy = try r.choice("strategy", choices: SubjectStrategy.allCases.map(\.rawValue)) {
            s.strategy = SubjectStrategy(rawValue: strategy)
        }
        s.padding = try r.double("padding", in: 0...50) ?? 0
        if let preset = try r.choice("face_preset", "facePreset", choices: FacePreset.allCases.map(\.rawValue),
                                     aliases: ["head_shoulders": "head-shoulders", "upper_body": "upper-body", "half_body": "half-body", "close-up": "closeup"]) {
            s.facePreset = FacePreset(rawValue: preset)
        }
        s.sensitivity = try r.double("sensitivity", in: 0...1) ?? 0.5
        if let text = try r.string("faces") {
            guard let policy = FacePolicy(parsing: text) else {
                throw SmartCropError.invalidArgument(field: r.field("faces"), message: "must be all, largest or index:N")
            }
            s.faces = policy
        }
        s.threshold = try r.int("threshold", in: 0...255) ?? 30
        s.padToSquare = try r.bool("pad_to_square", "padToSquare") ?? false
        s.padColor = try r.colour("pad_color", "padColor") ?? .white
        s.targetSize = try r.int("target_size", "targetSize", in: sizeRange)
        s.quality = try r.int("quality", in: 1...100)
        s.animated = try r.bool("animated") ?? true
        s.focal = try focal(&r)
        if s.focal != nil, !r.has("mode") { s.mode = .focal }
        if var rect = try r.object("rect") {
            s.rect = try pixelRect(&rect)
            if !r.has("mode") { s.mode = .rect }
        }
        if s.mode == .rect, s.rect == nil {
            throw SmartCropError.invalidArgument(field: r.field("rect"), message: "is required for mode rect")
        }
        if s.padToSquare, s.mode != .trim {
            throw SmartCropError.invalidArgument(field: r.field(r.has("pad_to_square") ? "pad_to_square" : "padToSquare"),
                                                 message: SmartCropSettings.padToSquareOnlyInTrim)
        }
        return s
    }

    static func focal(_ r: inout FieldReader) throws -> Point? {
        let x = try r.double("focal_x", "focalX", in: 0...1)
        let y = try r.double("focal_y", "focalY", in: 0...1)
        if x == nil, y == nil { return nil }
        return Point(x: x ?? 0.5, y: y ?? 0.5)
    }

    static func pixelRect(_ r: inout FieldReader) throws -> PixelRect {
        let rect = PixelRect(x: try r.requiredInt("x", "left", in: 0...1_000_000), y: try r.requiredInt("y", "top", in: 0...1_000_000),
                             width: try r.requiredInt("width", in: 1...1_000_000), height: try r.requiredInt("height", in: 1...1_000_000))
        try r.finish()
        return rect
    }

    static func resize(_ r: inout FieldReader) throws -> ResizeOperation {
        var op = ResizeOperation(width: try r.int("width_in_px", "width", in: sizeRange),
                                 height: try r.int("height_in_px", "height", in: sizeRange))
        if op.width == nil, op.height == nil {
            throw SmartCropError.invalidArgument(field: r.field("width_in_px"), message: "width_in_px or height_in_px is required")
        }
        if let fit = try r.choice("fit", choices: Fit.allCases.map(\.rawValue)) { op.fit = Fit(rawValue: fit)! }
        op.background = try r.colour("background", "background_color") ?? .white
        op.withoutEnlargement = try r.bool("without_enlargement", "withoutEnlargement")
        if let enlarge = try r.bool("enlarge", "allow_enlargement") {
            if op.withoutEnlargement != nil {
                throw SmartCropError.invalidArgument(field: r.field("enlarge"), message: "contradicts without_enlargement; give only one")
            }
            op.withoutEnlargement = !enlarge
        }
        return op
    }

    static func crop(_ r: inout FieldReader) throws -> CropOperation {
        if var rect = try r.object("rect") {
            if r.has("gravity") {
                throw SmartCropError.invalidArgument(field: r.field("gravity"), message: "cannot be combined with rect")
            }
            return CropOperation(rect: try pixelRect(&rect))
        }
        guard let gravity = try r.choice("gravity", choices: CropOperation.Gravity.allCases.map(\.rawValue),
                                         aliases: ["centre": "center", "focal": "focal_point"]) else {
            throw SmartCropError.invalidArgument(field: r.field("rect"), message: "either rect or gravity with width and height is required")
        }
        let width = try r.requiredInt("width", "width_in_px", in: sizeRange)
        let height = try r.requiredInt("height", "height_in_px", in: sizeRange)
        return CropOperation(gravity: CropOperation.Gravity(rawValue: gravity)!, width: width, height: height, focal: try focal(&r))
    }

    static func trim(_ r: inout FieldReader) throws -> TrimOperation {
        var op = TrimOperation()
        op.threshold = try r.int("threshold", in: 0...255) ?? 30
        op.padding = try r.double("padding", in: 0...50) ?? 0
        op.padToSquare = try r.bool("pad_to_square", "padToSquare") ?? false
        op.padColor = try r.colour("pad_color", "padColor") ?? .white
        op.targetSize = try r.int("target_size", "targetSize", in: sizeRange)
        return op
    }

    static func pad(_ r: inout FieldReader) throws -> PadOperation {
        let all = try r.int("all", "padding", in: 0...Pipeline.maxDimension) ?? 0
        let op = PadOperation(top: try r.int("top", in: 0...Pipeline.maxDimension) ?? all,
                              right: try r.int("right", in: 0...Pipeline.maxDimension) ?? all,
                              bottom: try r.int("bottom", in: 0...Pipeline.maxDimension) ?? all,
                              left: try r.int("left", in: 0...Pipeline.maxDimension) ?? all,
                              colour: try r.colour("color", "colour", "background") ?? .white)
        if op.top + op.right + op.bottom + op.left == 0 {
            throw SmartCropError.invalidArgument(field: r.field("all"), message: "give at least one of top, right, bottom, left or all")
        }
        return op
    }

    static func convert(_ r: inout FieldReader) throws -> ConvertOperation {
        guard let name = try r.choice("format", choices: ImageFormat.encodable.map(\.rawValue) + ["auto"], aliases: ["jpg": "jpeg"]) else {
            throw SmartCropError.invalidArgument(field: r.field("format"), message: "is required; one of jpeg, png, webp, avif, gif, auto")
        }
        var op = ConvertOperation(format: ImageFormat(rawValue: name) ?? .jpeg, quality: try r.int("quality", in: 1...100))
        op.negotiated = name == "auto"
        op.background = try r.colour("background")
        op.keepICC = try r.bool("keep_icc") ?? false
        op.keepMetadata = try r.bool("keep_metadata") ?? false
        op.animated = try r.bool("animated") ?? true
        return op
    }

    /// The canonical JSON form of an operation (snake_case names, defaults left out).
    static func json(_ operation: ImageOperation) -> JSONValue {
        var o: [String: JSONValue] = ["type": .string(operation.typeName)]
        func num(_ v: Int?) -> JSONValue? { v.map { .number(Double($0)) } }
        func rect(_ r: PixelRect) -> JSONValue {
            .object(["x": .number(Double(r.x)), "y": .number(Double(r.y)), "width": .number(Double(r.width)), "height": .number(Double(r.height))])
        }
        switch operation {
        case .smartCrop(let s):
            o["width_in_px"] = num(s.width)
            o["height_in_px"] = num(s.height)
            o["mode"] = .string(s.mode.rawValue)
            o["strategy"] = s.strategy.map { .string($0.rawValue) }
            if s.padding != 0 { o["padding"] = .number(s.padding) }
            o["face_preset"] = s.facePreset.map { .string($0.rawValue) }
            if s.sensitivity != 0.5 { o["sensitivity"] = .number(s.sensitivity) }
            if s.faces != .all { o["faces"] = .string(s.faces.description) }
            if s.threshold != 30 { o["threshold"] = num(s.threshold) }
            if s.padToSquare { o["pad_to_square"] = .bool(true) }
            if s.padColor != .white { o["pad_color"] = .string(s.padColor.description) }
            o["target_size"] = num(s.targetSize)
            o["quality"] = num(s.quality)
            if !s.animated { o["animated"] = .bool(false) }
            if let f = s.focal { o["focal_x"] = .number(f.x); o["focal_y"] = .number(f.y) }
            if let r = s.rect { o["rect"] = rect(r) }
        case .resize(let r):
            o["width_in_px"] = num(r.width)
            o["height_in_px"] = num(r.height)
            o["fit"] = .string(r.fit.rawValue)
            if r.background != .white { o["background"] = .string(r.background.description) }
            o["without_enlargement"] = r.withoutEnlargement.map { .bool($0) }
        case .crop(let c):
            if let r = c.rect { o["rect"] = rect(r) } else {
                o["gravity"] = .string(c.gravity.rawValue)
                o["width"] = num(c.width)
                o["height"] = num(c.height)
                if let f = c.focal { o["focal_x"] = .number(f.x); o["focal_y"] = .number(f.y) }
            }
        case .trim(let t):
            o["threshold"] = num(t.threshold)
            if t.padding != 0 { o["padding"] = .number(t.padding) }
            if t.padToSquare { o["pad_to_square"] = .bool(true) }
            if t.padColor != .white { o["pad_color"] = .string(t.padColor.description) }
            o["target_size"] = num(t.targetSize)
        case .sharpen(let sigma): o["sigma"] = .number(sigma)
        case .blur(let sigma): o["sigma"] = .number(sigma)
        case .rotate(let turns): o["angle"] = num(turns * 90)
        case .flip(let h, let v): o["direction"] = .string(h && v ? "both" : h ? "horizontal" : "vertical")
        case .pad(let p):
            o["top"] = num(p.top); o["right"] = num(p.right); o["bottom"] = num(p.bottom); o["left"] = num(p.left)
            o["color"] = .string(p.colour.description)
        case .convert(let c):
            o["format"] = .string(c.negotiated ? "auto" : c.format.rawValue)
            o["quality"] = num(c.quality)
            o["background"] = c.background.map { .string($0.description) }
            if c.keepICC { o["keep_icc"] = .bool(true) }
            if c.keepMetadata { o["keep_metadata"] = .bool(true) }
            if !c.animated { o["animated"] = .bool(false) }
        }
        return .object(o)
    }
}
