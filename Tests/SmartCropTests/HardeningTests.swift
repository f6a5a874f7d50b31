import CVips
import CVipsShim
import Dispatch
import Foundation
import Testing
@testable import SmartCrop

/// Hostile and careless input: work that must stop, sizes that can never be made, files that
/// are not what they claim, and the errors all of them get.
@Suite struct HardeningTests {
    /// A textured 1500x1500 JPEG: quick to decode, so the expensive part is what comes after.
    static let photo: Data = {
        let side = 1500
        let image = try! Image.fromPixels(try! Synthetic.texture(width: side, height: side, amplitude: 60, base: 128),
                                          width: side, height: side, bands: 3)
        return try! Synthetic.encode(image, ".jpg[Q=90]")
    }()

    /// Minutes of work unless stopped: a 64 MP enlargement, blurred six times, saved as PNG.
    static let longJob = Pipeline([.resize(ResizeOperation(width: 8000, height: 8000, fit: .fill, enlarging: true))]
                                  + Array(repeating: .blur(sigma: 8), count: 6) + [.convert(ConvertOperation(format: .png))])

    func elapsed(_ body: () throws -> Void) -> (Duration, (any Error)?) {
        let start = ContinuousClock.now
        do { try body() } catch { return (ContinuousClock.now - start, error) }
        return (ContinuousClock.now - start, nil)
    }

    @Test func theDeadlineStopsALongEncodeInProgress() throws {
        let options = PipelineOptions(deadline: .now + .seconds(1))
        let (time, error) = elapsed { _ = try PipelineRunner.run(Self.longJob, on: .data(Self.photo), options: options) }
        let stopped = try #require(error as? SmartCropError, "the job ran to the end in \(time)")
        #expect(stopped.code == "deadline_exceeded")
        // Generous: the point is seconds, not the minutes the job takes unstopped.
        #expect(time < .seconds(6), "stopped after \(time)")
    }

    @Test func theDeadlineEndsAJobWaitingOnAnEncoderThatCannotBeStopped() throws {
        // A 16 MP AVIF of noise takes seconds in libaom, which has no way to stop part-way.
        let options = PipelineOptions(deadline: .now + .seconds(1))
        let noisy = Pipeline([.resize(ResizeOperation(width: 4096, height: 4096, fit: .fill, enlarging: true)),
                              .convert(ConvertOperation(format: .avif))])
        let (time, error) = elapsed { _ = try PipelineRunner.run(noisy, on: .data(Self.photo), options: options) }
        #expect((error as? SmartCropError)?.code == "deadline_exceeded", "\(String(describing: error)) after \(time)")
        #expect(time < .seconds(3), "answered after \(time)")
    }

    @Test func cancellingStopsAJobFromAnotherThread() throws {
        let stop = StopSignal()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { stop.cancel(reason: "the client closed the connection") }
        let (time, error) = elapsed {
            _ = try PipelineRunner.run(Self.longJob, on: .data(Self.photo), options: PipelineOptions(stop: stop))
        }
        #expect(error as? SmartCropError == .cancelled("the client closed the connection"))
        #expect(time < .seconds(6), "stopped after \(time)")
    }

    @Test func aHugeBlurIsBoundedAndStillBlurs() throws {
        // Sigma 1000 at full resolution is 6000 taps a pixel; on a reduced copy it is quick.
        let (time, error) = elapsed {
            let out = try run([.blur(sigma: 1000), .convert(ConvertOperation(format: .png))], on: Self.photo)
            let (image, _) = try out.data.pixels()
            #expect((image.width, image.height) == (1500, 1500))
            // The texture's ±60 noise is gone: what is left is nearly flat.
            #expect(try image.deviation() < 3)
        }
        #expect(error == nil, "\(String(describing: error))")
        #expect(time < .seconds(20), "took \(time)")
    }

