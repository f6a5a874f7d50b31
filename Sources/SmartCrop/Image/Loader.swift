import CVips
import CVipsShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where an image comes from.
public enum ImageSource: Sendable {
    case file(String)
    case data(Data)
}

/// What the header says, before any pixel is decoded. Sizes are after EXIF orientation.
public struct SourceInfo: Codable, Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var format: ImageFormat
    /// EXIF orientation tag of the file (1 = upright); already applied to `width`/`height`.
    public var orientation: Int
    public var hasAlpha: Bool
    public var hasICCProfile: Bool
    public var isCMYK: Bool
    /// Size of the encoded input.
    public var byteCount: Int
}

/// Limits checked on the header, before decoding, so oversized or hostile files are refused
/// cheaply.
public struct DecodeLimits: Sendable, Equatable {
    public var maxPixels: Int
    public init(maxPixels: Int = 100_000_000) { self.maxPixels = maxPixels }
}

/// The input of one request, opened: its header is read and checked; pixels are decoded on
/// demand, at the size asked for (libvips shrink-on-load).
public final class OpenedSource: @unchecked Sendable {
    public let info: SourceInfo
    private let path: String?
    private let bytes: PinnedBytes?
    /// The embedded profile is sRGB already, so decoding needs no colour transform.
    let profileIsSRGB: Bool

    public init(_ source: ImageSource, limits: DecodeLimits = DecodeLimits()) throws {
        try Vips.ensureStarted()
        let header: Image
        switch source {
        case .file(let path):
            guard FileSystem.isReadable(path) else {
                throw SmartCropError.io(FileSystem.exists(path) ? "cannot read \(path)" : "no such file: \(path)")
            }
            if FileSystem.isDirectory(path) {
                throw SmartCropError.io("\(path) is a directory, not an image")
            }
            let loader = vips_foreign_find_load(path).map { String(cString: $0) }
            vips_error_clear()
            let size = FileSystem.size(path)
            let format = try OpenedSource.format(ofLoader: loader, empty: size == 0)
            guard let opened = sc_open_file(path, "access=sequential") else {
                throw SmartCropError.undecodable("cannot read the \(format.rawValue) header: \(Vips.takeError())")
            }
            header = Image(taking: opened, upstream: nil)
            self.path = path
            self.bytes = nil
            self.info = try OpenedSource.describe(header, format: format, byteCount: size, limits: limits)
            self.profileIsSRGB = header.hasSRGBProfile
        case .data(let data):
            let pinned = PinnedBytes(data)
            let loader = vips_foreign_find_load_buffer(pinned.pointer, pinned.count).map { String(cString: $0) }
            vips_error_clear()
            let format = try OpenedSource.format(ofLoader: loader, empty: data.isEmpty)
            guard let opened = sc_open_buffer(pinned.pointer, pinned.count, "access=sequential") else {
                throw SmartCropError.undecodable("cannot read the \(format.rawValue) header: \(Vips.takeError())")
            }
            header = Image(taking: opened, upstream: pinned)
            self.path = nil
            self.bytes = pinned
            self.info = try OpenedSource.describe(header, format: format, byteCount: data.count, limits: limits)
            self.profileIsSRGB = header.hasSRGBProfile
        }
    }

    /// Decodes the whole image at exactly `width` × `height` (in oriented pixels): upright,
    /// 8-bit sRGB (or grey), alpha kept, computed into memory. libvips shrinks on load where the
    /// format allows it, so a 12 MP JPEG decoded at 500 px never exists at full size.
    public func decode(width: Int, height: Int) throws -> Image {
        var out: UnsafeMutablePointer<VipsImage>?
        // An embedded profile (or CMYK, which has no meaning without one) needs a real colour
        // transform to sRGB; untagged RGB is taken as sRGB already and costs nothing, and so is
        // RGB tagged with an sRGB profile (its profile stays attached).
        let importProfile: String? = info.isCMYK && !info.hasICCProfile ? "cmyk" : nil
        let exportProfile: String? = (info.hasICCProfile && !profileIsSRGB) || info.isCMYK ? "srgb" : nil
        let status: Int32 = withOptionalCString(importProfile) { importC in
            withOptionalCString(exportProfile) { exportC in
                if let path {
                    return sc_thumbnail_file(path, &out, Int32(width), Int32(height), importC, exportC)
                }
                return sc_thumbnail_buffer(bytes!.pointer, bytes!.count, &out, Int32(width), Int32(height), importC, exportC)
            }
        }
        guard status == 0, let out else {
            throw SmartCropError.undecodable("cannot decode the \(info.format.rawValue) image: \(Vips.takeError())")
        }
        let lazy = Image(taking: out, upstream: bytes)
        do {
            return try lazy.toSRGB().materialised()
        } catch let error as SmartCropError {
            throw SmartCropError.undecodable("cannot decode the \(info.format.rawValue) image: \(error.message)")
        }
    }

