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
        if let problem = options.format.sizeProblem(width: width, height: height) {
            throw SmartCropError.invalidArgument(field: "format", message: problem)
        }
        let suffix: String
        let quality = options.quality ?? options.format.defaultQuality
        let effort = options.format.effort(pixels: width * height)
        switch options.format {
        case .jpeg: suffix = ".jpg[Q=\(quality!),optimize_coding=true,strip=false]"
        case .webp: suffix = ".webp[Q=\(quality!),effort=\(effort),strip=false]"
        case .avif: suffix = ".avif[Q=\(quality!),compression=av1,effort=\(effort),strip=false]"
        case .png:
            // A quality for PNG asks for a palette image (libimagequant), as sharp does.
            suffix = quality.map { ".png[compression=6,palette=true,Q=\($0),strip=false]" } ?? ".png[compression=6,strip=false]"
        default: fatalError("unreachable: canEncode checked above")
        }
        return options.format.maxUnstoppablePixels == nil ? try image.written(suffix: suffix) : try image.writtenAside(suffix: suffix)
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
