import CVips
import Foundation
import GIFTestSupport
import Testing
@testable import SmartCrop

/// Animations made in the tests: frames drawn from pixels, stacked and written by libvips.
enum Animated {
    /// One frame: a `background` canvas (transparent where `opaque` is false) with a disc.
    static func frame(width: Int, height: Int, disc centre: (x: Double, y: Double), radius: Double,
                      colour: (UInt8, UInt8, UInt8) = (230, 40, 30), background: (UInt8, UInt8, UInt8) = (235, 235, 225),
                      opaque: Bool = true) throws -> Image {
        let bands = opaque ? 3 : 4
        var pixels = [UInt8](repeating: 0, count: width * height * bands)
        for y in 0..<height {
            for x in 0..<width {
                let dx = Double(x) + 0.5 - centre.x, dy = Double(y) + 0.5 - centre.y
                let inside = dx * dx + dy * dy <= radius * radius
                let c = inside ? colour : background
                let i = (y * width + x) * bands
                pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
                if !opaque { pixels[i + 3] = inside ? 255 : 0 }
            }
        }
        return try Image.fromPixels(pixels, width: width, height: height, bands: bands)
    }

    /// Frames stacked into one animation file of `suffix` (".gif", ".webp[Q=90]"…).
    static func encode(_ frames: [Image], timing: AnimationTiming, _ suffix: String) throws -> Data {
        try Image.stacked(frames).markedAsAnimation(timing).written(suffix: suffix)
    }

    /// The frames of an animation file, decoded whole, and its timing.
    static func decode(_ data: Data) throws -> DecodedAnimation {
        let source = try OpenedSource(.data(data))
        return try source.decodeAnimation(scale: 1, limits: DecodeLimits())
    }

    /// Where the disc is in `image` (pixels much redder than they are green and blue): its
    /// centre of mass and how many pixels it covers.
    static func disc(in image: Image) throws -> (x: Double, y: Double, area: Int) {
        let rgb = try image.rgbBytes()
        var sx = 0.0, sy = 0.0, n = 0
        for i in 0..<(image.width * image.height) where Int(rgb[3 * i]) - Int(rgb[3 * i + 1]) > 100 {
            sx += Double(i % image.width) + 0.5
            sy += Double(i / image.width) + 0.5
            n += 1
        }
        return n == 0 ? (-1, -1, 0) : (sx / Double(n), sy / Double(n), n)
    }
}

@Suite struct AnimationTests {
    /// A disc crossing the right part of a 480x240 canvas: a 240x240 window (the largest
    /// square) holds its whole path only between x = 160 and 200. The centre crop and a crop
    /// around where the disc starts both cut it in later frames.
    static let width = 480, height = 240, radius = 16.0, frameCount = 20
    static func centre(_ frame: Int) -> (x: Double, y: Double) {
        (216 + 168 * Double(frame) / Double(frameCount - 1), 120)
    }
    static let timing = AnimationTiming(delays: (0..<frameCount).map { 40 + 10 * ($0 % 3) }, loop: 3)

    static func movingDisc(_ suffix: String, opaque: Bool = true) throws -> Data {
        let frames = try (0..<frameCount).map {
            try Animated.frame(width: width, height: height, disc: centre($0), radius: radius, opaque: opaque)
        }
        return try Animated.encode(frames, timing: timing, suffix)
    }

    @Test func theSetUpNeedsEveryFrameToPlaceTheCrop() {
        // The centred 240 window (120...360) and one centred on the first disc (96...336) both
        // cut the last disc (at 384 ± 16): only a decision that sees the path can pass below.
        let last = Self.centre(Self.frameCount - 1).x
        #expect(last + Self.radius > 360)
        #expect(last + Self.radius > Self.centre(0).x + 120)
    }

