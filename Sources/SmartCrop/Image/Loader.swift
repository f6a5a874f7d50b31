import CVips
import CVipsShim
import Synchronization
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
    /// An embedded colour profile that can be used; a damaged one is ignored and counts as none.
    public var hasICCProfile: Bool
    public var isCMYK: Bool
    /// Size of the encoded input.
    public var byteCount: Int
    /// Frames of an animated GIF or WebP; 1 for anything else (a multi-page TIFF or HEIF
    /// collection is not an animation, and only its first page is read).
    public var frames = 1
}

/// Limits checked on the header, before decoding, so oversized or hostile files are refused
/// cheaply; and what to do with a file that is damaged part-way.
public struct DecodeLimits: Sendable, Equatable {
    public var maxPixels: Int
    /// The largest output, and the largest image any step may make (pad, resize).
    public var maxOutputPixels: Int
    public var failOn: DecodeFailurePolicy
    /// The most frames an animation may have to be read as one (see `animationProblem`).
    public var maxFrames: Int

    public init(maxPixels: Int = 100_000_000, maxOutputPixels: Int? = nil, failOn: DecodeFailurePolicy = .truncated,
                maxFrames: Int = DecodeLimits.defaultMaxFrames) {
        self.maxPixels = maxPixels
        self.maxOutputPixels = maxOutputPixels ?? maxPixels
        self.failOn = failOn
        self.maxFrames = maxFrames
    }
}

/// How much damage a decode tolerates: libvips' (and sharp's) `fail_on` levels.
public enum DecodeFailurePolicy: String, Sendable, CaseIterable, Codable {
    /// Decode what can be decoded; a truncated file comes out with its missing part filled in,
    /// and the result carries a warning.
    case none
    /// Refuse truncated files (the default): a cut-off upload would make a grey-banded avatar.
    case truncated
    /// Also refuse files with any decoder error.
    case error
    /// Also refuse files the decoder only warns about.
    case warning
}

/// The input of one request, opened: its type is sniffed from its bytes, its header is read
/// and checked; pixels are decoded on demand, at the size asked for (shrink-on-load).
public final class OpenedSource: @unchecked Sendable {
    public let info: SourceInfo
    private let path: String?
    private let bytes: PinnedBytes?
    private let failOn: DecodeFailurePolicy
    /// The embedded profile is sRGB already, so decoding needs no colour transform.
    let profileIsSRGB: Bool
    /// The embedded profile cannot be used (damaged, cut short, or for another colour space
    /// than the pixels'): it is dropped before decoding, as if the file had none.
    let ignoresProfile: Bool
    /// Problems a lenient decode got past (see `DecodeFailurePolicy.none`). Variants may decode
    /// again from several threads, hence the lock.
    public var warnings: [String] { warningList.withLock { $0 } }
    private let warningList = Mutex<[String]>([])

    public init(_ source: ImageSource, limits: DecodeLimits = DecodeLimits()) throws {
        try Vips.ensureStarted()
        let head: [UInt8]
        let byteCount: Int
        switch source {
        case .file(let path):
            (head, byteCount) = try FileSystem.readHead(path, count: FormatSniffer.headerLength)
            self.path = path
            self.bytes = nil
        case .data(let data):
            head = Array(data.prefix(FormatSniffer.headerLength))
            byteCount = data.count
            self.path = nil
            self.bytes = PinnedBytes(data)
        }
        let format: ImageFormat
        switch FormatSniffer.sniff(head) {
        case .accepted(let accepted): format = accepted
        case .refused(let why):
            throw SmartCropError.unsupportedFormat("\(why); use JPEG, PNG, WebP, AVIF, HEIC, GIF or TIFF")
        }
        failOn = limits.failOn
        let header = try OpenedSource.load(format, path: path, bytes: bytes, options: "access=sequential")
        profileIsSRGB = header.hasSRGBProfile
        // A broken profile says nothing about the pixels, which are fine: libvips decodes them,
        // and only the colour transform would refuse the profile. So it is treated as absent.
        ignoresProfile = header.hasField(VIPS_META_ICC_NAME) && !profileIsSRGB && !header.hasUsableProfile
        self.info = try OpenedSource.describe(header, format: format, byteCount: byteCount, limits: limits,
                                              hasUsableProfile: header.hasField(VIPS_META_ICC_NAME) && !ignoresProfile)
            .counting(framesOf: header)
        if ignoresProfile {
            let assumed = info.isCMYK ? "CMYK with a standard profile" : header.bands <= 2 ? "plain grey" : "sRGB"
            warningList.withLock { $0.append("the embedded colour profile is damaged or does not fit the image and was ignored; the colours are taken as \(assumed)") }
        }
    }