    @Test func stackedNeighbourhoodOperationsStayOnePassEach() throws {
        // Found by `make fuzz`: 30 lazily stacked blurs of sigma 1000 on a 480-px photo took
        // 144 s (each tile of one asks the one before for all of its image), and 28 stacked
        // sharpens of a padded one ran the CLI out of memory at 24 GB.
        let small = try Synthetic.encode(try Image.fromPixels(try Synthetic.texture(width: 480, height: 480), width: 480, height: 480, bands: 3),
                                         ".jpg[Q=90]")
        let blurs = Array(repeating: ImageOperation.blur(sigma: 1000), count: 30)
        let sharpens = Array(repeating: ImageOperation.sharpen(sigma: 10), count: 8)
        let (time, error) = elapsed {
            let blurred = try run(blurs + [.convert(ConvertOperation(format: .png))], on: small)
            let (image, _) = try blurred.data.pixels()
            #expect((image.width, image.height) == (480, 480))
            #expect(try image.deviation() < 3)
            let sharpened = try run([.pad(PadOperation(top: 200, right: 200, bottom: 200, left: 200))] + sharpens, on: small)
            #expect((sharpened.width, sharpened.height) == (880, 880))
        }
        #expect(error == nil, "\(String(describing: error))")
        // Generous (tests run side by side): seconds each way, against minutes stacked lazily.
        #expect(time < .seconds(60), "took \(time)")
    }

    @Test func blurBelowTheReductionSigmaIsExact() throws {
        let image = try Image.fromPixels(try Synthetic.texture(width: 200, height: 200), width: 200, height: 200, bands: 3)
        let direct = try image.derive("gaussblur") { sc_gaussblur($0, $1, 6) }
        #expect(try image.blurred(sigma: 6).pixelBytes() == direct.pixelBytes())
        let wide = try image.blurred(sigma: 40)
        #expect((wide.width, wide.height) == (200, 200))
    }

