/// The image formats we read. All but HEIC and TIFF can be written.
public enum ImageFormat: String, Codable, Sendable, CaseIterable {
    case jpeg, png, webp, avif, heic, gif, tiff

    public static let encodable: [ImageFormat] = [.jpeg, .png, .webp, .avif, .gif]

    public var canEncode: Bool { ImageFormat.encodable.contains(self) }
    public var supportsAlpha: Bool { self != .jpeg }

    public var mimeType: String {
        switch self {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        case .webp: "image/webp"
        case .avif: "image/avif"
        case .heic: "image/heic"
        case .gif: "image/gif"
        case .tiff: "image/tiff"
        }
    }

    /// The name people know the format by, for messages.
    public var displayName: String {
        switch self {
        case .webp: "WebP"
        default: rawValue.uppercased()
        }
    }

    public var fileExtension: String {
        switch self {
        case .jpeg: "jpg"
        case .tiff: "tif"
        default: rawValue
        }
    }

    /// Default encoder quality (1-100); PNG is lossless unless a quality is asked for.
    public var defaultQuality: Int? {
        switch self {
        case .jpeg, .webp: 85
        case .avif: 60
        default: nil
        }
    }

    /// Reads a format name or file extension: `jpg`, `JPEG`, `.webp`, `tif`, `heif`…
    public init?(name: String) {
        var lowered = name.lowercased()
        if lowered.hasPrefix(".") { lowered.removeFirst() }
        switch lowered {
        case "jpg", "jpeg", "jpe": self = .jpeg
        case "png": self = .png
        case "webp": self = .webp
        case "avif": self = .avif
        case "heic", "heif": self = .heic
        case "gif": self = .gif
        case "tif", "tiff": self = .tiff
        default: return nil
        }
    }

    /// The format an image turns into when no format is asked for: itself when we can write
    /// it, otherwise PNG for images with alpha and JPEG for the rest.
    public func defaultOutput(hasAlpha: Bool) -> ImageFormat {
        canEncode ? self : (hasAlpha ? .png : .jpeg)
    }
}
