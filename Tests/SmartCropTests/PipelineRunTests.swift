import Foundation
import Testing
@testable import SmartCrop

@Suite struct PipelineRunTests {
    /// 400x200: left half red, right half blue, a green marker in the top-left corner.
    func scene() throws -> Data {
        try Synthetic.encode(try Synthetic.image(width: 400, height: 200, background: (0, 0, 250),
            boxes: [.init(rect: PixelRect(x: 0, y: 0, width: 200, height: 200), colour: (250, 0, 0)),
                    .init(rect: PixelRect(x: 0, y: 0, width: 40, height: 40), colour: (0, 250, 0))]), ".png")
    }

    @Test(arguments: Fit.allCases)
    func everyFitHasTheDocumentedSize(fit: Fit) throws {
        var op = ResizeOperation(width: 100, height: 100, fit: fit)
        op.withoutEnlargement = false
        let out = try run([.resize(op)], on: try scene())
        let expected: (Int, Int) = switch fit {
        case .cover, .contain, .fill: (100, 100)
        case .inside: (100, 50)
        case .outside: (200, 100)
        }
        #expect((out.width, out.height) == expected)
        let (image, _) = try out.data.pixels()
        #expect((image.width, image.height) == expected)
        if fit == .contain {
            let top = try meanColour(image, PixelRect(x: 40, y: 2, width: 20, height: 10))
            #expect(top.0 > 240 && top.1 > 240 && top.2 > 240, "contain pads with white, got \(top)")
        }
        if fit == .cover {
            #expect(out.decision?.crop == PixelRect(x: 100, y: 0, width: 200, height: 200))
        }
    }

    @Test func resizeDoesNotEnlargeUnlessAsked() throws {
        let out = try run([.resize(ResizeOperation(width: 800, height: 800, fit: .inside))], on: try scene())
        #expect((out.width, out.height) == (400, 200))
        var enlarge = ResizeOperation(width: 800, height: 800, fit: .inside)
        enlarge.withoutEnlargement = false
        let big = try run([.resize(enlarge)], on: try scene())
        #expect((big.width, big.height) == (800, 400))
    }

    @Test func rotateFlipPadAndTheirEffectOnPixels() throws {
        let turned = try run([.rotate(quarterTurns: 1)], on: try scene())
        #expect((turned.width, turned.height) == (200, 400))
        let (t, _) = try turned.data.pixels()
        // The green top-left marker goes to the top-right after a clockwise turn.
        #expect(try meanColour(t, PixelRect(x: 170, y: 5, width: 20, height: 20)).1 > 200)

        let (f, _) = try run([.flip(horizontal: true, vertical: false)], on: try scene()).data.pixels()
        #expect(try meanColour(f, PixelRect(x: 370, y: 5, width: 20, height: 20)).1 > 200)
        let (v, _) = try run([.flip(horizontal: false, vertical: true)], on: try scene()).data.pixels()
        #expect(try meanColour(v, PixelRect(x: 5, y: 170, width: 20, height: 20)).1 > 200)

        let padded = try run([.pad(PadOperation(top: 10, right: 0, bottom: 0, left: 5, colour: .black))], on: try scene())
        #expect((padded.width, padded.height) == (405, 210))
        let (p, _) = try padded.data.pixels()
        #expect(try meanColour(p, PixelRect(x: 100, y: 0, width: 50, height: 8)).0 < 15)
    }

    @Test func cropsAreReportedInSourcePixelsThroughEarlierSteps() throws {
        // Turn, then crop the (turned) top-right 50x50: that came from the source's top-left.
        let out = try run([.rotate(quarterTurns: 1), .crop(CropOperation(rect: PixelRect(x: 150, y: 0, width: 50, height: 50)))], on: try scene())
        #expect(out.decision?.crop == PixelRect(x: 0, y: 0, width: 50, height: 50))
        let (image, _) = try out.data.pixels()
        #expect(try meanColour(image, PixelRect(x: 20, y: 5, width: 20, height: 20)).1 > 200)

        let scaled = try run([.resize(ResizeOperation(width: 200, height: 100, fit: .fill)),
                              .crop(CropOperation(rect: PixelRect(x: 100, y: 50, width: 100, height: 50)))], on: try scene())
        #expect(scaled.decision?.crop == PixelRect(x: 200, y: 100, width: 200, height: 100))
    }