    @Test(arguments: [(".gif", ImageFormat.gif), (".webp[Q=90]", .webp)])
    func everyFrameIsCutWithOneRectangleThatHoldsTheDisc(suffix: String, format: ImageFormat) throws {
        let data = try Self.movingDisc(suffix)
        let source = try OpenedSource(.data(data))
        #expect(source.info.frames == Self.frameCount)
        #expect((source.info.width, source.info.height) == (Self.width, Self.height))

        let out = try run([.smartCrop(SmartCropSettings(width: 128, height: 128))], on: data)
        #expect(out.format == format)
        #expect(out.frames == Self.frameCount)
        let decision = try #require(out.decision)
        #expect(decision.frames == Self.frameCount)
        #expect(decision.analysedFrames == [0, 6, 13, 19])
        let crop = decision.crop
        #expect((crop.width, crop.height) == (240, 240))

        let written = try Animated.decode(out.data)
        #expect(written.frames.count == Self.frameCount)
        #expect(written.timing == Self.timing)
        let scale = 128 / Double(crop.width)
        for (index, frame) in written.frames.enumerated() {
            #expect((frame.width, frame.height) == (128, 128))
            let expected = Self.centre(index)
            // Whole in the rectangle…
            #expect(Double(crop.x) <= expected.x - Self.radius && expected.x + Self.radius <= Double(crop.maxX), "frame \(index)")
            // …and shown there: the disc's pixels, mapped back through the one rectangle, are
            // where the source drew it, and none of it is cut off.
            let seen = try Animated.disc(in: frame)
            #expect(abs(Double(crop.x) + seen.x / scale - expected.x) < 2, "frame \(index): disc at \(seen)")
            #expect(abs(Double(crop.y) + seen.y / scale - expected.y) < 2, "frame \(index): disc at \(seen)")
            let area = Double.pi * Self.radius * Self.radius * scale * scale
            #expect(Double(seen.area) > 0.85 * area && Double(seen.area) < 1.15 * area, "frame \(index): \(seen.area) of \(area)")
        }
    }

    @Test func transparencySurvivesAGIFToWebPCrop() throws {
        let data = try Self.movingDisc(".gif", opaque: false)
        let out = try run([.smartCrop(SmartCropSettings(width: 128, height: 128)), .convert(ConvertOperation(format: .webp))], on: data)
        #expect(out.format == .webp)
        #expect(out.frames == Self.frameCount)
        let written = try Animated.decode(out.data)
        let crop = try #require(out.decision?.crop)
        let scale = 128 / Double(crop.width)
        for (index, frame) in written.frames.enumerated() {
            #expect(frame.hasAlpha)
            let rgba = try frame.pixelBytes()
            let bands = frame.bands
            func alpha(_ x: Int, _ y: Int) -> UInt8 { rgba[(y * frame.width + x) * bands + bands - 1] }
            #expect(alpha(0, 0) == 0 && alpha(127, 127) == 0, "frame \(index): the background stays transparent")
            let disc = Self.centre(index)
            let x = Int((disc.x - Double(crop.x)) * scale), y = Int((disc.y - Double(crop.y)) * scale)
            #expect(alpha(x, y) == 255, "frame \(index): the disc stays opaque")
        }
    }

    @Test(arguments: [
        [ImageOperation.smartCrop({ var s = SmartCropSettings(width: 64, height: 64); s.animated = false; return s }())],
        [.smartCrop(SmartCropSettings(width: 64, height: 64)), .convert({ var c = ConvertOperation(format: .gif); c.animated = false; return c }())],
        [.smartCrop(SmartCropSettings(width: 64, height: 64)), .convert(ConvertOperation(format: .jpeg))],
        [.smartCrop(SmartCropSettings(width: 64, height: 64)), .convert(ConvertOperation(format: .png))],
    ])
    func aStillIsTheFirstFrame(operations: [ImageOperation]) throws {
        let data = try Self.movingDisc(".gif")
        let out = try run(operations, on: data)
        #expect(out.frames == 1)
        #expect(out.decision?.frames == nil)
        let written = try OpenedSource(.data(out.data))
        #expect(written.info.frames == 1)
        #expect(vips_image_get_n_pages(try written.decode(scale: 1).pointer) == 1)
        // The first frame's disc, where the first frame has it.
        let crop = try #require(out.decision?.crop)
        let seen = try Animated.disc(in: try written.decode(scale: 1))
        let scale = 64 / Double(crop.width)
        #expect(abs(Double(crop.x) + seen.x / scale - Self.centre(0).x) < 3, "disc at \(seen)")
    }

