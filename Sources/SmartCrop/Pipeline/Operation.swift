#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One step of a pipeline, as clients write it in JSON: `{"type": "resize", ...}`.
public enum ImageOperation: Sendable, Equatable {
    case smartCrop(SmartCropSettings)
    case resize(ResizeOperation)
    case crop(CropOperation)
    case trim(TrimOperation)
    case sharpen(sigma: Double)
    case rotate(quarterTurns: Int)
    case flip(horizontal: Bool, vertical: Bool)
    case blur(sigma: Double)
    case pad(PadOperation)
    case convert(ConvertOperation)

    public static let typeNames = ["smart_crop", "resize", "crop", "trim", "sharpen", "rotate", "flip", "blur", "pad", "convert"]

    public var typeName: String {
        switch self {
        case .smartCrop: "smart_crop"
        case .resize: "resize"
        case .crop: "crop"
        case .trim: "trim"
        case .sharpen: "sharpen"
        case .rotate: "rotate"
        case .flip: "flip"
        case .blur: "blur"
        case .pad: "pad"
        case .convert: "convert"
        }
    }
}

public enum CropMode: String, Codable, Sendable, CaseIterable {
    /// Faces, then the subject, then the centre.
    case auto
    /// Frame the faces with a preset (falls back like auto when there is none).
    case face
    /// The main object (our strategy, or libvips attention/entropy when asked).
    case subject
    /// Remove a uniform border or background.
    case trim
    case center
    case focal
    case rect
}

/// How a subject is found when there is no face.
public enum SubjectStrategy: String, Codable, Sendable, CaseIterable {
    /// Our importance-mass window search.
    case subject
    /// libvips attention: edges, skin and saturation around one peak.
    case attention
    /// libvips entropy.
    case entropy
}

/// How tightly a face is framed, tightest first. See `FaceFraming` for the numbers.
public enum FacePreset: String, Codable, Sendable, CaseIterable {
    case closeup
    case headShoulders = "head-shoulders"
    case upperBody = "upper-body"
    case halfBody = "half-body"
}

/// Which faces a crop must show.
public enum FacePolicy: Sendable, Equatable, Codable, CustomStringConvertible {
    case all
    case largest
    case index(Int)

    public init?(parsing text: String) {
        switch text.lowercased() {
        case "all": self = .all
        case "largest": self = .largest
        default:
            let parts = text.lowercased().split(separator: ":")
            guard parts.count == 2, parts[0] == "index", let n = Int(parts[1]), n >= 0 else { return nil }
            self = .index(n)
        }
    }

    public var description: String {
        switch self {
        case .all: "all"
        case .largest: "largest"
        case .index(let n): "index:\(n)"
        }
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let policy = FacePolicy(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "faces must be all, largest or index:N"))
        }
        self = policy
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The settings of a smart crop: the smart-crop tool's form, accepted everywhere a smart crop
/// is configured (pipeline JSON, the tool endpoint, the CLI).
public struct SmartCropSettings: Sendable, Equatable {
    /// Output size; a missing side copies the other. With neither, `defaultSize` square.
    public var width: Int?
    public var height: Int?
    public var mode: CropMode = .auto
    /// Used for `subject` and as auto's fallback; nil means our own subject strategy.
    public var strategy: SubjectStrategy?
    /// Extra room around the subject, 0-50 % of its size.
    public var padding: Double = 0
    /// Zoom to frame the face. nil: `face` mode uses head-shoulders, `auto` only positions.
    public var facePreset: FacePreset?
    /// Face detector sensitivity, 0-1; higher finds more (and less certain) faces.
    public var sensitivity: Double = 0.5
    public var faces: FacePolicy = .all
    /// Trim: how far (0-255) a pixel may differ from the background and still be trimmed.
    public var threshold: Int = 30
    public var padToSquare = false
    public var padColor: Colour = .white
    public var targetSize: Int?
    /// Normalised focal point (0-1) for `focal`.
    public var focal: Point?
    /// Explicit rectangle for `rect`, in the pixels of the image at that step.
    public var rect: PixelRect?
    /// Output quality (1-100) the tool form carries; a later `convert` overrides it.
    public var quality: Int?
    /// False: an animated source gives a still of its first frame (the tool form has no
    /// `convert` to say so).
    public var animated = true

    public static let defaultSize = 1080

    /// Every other mode cuts a crop of the output's aspect from the image, so there is never
    /// anything to pad: refusing the setting there beats ignoring it.
    public static let padToSquareOnlyInTrim = "only applies with mode trim (the other modes crop to the output's aspect, which leaves nothing to pad)"

    public init(width: Int? = nil, height: Int? = nil, mode: CropMode = .auto) {
        self.width = width
        self.height = height
        self.mode = mode
    }

    /// The output size, or nil when the output keeps the (trimmed) image's own size.
    public var outputSize: (width: Int, height: Int)? {
        if mode == .trim, width == nil, height == nil { return nil }
        let w = width ?? height ?? SmartCropSettings.defaultSize
        return (w, height ?? w)
    }
}

public struct ResizeOperation: Sendable, Equatable {
    public var width: Int?
    public var height: Int?
    public var fit: Fit = .cover
    public var background: Colour = .white
    /// nil: the fit's default, which never scales up.
    public var withoutEnlargement: Bool?

    public init(width: Int?, height: Int?, fit: Fit = .cover) {
        self.width = width
        self.height = height
        self.fit = fit
    }

    var allowsEnlargement: Bool { !(withoutEnlargement ?? true) }
}

public struct CropOperation: Sendable, Equatable {
    public enum Gravity: String, Sendable, Codable, CaseIterable {
        case center, focalPoint = "focal_point", entropy, attention
    }
    /// Either an explicit rectangle…
    public var rect: PixelRect?
    /// …or a `width` × `height` window placed by gravity.
    public var gravity: Gravity = .center
    public var width: Int?
    public var height: Int?
    public var focal: Point?

