import OnnxTestSupport
import Testing
import Saliency

/// Where the subject strategy puts crops on synthetic scenes.
@Suite struct SubjectPlacementTests {
    /// Nine places for a 34x34 object in a 256x171 image: each corner, the middle of each edge
    /// (8 px in from it) and the centre.
    static let places: [(String, Int, Int)] = {
        let w = 256, h = 171, s = 34, m = 8
        return [("top-left", m, m), ("top", (w - s) / 2, m), ("top-right", w - s - m, m),
                ("left", m, (h - s) / 2), ("centre", (w - s) / 2, (h - s) / 2), ("right", w - s - m, (h - s) / 2),
                ("bottom-left", m, h - s - m), ("bottom", (w - s) / 2, h - s - m), ("bottom-right", w - s - m, h - s - m)]
    }()

    @Test(arguments: places)
    func objectOnPlainBackground(place: (String, Int, Int)) {
        var scene = Scene(width: 256, height: 171, colour: (200, 205, 210))
        let object = Box(x: place.1, y: place.2, width: 34, height: 34)
        scene.ellipse(object, (180, 40, 30))
        let map = scene.map()
        #expect(!map.isFlat)
        for (w, h) in evaluationSizes {
            let crop = scene.crop(w, h, map: map)
            #expect(object.share(inside: crop) == 1, "\(place.0) object \(object) cut by the \(w)x\(h) crop \(crop)")
        }
    }

    @Test(arguments: places)
    func objectOnTexturedBackground(place: (String, Int, Int)) {
        var scene = Scene.textured(width: 256, height: 171, seed: 7)
        let object = Box(x: place.1, y: place.2, width: 34, height: 34)
        scene.ellipse(object, (190, 60, 150))
        let map = scene.map()
        for (w, h) in evaluationSizes {
            let crop = scene.crop(w, h, map: map)
            #expect(object.share(inside: crop) == 1, "\(place.0) object \(object) cut by the \(w)x\(h) crop \(crop)")
        }
    }

    /// The same in a portrait image, so that the window slides vertically too.
    @Test(arguments: ["top", "centre", "bottom"])
    func objectInPortraitImage(place: String) {
        var scene = Scene.textured(width: 171, height: 256, seed: 3)
        let y = place == "top" ? 8 : place == "bottom" ? 256 - 34 - 8 : (256 - 34) / 2
        let object = Box(x: 40, y: y, width: 34, height: 34)
        scene.ellipse(object, (240, 200, 40))
        for (w, h) in evaluationSizes {
            let crop = scene.crop(w, h)
            #expect(object.share(inside: crop) == 1, "\(place) object \(object) cut by the \(w)x\(h) crop \(crop)")
        }
    }

    /// Where both objects cannot fit, the crop keeps the bigger one whole.
    @Test(arguments: [false, true])
    func biggerOfTwoObjectsWins(bigOnLeft: Bool) {
        var scene = Scene(width: 256, height: 171, colour: (190, 200, 215))
        let big = Box(x: bigOnLeft ? 14 : 256 - 14 - 56, y: 50, width: 56, height: 70)
        let small = Box(x: bigOnLeft ? 256 - 14 - 22 : 14, y: 70, width: 22, height: 22)
        scene.ellipse(big, (40, 90, 160))
        scene.ellipse(small, (40, 90, 160))
        for (w, h) in [(270, 480), (256, 320), (256, 256)] {
            let crop = scene.crop(w, h)
            #expect(big.share(inside: crop) == 1, "big object \(big) cut by the \(w)x\(h) crop \(crop)")
            #expect(small.share(inside: crop) == 0, "small object \(small) in the \(w)x\(h) crop \(crop)")
        }
    }

    /// Where both fit, both are kept.
    @Test func bothObjectsWhenTheyFit() {
        var scene = Scene(width: 256, height: 171, colour: (190, 200, 215))
        let big = Box(x: 40, y: 14, width: 50, height: 50)
        let small = Box(x: 150, y: 120, width: 22, height: 22)
        scene.ellipse(big, (40, 90, 160))
        scene.ellipse(small, (160, 60, 40))
        for (w, h) in [(480, 270), (382, 200), (256, 256)] {
            let crop = scene.crop(w, h)
            #expect(big.share(inside: crop) == 1, "big object cut by the \(w)x\(h) crop \(crop)")
            #expect(small.share(inside: crop) == 1, "small object cut by the \(w)x\(h) crop \(crop)")
        }
    }

