import Foundation
import Testing
@testable import SmartCrop

@Suite struct CropModeTests {
    /// A bright square on a flat dark background, off to the right.
    let square = PixelRect(x: 430, y: 120, width: 90, height: 90)
    func scene() throws -> Data {
        try Synthetic.encode(try Synthetic.image(width: 600, height: 300, background: (30, 30, 30),
                                                 boxes: [.init(rect: square, colour: (250, 240, 60))]), ".png")
    }

    func crop(_ settings: SmartCropSettings, _ data: Data) throws -> PipelineOutput {
        try run([.smartCrop(settings), .convert(ConvertOperation(format: .png))], on: data)
    }

    static let modes: [CropMode] = [.auto, .subject, .center, .focal, .trim]

    @Test(arguments: [(64, 64), (200, 100), (90, 160), (1, 1), (700, 350)])
    func everyModeGivesExactlyTheRequestedSize(width: Int, height: Int) throws {
        let data = try scene()
        for mode in CropModeTests.modes {
            var s = SmartCropSettings(width: width, height: height, mode: mode)
            if mode == .focal { s.focal = Point(x: 0.9, y: 0.1) }
            let out = try crop(s, data)
            #expect((out.width, out.height) == (width, height), "mode \(mode)")
            let (decoded, _) = try out.data.pixels()
            #expect((decoded.width, decoded.height) == (width, height))
        }
        for strategy in SubjectStrategy.allCases {
            var s = SmartCropSettings(width: width, height: height, mode: .subject)
            s.strategy = strategy
            #expect(try (crop(s, data).width, crop(s, data).height) == (width, height))
        }
    }

    @Test func attentionFindsTheBrightSquare() throws {
        var s = SmartCropSettings(width: 100, height: 100, mode: .subject)
        s.strategy = .attention
        let out = try crop(s, try scene())
        let c = try #require(out.decision?.crop)
        #expect(c.width == 300 && c.height == 300)
        #expect(c.contains(square), "crop \(c) should hold \(square)")
        #expect(out.decision?.strategy == "attention")
    }

    @Test func entropyFindsTheDetailedPatch() throws {
        // Noise on the left third of an otherwise flat image.
        var pixels = [UInt8](repeating: 60, count: 600 * 300 * 3)
        let noise = try Synthetic.texture(width: 150, height: 300, amplitude: 80, base: 128)
        for y in 0..<300 { for x in 20..<170 { for c in 0..<3 { pixels[3 * (y * 600 + x) + c] = noise[3 * (y * 150 + x - 20) + c] } } }
        let data = try Synthetic.encode(try Image.fromPixels(pixels, width: 600, height: 300, bands: 3), ".png")
        var s = SmartCropSettings(width: 100, height: 100, mode: .subject)
        s.strategy = .entropy
        let c = try #require(try crop(s, data).decision?.crop)
        #expect(c.x < 20 + 75, "entropy should move left towards the texture, got \(c)")
    }

    @Test func trimFindsExactlyTheSquare() throws {
        let out = try run([.smartCrop(SmartCropSettings(mode: .trim))], on: try scene())
        #expect(out.decision?.crop == square)
        #expect((out.width, out.height) == (square.width, square.height))
        #expect(out.decision?.strategy == "trim")
    }

    @Test func trimPadsToSquareWithColourAndTargetSize() throws {
        let wide = PixelRect(x: 100, y: 100, width: 200, height: 50)
        let data = try Synthetic.encode(try Synthetic.image(width: 500, height: 400, background: (255, 255, 255),
                                                            boxes: [.init(rect: wide, colour: (0, 0, 0))]), ".png")
        var s = SmartCropSettings(mode: .trim)
        s.padToSquare = true
        s.padColor = Colour(parsing: "#00ff00")!
        s.targetSize = 100
        let out = try run([.smartCrop(s)], on: data)
        #expect(out.decision?.crop == wide)
        #expect((out.width, out.height) == (100, 100))
        let (image, _) = try out.data.pixels()
        let top = try meanColour(image, PixelRect(x: 40, y: 2, width: 20, height: 10))
        #expect(top.1 > 230 && top.0 < 30, "padding above is the pad colour, got \(top)")
        let middle = try meanColour(image, PixelRect(x: 40, y: 45, width: 20, height: 10))
        #expect(middle.0 < 30 && middle.1 < 30, "the trimmed content sits in the middle, got \(middle)")
    }

