import CVips
import CVipsShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How to write an image.
public struct EncodeOptions: Sendable, Equatable, Codable {
    public var format: ImageFormat
    /// 1-100; nil means the format's default (JPEG 85, WebP 85, AVIF 60; PNG lossless).
    public var quality: Int?
    /// What transparent pixels become in a format without alpha.
    public var background: Colour
    /// Strip EXIF, XMP and IPTC but keep the ICC profile (the default).
    public var keepICCProfile: Bool

    public init(format: ImageFormat, quality: Int? = nil, background: Colour = .white, keepICCProfile: Bool = true) {
        self.format = format
        self.quality = quality
        self.background = background
        self.keepICCProfile = keepICCProfile
    }
}

extension Image {
    /// Encodes to `options.format`. Metadata is stripped except the ICC profile, and alpha is
    /// flattened onto the background for formats that cannot carry it.
    public func encoded(_ options: EncodeOptions) throws -> Data {
        guard options.format.canEncode else {
            throw SmartCropError.invalidArgument(field: "format", message: "cannot write \(options.format.rawValue); use jpeg, png, webp or avif")
        }
        if let q = options.quality, !(1...100).contains(q) {
            throw SmartCropError.invalidArgument(field: "quality", message: "must be between 1 and 100, got \(q)")
        }
        var image = try toSRGB()
        if image.hasAlpha, !options.format.supportsAlpha {
            image = try image.flattened(onto: options.background)
        }
        image = try image.strippedMetadata(keepingICC: options.keepICCProfile)
        let suffix: String
        let quality = options.quality ?? options.format.defaultQuality
        switch options.format {
        case .jpeg: suffix = ".jpg[Q=\(quality!),optimize_coding=true,strip=false]"
        case .webp: suffix = ".webp[Q=\(quality!),effort=4,strip=false]"
        case .avif: suffix = ".avif[Q=\(quality!),compression=av1,effort=4,strip=false]"
        case .png:
            // A quality for PNG asks for a palette image (libimagequant), as sharp does.
            suffix = quality.map { ".png[compression=6,palette=true,Q=\($0),strip=false]" } ?? ".png[compression=6,strip=false]"
        default: fatalError("unreachable: canEncode checked above")
        }
        return try image.written(suffix: suffix)
    }

    /// Runs the libvips saver `suffix` names (with its options) on the image as it is.
    func written(suffix: String) throws -> Data {
        var buffer: UnsafeMutableRawPointer?
        var length = 0
        guard sc_write_to_buffer(pointer, suffix, &buffer, &length) == 0, let buffer else {
            throw SmartCropError.processing(operation: "save \(suffix)", message: Vips.takeError())
        }
        defer { g_free(buffer) }
        return Data(bytes: buffer, count: length)
    }

    /// A copy of the image without metadata fields (EXIF, XMP, IPTC, comments…), optionally
    /// keeping the ICC profile.
    func strippedMetadata(keepingICC: Bool) throws -> Image {
        let copy = try derive("copy") { sc_copy($0, $1) }
        guard let fields = vips_image_get_fields(copy.pointer) else { return copy }
        defer { g_strfreev(fields) }
        var index = 0
        while let field = fields[index] {
            let name = String(cString: field)
            if !(keepingICC && name == VIPS_META_ICC_NAME) {
                vips_image_remove(copy.pointer, field)
            }
            index += 1
        }
        return copy
    }
}
