import CVips
import Foundation
import Testing
@testable import SmartCrop

@Suite struct LoaderTests {
    /// A small image with a red square in its top-left quarter, so orientation is visible.
    func marked(width: Int = 60, height: Int = 40) throws -> Image {
        try Synthetic.image(width: width, height: height, background: (20, 20, 200),
                            boxes: [.init(rect: PixelRect(x: 0, y: 0, width: width / 3, height: height / 3), colour: (250, 10, 10))])
    }

    @Test(arguments: [
        (".jpg[Q=95]", ImageFormat.jpeg), (".png", .png), (".webp[Q=95]", .webp), (".avif[Q=90,compression=av1]", .avif),
        (".heic[Q=90,compression=hevc]", .heic), (".gif", .gif), (".tif", .tiff),
    ])
    func everyFormatLoadsFromBytesAndFromAMisleadingFileName(suffix: String, format: ImageFormat) throws {
        let data = try Synthetic.encode(try marked(), suffix)
        let fromBytes = try OpenedSource(.data(data))
        #expect(fromBytes.info.format == format)
        #expect((fromBytes.info.width, fromBytes.info.height) == (60, 40))
        let decoded = try fromBytes.decode(scale: 1)
        let red = try meanColour(decoded, PixelRect(x: 2, y: 2, width: 12, height: 8))
        #expect(red.0 > 180 && red.2 < 90, "top-left should be red, got \(red)")

        let dir = TemporaryDirectory()
        let lying = dir.write(data, named: format == .png ? "photo.jpg" : "photo.png")
        #expect(try OpenedSource(.file(lying)).info.format == format)
    }

    @Test func gifLoadsItsFirstFrame() throws {
        // Two frames stacked as pages: the first must be what we see.
        let frames = try Synthetic.image(width: 20, height: 40, background: (250, 250, 250),
                                         boxes: [.init(rect: PixelRect(x: 0, y: 20, width: 20, height: 20), colour: (0, 0, 0))])
        let paged = try frames.strippedMetadata(keepingICC: false)
        vips_image_set_int(paged.pointer, "page-height", 20)
        let data = try Synthetic.encode(paged, ".gif")
        let source = try OpenedSource(.data(data))
        #expect((source.info.width, source.info.height) == (20, 20))
        let first = try meanColour(try source.decode(scale: 1), PixelRect(x: 0, y: 0, width: 20, height: 20))
        #expect(first.0 > 200)
    }