    /// A thick frame of a strong colour is recognised and ignored; the object inside wins.
    @Test(arguments: [(230, 20, 20), (10, 10, 10), (250, 250, 250)] as [(UInt8, UInt8, UInt8)])
    func frameIsNotTheSubject(frameColour: (UInt8, UInt8, UInt8)) {
        var scene = Scene(width: 256, height: 171, colour: frameColour)
        scene.rectangle(Box(x: 24, y: 18, width: 256 - 48, height: 171 - 36), (120, 125, 130))
        let object = Box(x: 170, y: 60, width: 30, height: 30)
        scene.ellipse(object, (60, 170, 90))
        let map = scene.map()
        #expect(map.frame.left > 0 && map.frame.right > 0 && map.frame.top > 0 && map.frame.bottom > 0,
                "frame not found: \(map.frame)")
        // Nothing in the frame carries importance.
        for y in 0..<map.height {
            for x in 0..<map.width where x < map.frame.left || x >= map.width - map.frame.right
                || y < map.frame.top || y >= map.height - map.frame.bottom {
                #expect(map[x, y] == 0)
            }
        }
        for (w, h) in evaluationSizes {
            let crop = scene.crop(w, h, map: map)
            #expect(object.share(inside: crop) == 1, "object \(object) cut by the \(w)x\(h) crop \(crop)")
        }
    }

    /// Letterbox bars (top and bottom only) are ignored as well.
    @Test func letterboxIsIgnored() {
        var scene = Scene(width: 256, height: 171, colour: (0, 0, 0))
        scene.rectangle(Box(x: 0, y: 30, width: 256, height: 111), (150, 170, 190))
        let object = Box(x: 20, y: 60, width: 30, height: 40)
        scene.ellipse(object, (200, 120, 40))
        let map = scene.map()
        #expect(map.frame.top > 0 && map.frame.bottom > 0 && map.frame.left == 0 && map.frame.right == 0, "\(map.frame)")
        for (w, h) in [(256, 256), (270, 480), (256, 320)] {
            let crop = scene.crop(w, h, map: map)
            #expect(object.share(inside: crop) == 1, "object \(object) cut by the \(w)x\(h) crop \(crop)")
        }
    }

    /// A plain background that runs up to the subject is not a frame.
    @Test func plainBackgroundIsNotAFrame() {
        var scene = Scene(width: 256, height: 171, colour: (240, 240, 240))
        scene.ellipse(Box(x: 100, y: 60, width: 60, height: 50), (30, 30, 30))
        #expect(scene.map().frame == .zero)
    }

    @Test(arguments: [0, 3] as [Int])
    func flatImageIsFlat(noise: Int) {
        var scene = Scene(width: 256, height: 171, colour: (120, 130, 140))
        var rng = SplitMix(seed: 5)
        if noise > 0 {
            for y in 0..<171 {
                for x in 0..<256 {
                    let n = Int(rng.next() % UInt64(2 * noise + 1)) - noise
                    scene.set(x, y, (clamp(120 + n), clamp(130 + n), clamp(140 + n)))
                }
            }
        }
        let map = scene.map()
        #expect(map.isFlat)
        #expect(map.values.allSatisfy { $0 == 0 })
        let window = SubjectLocator.bestWindow(in: map, aspect: 1, imageAspect: 256.0 / 171)
        #expect(window.isFlat)
        #expect(window.confidence == 0)
        let crop = window.pixelRect(sourceWidth: 256, sourceHeight: 171, targetWidth: 100, targetHeight: 100)
        #expect(crop == SubjectPixelRect(x: 43, y: 0, width: 171, height: 171))   // centred
    }

    @Test func realContrastIsNotFlat() {
        var scene = Scene(width: 256, height: 171, colour: (120, 130, 140))
        scene.ellipse(Box(x: 100, y: 60, width: 40, height: 40), (150, 130, 140))   // a faint object, about 10 ΔE
        #expect(!scene.map().isFlat)
    }

    /// The focal point is the object's centre, and a lone object makes for a confident window.
    @Test func focalPointAndConfidence() {
        var scene = Scene(width: 256, height: 171, colour: (200, 205, 210))
        scene.ellipse(Box(x: 180, y: 40, width: 40, height: 40), (30, 60, 150))
        let window = SubjectLocator.bestWindow(in: scene.map(), aspect: 9.0 / 16, imageAspect: 256.0 / 171)
        #expect(abs(window.focalX - 200.0 / 256) < 0.03, "focal x \(window.focalX)")
        #expect(abs(window.focalY - 60.0 / 171) < 0.03, "focal y \(window.focalY)")
        #expect(window.focalX >= window.x && window.focalX <= window.x + window.width)
        #expect(window.massShare > 0.95)
        #expect(window.confidence > 0.9)
    }

    /// RGBA input and padded rows give the same map as packed RGB.
    @Test func pixelLayouts() {
        var scene = Scene.textured(width: 200, height: 150, seed: 11)
        scene.ellipse(Box(x: 120, y: 40, width: 40, height: 50), (220, 50, 40))
        let packed = scene.map()
        let stride = 200 * 4 + 12
        var rgba = [UInt8](repeating: 255, count: stride * 150)
        for y in 0..<150 {
            for x in 0..<200 {
                for c in 0..<3 { rgba[y * stride + 4 * x + c] = scene.pixels[3 * (y * 200 + x) + c] }
            }
        }
        let padded = rgba.withUnsafeBufferPointer {
            ImportanceMapBuilder.build(pixels: $0, width: 200, height: 150, bytesPerPixel: 4, bytesPerRow: stride)
        }
        #expect(padded == packed)
    }

    /// Tiny and odd-sized proxies neither crash nor produce junk.
    @Test(arguments: [(1, 1), (3, 2), (7, 5), (40, 3), (300, 31)] as [(Int, Int)])
    func oddSizes(size: (Int, Int)) {
        var scene = Scene.textured(width: size.0, height: size.1, seed: 2)
        scene.set(size.0 / 2, size.1 / 2, (255, 0, 0))
        let map = scene.map()
        #expect(map.values.count == map.width * map.height)
        #expect(map.values.allSatisfy { $0 >= 0 && $0 <= 1 })
        for (w, h) in evaluationSizes {
            let crop = scene.crop(w, h, map: map)
            #expect(crop.x >= 0 && crop.y >= 0 && crop.x + crop.width <= size.0 && crop.y + crop.height <= size.1)
        }
    }
}