    public init(rect: PixelRect) { self.rect = rect }
    public init(gravity: Gravity, width: Int, height: Int, focal: Point? = nil) {
        self.gravity = gravity
        self.width = width
        self.height = height
        self.focal = focal
    }
}

public struct TrimOperation: Sendable, Equatable {
    public var threshold: Int = 30
    public var padding: Double = 0
    public var padToSquare = false
    public var padColor: Colour = .white
    public var targetSize: Int?
    public init() {}
}

public struct PadOperation: Sendable, Equatable {
    public var top = 0, right = 0, bottom = 0, left = 0
    public var colour: Colour = .white
    public init(top: Int = 0, right: Int = 0, bottom: Int = 0, left: Int = 0, colour: Colour = .white) {
        self.top = top
        self.right = right
        self.bottom = bottom
        self.left = left
        self.colour = colour
    }
}

public struct ConvertOperation: Sendable, Equatable {
    public var format: ImageFormat
    public var quality: Int?
    public var background: Colour?
    /// Keep the ICC profile (see `EncodeOptions.keepICCProfile`); off by default.
    public var keepICC = false
    /// Keep EXIF, XMP, IPTC and the profile; off by default.
    public var keepMetadata = false
    /// `format: "auto"`: the server picks AVIF, WebP or JPEG from what the client accepts
    /// (`Pipeline.negotiatingFormat(accept:)`); elsewhere `format` (JPEG) is used.
    public var negotiated = false
    /// What `format: "auto"` becomes for an animated source that stays animated: WebP when the
    /// client accepts it, else GIF (AVIF is written as a still here).
    public var negotiatedAnimationFormat: ImageFormat?
    /// False: an animated source gives a still of its first frame, whatever the format.
    public var animated = true
    public init(format: ImageFormat, quality: Int? = nil) {
        self.format = format
        self.quality = quality
    }
}

extension Pipeline {
    /// Whether a `convert` asks for the format the client accepts (`format: "auto"`).
    public var negotiatesFormat: Bool {
        operations.contains { if case .convert(let c) = $0 { c.negotiated } else { false } }
    }

    /// The pipeline with a `format: "auto"` convert resolved for an HTTP Accept header: AVIF
    /// when the client takes it, else WebP, else JPEG (every client takes JPEG). An animation
    /// that stays one becomes WebP when the client takes it, else GIF (every client takes GIF).
    public func negotiatingFormat(accept: String?) -> Pipeline {
        guard negotiatesFormat else { return self }
        let accepted = AcceptHeader(accept)
        let format: ImageFormat = accepted.quality(of: "image/avif") > 0 ? .avif : accepted.quality(of: "image/webp") > 0 ? .webp : .jpeg
        var resolved = self
        resolved.operations = operations.map { operation in
            guard case .convert(var c) = operation, c.negotiated else { return operation }
            c.format = format
            c.negotiatedAnimationFormat = accepted.quality(of: "image/webp") > 0 ? .webp : .gif
            return .convert(c)
        }
        return resolved
    }

    /// Whether the first operation, the one that sees the decoded source, looks for faces.
    var firstOperationLooksForFaces: Bool { operations.first?.looksForFaces ?? false }

    /// Whether running this pipeline will look for faces.
    var looksForFaces: Bool { operations.contains(where: \.looksForFaces) }

    /// Whether a smart crop may look at the subject map: `auto` (as the fallback or beside faces)
    /// and `subject` with our strategy.
    public var looksAtSubject: Bool {
        operations.contains { operation in
            guard case .smartCrop(let settings) = operation else { return false }
            return settings.mode == .auto || (settings.mode == .subject && (settings.strategy ?? .subject) == .subject)
        }
    }

    /// Roughly how many pixels the output has, for ordering work: the size its last sized
    /// operation asks for (the longest side squared where only one side is given).
    var outputPixels: Int {
        for operation in operations.reversed() {
            switch operation {
            case .smartCrop(let settings):
                if let size = settings.outputSize { return size.width * size.height }
            case .resize(let resize) where resize.width != nil || resize.height != nil:
                let w = resize.width ?? resize.height!, h = resize.height ?? resize.width!
                return w * h
            default:
                continue
            }
        }
        return Int.max
    }
}

/// The media ranges of an HTTP Accept header with their q-values (1 when not given).
public struct AcceptHeader: Sendable {
    public let ranges: [(type: String, quality: Double)]

    public init(_ value: String?) {
        ranges = (value ?? "").split(separator: ",").compactMap { range in
            let parts = range.split(separator: ";").map { $0.filter { $0 != " " && $0 != "\t" }.lowercased() }
            guard let type = parts.first, !type.isEmpty else { return nil }
            let q = parts.dropFirst().first(where: { $0.hasPrefix("q=") }).flatMap { Double($0.dropFirst(2)) } ?? 1
            return (type, q)
        }
    }

    /// The highest q-value of the ranges that name `type` exactly (0 when none does).
    public func quality(of type: String) -> Double {
        ranges.filter { $0.type == type }.map(\.quality).max() ?? 0
    }

    /// The highest q-value of the ranges whose type starts with `prefix` (0 when none does).
    public func quality(ofTypesStartingWith prefix: String) -> Double {
        ranges.filter { $0.type.hasPrefix(prefix) }.map(\.quality).max() ?? 0
    }
}

extension ImageOperation {
    /// A smart crop in auto or face mode.
    var looksForFaces: Bool {
        if case .smartCrop(let settings) = self { return settings.mode == .auto || settings.mode == .face }
        return false
    }
}