    @Test func trimThresholdDecidesWhatIsBackground() throws {
        // A faint box (10 levels off the background) is trimmed away at 30 but kept at 5.
        let faint = PixelRect(x: 50, y: 50, width: 40, height: 40)
        let strong = PixelRect(x: 200, y: 100, width: 30, height: 30)
        let data = try Synthetic.encode(try Synthetic.image(width: 300, height: 200, background: (100, 100, 100),
            boxes: [.init(rect: faint, colour: (110, 110, 110)), .init(rect: strong, colour: (250, 0, 0))]), ".png")
        var s = TrimOperation()
        s.threshold = 30
        #expect(try run([.trim(s)], on: data).decision?.crop == strong)
        s.threshold = 5
        let both = try #require(try run([.trim(s)], on: data).decision?.crop)
        #expect(both.contains(faint) && both.contains(strong))
    }

    @Test func centreAndFocalAreComputedByHand() throws {
        let data = try scene()
        #expect(try crop(SmartCropSettings(width: 50, height: 50, mode: .center), data).decision?.crop == PixelRect(x: 150, y: 0, width: 300, height: 300))
        var focal = SmartCropSettings(width: 100, height: 50, mode: .focal)
        focal.focal = Point(x: 0.25, y: 0.5)
        // 2:1 in 600x300 is the whole image.
        #expect(try crop(focal, data).decision?.crop == PixelRect(x: 0, y: 0, width: 600, height: 300))
        focal = SmartCropSettings(width: 100, height: 100, mode: .focal)
        focal.focal = Point(x: 0.25, y: 0.5)
        #expect(try crop(focal, data).decision?.crop == PixelRect(x: 0, y: 0, width: 300, height: 300))
        focal.focal = Point(x: 0.6, y: 0.5)
        #expect(try crop(focal, data).decision?.crop == PixelRect(x: 210, y: 0, width: 300, height: 300))
        focal.focal = Point(x: 1, y: 1)
        #expect(try crop(focal, data).decision?.crop == PixelRect(x: 300, y: 0, width: 300, height: 300))
    }

    @Test func rectCutsTheRectangleAndRefusesOneOutside() throws {
        var s = SmartCropSettings(width: 45, height: 45, mode: .rect)
        s.rect = square
        let out = try crop(s, try scene())
        #expect(out.decision?.crop == square)
        let (image, _) = try out.data.pixels()
        let c = try meanColour(image, PixelRect(x: 5, y: 5, width: 35, height: 35))
        #expect(c.0 > 230 && c.2 < 90)
        s.rect = PixelRect(x: 550, y: 0, width: 100, height: 100)
        #expect(throws: SmartCropError.invalidArgument(field: "operations[0].rect", message: "rectangle 100x100+550+0 leaves the 600x300 image")) {
            try crop(s, try scene())
        }
    }

    @Test func flatImageFallsBackToCentre() throws {
        let data = try Synthetic.encode(try Synthetic.image(width: 400, height: 200, background: (128, 128, 128)), ".png")
        let out = try crop(SmartCropSettings(width: 100, height: 100, mode: .auto), data)
        #expect(out.decision?.strategy == "center")
        #expect(out.decision?.fallback == "no face found; flat image")
        #expect(out.decision?.crop == PixelRect(x: 100, y: 0, width: 200, height: 200))
    }

    @Test func smallImagesAreEnlargedToTheExactSize() throws {
        let data = try Synthetic.encode(try Synthetic.image(width: 30, height: 20), ".png")
        let out = try crop(SmartCropSettings(width: 256, height: 256, mode: .center), data)
        #expect((out.width, out.height) == (256, 256))
        #expect(out.decision?.crop == PixelRect(x: 5, y: 0, width: 20, height: 20))
    }
}