    @Test func everyOperationWorksFrameByFrame() throws {
        let data = try Self.movingDisc(".webp[Q=90]")
        let pipeline = Pipeline([.resize(ResizeOperation(width: 240, height: 120, fit: .fill)), .rotate(quarterTurns: 1),
                                 .flip(horizontal: true, vertical: false), .pad(PadOperation(top: 4, right: 4, bottom: 4, left: 4)),
                                 .crop(CropOperation(rect: PixelRect(x: 4, y: 4, width: 120, height: 240))), .sharpen(sigma: 1),
                                 .blur(sigma: 0.5), .convert(ConvertOperation(format: .webp))])
        let out = try PipelineRunner.run(pipeline, on: .data(data))
        let written = try Animated.decode(out.data)
        #expect(written.frames.count == Self.frameCount)
        for (index, frame) in written.frames.enumerated() {
            #expect((frame.width, frame.height) == (120, 240))
            // Halved, turned clockwise and mirrored: source (x, y) lands at (y / 2, x / 2).
            let seen = try Animated.disc(in: frame)
            let source = Self.centre(index)
            #expect(abs(seen.x - source.y / 2) < 2 && abs(seen.y - source.x / 2) < 2, "frame \(index): disc at \(seen)")
        }
    }

    @Test func trimDecidesOnTheFirstFrameAndCutsEveryFrameAlike() throws {
        let data = try Self.movingDisc(".gif")
        let out = try run([.trim(TrimOperation())], on: data)
        #expect(out.frames == Self.frameCount)
        let first = Self.centre(0)
        let crop = try #require(out.decision?.crop)
        #expect(abs(crop.asRect.midX - first.x) < 2 && abs(Double(crop.width) - 2 * Self.radius) < 3)
        #expect(out.decision?.analysedFrames == [0])
        let written = try Animated.decode(out.data)
        #expect(Set(written.frames.map { "\($0.width)x\($0.height)" }).count == 1)
        // The disc has moved out of the first frame's box by the last frame.
        #expect(try Animated.disc(in: written.frames[0]).area > 0)
        #expect(try Animated.disc(in: written.frames[Self.frameCount - 1]).area == 0)
    }

    @Test func aMultiPageTIFFIsReadAsItsFirstPage() throws {
        let pages = try [(20, 200, 20), (230, 40, 30)].map {
            try Synthetic.image(width: 40, height: 30, background: (UInt8($0.0), UInt8($0.1), UInt8($0.2)))
        }
        let data = try Animated.encode(pages, timing: AnimationTiming(delays: [100, 100], loop: 0), ".tif")
        let source = try OpenedSource(.data(data))
        #expect(source.info.frames == 1)
        #expect((source.info.width, source.info.height) == (40, 30))
        let out = try run([.smartCrop(SmartCropSettings(width: 16, height: 16, mode: .center)), .convert(ConvertOperation(format: .webp))],
                          on: data)
        #expect(out.frames == 1)
        let green = try meanColour(try out.data.pixels().0, PixelRect(x: 0, y: 0, width: 16, height: 16))
        #expect(green.1 > 150 && green.0 < 80, "page 0 is green, got \(green)")
    }