    /// Decodes the whole image at exactly `width` × `height` (in oriented pixels): upright,
    /// 8-bit sRGB (or grey), alpha kept, computed into memory. Where the format allows it, the
    /// loader shrinks while decoding, so a 12 MP JPEG decoded at 500 px never exists at full
    /// size. `stop` ends the decode part-way.
    public func decode(width: Int, height: Int, stop: StopSignal? = nil) throws -> Image {
        try decode(width: width, height: height, allFrames: false, stop: stop)
    }

    /// `decode(width:height:)`, with `allFrames` reading every frame of an animation into one
    /// strip of `width` × `height` frames (see `decodeAnimation`).
    func decode(width: Int, height: Int, allFrames: Bool, stop: StopSignal?) throws -> Image {
        do {
            return try decode(width: width, height: height, failOn: failOn == .none ? .truncated : failOn, allFrames: allFrames, stop: stop)
        } catch SmartCropError.undecodable(let message, _) where failOn == .none && stop?.error == nil {
            // Strict first, so a damaged file is known as damaged; then take what decodes.
            let image = try decode(width: width, height: height, failOn: .none, allFrames: allFrames, stop: stop)
            let warning = message.replacing(" and cannot be decoded", with: "") + "; the part that could not be decoded is filled in"
            warningList.withLock { if !$0.contains(warning) { $0.append(warning) } }
            return image
        }
    }

    private func decode(width: Int, height: Int, failOn: DecodeFailurePolicy, allFrames: Bool, stop: StopSignal?) throws -> Image {
        var options = "access=sequential,fail_on=\(failOn.rawValue)"
        // Every frame, stacked; libvips' thumbnail then sizes each frame to width × height.
        if allFrames { options += ",n=-1" }
        // The loader's own shrink, as libvips' thumbnail picks it: a block shrink for JPEG that
        // leaves at least a factor of two for the real resize, a scaled decode for WebP, and a
        // HEIF file's embedded thumbnail when it is big enough.
        let shrink = min(Double(info.width) / Double(width), Double(info.height) / Double(height))
        switch info.format {
        case .jpeg:
            let factor = shrink >= 16 ? 8 : shrink >= 8 ? 4 : shrink >= 4 ? 2 : 1
            if factor > 1 { options += ",shrink=\(factor)" }
        case .webp where shrink > 1:
            options += ",scale=\(1 / shrink)"
        case .heic, .avif:
            if let thumbnail = try? OpenedSource.load(info.format, path: path, bytes: bytes, options: "thumbnail=true"),
               min(Double(thumbnail.width) / Double(width), Double(thumbnail.height) / Double(height)) > 1,
               thumbnail.width != info.width || thumbnail.height != info.height {
                options += ",thumbnail=true"
            }
        default:
            break
        }
        var loaded = try OpenedSource.load(info.format, path: path, bytes: bytes, options: options, stop: stop)
        if ignoresProfile { loaded = try loaded.removingField(VIPS_META_ICC_NAME) }
        // An embedded profile (or CMYK, which has no meaning without one) needs a real colour
        // transform to sRGB; untagged RGB is taken as sRGB already and costs nothing, and so is
        // RGB tagged with an sRGB profile (its profile stays attached).
        let importProfile: String? = info.isCMYK && !info.hasICCProfile ? "cmyk" : nil
        let exportProfile: String? = (info.hasICCProfile && !profileIsSRGB) || info.isCMYK ? "srgb" : nil
        do {
            let sized = try withOptionalCString(importProfile) { importC in
                try withOptionalCString(exportProfile) { exportC in
                    try loaded.derive("thumbnail") { sc_thumbnail_image($0, $1, Int32(width), Int32(height), importC, exportC) }
                }
            }
            return try sized.toSRGB().materialised()
        } catch let error as SmartCropError {
            if let stopped = stop?.error { throw stopped }
            throw OpenedSource.decodeFailure(info.format, detail: error.detail ?? error.message)
        }
    }