    /// Decodes at a uniform scale of the oriented source (rounded to whole pixels).
    public func decode(scale: Double) throws -> Image {
        let s = min(scale, 1)
        return try decode(width: max(1, Int((Double(info.width) * s).rounded(.up))),
                          height: max(1, Int((Double(info.height) * s).rounded(.up))))
    }

    private static func format(ofLoader loader: String?, empty: Bool) throws -> ImageFormat {
        if empty { throw SmartCropError.unsupportedFormat("the input is empty") }
        guard let loader else {
            throw SmartCropError.unsupportedFormat("the input is not an image in a supported format (JPEG, PNG, WebP, AVIF, HEIC, GIF, TIFF)")
        }
        // libvips names loaders by class (VipsForeignLoadJpegFile) or nickname (jpegload_buffer).
        let table: [(String, ImageFormat)] = [("jpeg", .jpeg), ("png", .png), ("webp", .webp), ("heif", .heic),
                                               ("nsgif", .gif), ("gif", .gif), ("tiff", .tiff)]
        let name = loader.lowercased().replacing("vipsforeignload", with: "")
        for (prefix, format) in table where name.hasPrefix(prefix) {
            return format
        }
        throw SmartCropError.unsupportedFormat("images of this kind (\(loader.replacing("_buffer", with: ""))) are not accepted; use JPEG, PNG, WebP, AVIF, HEIC, GIF or TIFF")
    }

    private static func describe(_ header: Image, format: ImageFormat, byteCount: Int, limits: DecodeLimits) throws -> SourceInfo {
        let orientation = Int(vips_image_get_orientation(header.pointer))
        let swap = vips_image_get_orientation_swap(header.pointer) != 0
        var format = format
        if format == .heic, let compression = header.string("heif-compression"), compression == "av1" {
            format = .avif
        }
        let width = swap ? header.height : header.width
        let height = swap ? header.width : header.height
        guard width > 0, height > 0 else { throw SmartCropError.undecodable("the image has no pixels") }
        if width * height > limits.maxPixels {
            func amount(_ n: Int) -> String { n >= 1_000_000 ? "\(Double(n / 100_000) / 10) MP" : "\(n) pixels" }
            throw SmartCropError.tooLarge("the image is \(width)x\(height) (\(amount(width * height))); the limit is \(amount(limits.maxPixels))")
        }
        return SourceInfo(width: width, height: height, format: format, orientation: orientation,
                          hasAlpha: header.hasAlpha, hasICCProfile: header.hasField(VIPS_META_ICC_NAME),
                          isCMYK: header.interpretation == VIPS_INTERPRETATION_CMYK, byteCount: byteCount)
    }
}

/// A private, stable copy of input bytes: libvips reads from the buffer lazily, for as long as
/// any image made from it lives, so it must not move or be freed under it.
final class PinnedBytes: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let count: Int

    init(_ data: Data) {
        count = data.count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        data.withUnsafeBytes { raw in
            if let base = raw.baseAddress { pointer.copyMemory(from: base, byteCount: count) }
        }
    }

    deinit { pointer.deallocate() }
}

func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) throws -> R) rethrows -> R {
    guard let string else { return try body(nil) }
    return try string.withCString { try body($0) }
}

extension Image {
    func hasField(_ name: String) -> Bool { vips_image_get_typeof(pointer, name) != 0 }

    func string(_ name: String) -> String? {
        guard hasField(name) else { return nil }
        var value: UnsafePointer<CChar>?
        guard vips_image_get_string(pointer, name, &value) == 0, let value else { return nil }
        return String(cString: value)
    }
}