    @Test func sizesThatCanNeverBeMadeAreRefusedBeforeDecoding() throws {
        func refusal(_ json: String, maxPixels: Int = 100_000_000) -> SmartCropError? {
            do { _ = try Pipeline.parse(Data(json.utf8), maxPixels: maxPixels); return nil } catch { return error as? SmartCropError }
        }
        let webp = refusal(#"[{"type":"resize","width_in_px":16384,"height_in_px":4000,"fit":"fill"},{"type":"convert","format":"webp"}]"#)
        #expect(webp?.field == "operations[1].format")
        #expect(webp?.message.contains("16383") == true)
        let big = refusal(#"[{"type":"resize","width_in_px":16384,"height_in_px":16384,"without_enlargement":false},{"type":"convert","format":"avif"}]"#)
        #expect(big?.field == "operations[0].width_in_px")
        #expect(big?.message.contains("268.4 MP") == true)
        let padded = refusal(#"[{"type":"smart_crop","width":1000,"height":1000},{"type":"pad","all":2000}]"#, maxPixels: 10_000_000)
        #expect(padded?.field == "operations[1]")
        let avif = refusal(#"[{"type":"smart_crop","width":5000,"height":5000},{"type":"convert","format":"avif"}]"#)
        #expect(avif?.field == "operations[1].format")
        #expect(refusal(#"[{"type":"smart_crop","width":4000,"height":4000},{"type":"convert","format":"webp"}]"#) == nil)
    }

    @Test func aStepTooBigForItsFormatIsRefusedBeforeItsPixels() throws {
        // The pad's size depends on the image, so it is caught when the step is planned.
        let jpeg = try run([.smartCrop(SmartCropSettings(width: 100, height: 100))], on: Self.photo).data
        let wide: [ImageOperation] = [.pad(PadOperation(right: 16384)), .pad(PadOperation(left: 16384)),
                                      .pad(PadOperation(right: 16384)), .pad(PadOperation(left: 16384))]
        #expect(throws: SmartCropError.invalidArgument(field: "", message: "the output would be 65636x100; JPEG images can be at most 65500 pixels on a side")) {
            _ = try run(wide, on: jpeg)
        }
        #expect(throws: SmartCropError.invalidArgument(field: "operations[4].format", message: "the output would be 65636x100; JPEG images can be at most 65500 pixels on a side")) {
            _ = try run(wide + [.convert(ConvertOperation(format: .jpeg))], on: jpeg)
        }
        let limits = DecodeLimits(maxPixels: 100_000_000, maxOutputPixels: 200_000)
        let options = PipelineOptions(limits: limits)
        #expect(throws: SmartCropError.invalidArgument(field: "operations[0]", message: "the result would be 2100x100 (210000 pixels); the limit is 200000 pixels")) {
            _ = try PipelineRunner.run(Pipeline([.pad(PadOperation(right: 2000))]), on: .data(jpeg), options: options)
        }
    }

    @Test func parsingStopsAtTheOperationLimit() throws {
        let hostile = Data(("[" + Array(repeating: #"{"type":"flip"}"#, count: 100_000).joined(separator: ",") + "]").utf8)
        let (time, error) = elapsed { _ = try Pipeline.parse(hostile) }
        let refused = try #require(error as? SmartCropError)
        #expect(refused.field == "operations")
        #expect(refused.message.contains("100000"))
        #expect(time < .seconds(3), "took \(time)")
        // The generic parser has a budget too: a huge list anywhere is refused.
        #expect(throws: SmartCropError.self) { _ = try JSONValue.parse(Data(("[" + String(repeating: "1,", count: 5000) + "1]").utf8), field: "x") }
    }

    static let sniffed: [(Data, FormatSniffer.Verdict)] = [
        (Data([0xFF, 0xD8, 0xFF, 0xE0]), .accepted(.jpeg)),
        (Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), .accepted(.png)),
        (Data("GIF89a".utf8), .accepted(.gif)),
        (Data("RIFF\0\0\0\0WEBPVP8 ".utf8), .accepted(.webp)),
        (Data([0x4D, 0x4D, 0x00, 0x2A]), .accepted(.tiff)),
        (Data([0, 0, 0, 0x1C] + Array("ftypavif".utf8)), .accepted(.avif)),
        (Data([0, 0, 0, 0x18] + Array("ftypheic".utf8)), .accepted(.heic)),
        (Data([0, 0, 0, 0x18] + Array("ftypisom".utf8)), .refused("video and other ISO media files are not accepted")),
        (Data("  <?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>".utf8), .refused("SVG images are not accepted")),
        (Data([0x1F, 0x8B, 0x08, 0x00]), .refused("compressed files (gzip, .svgz) are not accepted")),
        (Data("%PDF-1.7".utf8), .refused("PDF documents are not accepted")),
        (Data("P6\n10 10\n255\n".utf8), .refused("PNM/PPM images are not accepted")),
        (Data("hello".utf8), .refused("the file is not an image")),
        (Data(), .refused("the file is empty")),
    ]

    @Test(arguments: sniffed)
    func formatsAreSniffedFromTheirFirstBytes(bytes: Data, verdict: FormatSniffer.Verdict) {
        #expect(FormatSniffer.sniff(Array(bytes)) == verdict)
    }

    @Test func aTruncatedSVGZNeverReachesLibvipsAndItsNameDoesNotMatter() throws {
        // libvips' own probe spins inflating a cut-off .svgz; ours refuses it from two bytes.
        let svg = Data("<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><rect width='10' height='10'/></svg>".utf8)
        let svgz = try gzip(svg).prefix(40)
        let dir = TemporaryDirectory()
        for name in ["x.svgz", "x.jpg"] {
            let error = try #require(throws: SmartCropError.self) { try OpenedSource(.file(dir.write(Data(svgz), named: name))) }
            #expect(error.code == "unsupported_format")
            #expect(error.message.hasPrefix("compressed files (gzip, .svgz) are not accepted"))
        }
        #expect(throws: SmartCropError.self) { try OpenedSource(.data(Data(svgz))) }
    }

    @Test func onlyRegularFilesAreRead() throws {
        for path in ["/dev/zero", "/dev/null", FileManager.default.temporaryDirectory.path] {
            let error = try #require(throws: SmartCropError.self) { try OpenedSource(.file(path)) }
            #expect(error.code == "io_error", "\(path): \(error)")
        }
        let dir = TemporaryDirectory()
        let fifo = dir.path("pipe")
        #expect(mkfifo(fifo, 0o600) == 0)
        let error = try #require(throws: SmartCropError.self) { try OpenedSource(.file(fifo)) }
        #expect(error.message.contains("pipe"))
    }

    @Test func aMultiPageTIFFShowsItsFirstPage() throws {
        // Two 10x10 pages, red then blue: libvips' thumbnail took pages of one size for a pyramid.
        let pages = try Synthetic.image(width: 10, height: 20, background: (0, 0, 255),
                                        boxes: [.init(rect: PixelRect(x: 0, y: 0, width: 10, height: 10), colour: (255, 0, 0))])
        let paged = try pages.strippedMetadata(keepingICC: false)
        vips_image_set_int(paged.pointer, "page-height", 10)
        let tiff = try Synthetic.encode(paged, ".tif")
        let source = try OpenedSource(.data(tiff))
        #expect((source.info.width, source.info.height) == (10, 10))
        let colour = try meanColour(try source.decode(scale: 1), PixelRect(x: 0, y: 0, width: 10, height: 10))
        #expect(colour.0 > 200 && colour.2 < 50, "page 0 is red, got \(colour)")
        let out = try run([.smartCrop(SmartCropSettings(width: 4, height: 4, mode: .center)), .convert(ConvertOperation(format: .png))], on: tiff)
        #expect(try meanColour(try out.data.pixels().0, PixelRect(x: 0, y: 0, width: 4, height: 4)).0 > 200)
    }

    @Test func truncatedFilesAreRefusedByDefaultOrDecodedWithAWarning() throws {
        let jpeg = try Synthetic.encode(try Image.fromPixels(try Synthetic.texture(width: 300, height: 200), width: 300, height: 200, bands: 3), ".jpg")
        let cut = jpeg.prefix(jpeg.count * 2 / 3)
        let strict = try #require(throws: SmartCropError.self) { _ = try run([.smartCrop(SmartCropSettings(width: 50, height: 50))], on: cut) }
        #expect(strict.code == "undecodable_image" && strict.message == "the JPEG file is truncated")
        #expect(strict.detail?.isEmpty == false, "libvips' words are kept for the log")

        let lenient = PipelineOptions(limits: DecodeLimits(failOn: .none))
        let out = try PipelineRunner.run(Pipeline([.smartCrop(SmartCropSettings(width: 50, height: 50))]), on: .data(cut), options: lenient)
        #expect((out.width, out.height) == (50, 50))
        #expect(out.warnings == ["the JPEG file is truncated; the part that could not be decoded is filled in"])
        // An intact file has nothing to warn about.
        #expect(try PipelineRunner.run(Pipeline([.smartCrop(SmartCropSettings(width: 50, height: 50))]), on: .data(jpeg), options: lenient).warnings.isEmpty)
    }

    @Test func decoderErrorsAreOurOwnShortMessages() throws {
        // libvips writes a TIFF's directory after its pixels: cut, the file has none.
        let tiff = try Synthetic.encode(try Image.fromPixels(try Synthetic.texture(width: 64, height: 64), width: 64, height: 64, bands: 3), ".tif")
        let corrupt = tiff.prefix(tiff.count * 3 / 5)
        let error = try #require(throws: SmartCropError.self) { _ = try run([.smartCrop(SmartCropSettings(width: 10, height: 10))], on: corrupt) }
        #expect(error.code == "undecodable_image")
        #expect(error.message.hasPrefix("the TIFF file is"), "\(error.message)")
        #expect(!error.message.lowercased().contains("vips") && !error.message.contains("tiff2vips"))
        #expect(SmartCropError.undecodable(String(repeating: "warning ", count: 2000)).message.count == SmartCropError.maxMessageLength)
    }

    @Test func padToSquareIsRefusedOutsideTrim() throws {
        let error = try #require(throws: SmartCropError.self) {
            _ = try Pipeline.parse(Data(#"[{"type":"smart_crop","mode":"face","padToSquare":true}]"#.utf8))
        }
        #expect(error.field == "operations[0].padToSquare")
        #expect(try Pipeline.parse(Data(#"[{"type":"smart_crop","mode":"trim","pad_to_square":true}]"#.utf8)).operations.count == 1)
    }
}

/// gzip through the system's gzip, so the test carries no compressor of its own.
func gzip(_ data: Data) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/gzip")
    process.arguments = ["-c", "-n"]
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(data)
    try input.fileHandleForWriting.close()
    let result = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return result
}

extension ResizeOperation {
    init(width: Int, height: Int, fit: Fit, enlarging: Bool) {
        self.init(width: width, height: height, fit: fit)
        withoutEnlargement = !enlarging
    }
}
