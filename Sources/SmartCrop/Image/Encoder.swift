import CVips
import CVipsShim
import Dispatch
import Synchronization
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
    /// Keep the ICC profile the pixels are in (a non-sRGB one stays, with its pixels). By
    /// default an image in another profile is converted to sRGB and no profile is written, as
    /// sharp does: a 48×48 avatar does not need 3 KB describing sRGB.
    public var keepICCProfile: Bool
    /// Keep EXIF, XMP and IPTC too (and the ICC profile). Off by default.
    public var keepMetadata: Bool

    public init(format: ImageFormat, quality: Int? = nil, background: Colour = .white, keepICCProfile: Bool = false,
                keepMetadata: Bool = false) {
        self.format = format
        self.quality = quality
        self.background = background
        self.keepICCProfile = keepICCProfile
        self.keepMetadata = keepMetadata
    }

    /// JPEGs of at least this many pixels are written progressive: on the sample photos that is
    /// 0.3-2.8 % smaller from 128×128 up, and 12 % larger at 48×48.
    public static let progressiveJPEGPixels = 128 * 128

    /// Truecolour PNGs up to this many pixels are deflated at zlib level 6, larger ones at 3.
    /// On filtered rows the fast levels keep most of the saving (a 1200×630 photo: 892 KB at
    /// level 3, 823 KB at 6, 1,667 KB unfiltered at 6) at the time an unfiltered level-6 encode
    /// took (167 vs 169 ms), where level 6 takes 2.4 times as long; an avatar's encode is a
    /// millisecond either way, and level 6 makes it 4-11 % smaller than level 3.
    public static let thoroughPNGPixels = 512 * 512
}

extension Image {
    /// Encodes to `options.format`: as sRGB without any metadata unless the options keep the
    /// profile or the metadata, and with alpha flattened onto the background for formats that
    /// cannot carry it.
    public func encoded(_ options: EncodeOptions) throws -> Data {
        try encoded(options, animation: nil)
    }

    /// `encoded(_:)`, for a strip of frames (`Image.stacked`) that `animation` times when it
    /// is given: written as an animated GIF or WebP, each frame checked against the format's
    /// limits as a still would be.
    func encoded(_ options: EncodeOptions, animation: AnimationTiming?) throws -> Data {
        guard options.format.canEncode else {
            throw SmartCropError.invalidArgument(field: "format", message: "cannot write \(options.format.rawValue); use jpeg, png, webp, avif or gif")
        }
        if let q = options.quality, !(1...100).contains(q) {
            throw SmartCropError.invalidArgument(field: "quality", message: "must be between 1 and 100, got \(q)")
        }
        let keepsProfile = options.keepICCProfile || options.keepMetadata
        var image = self
        if !keepsProfile, hasField(VIPS_META_ICC_NAME), !hasSRGBProfile {
            // Pixels in another profile become sRGB, so dropping the profile keeps their colours.
            image = try image.iccTransformed(to: "srgb")
        }
        image = try image.toSRGB()
        if image.hasAlpha, !options.format.supportsAlpha {
            image = try image.flattened(onto: options.background)
        }
        if !options.keepMetadata {
            image = try image.strippedMetadata(keepingICC: keepsProfile)
        }
        let frameHeight = animation.map { height / max(1, $0.delays.count) } ?? height
        if let animation {
            image = try image.markedAsAnimation(animation)
        }
        if let problem = options.format.sizeProblem(width: width, height: frameHeight) {
            throw SmartCropError.invalidArgument(field: "format", message: problem)
        }
        let suffix: String
        let quality = options.quality ?? options.format.defaultQuality
        let effort = options.format.effort(pixels: width * frameHeight)
        // libvips' savers write a profile and a minimal EXIF block of their own unless told to
        // strip; with the fields removed above, `strip` decides only that.
        let strip = keepsProfile ? "false" : "true"
        switch options.format {
        case .jpeg:
            let progressive = width * height >= EncodeOptions.progressiveJPEGPixels
            suffix = ".jpg[Q=\(quality!),optimize_coding=true,interlace=\(progressive),strip=\(strip)]"
        case .webp: suffix = ".webp[Q=\(quality!),effort=\(effort),strip=\(strip)]"
        case .avif: suffix = ".avif[Q=\(quality!),compression=av1,effort=\(effort),strip=\(strip)]"
        case .png:
            // A quality for PNG asks for a palette image (libimagequant), as sharp does.
            // A truecolour PNG gets adaptive filtering (libpng picks the filter that leaves the
            // smallest differences, row by row), as the PNG specification recommends for
            // photographs: libvips' default of no filter makes them about twice the size, and
            // decoding costs the same. A palette image keeps no filter, as the specification
            // advises for indices.
            let level = width * height <= EncodeOptions.thoroughPNGPixels ? 6 : 3
            suffix = quality.map { ".png[compression=6,palette=true,Q=\($0),strip=\(strip)]" }
                ?? ".png[compression=\(level),filter=all,strip=\(strip)]"
        case .gif:
            // libvips' quantising saver (cgif, with libimagequant); a GIF has no quality. A pixel
            // within 8 levels of the frame before is left transparent, so it costs nothing, and a
            // frame whose colours the last palette holds within 8 levels reuses it: on a 100-frame
            // 128x128 clip that is 1.07 MB where the defaults write 1.43 MB, in the same time.
            suffix = ".gif[effort=\(effort),interframe_maxerror=8,interpalette_maxerror=8,strip=\(strip)]"
        default: fatalError("unreachable: canEncode checked above")
        }
        let data = options.format.maxUnstoppablePixels == nil ? try image.written(suffix: suffix) : try image.writtenAside(suffix: suffix)
        guard options.format == .webp, !options.keepMetadata else { return data }
        // This libvips's WebP saver writes an EXIF chunk (and the profile) even when told to
        // strip; take them out of the container.
        return WebPContainer.removing(keepsProfile ? ["EXIF", "XMP "] : ["EXIF", "XMP ", "ICCP"], from: data)
    }