    /// Decodes at a uniform scale of the oriented source (rounded to whole pixels).
    public func decode(scale: Double, stop: StopSignal? = nil) throws -> Image {
        let size = decodedSize(scale: scale)
        return try decode(width: size.width, height: size.height, stop: stop)
    }

    /// The size `decode(scale:)` gives.
    func decodedSize(scale: Double) -> (width: Int, height: Int) {
        let s = min(scale, 1)
        return (max(1, Int((Double(info.width) * s).rounded(.up))), max(1, Int((Double(info.height) * s).rounded(.up))))
    }

    /// `decode(scale:)`, given the image `decode` made at a larger scale: the same pixels as a
    /// decode of its own. A format whose loader cannot shrink (PNG, GIF, TIFF) and needs no
    /// colour transform decodes by loading whole and resizing, so when `larger` is the whole
    /// source, resizing it the same way is that decode without reading the file again. Anything
    /// else is decoded again: resizing a resized image, a loader's shrink (JPEG's DCT scaling,
    /// WebP's scaled decode) or a profile transform after the resize give other pixels.
    func decode(scale: Double, from larger: Image, stop: StopSignal? = nil) throws -> Image {
        let size = decodedSize(scale: scale)
        if size.width == larger.width, size.height == larger.height { return larger }
        let loaderCannotShrink = [.png, .gif, .tiff].contains(info.format)
        let whole = larger.width == info.width && larger.height == info.height
        guard whole, loaderCannotShrink, !info.isCMYK, !info.hasICCProfile || profileIsSRGB else {
            return try decode(width: size.width, height: size.height, stop: stop)
        }
        return try larger.derive("thumbnail") { sc_thumbnail_image($0, $1, Int32(size.width), Int32(size.height), nil, nil) }
            .toSRGB().materialised()
    }

    /// The image as `format`'s own loader reads it, lazily: only the header is read here.
    private static func load(_ format: ImageFormat, path: String?, bytes: PinnedBytes?, options: String,
                             stop: StopSignal? = nil) throws -> Image {
        let loader = switch format {
        case .jpeg: "jpegload"
        case .png: "pngload"
        case .webp: "webpload"
        case .avif, .heic: "heifload"
        case .gif: "gifload"
        case .tiff: "tiffload"
        }
        let opened: UnsafeMutablePointer<VipsImage>? = if let path {
            sc_load(loader, path, nil, 0, options)
        } else {
            sc_load(loader + "_buffer", nil, bytes!.pointer, bytes!.count, options)
        }
        guard let opened else { throw decodeFailure(format, detail: Vips.takeError()) }
        return Image(taking: opened, upstream: bytes, stop: stop)
    }

    /// Our own short message for a decoder's failure; libvips' words go to `detail`, for logs.
    /// A valid file in a variant the decoder does not implement is unsupported (415), one over
    /// the decoder's own size limit too large (413): calling either "damaged" would send its
    /// owner looking for a fault that is not there.
    static func decodeFailure(_ format: ImageFormat, detail: String) -> SmartCropError {
        let words = detail.lowercased()
        if let variant = unsupportedVariant(words) { return .unsupportedFormat(variant) }
        if words.contains("security limit") || words.contains("exceeds the maximum image size") {
            return .tooLarge("the image is larger than the \(format.displayName) decoder allows")
        }
        let truncated = ["premature end", "truncated", "unexpected end", "end of file", "not enough data", "out of data",
                         "short read", "read error", "eof"].contains { words.contains($0) }
        let message = truncated ? "the \(format.displayName) file is truncated"
                                : "the \(format.displayName) file is damaged and cannot be decoded"
        return .undecodable(message, detail: detail)
    }

