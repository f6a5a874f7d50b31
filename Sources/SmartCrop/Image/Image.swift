import CVips
import CVipsShim
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An immutable libvips image. ARC owns the GObject reference: the reference is dropped when
/// the last Swift owner goes away. libvips images are functional (every operation makes a new
/// image), so sharing one between threads is safe.
///
/// Each image keeps its input alive through `upstream`: a lazily evaluated libvips image may
/// read from the buffer it was loaded from until it is finally computed.
///
/// An image made for a job carries the job's `StopSignal`, and so does everything derived from
/// it; whenever its pixels are computed (`materialised`, `encoded`, measurements), libvips
/// stops part-way once the signal fires, and the failure becomes the signal's error.
public final class Image: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<VipsImage>
    private let upstream: AnyObject?
    let stop: StopSignal?
    private let watched = Atomic<Bool>(false)

    init(taking pointer: UnsafeMutablePointer<VipsImage>, upstream: AnyObject?, stop: StopSignal? = nil) {
        self.pointer = pointer
        self.upstream = upstream
        self.stop = stop
        stop?.register(self)
    }

    deinit { g_object_unref(pointer) }

    public var width: Int { Int(vips_image_get_width(pointer)) }
    public var height: Int { Int(vips_image_get_height(pointer)) }
    public var bands: Int { Int(vips_image_get_bands(pointer)) }
    public var hasAlpha: Bool { vips_image_hasalpha(pointer) != 0 }
    var interpretation: VipsInterpretation { vips_image_get_interpretation(pointer) }
    var bandFormat: VipsBandFormat { vips_image_get_format(pointer) }

    /// Runs one libvips operation that produces an image, turning failure into a Swift error.
    func derive(_ operation: String,
                _ body: (UnsafeMutablePointer<VipsImage>, UnsafeMutablePointer<UnsafeMutablePointer<VipsImage>?>) -> Int32) throws -> Image {
        var out: UnsafeMutablePointer<VipsImage>?
        guard body(pointer, &out) == 0, let out else { throw failure(operation) }
        return Image(taking: out, upstream: self, stop: stop)
    }

    /// The pointer to hand to an operation that computes this image's pixels now: from here
    /// on, the job's stop signal can end that computation part-way.
    var evaluated: UnsafeMutablePointer<VipsImage> {
        if let stop, !watched.exchange(true, ordering: .relaxed) { sc_stop_watch(pointer, stop.handle) }
        return pointer
    }

    /// The error for a failed libvips call: the stop signal's when it fired (libvips then only
    /// says "killed"), else libvips' own words.
    func failure(_ operation: String) -> SmartCropError {
        let message = Vips.takeError()
        return stop?.error ?? .processing(operation: operation, message: message)
    }

    // MARK: geometry

    /// Resamples by independent horizontal and vertical factors (Lanczos 3, libvips default).
    public func resized(horizontal: Double, vertical: Double) throws -> Image {
        if horizontal == 1, vertical == 1 { return self }
        return try derive("resize") { sc_resize($0, $1, horizontal, vertical) }
    }

    /// Resamples to exactly `width` × `height`.
    public func resized(toWidth width: Int, height: Int) throws -> Image {
        if width == self.width, height == self.height { return self }
        // libvips rounds the output size from the scale, so aim at the centre of the pixel.
        let h = (Double(width) + 0.1) / Double(self.width)
        let v = (Double(height) + 0.1) / Double(self.height)
        let out = try resized(horizontal: h, vertical: v)
        if out.width == width, out.height == height { return out }
        return try out.cropped(PixelRect(x: 0, y: 0, width: min(width, out.width), height: min(height, out.height)))
    }

    public func cropped(_ rect: PixelRect) throws -> Image {
        if rect == PixelRect(x: 0, y: 0, width: width, height: height) { return self }
        guard rect.x >= 0, rect.y >= 0, rect.width > 0, rect.height > 0,
              rect.maxX <= width, rect.maxY <= height else {
            throw SmartCropError.invalidArgument(field: "rect", message: "rectangle \(rect) leaves the \(width)x\(height) image")
        }
        return try derive("extract_area") { sc_extract_area($0, $1, Int32(rect.x), Int32(rect.y), Int32(rect.width), Int32(rect.height)) }
    }

    public func rotated(_ quarterTurns: Int) throws -> Image {
        let angle: VipsAngle
        switch ((quarterTurns % 4) + 4) % 4 {
        case 1: angle = VIPS_ANGLE_D90
        case 2: angle = VIPS_ANGLE_D180
        case 3: angle = VIPS_ANGLE_D270
        default: return self
        }
        return try derive("rot") { sc_rot($0, $1, angle) }
    }

    /// Mirrors left-right (`horizontal`) or top-bottom.
    public func flipped(horizontal: Bool) throws -> Image {
        try derive("flip") { sc_flip($0, $1, horizontal ? VIPS_DIRECTION_HORIZONTAL : VIPS_DIRECTION_VERTICAL) }
    }

    /// Places the image at (`x`, `y`) on a `width` × `height` canvas of `colour`.
    public func embedded(x: Int, y: Int, width: Int, height: Int, colour: Colour) throws -> Image {
        let ink = colour.ink(bands: bands)
        return try derive("embed") { sc_embed($0, $1, Int32(x), Int32(y), Int32(width), Int32(height), ink, Int32(ink.count)) }
    }

    func autorotated() throws -> Image { try derive("autorot") { sc_autorot($0, $1) } }

    // MARK: pixels

    /// Gaussian blur. A large sigma is applied to a reduced copy and scaled back up: a blur
    /// that wide cannot show the difference, and its work then stays near that of sigma 8
    /// instead of growing with sigma (sigma 1000 on a 64 MP photo would take hours).
    public func blurred(sigma: Double) throws -> Image {
        // Blurring at 1/factor of the size costs factor² less per tap and factor less taps. The
        // reduced image keeps at least 4 pixels a side: on a small image a huge sigma would
        // otherwise run at full size, with a mask far wider than the image (seconds per blur).
        let factor = min(Int(sigma / Image.directBlurSigma), width / 4, height / 4)
        guard factor >= 2 else {
            return try derive("gaussblur") { sc_gaussblur($0, $1, sigma) }
        }
        let reduced = try derive("shrink") { sc_shrink($0, $1, Double(factor), Double(factor)) }
        let blurred = try reduced.derive("gaussblur") { sc_gaussblur($0, $1, sigma / Double(factor)) }
        return try blurred.resized(toWidth: width, height: height)
    }

    /// Up to this sigma, a blur runs at full resolution.
    static let directBlurSigma = 8.0

    public func sharpened(sigma: Double) throws -> Image {
        // vips_sharpen works in LAB and returns LABS-derived sRGB; alpha must ride along.
        try withColourBands { try $0.derive("sharpen") { sc_sharpen($0, $1, sigma) }.cast(to: VIPS_FORMAT_UCHAR) }
    }

    /// Composites any alpha onto `colour`, leaving an opaque image.
    public func flattened(onto colour: Colour) throws -> Image {
        guard hasAlpha else { return self }
        let ink = colour.ink(bands: bands - 1)
        return try derive("flatten") { sc_flatten($0, $1, ink, Int32(ink.count)) }.cast(to: VIPS_FORMAT_UCHAR)
    }

    func cast(to format: VipsBandFormat) throws -> Image {
        if bandFormat == format { return self }
        return try derive("cast") { sc_cast($0, $1, format) }
    }

    func extractBands(_ first: Int, count: Int) throws -> Image {
        try derive("extract_band") { sc_extract_band($0, $1, Int32(first), Int32(count)) }
    }

    /// Applies `body` to the colour bands only and re-attaches alpha untouched.
    func withColourBands(_ body: (Image) throws -> Image) throws -> Image {
        guard hasAlpha else { return try body(self) }
        let colour = try body(extractBands(0, count: bands - 1))
        let alpha = try extractBands(bands - 1, count: 1)
        return try Image.join(colour, alpha)
    }

    static func join(_ a: Image, _ b: Image) throws -> Image {
        var out: UnsafeMutablePointer<VipsImage>?
        var inputs: [UnsafeMutablePointer<VipsImage>?] = [a.pointer, b.pointer]
        let status = inputs.withUnsafeMutableBufferPointer { sc_bandjoin($0.baseAddress!, &out, 2) }
        guard status == 0, let out else {
            throw SmartCropError.processing(operation: "bandjoin", message: Vips.takeError())
        }
        return Image(taking: out, upstream: [a, b] as AnyObject, stop: a.stop ?? b.stop)
    }

    /// Converts to 8-bit sRGB (or 8-bit grey for one-band images), keeping alpha.
    func toSRGB() throws -> Image {
        var image = self
        let space = image.interpretation
        let wanted = image.bands <= 2 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB
        if space != wanted || image.bandFormat != VIPS_FORMAT_UCHAR {
            if space == VIPS_INTERPRETATION_MULTIBAND || space == VIPS_INTERPRETATION_HISTOGRAM || space == VIPS_INTERPRETATION_FOURIER || space == VIPS_INTERPRETATION_MATRIX {
                // Untagged bands: treat them as already being display values.
                image = try image.cast(to: VIPS_FORMAT_UCHAR)
            } else {
                image = try image.derive("colourspace") { sc_colourspace($0, $1, wanted) }
            }
            image = try image.cast(to: VIPS_FORMAT_UCHAR)
        }
        return image
    }

    /// Converts the pixels to `profile` ("srgb", "p3", "cmyk" or an ICC file), from the embedded
    /// profile or, failing that, `fallback`; the result carries the new profile.
    public func iccTransformed(to profile: String, from fallback: String? = nil) throws -> Image {
        try withOptionalCString(fallback) { from in
            try derive("icc_transform") { sc_icc_transform($0, $1, profile, from) }
        }
    }

    /// Computes the whole image into memory, so later readers don't re-run the pipeline
    /// behind it (a sequential decode can only be read once).
    public func materialised() throws -> Image {
        guard let out = vips_image_copy_memory(evaluated) else { throw failure("copy_memory") }
        return Image(taking: out, upstream: nil, stop: stop)
    }

    /// Interleaved 8-bit RGB bytes of the image (alpha dropped, grey expanded).
    public func rgbBytes() throws -> [UInt8] {
        var image = try toSRGB()
        if image.hasAlpha { image = try image.extractBands(0, count: image.bands - 1) }
        if image.bands == 1 {
            image = try Image.join(try Image.join(image, image), image)
        }
        return try image.pixelBytes()
    }

    /// The raw pixel bytes in the image's own layout.
    func pixelBytes() throws -> [UInt8] {
        var size = 0
        guard let data = vips_image_write_to_memory(evaluated, &size) else { throw failure("write_to_memory") }
        defer { g_free(data) }
        return Array(UnsafeRawBufferPointer(start: data, count: size))
    }

    /// Wraps interleaved 8-bit pixels (1 to 4 bands) as an sRGB or grey image.
    public static func fromPixels(_ pixels: [UInt8], width: Int, height: Int, bands: Int) throws -> Image {
        try Vips.ensureStarted()
        guard width > 0, height > 0, (1...4).contains(bands), pixels.count == width * height * bands else {
            throw SmartCropError.invalidArgument(field: "pixels", message: "expected \(width)x\(height)x\(bands) bytes, got \(pixels.count)")
        }
        let made = pixels.withUnsafeBytes {
            vips_image_new_from_memory_copy($0.baseAddress, $0.count, Int32(width), Int32(height), Int32(bands), VIPS_FORMAT_UCHAR)
        }
        guard let made else {
            throw SmartCropError.processing(operation: "new_from_memory", message: Vips.takeError())
        }
        let image = Image(taking: made, upstream: nil)
        image.pointer.pointee.Type = bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W
        return image
    }

    /// Standard deviation over all bands: a cheap test for a flat, featureless image.
    func deviation() throws -> Double {
        var value = 0.0
        guard sc_deviate(evaluated, &value) == 0 else { throw failure("deviate") }
        return value
    }
}
