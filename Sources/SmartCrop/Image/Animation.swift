import CVips
import CVipsShim

/// How an animation plays: how long each frame shows and how often the whole plays.
public struct AnimationTiming: Sendable, Equatable {
    /// Milliseconds each frame shows, one per frame.
    public var delays: [Int]
    /// How many times the animation plays; 0 means forever.
    public var loop: Int

    public init(delays: [Int], loop: Int) {
        self.delays = delays
        self.loop = loop
    }

    /// What a GIF or WebP player shows a frame for when the file gives no delay.
    static let defaultDelay = 100
}

/// An animation decoded whole: every frame (a view of one strip held in memory, so a frame
/// costs nothing to take) and its timing.
public struct DecodedAnimation: Sendable {
    public let frames: [Image]
    public let timing: AnimationTiming
}

extension ImageFormat {
    /// The formats whose files can hold an animation that we read and write as one.
    public var canAnimate: Bool { self == .gif || self == .webp }
}

extension SourceInfo {
    /// Whether the source is an animation (more than one frame of a GIF or WebP).
    public var isAnimated: Bool { frames > 1 }

    /// This info with the frames of an animated GIF or WebP counted from `header`. A file
    /// with an EXIF orientation is read as a still: libvips would turn the whole strip of
    /// frames, not each frame.
    func counting(framesOf header: Image) -> SourceInfo {
        guard format.canAnimate, orientation <= 1 else { return self }
        var info = self
        info.frames = max(1, Int(vips_image_get_n_pages(header.pointer)))
        return info
    }
}

extension DecodeLimits {
    /// The most frames an animation may have to be decoded as one.
    public static let defaultMaxFrames = 300

    /// Why the animation `info` describes may not be decoded whole, or nil. Every frame is
    /// held in memory, so the pixels of all of them count against `maxPixels`.
    public func animationProblem(_ info: SourceInfo) -> String? {
        if info.frames > maxFrames {
            return "the animation has \(info.frames) frames; the limit is \(maxFrames)"
        }
        let total = info.width * info.height * info.frames
        if total > maxPixels {
            return "the animation is \(info.frames) frames of \(info.width)x\(info.height) (\(PixelCount(total)) in all); the limit is \(PixelCount(maxPixels))"
        }
        return nil
    }
}

extension OpenedSource {
    /// Decodes every frame of an animated source at a uniform scale (as `decode(scale:)` sizes
    /// one), into memory, once. The limits are checked on the header first: `tooLarge` before
    /// any pixel is decoded.
    public func decodeAnimation(scale: Double, limits: DecodeLimits, stop: StopSignal? = nil) throws -> DecodedAnimation {
        if let problem = limits.animationProblem(info) { throw SmartCropError.tooLarge(problem) }
        let size = decodedSize(scale: scale)
        let strip = try decode(width: size.width, height: size.height, allFrames: true, stop: stop)
        let pageHeight = Int(vips_image_get_page_height(strip.pointer))
        guard pageHeight > 0, strip.height % pageHeight == 0, strip.width == size.width else {
            throw SmartCropError.undecodable("the \(info.format.displayName) animation's frames do not stack evenly",
                                             detail: "strip \(strip.width)x\(strip.height), page height \(pageHeight)")
        }
        let count = strip.height / pageHeight
        let frames = try (0..<count).map { index in
            let frame = try strip.cropped(PixelRect(x: 0, y: index * pageHeight, width: strip.width, height: pageHeight))
            // A frame is a still: a saver that kept the strip's fields would take a frame resized
            // to a multiple of the old frame height for an animation of its own.
            for field in Image.animationFields { vips_image_remove(frame.pointer, field) }
            return frame
        }
        return DecodedAnimation(frames: frames, timing: strip.animationTiming(frames: count))
    }
}

extension Image {
    /// The timing libvips' GIF and WebP loaders attach to a strip of `frames` frames; a
    /// missing or short list of delays is filled with the players' default.
    func animationTiming(frames: Int) -> AnimationTiming {
        var delays: [Int] = []
        if hasField("delay") {
            var values: UnsafeMutablePointer<Int32>?
            var count: Int32 = 0
            if vips_image_get_array_int(pointer, "delay", &values, &count) == 0, let values {
                delays = (0..<Int(count)).map { Int(values[$0]) }
            }
        }
        delays = Array(delays.prefix(frames)) + Array(repeating: AnimationTiming.defaultDelay, count: max(0, frames - delays.count))
        var loop: Int32 = 0
        if hasField("loop") { vips_image_get_int(pointer, "loop", &loop) }
        return AnimationTiming(delays: delays, loop: Int(max(0, loop)))
    }

    /// Frames of one size stacked top to bottom into the strip libvips' savers read as an
    /// animation.
    static func stacked(_ frames: [Image]) throws -> Image {
        precondition(!frames.isEmpty, "an animation has at least one frame")
        if frames.count == 1 { return frames[0] }
        var out: UnsafeMutablePointer<VipsImage>?
        var inputs: [UnsafeMutablePointer<VipsImage>?] = frames.map(\.pointer)
        let status = inputs.withUnsafeMutableBufferPointer { sc_arrayjoin($0.baseAddress!, &out, Int32(frames.count), 1) }
        guard status == 0, let out else {
            throw frames[0].failure("arrayjoin")
        }
        return Image(taking: out, upstream: frames as AnyObject, stop: frames[0].stop)
    }

    /// The fields libvips' loaders and savers describe an animation with.
    static let animationFields = ["page-height", "n-pages", "delay", "loop", "gif-delay", "gif-loop"]

    /// A copy of this strip that the savers write as an animation of `timing`.
    func markedAsAnimation(_ timing: AnimationTiming) throws -> Image {
        let copy = try derive("copy") { sc_copy($0, $1) }
        vips_image_set_int(copy.pointer, "page-height", Int32(height / timing.delays.count))
        vips_image_set_int(copy.pointer, "n-pages", Int32(timing.delays.count))
        var delays = timing.delays.map { Int32(clamping: $0) }
        delays.withUnsafeMutableBufferPointer { vips_image_set_array_int(copy.pointer, "delay", $0.baseAddress, Int32($0.count)) }
        vips_image_set_int(copy.pointer, "loop", Int32(clamping: timing.loop))
        return copy
    }
}
