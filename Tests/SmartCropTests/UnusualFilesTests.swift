import CVips
import CVipsShim
import Foundation
import Testing
@testable import SmartCrop

/// Valid files other projects' test suites hold and users do upload: BigTIFF, JPEGs whose
/// embedded colour profile is broken, and variants the decoders do not implement, each
/// generated here.
@Suite struct UnusualFilesTests {
    /// A 60×40 photo-like image with a red square at the top left.
    func marked() throws -> Image {
        try Synthetic.image(width: 60, height: 40, background: (30, 90, 200),
                            boxes: [.init(rect: PixelRect(x: 0, y: 0, width: 20, height: 14), colour: (240, 20, 20))])
    }

    @Test func bigTIFFCropsLikeTheSameImageAsClassicTIFF() throws {
        let image = try marked()
        let classic = try Synthetic.encode(image, ".tif")
        let big = try Synthetic.encode(image, ".tif[bigtiff]")
        #expect(Array(big.prefix(4)) == [0x49, 0x49, 0x2B, 0x00], "libvips wrote a BigTIFF header")
        #expect(FormatSniffer.sniff(Array(big)) == .accepted(.tiff))
        #expect(FormatSniffer.sniff([0x4D, 0x4D, 0x00, 0x2B, 0, 8]) == .accepted(.tiff), "big-endian BigTIFF")
        let operations: [ImageOperation] = [.smartCrop(SmartCropSettings(width: 32, height: 32)), .convert(ConvertOperation(format: .png))]
        let fromClassic = try run(operations, on: classic)
        let fromBig = try run(operations, on: big)
        #expect((fromBig.source.width, fromBig.source.height, fromBig.source.format) == (60, 40, .tiff))
        #expect((fromClassic.source.width, fromClassic.source.height, fromClassic.source.format) == (60, 40, .tiff))
        #expect(fromBig.decision?.crop == fromClassic.decision?.crop)
        #expect(fromBig.decision?.strategy == fromClassic.decision?.strategy)
        #expect(try fromBig.data.pixels().0.pixelBytes() == (try fromClassic.data.pixels().0.pixelBytes()))
        // The header limit applies to BigTIFF as to TIFF.
        #expect(throws: SmartCropError.tooLarge("the image is 60x40 (2400 pixels); the limit is 2000 pixels")) {
            try OpenedSource(.data(big), limits: DecodeLimits(maxPixels: 2000))
        }
    }

    // MARK: broken colour profiles

    enum Space: String, CaseIterable, Sendable { case grey, rgb, cmyk }
    enum BrokenProfile: String, CaseIterable, Sendable {
        /// Seven bytes, as in the reported file.
        case sevenBytes
        /// A real (Display P3) profile cut off after its header and part of its tag table.
        case truncated
        /// 400 bytes of noise behind a plausible header.
        case garbage
    }

    /// A flat JPEG in `space` carrying `profile` in an APP2 ICC_PROFILE segment. Grey 128, RGB
    /// orange, CMYK cyan ink.
    static func jpeg(_ space: Space, profile: [UInt8]) throws -> Data {
        let image: Image
        switch space {
        case .grey: image = try Image.fromPixels([UInt8](repeating: 128, count: 24 * 16), width: 24, height: 16, bands: 1)
        case .rgb: image = try Image.fromPixels((0..<(24 * 16)).flatMap { _ in [230, 120, 20] as [UInt8] }, width: 24, height: 16, bands: 3)
        case .cmyk:
            image = try Image.fromPixels((0..<(24 * 16)).flatMap { _ in [255, 0, 0, 0] as [UInt8] }, width: 24, height: 16, bands: 4)
            image.pointer.pointee.Type = VIPS_INTERPRETATION_CMYK
        }
        let plain = try Synthetic.encode(try image.strippedMetadata(keepingICC: false), ".jpg[Q=95,strip]")
        // APP2: "ICC_PROFILE\0", chunk 1 of 1, then the profile bytes, right after SOI.
        let payload = Array("ICC_PROFILE".utf8) + [0, 1, 1] + profile
        let length = payload.count + 2
        let segment: [UInt8] = [0xFF, 0xE2, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
        return Data(plain.prefix(2)) + Data(segment) + Data(plain.dropFirst(2))
    }

    static func bytes(_ broken: BrokenProfile) -> [UInt8] {
        switch broken {
        case .sevenBytes: return Array("garbage".utf8)
        case .truncated:
            guard let blob = sc_profile_load("p3") else { return [] }
            defer { vips_area_unref(UnsafeMutableRawPointer(blob).assumingMemoryBound(to: VipsArea.self)) }
            var length = 0
            guard let data = vips_blob_get(blob, &length) else { return [] }
            return Array(UnsafeRawBufferPointer(start: data, count: min(length, 180)))
        case .garbage:
            var state: UInt32 = 7
            var bytes = (0..<400).map { _ -> UInt8 in state = state &* 1_103_515_245 &+ 12345; return UInt8(state >> 24) }
            // Size, "RGB ", "acsp" where a profile has them, so only the body is wrong.
            bytes.replaceSubrange(0..<4, with: [0, 0, 1, 0x90])
            bytes.replaceSubrange(16..<20, with: Array("RGB ".utf8))
            bytes.replaceSubrange(36..<40, with: Array("acsp".utf8))
            return bytes
        }
    }

    @Test(arguments: Space.allCases, BrokenProfile.allCases)
    func aBrokenProfileIsIgnoredWithAWarningAndThePixelsCrop(space: Space, broken: BrokenProfile) throws {
        let data = try Self.jpeg(space, profile: Self.bytes(broken))
        for failOn in [DecodeFailurePolicy.truncated, .none, .error] {
            let source = try OpenedSource(.data(data), limits: DecodeLimits(failOn: failOn))
            #expect(!source.info.hasICCProfile, "\(space) \(broken): the profile counts as absent")
            #expect(source.info.isCMYK == (space == .cmyk))
            let pipeline = Pipeline([.smartCrop(SmartCropSettings(width: 16, height: 16)), .convert(ConvertOperation(format: .png))])
            let output = try PipelineRunner.variants([("", pipeline)], on: source,
                                                     options: PipelineOptions(limits: DecodeLimits(failOn: failOn)))[0].1
            #expect(output.warnings.contains { $0.contains("colour profile") && $0.contains("ignored") },
                    "\(space) \(broken) fail_on \(failOn): \(output.warnings)")
            let (image, _) = try output.data.pixels()
            let colour = try meanColour(image, PixelRect(x: 0, y: 0, width: 16, height: 16))
            switch space {
            case .grey: #expect(abs(colour.0 - 128) < 4 && abs(colour.1 - 128) < 4, "\(colour)")
            case .rgb: #expect(colour.0 > 200 && colour.1 > 90 && colour.1 < 150 && colour.2 < 60, "\(colour)")
            case .cmyk: #expect(colour.0 < 100 && colour.2 > 150, "cyan ink comes out cyan through the standard CMYK profile: \(colour)")
            }
        }
        // The warning names the assumption for the colour space.
        let warning = try OpenedSource(.data(data)).warnings.joined()
        #expect(warning.contains(space == .cmyk ? "CMYK with a standard profile" : space == .grey ? "plain grey" : "sRGB"), "\(warning)")
    }

    @Test func aProfileForAnotherColourSpaceIsIgnoredToo() throws {
        // A complete, valid RGB profile on a grey JPEG cannot be applied to one band.
        guard let blob = sc_profile_load("p3") else { Issue.record("libvips has no p3 profile"); return }
        defer { vips_area_unref(UnsafeMutableRawPointer(blob).assumingMemoryBound(to: VipsArea.self)) }
        var length = 0
        let profile = Array(UnsafeRawBufferPointer(start: vips_blob_get(blob, &length), count: length))
        let grey = try OpenedSource(.data(try Self.jpeg(.grey, profile: profile)))
        #expect(!grey.info.hasICCProfile)
        #expect(grey.warnings.count == 1)
        #expect((try grey.decode(scale: 1)).bands == 1)
        // The same profile on RGB pixels is used, without a warning.
        let rgb = try OpenedSource(.data(try Self.jpeg(.rgb, profile: profile)))
        #expect(rgb.info.hasICCProfile)
        #expect(rgb.warnings.isEmpty)
    }

    // MARK: valid but unsupported variants

    /// The first markers of a lossless (SOF3) JPEG: libjpeg-turbo stops at the frame header.
    static let losslessJPEG = Data([0xFF, 0xD8, 0xFF, 0xC3, 0x00, 0x0B, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00,
                                    0xFF, 0xC4, 0x00, 0x14, 0x00, 0x01] + [UInt8](repeating: 0, count: 15) + [0x00, 0xFF, 0xD9])

    /// A 16×16 RGB TIFF stored as one 16×16 tile per colour plane (PlanarConfiguration 2).
    static func tiledPlanarTIFF() -> Data {
        var bytes: [UInt8] = Array("II".utf8) + [42, 0, 8, 0, 0, 0]
        func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }
        // (tag, type, count, value or offset); SHORT = 3, LONG = 4.
        let entries = 11
        let ifdEnd = 8 + 2 + entries * 12 + 4
        let bitsAt = ifdEnd, offsetsAt = bitsAt + 6, countsAt = offsetsAt + 12, pixelsAt = countsAt + 12
        let fields: [(Int, Int, Int, [UInt8])] = [
            (256, 3, 1, u16(16) + [0, 0]), (257, 3, 1, u16(16) + [0, 0]), (258, 3, 3, u32(bitsAt)), (259, 3, 1, u16(1) + [0, 0]),
            (262, 3, 1, u16(2) + [0, 0]), (277, 3, 1, u16(3) + [0, 0]), (284, 3, 1, u16(2) + [0, 0]),
            (322, 3, 1, u16(16) + [0, 0]), (323, 3, 1, u16(16) + [0, 0]), (324, 4, 3, u32(offsetsAt)), (325, 4, 3, u32(countsAt)),
        ]
        bytes += u16(entries)
        for (tag, type, count, value) in fields { bytes += u16(tag) + u16(type) + u32(count) + value }
        bytes += u32(0)
        bytes += u16(8) + u16(8) + u16(8)
        bytes += u32(pixelsAt) + u32(pixelsAt + 256) + u32(pixelsAt + 512)
        bytes += u32(256) + u32(256) + u32(256)
        bytes += [UInt8](repeating: 200, count: 256) + [UInt8](repeating: 100, count: 256) + [UInt8](repeating: 50, count: 256)
        return Data(bytes)
    }

    /// An AVIF whose every `ispe` (image spatial extent) box claims `side`×`side` pixels.
    static func avifClaiming(side: Int) throws -> Data {
        var bytes = Array(try Synthetic.encode(try Synthetic.image(width: 16, height: 16), ".avif[Q=50,compression=av1]"))
        let ispe = Array("ispe".utf8)
        var patched = 0
        for at in 0..<(bytes.count - 16) where Array(bytes[at..<at + 4]) == ispe {
            // 'ispe', version and flags, then width and height as big-endian 32-bit numbers.
            for (offset, value) in [(8, side), (12, side)] {
                for k in 0..<4 { bytes[at + offset + k] = UInt8((value >> (8 * (3 - k))) & 0xFF) }
            }
            patched += 1
        }
        #expect(patched >= 1, "the AVIF has an ispe box")
        return Data(bytes)
    }

    @Test func validFilesInVariantsTheDecoderLacksAreUnsupportedNotDamaged() throws {
        let lossless = try #require(throws: SmartCropError.self) { try OpenedSource(.data(Self.losslessJPEG)) }
        #expect(lossless == .unsupportedFormat("lossless JPEG is not supported"))

        let planar = try #require(throws: SmartCropError.self) {
            _ = try run([.smartCrop(SmartCropSettings(width: 8, height: 8))], on: Self.tiledPlanarTIFF())
        }
        #expect(planar == .unsupportedFormat("TIFF with tiled separate planes is not supported"))

        // 40000² is under our own max_pixels when that is raised, and over libheif's 32768 a side.
        let huge = try #require(throws: SmartCropError.self) {
            try OpenedSource(.data(try Self.avifClaiming(side: 40_000)), limits: DecodeLimits(maxPixels: 1_000_000_000))
        }
        #expect(huge == .tooLarge("the image is larger than the AVIF decoder allows"), "\(huge)")
        // No libvips words in any of them.
        for error in [lossless, planar, huge] { #expect(error.detail == nil && !error.message.contains("vips")) }
    }

    @Test(arguments: [
        (ImageFormat.jpeg, "jpeg: Unsupported JPEG process: SOF type 0xc7", SmartCropError.unsupportedFormat("lossless JPEG is not supported")),
        (.jpeg, "Unsupported JPEG process: SOF type 0xc5", .unsupportedFormat("hierarchical JPEG is not supported")),
        (.jpeg, "Unsupported JPEG data precision 12", .unsupportedFormat("JPEG with more than 8 bits per sample is not supported")),
        (.tiff, "tiff2vips: subsampled images not supported", .unsupportedFormat("subsampled (YCbCr) TIFF is not supported")),
        (.tiff, "TIFFReadDirectory: Old-style JPEG compression support is not configured",
         .unsupportedFormat("TIFF with old-style JPEG compression is not supported")),
        (.heic, "heifload: Security limit exceeded: Image size 40000x40000 exceeds the maximum image size 32768x32768",
         .tooLarge("the image is larger than the HEIC decoder allows")),
        (.jpeg, "Premature end of JPEG file", .undecodable("the JPEG file is truncated", detail: "Premature end of JPEG file")),
        (.jpeg, "Bogus marker length", .undecodable("the JPEG file is damaged and cannot be decoded", detail: "Bogus marker length")),
    ])
    func decoderWordsBecomeOurReasons(format: ImageFormat, detail: String, expected: SmartCropError) {
        #expect(OpenedSource.decodeFailure(format, detail: detail) == expected)
    }
}