    /// For an encoder that cannot be stopped part-way (WebP, AVIF): the encode runs on a thread
    /// of its own, and the job stops waiting for it when its stop signal fires, so the request
    /// still ends at its deadline. The encode, bounded by the format's pixel cap, then finishes
    /// unobserved (for a job with a deadline; without one, the encode runs in place). At most
    /// `maxAbandoned` may run on like that; past it the job waits them out,
    /// so a flood of such requests cannot pile up unbounded work behind the worker pool.
    func writtenAside(suffix: String) throws -> Data {
        // Without a deadline nothing waits on the clock (the CLI): the thread hop would only cost.
        guard let stop, stop.deadline != nil else { return try written(suffix: suffix) }
        let encode = AsideEncode()
        DispatchQueue.global().async { [self] in
            encode.result = Result { try written(suffix: suffix) }
            encode.finish()
        }
        while encode.done.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
            if let error = stop.error, encode.abandon() { throw error }
        }
        return try encode.result!.get()
    }

    /// Encodes running on after their job stopped waiting (see `writtenAside`).
    static let abandonedEncodes = Atomic<Int>(0)
    static let maxAbandoned = max(2, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs the libvips saver `suffix` names (with its options) on the image as it is.
    func written(suffix: String) throws -> Data {
        var buffer: UnsafeMutableRawPointer?
        var length = 0
        guard sc_write_to_buffer(evaluated, suffix, &buffer, &length) == 0, let buffer else {
            throw failure("save \(suffix)")
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

/// One encode run on a thread of its own: its result, and whether its job still waits for it.
private final class AsideEncode: @unchecked Sendable {
    var result: Result<Data, any Error>?
    let done = DispatchSemaphore(value: 0)
    private enum State: Int { case running, finished, abandoned }
    private let state = Atomic<Int>(State.running.rawValue)

    func finish() {
        if !state.compareExchange(expected: State.running.rawValue, desired: State.finished.rawValue, ordering: .acquiringAndReleasing).exchanged {
            Image.abandonedEncodes.subtract(1, ordering: .relaxed)
        }
        done.signal()
    }

    /// Whether the job may stop waiting: false when the encode has just finished, or when too
    /// many encodes already run unobserved.
    func abandon() -> Bool {
        guard Image.abandonedEncodes.add(1, ordering: .relaxed).newValue <= Image.maxAbandoned else {
            Image.abandonedEncodes.subtract(1, ordering: .relaxed)
            return false
        }
        if state.compareExchange(expected: State.running.rawValue, desired: State.abandoned.rawValue, ordering: .acquiringAndReleasing).exchanged {
            return true
        }
        Image.abandonedEncodes.subtract(1, ordering: .relaxed)
        return false
    }
}

/// The RIFF container of a WebP file, for taking metadata chunks out of it.
enum WebPContainer {
    /// `data` without the chunks named in `names`, with the extended header's flags for them
    /// cleared and the RIFF size fixed. Anything that is not a well-formed WebP comes back as is.
    static func removing(_ names: Set<String>, from data: Data) -> Data {
        let bytes = [UInt8](data)
        guard bytes.count >= 12, bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WEBP".utf8) else { return data }
        var output = Array(bytes[0..<12])
        var offset = 12
        while offset + 8 <= bytes.count {
            let name = String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self)
            let size = Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8 | Int(bytes[offset + 6]) << 16 | Int(bytes[offset + 7]) << 24
            let end = offset + 8 + size + (size & 1)
            guard end <= bytes.count else { return data }
            if !names.contains(name) {
                var chunk = Array(bytes[offset..<end])
                if name == "VP8X", chunk.count > 8 {
                    // Flags: ICC 0x20, EXIF 0x08, XMP 0x04.
                    if names.contains("ICCP") { chunk[8] &= ~0x20 }
                    if names.contains("EXIF") { chunk[8] &= ~0x08 }
                    if names.contains("XMP ") { chunk[8] &= ~0x04 }
                }
                output += chunk
            }
            offset = end
        }
        let riffSize = UInt32(output.count - 8)
        output[4] = UInt8(riffSize & 0xff); output[5] = UInt8((riffSize >> 8) & 0xff)
        output[6] = UInt8((riffSize >> 16) & 0xff); output[7] = UInt8(riffSize >> 24)
        return Data(output)
    }
}