    /// The decoders' words for valid files they do not implement (libjpeg-turbo's SOF
    /// types, libtiff's and libvips' TIFF layouts), in plain words.
    private static func unsupportedVariant(_ words: String) -> String? {
        if let sof = words.firstMatch(of: /unsupported jpeg process: sof type 0x([0-9a-f]{2})/).flatMap({ UInt8($0.1, radix: 16) }) {
            return switch sof {
            case 0xC3, 0xC7, 0xCB, 0xCF: "lossless JPEG is not supported"
            case 0xC5, 0xC6, 0xCD, 0xCE: "hierarchical JPEG is not supported"
            default: "this JPEG coding process (SOF\(sof & 0x0F)) is not supported"
            }
        }
        if words.contains("unsupported jpeg data precision") { return "JPEG with more than 8 bits per sample is not supported" }
        if words.contains("tiled separate planes") { return "TIFF with tiled separate planes is not supported" }
        if words.contains("subsampled images not supported") { return "subsampled (YCbCr) TIFF is not supported" }
        if words.contains("old-style jpeg") || words.contains("ojpeg") { return "TIFF with old-style JPEG compression is not supported" }
        if words.contains("compression support is not configured") { return "TIFF with this compression is not supported" }
        if words.contains("bits per sample palette image not supported") { return "TIFF palette images of this depth are not supported" }
        if words.contains("unsupported tiff image type") { return "this kind of TIFF image is not supported" }
        return nil
    }

    private static func describe(_ header: Image, format: ImageFormat, byteCount: Int, limits: DecodeLimits,
                                 hasUsableProfile: Bool) throws -> SourceInfo {
        let orientation = Int(vips_image_get_orientation(header.pointer))
        let swap = vips_image_get_orientation_swap(header.pointer) != 0
        var format = format
        if format == .heic, let compression = header.string("heif-compression"), compression == "av1" {
            format = .avif
        }
        let width = swap ? header.height : header.width
        let height = swap ? header.width : header.height
        guard width > 0, height > 0 else { throw SmartCropError.undecodable("the \(format.displayName) file has no pixels") }
        if width * height > limits.maxPixels {
            throw SmartCropError.tooLarge("the image is \(width)x\(height) (\(PixelCount(width * height))); the limit is \(PixelCount(limits.maxPixels))")
        }
        return SourceInfo(width: width, height: height, format: format, orientation: orientation,
                          hasAlpha: header.hasAlpha, hasICCProfile: hasUsableProfile,
                          isCMYK: header.interpretation == VIPS_INTERPRETATION_CMYK, byteCount: byteCount)
    }
}

/// A pixel count as people read it: "12.0 MP", or "4000 pixels" below a megapixel.
struct PixelCount: CustomStringConvertible {
    let value: Int
    init(_ value: Int) { self.value = value }
    var description: String { value >= 1_000_000 ? "\(Double(value / 100_000) / 10) MP" : "\(value) pixels" }
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

    /// A copy without the metadata field `name`; the pixels are shared.
    func removingField(_ name: String) throws -> Image {
        let copy = try derive("copy") { sc_copy($0, $1) }
        _ = vips_image_remove(copy.pointer, name)
        return copy
    }

    func string(_ name: String) -> String? {
        guard hasField(name) else { return nil }
        var value: UnsafePointer<CChar>?
        guard vips_image_get_string(pointer, name, &value) == 0, let value else { return nil }
        return String(cString: value)
    }
}