    @Test func gravityCropIsAnExactPixelWindow() throws {
        let out = try run([.crop(CropOperation(gravity: .center, width: 100, height: 60))], on: try scene())
        #expect((out.width, out.height) == (100, 60))
        #expect(out.decision?.crop == PixelRect(x: 150, y: 70, width: 100, height: 60))
        let attention = try run([.crop(CropOperation(gravity: .attention, width: 50, height: 50))], on: try scene())
        #expect((attention.width, attention.height) == (50, 50))
        let tooBig = try run([.crop(CropOperation(gravity: .center, width: 1000, height: 1000))], on: try scene())
        #expect((tooBig.width, tooBig.height) == (400, 200))
    }

    @Test func blurAndSharpenChangePixelsNotSize() throws {
        let data = try scene()
        let plain = try run([.convert(ConvertOperation(format: .png))], on: data)
        let blurred = try run([.blur(sigma: 4), .convert(ConvertOperation(format: .png))], on: data)
        let sharpened = try run([.sharpen(sigma: 1.5), .convert(ConvertOperation(format: .png))], on: data)
        #expect((blurred.width, blurred.height) == (400, 200))
        #expect((sharpened.width, sharpened.height) == (400, 200))
        let edge = PixelRect(x: 190, y: 100, width: 20, height: 4)
        let (p, _) = try plain.data.pixels(), (b, _) = try blurred.data.pixels()
        #expect(try meanColour(p, PixelRect(x: 195, y: 100, width: 4, height: 4)).0 > 240)
        #expect(try meanColour(b, PixelRect(x: 195, y: 100, width: 4, height: 4)).0 < 220, "blur mixes the edge")
        _ = edge
        #expect(plain.data != sharpened.data)
    }

    @Test(arguments: [(ImageFormat.jpeg, 85), (.webp, 85), (.avif, 60), (.png, 0)])
    func encodersWriteTheirFormatAndQualityMatters(format: ImageFormat, defaultQuality: Int) throws {
        let texture = try Image.fromPixels(try Synthetic.texture(width: 96, height: 96), width: 96, height: 96, bands: 3)
        let data = try Synthetic.encode(texture, ".png")
        let normal = try run([.convert(ConvertOperation(format: format))], on: data)
        #expect(try OpenedSource(.data(normal.data)).info.format == format)
        #expect(format.defaultQuality == (defaultQuality == 0 ? nil : defaultQuality))
        let low = try run([.convert(ConvertOperation(format: format, quality: 10))], on: data)
        #expect(low.data.count < normal.data.count, "\(format): quality 10 gave \(low.data.count) bytes vs \(normal.data.count)")
    }

    @Test func deadlineIsCheckedBetweenSteps() throws {
        let past = ContinuousClock.now - .seconds(1)
        #expect(throws: SmartCropError.self) {
            try PipelineRunner.run(Pipeline([.blur(sigma: 1)]), on: .data(try scene()), options: PipelineOptions(deadline: past))
        }
    }

    @Test func concurrentVariantsComeBackInTheOrderAsked() throws {
        let source = try OpenedSource(.data(try scene()))
        // Deliberately not sorted: the runner starts the smallest first and the rest largest first.
        let sizes = [(256, 256), (48, 48), (400, 300), (128, 160), (64, 64)]
        var options = PipelineOptions()
        options.concurrentVariants = true
        let pipelines = sizes.map { ("\($0.0)x\($0.1)", Pipeline([.smartCrop(SmartCropSettings(width: $0.0, height: $0.1, mode: .subject))])) }
        let outputs = try PipelineRunner.variants(pipelines, on: source, options: options)
        #expect(outputs.map(\.0) == pipelines.map(\.0))
        #expect(outputs.map { "\($0.1.width)x\($0.1.height)" } == pipelines.map(\.0))
        let serial = try PipelineRunner.variants(pipelines, on: source)
        #expect(outputs.map { $0.1.decision!.crop } == serial.map { $0.1.decision!.crop })
    }

    @Test func variantsDecodeOnceAndAgree() throws {
        let source = try OpenedSource(.data(try scene()))
        let sizes = [48, 128, 256]
        let outputs = try PipelineRunner.variants(sizes.map { ("\($0)", Pipeline([.smartCrop(SmartCropSettings(width: $0, height: $0, mode: .center))])) },
                                                  on: source)
        #expect(outputs.map(\.1.width) == sizes)
        #expect(Set(outputs.map { $0.1.decision!.crop }).count == 1)
    }
}