    @Test func formatAutoKeepsAnAnimationInWebPOrGIF() throws {
        let data = try Self.movingDisc(".gif")
        var convert = ConvertOperation(format: .jpeg)
        convert.negotiated = true
        let pipeline = Pipeline([.smartCrop(SmartCropSettings(width: 32, height: 32, mode: .center)), .convert(convert)])
        for (accept, format) in [("image/avif,image/webp,*/*", ImageFormat.webp), ("image/jpeg,image/gif", .gif)] {
            let out = try PipelineRunner.run(pipeline.negotiatingFormat(accept: accept), on: .data(data))
            #expect(out.format == format, "\(accept)")
            #expect(out.frames == Self.frameCount, "\(accept)")
        }
        // A still stays what it was negotiated as.
        let still = try Synthetic.encode(try Synthetic.image(width: 40, height: 40), ".gif")
        #expect(try PipelineRunner.run(pipeline.negotiatingFormat(accept: "image/avif,image/webp"), on: .data(still)).format == .avif)
    }

    @Test func theFramesCountedAreAnAnimationsOwn() {
        #expect(AnalysedFrames.indices(count: 1) == [0])
        #expect(AnalysedFrames.indices(count: 3) == [0, 1, 2])
        #expect(AnalysedFrames.indices(count: 20) == [0, 6, 13, 19])
        #expect(AnalysedFrames.indices(count: 300) == [0, 100, 199, 299])
    }
}

/// Faces that move: found in each analysed frame, and all of them held.
@Suite(.enabled(if: Samples.exists("astronaut.png"), "needs make samples"))
struct MovingFaceTests {
    @Test func theCropHoldsAMovingFaceInEveryAnalysedFrame() throws {
        // The astronaut's head (her face is about 89x115 at 179,59 of the photo) pasted across
        // an 800x320 canvas: 320x320 crops hold the face's whole path only from x ≈ 170 to 200;
        // the centred crop and one around the first face both cut it.
        let photo = try OpenedSource(.file(Samples.path("astronaut.png"))).decode(scale: 1)
        let patch = PixelRect(x: 150, y: 20, width: 160, height: 200)
        let head = try photo.cropped(patch).rgbBytes()
        let canvas = (width: 800, height: 320), count = 8
        let offsets = (0..<count).map { 170 + 190 * $0 / (count - 1) }
        let frames = try offsets.map { left in
            var pixels = [UInt8](repeating: 128, count: canvas.width * canvas.height * 3)
            for y in 0..<patch.height {
                let row = ((60 + y) * canvas.width + left) * 3
                pixels.replaceSubrange(row..<(row + patch.width * 3), with: head[(y * patch.width * 3)..<((y + 1) * patch.width * 3)])
            }
            return try Image.fromPixels(pixels, width: canvas.width, height: canvas.height, bands: 3)
        }
        let data = try Animated.encode(frames, timing: AnimationTiming(delays: Array(repeating: 80, count: count), loop: 0), ".webp[Q=95]")
        let out = try run([.smartCrop(SmartCropSettings(width: 200, height: 200))], on: data)
        let decision = try #require(out.decision)
        #expect(decision.strategy == "face")
        let analysed = try #require(decision.analysedFrames)
        #expect(analysed == [0, 2, 5, 7])
        for index in analysed {
            let faces = decision.faces.filter { $0.frame == index }
            #expect(!faces.isEmpty, "a face in frame \(index)")
            for face in faces {
                let left = Double(offsets[index] + 29)
                #expect(abs(face.x - left) < 25, "frame \(index): face at \(face.x), pasted at \(left)")
                #expect(Double(decision.crop.x) <= face.x && face.x + face.width <= Double(decision.crop.maxX),
                        "frame \(index): face \(face.x)...\(face.x + face.width) outside \(decision.crop)")
            }
        }
        #expect(out.frames == count)
    }
}

/// Animations too long or too big are refused from the header, before any frame is decoded.
@Suite struct AnimationLimitTests {
    func refusal(_ data: Data, limits: DecodeLimits = DecodeLimits(),
                 operations: [ImageOperation] = [.smartCrop(SmartCropSettings(width: 64, height: 64))]) -> (SmartCropError?, Duration) {
        let start = ContinuousClock.now
        do {
            _ = try PipelineRunner.run(Pipeline(operations), on: .data(data), options: PipelineOptions(limits: limits))
            return (nil, ContinuousClock.now - start)
        } catch {
            return (error as? SmartCropError, ContinuousClock.now - start)
        }
    }