    @Test(arguments: [(6, 40, 60), (3, 60, 40), (8, 40, 60)])
    func exifOrientationIsAppliedFirst(orientation: Int, width: Int, height: Int) throws {
        let tagged = try marked().strippedMetadata(keepingICC: false)
        vips_image_set_int(tagged.pointer, "orientation", Int32(orientation))
        let data = try Synthetic.encode(tagged, ".jpg[Q=95]")
        let source = try OpenedSource(.data(data))
        #expect(source.info.orientation == orientation)
        #expect((source.info.width, source.info.height) == (width, height))
        let image = try source.decode(scale: 1)
        #expect((image.width, image.height) == (width, height))
        // Where the stored top-left red mark ends up once upright.
        let corner: PixelRect = switch orientation {
        case 6: PixelRect(x: width - 10, y: 2, width: 8, height: 8)      // 90° clockwise: top-right
        case 3: PixelRect(x: width - 12, y: height - 10, width: 10, height: 8) // 180°: bottom-right
        default: PixelRect(x: 2, y: height - 12, width: 8, height: 10)   // 270°: bottom-left
        }
        let red = try meanColour(image, corner)
        #expect(red.0 > 180 && red.2 < 90, "orientation \(orientation): expected red at \(corner), got \(red)")
        // Reported crops are in upright pixels too.
        let out = try run([.smartCrop(SmartCropSettings(width: 10, height: 10, mode: .center))], on: data)
        #expect(out.decision?.crop == PixelRect(x: 0, y: (height - width) / 2, width: width, height: width)
                || out.decision?.crop == PixelRect(x: (width - height) / 2, y: 0, width: height, height: height))
    }

    @Test func untaggedCMYKJPEGBecomesSRGB() throws {
        // C=255 M=0 Y=0 K=0 is cyan ink.
        let cmyk = try Image.fromPixels([UInt8](repeating: 0, count: 16 * 16 * 4).enumerated().map { $0.offset % 4 == 0 ? 255 : 0 },
                                        width: 16, height: 16, bands: 4)
        cmyk.pointer.pointee.Type = VIPS_INTERPRETATION_CMYK
        let data = try Synthetic.encode(cmyk, ".jpg[Q=95]")
        let source = try OpenedSource(.data(data))
        #expect(source.info.isCMYK)
        #expect(!source.info.hasICCProfile)
        let image = try source.decode(scale: 1)
        #expect(image.bands == 3)
        let c = try meanColour(image, PixelRect(x: 0, y: 0, width: 16, height: 16))
        #expect(c.0 < 100 && c.2 > 150, "cyan ink should come out cyan, got \(c)")
        let out = try run([.smartCrop(SmartCropSettings(width: 8, height: 8)), .convert(ConvertOperation(format: .webp))], on: data)
        #expect((out.width, out.height) == (8, 8))
    }

    @Test func iccTaggedImageIsConvertedToSRGB() throws {
        let red = try Synthetic.image(width: 16, height: 16, background: (255, 0, 0))
        let p3 = try red.iccTransformed(to: "p3", from: "srgb")
        let data = try Synthetic.encode(p3, ".png")
        let source = try OpenedSource(.data(data))
        #expect(source.info.hasICCProfile)
        let raw = try meanColour(p3, PixelRect(x: 0, y: 0, width: 16, height: 16))
        #expect(raw.1 > 30, "P3 encodes sRGB red with some green, got \(raw)")
        let back = try meanColour(try source.decode(scale: 1), PixelRect(x: 0, y: 0, width: 16, height: 16))
        #expect(back.0 > 245 && back.1 < 12 && back.2 < 12, "expected sRGB red back, got \(back)")
    }

    /// A minimal ICC profile: a 128-byte header, a tag table with one `desc` tag, and the tag.
    static func profile(colourSpace: String = "RGB ", manufacturer: String = "none", model: String = "none",
                        description: String, v4: Bool = false) -> [UInt8] {
        func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }
        func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        var tag: [UInt8]
        if v4 {
            let text = description.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 255)] }
            tag = ascii("mluc") + be32(0) + be32(1) + be32(12) + ascii("enUS") + be32(text.count) + be32(28) + text
        } else {
            tag = ascii("desc") + be32(0) + be32(description.utf8.count + 1) + ascii(description) + [0]
        }
        let tagOffset = 128 + 4 + 12
        var header = [UInt8](repeating: 0, count: 128)
        header.replaceSubrange(0..<4, with: be32(tagOffset + tag.count))
        header.replaceSubrange(12..<16, with: ascii("mntr"))
        header.replaceSubrange(16..<20, with: ascii(colourSpace))
        header.replaceSubrange(36..<40, with: ascii("acsp"))
        header.replaceSubrange(48..<52, with: ascii(manufacturer))
        header.replaceSubrange(52..<56, with: ascii(model))
        return header + be32(1) + ascii("desc") + be32(tagOffset) + be32(tag.count) + tag
    }

    @Test func sRGBProfilesAreRecognised() throws {
        func isSRGB(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { ICCProfile.describesSRGB($0) } }
        #expect(isSRGB(Self.profile(manufacturer: "IEC ", model: "sRGB", description: "anything")))
        #expect(isSRGB(Self.profile(description: "sRGB IEC61966-2.1")))
        #expect(isSRGB(Self.profile(description: "sRGB IEC61966-2-1 black scaled", v4: true)))
        #expect(!isSRGB(Self.profile(description: "Display P3")))
        #expect(!isSRGB(Self.profile(description: "Adobe RGB (1998)", v4: true)))
        #expect(!isSRGB(Self.profile(colourSpace: "CMYK", manufacturer: "IEC ", model: "sRGB", description: "sRGB IEC61966-2.1")))
        let real = Self.profile(description: "sRGB IEC61966-2.1")
        for cut in [0, 60, 131, 140, real.count - 3] { #expect(!isSRGB(Array(real.prefix(cut))), "cut at \(cut)") }
        #expect(real.withUnsafeBytes { ICCProfile.description($0) } == "sRGB IEC61966-2.1")

        // libvips' own profiles, as it attaches them.
        let red = try Synthetic.image(width: 8, height: 8, background: (255, 0, 0))
        #expect(try red.iccTransformed(to: "srgb", from: "srgb").hasSRGBProfile)
        #expect(try !red.iccTransformed(to: "p3", from: "srgb").hasSRGBProfile)
        #expect(!red.hasSRGBProfile)
    }

    @Test func sRGBTaggedImagesDecodeWithoutATransformAndKeepTheirProfile() throws {
        let tagged = try Synthetic.image(width: 16, height: 16, background: (200, 120, 40)).iccTransformed(to: "srgb", from: "srgb")
        let source = try OpenedSource(.data(try Synthetic.encode(tagged, ".png")))
        #expect(source.info.hasICCProfile && source.profileIsSRGB)
        let decoded = try source.decode(scale: 1)
        #expect(decoded.hasSRGBProfile)
        #expect(try decoded.rgbBytes() == tagged.rgbBytes())
        let p3 = try OpenedSource(.data(try Synthetic.encode(try tagged.iccTransformed(to: "p3", from: "srgb"), ".png")))
        #expect(p3.info.hasICCProfile && !p3.profileIsSRGB)
    }

    @Test(.enabled(if: Samples.exists("astronaut.png"), "needs .assets/samples/astronaut.png from `make samples`"))
    func cameraStyleSRGBProfileIsRecognised() throws {
        // scikit-image's astronaut.png carries the 3144-byte sRGB IEC61966-2.1 profile most
        // cameras and editors embed.
        let source = try OpenedSource(.file(Samples.path("astronaut.png")))
        #expect(source.info.hasICCProfile && source.profileIsSRGB)
    }

    @Test(arguments: [ImageFormat.jpeg, .webp, .png])
    func encodingStripsAllMetadataUnlessAskedToKeepIt(format: ImageFormat) throws {
        let srgb = try Synthetic.image(width: 48, height: 48, background: (200, 30, 40)).iccTransformed(to: "srgb", from: "srgb")
        vips_image_set_string(srgb.pointer, "exif-ifd0-Artist", "someone")
        let lean = try srgb.encoded(EncodeOptions(format: format))
        let leanHeader = try OpenedSource(.data(lean))
        #expect(!leanHeader.info.hasICCProfile, "no profile by default")
        #expect(!String(decoding: lean, as: UTF8.self).contains("someone"))
        #expect(lean.range(of: Data("Exif".utf8)) == nil && lean.range(of: Data("EXIF".utf8)) == nil, "no EXIF block")
        let withProfile = try srgb.encoded(EncodeOptions(format: format, keepICCProfile: true))
        #expect(try OpenedSource(.data(withProfile)).info.hasICCProfile)
        #expect(!String(decoding: withProfile, as: UTF8.self).contains("someone"))
        #expect(withProfile.count >= lean.count + 2000, "the sRGB profile is 3 KB (2.5 KB deflated in PNG): \(withProfile.count) vs \(lean.count)")
        let everything = try srgb.encoded(EncodeOptions(format: format, keepMetadata: true))
        #expect(try OpenedSource(.data(everything)).info.hasICCProfile)
        if format != .png { #expect(String(decoding: everything, as: UTF8.self).contains("someone"), "EXIF kept") }
    }

    @Test func anImageInAnotherProfileBecomesSRGBUnlessItsProfileIsKept() throws {
        // sRGB red in Display P3 values, tagged P3: written without a profile it must be
        // converted back, or it would show as a duller red.
        let p3 = try Synthetic.image(width: 16, height: 16, background: (255, 0, 0)).iccTransformed(to: "p3", from: "srgb")
        let region = PixelRect(x: 0, y: 0, width: 16, height: 16)
        let p3Values = try meanColour(p3, region)
        #expect(p3Values.0 < 245, "P3's values for sRGB red are not (255, 0, 0): \(p3Values)")
        let lean = try p3.encoded(EncodeOptions(format: .png))
        #expect(try !OpenedSource(.data(lean)).info.hasICCProfile)
        let leanColour = try meanColour(try lean.pixels().0, region)
        #expect(leanColour.0 > 252 && leanColour.1 < 3 && leanColour.2 < 3, "sRGB red again: \(leanColour)")
        let kept = try p3.encoded(EncodeOptions(format: .png, keepICCProfile: true))
        let keptSource = try OpenedSource(.data(kept))
        #expect(keptSource.info.hasICCProfile && !keptSource.profileIsSRGB, "the P3 profile stays")
        let keptColour = try meanColour(try kept.pixels().0, region)
        #expect(keptColour.0 > 252 && keptColour.1 < 3 && keptColour.2 < 3, "read through its profile, still red: \(keptColour)")
    }

    @Test(.enabled(if: Samples.exists("astronaut.png"), "needs .assets/samples/astronaut.png from `make samples`"),
          arguments: [256, 700])
    func truecolourPNGsAreFilteredAndLossless(side: Int) throws {
        // A photograph written unfiltered (libvips' default) against ours, at both deflate
        // levels (256² at 6, 700² at 3): ours must be far smaller and decode to the same pixels.
        let photo = try OpenedSource(.file(Samples.path("astronaut.png"))).decode(width: side, height: side)
        let ours = try photo.encoded(EncodeOptions(format: .png))
        let unfiltered = try photo.written(suffix: ".png[compression=6,filter=none,strip=true]")
        #expect(Double(ours.count) < 0.85 * Double(unfiltered.count), "\(ours.count) vs unfiltered \(unfiltered.count)")
        #expect(try ours.pixels().0.rgbBytes() == photo.rgbBytes())
    }

    @Test func largerJPEGsAreProgressive() throws {
        let small = try Synthetic.image(width: 48, height: 48, background: (10, 120, 200)).encoded(EncodeOptions(format: .jpeg))
        let large = try Synthetic.image(width: 200, height: 200, background: (10, 120, 200)).encoded(EncodeOptions(format: .jpeg))
        // SOF2 (0xFFC2) marks a progressive JPEG, SOF0 (0xFFC0) a baseline one.
        #expect(small.range(of: Data([0xFF, 0xC0])) != nil && small.range(of: Data([0xFF, 0xC2])) == nil)
        #expect(large.range(of: Data([0xFF, 0xC2])) != nil)
    }

    @Test func alphaIsFlattenedForJPEGAndKeptForPNG() throws {
        // Opaque blue square in the middle of a transparent canvas.
        var rgba = [UInt8](repeating: 0, count: 20 * 20 * 4)
        for y in 5..<15 { for x in 5..<15 { let i = 4 * (y * 20 + x); rgba[i + 2] = 255; rgba[i + 3] = 255 } }
        let data = try Synthetic.encode(try Image.fromPixels(rgba, width: 20, height: 20, bands: 4), ".png")
        let jpeg = try run([.convert(ConvertOperation(format: .jpeg))], on: data)
        let (jpegImage, _) = try jpeg.data.pixels()
        #expect(jpegImage.bands == 3)
        let corner = try meanColour(jpegImage, PixelRect(x: 0, y: 0, width: 4, height: 4))
        #expect(corner.0 > 240 && corner.1 > 240 && corner.2 > 240, "transparent becomes white, got \(corner)")
        var red = ConvertOperation(format: .jpeg)
        red.background = Colour(parsing: "#ff0000")
        let (onRed, _) = try run([.convert(red)], on: data).data.pixels()
        #expect(try meanColour(onRed, PixelRect(x: 0, y: 0, width: 4, height: 4)).0 > 230)
        let (png, _) = try run([.convert(ConvertOperation(format: .png))], on: data).data.pixels()
        #expect(png.hasAlpha)
        let (webp, _) = try run([.convert(ConvertOperation(format: .webp))], on: data).data.pixels()
        #expect(webp.hasAlpha)
    }

    @Test func badInputsGiveClearErrors() throws {
        let dir = TemporaryDirectory()
        #expect(throws: SmartCropError.self) { try OpenedSource(.file(dir.path("missing.jpg"))) }
        do {
            _ = try OpenedSource(.file(dir.path("missing.jpg")))
        } catch let error as SmartCropError {
            #expect(error.code == "io_error")
            #expect(error.message.contains("no such file"))
        }
        func code(_ data: Data) -> String? {
            do { _ = try run([.smartCrop(SmartCropSettings(width: 10, height: 10))], on: data); return nil }
            catch let e as SmartCropError { return e.code } catch { return "other" }
        }
        #expect(code(Data()) == "unsupported_format")
        #expect(code(Data("hello, I am not an image".utf8)) == "unsupported_format")
        let jpeg = try Synthetic.encode(try Image.fromPixels(try Synthetic.texture(width: 300, height: 200), width: 300, height: 200, bands: 3), ".jpg")
        #expect(code(jpeg.prefix(jpeg.count / 2)) == "undecodable_image")
        #expect(code(jpeg.prefix(20)) == "undecodable_image" || code(jpeg.prefix(20)) == "unsupported_format")
        // An SVG is an image, but not one we accept from strangers.
        #expect(code(Data("<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>".utf8)) == "unsupported_format")
    }

    @Test func pixelLimitIsCheckedBeforeDecoding() throws {
        let data = try Synthetic.encode(try Synthetic.image(width: 200, height: 100), ".png")
        #expect(throws: SmartCropError.tooLarge("the image is 200x100 (20000 pixels); the limit is 19999 pixels")) {
            try OpenedSource(.data(data), limits: DecodeLimits(maxPixels: 19_999))
        }
        #expect(try OpenedSource(.data(data), limits: DecodeLimits(maxPixels: 20_000)).info.width == 200)
    }

    @Test func largeJPEGIsShrunkOnLoad() throws {
        // A 12 MP JPEG: texture upscaled by libvips.
        let base = try Image.fromPixels(try Synthetic.texture(width: 400, height: 300), width: 400, height: 300, bands: 3)
        let big = try base.resized(toWidth: 4000, height: 3000)
        let data = try Synthetic.encode(big, ".jpg[Q=80]")
        var settings = SmartCropSettings(width: 256, height: 256, mode: .subject)
        settings.strategy = .attention
        let out = try run([.smartCrop(settings), .convert(ConvertOperation(format: .webp))], on: data)
        #expect((out.width, out.height) == (256, 256))
        #expect(out.decodedWidth * out.decodedHeight < 600 * 450, "decoded \(out.decodedWidth)x\(out.decodedHeight) for a 256 px output")
        #expect(out.decision?.crop.height == 3000)
    }
}