    static func frames(_ count: Int, side: Int = 8) -> Data {
        let frames = (0..<count).map { i in
            GIFWriter.Frame(indices: (0..<(side * side)).map { UInt8(($0 + i) % 2) }, width: side, height: side, delay: 4)
        }
        return GIFWriter.encode(width: side, height: side, palette: [(0, 0, 0), (255, 255, 255)], frames: frames)
    }

    @Test func moreFramesThanTheCapAreRefused() throws {
        let (error, time) = refusal(Self.frames(DecodeLimits.defaultMaxFrames + 1))
        #expect(error?.code == "too_large")
        #expect(error?.message == "the animation has 301 frames; the limit is 300")
        #expect(time < .seconds(5), "refused after \(time)")
        // The cap is the caller's, and a still of the first frame needs no more than that frame.
        #expect(refusal(Self.frames(301), limits: DecodeLimits(maxFrames: 301)).0 == nil)
        #expect(refusal(Self.frames(301), operations: [.smartCrop(SmartCropSettings(width: 8, height: 8)),
                                                       .convert(ConvertOperation(format: .png))]).0 == nil)
    }

    @Test func thePixelsOfAllFramesCountAgainstTheInputLimit() throws {
        let data = Self.frames(50, side: 100)
        let (error, _) = refusal(data, limits: DecodeLimits(maxPixels: 400_000))
        #expect(error?.code == "too_large")
        #expect(error?.message.contains("50 frames of 100x100") == true, "\(String(describing: error))")
        #expect(refusal(data, limits: DecodeLimits(maxPixels: 500_000)).0 == nil)
    }

    @Test func theOutputOfAllFramesCountsAgainstTheOutputLimit() throws {
        let (error, _) = refusal(Self.frames(50, side: 100), limits: DecodeLimits(maxPixels: 1_000_000, maxOutputPixels: 1_000_000),
                                 operations: [.smartCrop(SmartCropSettings(width: 200, height: 200))])
        #expect(error?.code == "invalid_argument")
        #expect(error?.message.contains("50 frames of 200x200") == true, "\(String(describing: error))")
    }

    @Test func aGIFOfAHundredThousandOnePixelFramesIsRefusedQuickly() throws {
        let bomb = GIFWriter.bomb(screen: (1, 1), claimed: (1, 1), count: 100_000)
        let (error, time) = refusal(bomb)
        #expect(error?.code == "too_large", "\(String(describing: error))")
        #expect(time < .seconds(5), "refused after \(time)")
    }

    @Test func framesClaimingHugeSizesAreRefusedQuickly() throws {
        for claimed in [(60_000, 60_000), (8_000, 8_000)] {
            let bomb = GIFWriter.bomb(screen: (16, 16), claimed: claimed, count: 3)
            let (error, time) = refusal(bomb)
            #expect(error?.code == "too_large", "\(claimed): \(String(describing: error))")
            #expect(time < .seconds(5), "\(claimed): refused after \(time)")
        }
    }

    @Test func theDeadlineStopsAnAnimationBetweenAndInsideFrames() throws {
        // 40 frames enlarged to 4 MP each and blurred: a minute of work unless stopped.
        let pipeline = Pipeline([.resize(ResizeOperation(width: 2048, height: 2048, fit: .fill, enlarging: true)), .blur(sigma: 8),
                                 .convert(ConvertOperation(format: .webp))])
        var options = PipelineOptions(limits: DecodeLimits(maxOutputPixels: 1_000_000_000), deadline: .now + .seconds(1))
        options.analysisThreads = 1
        let start = ContinuousClock.now
        #expect(throws: SmartCropError.self) {
            do { _ = try PipelineRunner.run(pipeline, on: .data(Self.frames(40, side: 64)), options: options) } catch let error as SmartCropError {
                #expect(error.code == "deadline_exceeded", "\(error)")
                throw error
            }
        }
        #expect(ContinuousClock.now - start < .seconds(6), "stopped after \(ContinuousClock.now - start)")
    }
}
