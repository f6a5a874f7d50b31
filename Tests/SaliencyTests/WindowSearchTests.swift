import OnnxTestSupport
import Testing
@testable import Saliency

/// The summed-area-table search against a direct reference, and the stability of its answers.
@Suite struct WindowSearchTests {
    /// Positions the search tries along one axis: 0...room in half-cell steps.
    static func positions(room: Double) -> [Double] {
        if room < 1e-6 { return [0] }
        let n = max(2, Int((room * 2).rounded(.up)) + 1)
        return (0..<n).map { room * Double($0) / Double(n - 1) }
    }

    /// The map blurred with a box of (2rx+1) x (2ry+1) cells, zeros outside, by direct summation.
    static func blurred(_ v: [Double], _ w: Int, _ h: Int, _ rx: Int, _ ry: Int) -> [Double] {
        var out = [Double](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                var s = 0.0
                for dy in -ry...ry { for dx in -rx...rx {
                    let xx = x + dx, yy = y + dy
                    if xx >= 0, xx < w, yy >= 0, yy < h { s += v[yy * w + xx] }
                } }
                out[y * w + x] = s / Double((2 * rx + 1) * (2 * ry + 1))
            }
        }
        return out
    }

    /// Mass of a window at real coordinates, each cell counted by the share of it inside.
    static func mass(_ v: [Double], _ w: Int, _ h: Int, _ x: Double, _ y: Double, _ ww: Double, _ wh: Double) -> Double {
        var s = 0.0
        for cy in 0..<h {
            let oy = min(Double(cy + 1), y + wh) - max(Double(cy), y)
            if oy <= 0 { continue }
            for cx in 0..<w {
                let ox = min(Double(cx + 1), x + ww) - max(Double(cx), x)
                if ox > 0 { s += v[cy * w + cx] * ox * oy }
            }
        }
        return s
    }

    /// Brute-force best window of a given size: every position scored directly.
    static func reference(_ v: [Double], _ w: Int, _ h: Int, _ ww: Double, _ wh: Double, margin: Double)
        -> (x: Double, y: Double, score: Double) {
        let roomX = max(Double(w) - ww, 0), roomY = max(Double(h) - wh, 0)
        let rx = roomX >= 1e-6 ? Int((margin * ww).rounded()) : 0
        let ry = roomY >= 1e-6 ? Int((margin * wh).rounded()) : 0
        let b = (rx > 0 || ry > 0) ? blurred(v, w, h, rx, ry) : v
        var best = (x: 0.0, y: 0.0, score: -1.0)
        var scored: [(Double, Double, Double)] = []
        for y in positions(room: roomY) {
            for x in positions(room: roomX) {
                let m = mass(b, w, h, x, y, ww, wh)
                scored.append((x, y, m))
                if m > best.score { best = (x, y, m) }
            }
        }
        // Ties go to the position nearest the centre.
        var nearest = Double.infinity
        for (x, y, m) in scored where m >= best.score - 1e-9 * best.score {
            let d = (x - roomX / 2) * (x - roomX / 2) + (y - roomY / 2) * (y - roomY / 2)
            if d < nearest { nearest = d; best = (x, y, m) }
        }
        return best
    }

    static func randomMap(_ rng: inout SplitMix, _ w: Int, _ h: Int, sparse: Bool) -> ImportanceMap {
        var values = [Float](repeating: 0, count: w * h)
        if sparse {
            // A few blobs on zero: the case where the window has a real choice to make.
            for _ in 0..<4 {
                let cx = rng.unit() * Double(w), cy = rng.unit() * Double(h), r = 1 + rng.unit() * Double(min(w, h)) / 4
                let a = Float(0.2 + 0.8 * rng.unit())
                for y in 0..<h { for x in 0..<w {
                    let d = ((Double(x) + 0.5 - cx) * (Double(x) + 0.5 - cx) + (Double(y) + 0.5 - cy) * (Double(y) + 0.5 - cy)).squareRoot()
                    if d < r { values[y * w + x] = min(1, values[y * w + x] + a) }
                } }
            }
        } else {
            for i in 0..<(w * h) { values[i] = Float(rng.unit()) }
        }
        values[0] = max(values[0], 0.01)   // never all zero
        return ImportanceMap(width: w, height: h, values: values)
    }

    @Test(arguments: [0.0, 0.15, 0.3])
    func searchMatchesBruteForce(margin: Double) {
        var rng = SplitMix(seed: 42)
        let aspects = [1.0, 0.8, 9.0 / 16, 16.0 / 9, 1.91, 1.5, 0.3, 3.0]
        for trial in 0..<24 {
            let w = 8 + Int(rng.next() % 40), h = 8 + Int(rng.next() % 40)
            let map = Self.randomMap(&rng, w, h, sparse: trial % 2 == 0)
            let v = map.values.map(Double.init)
            let total = v.reduce(0, +)
            for aspect in aspects {
                var options = SubjectLocator.Options()
                options.margin = margin
                options.outsideRegionWeight = 1   // the search alone, on the map as it is
                let window = SubjectLocator.bestWindow(in: map, aspect: aspect, options: options)
                let ww = window.width * Double(w), wh = window.height * Double(h)
                let ref = Self.reference(v, w, h, ww, wh, margin: margin)
                let gotX = window.x * Double(w), gotY = window.y * Double(h)
                #expect(abs(gotX - ref.x) < 1e-9 && abs(gotY - ref.y) < 1e-9,
                        "trial \(trial) \(w)x\(h) aspect \(aspect): search (\(gotX), \(gotY)), reference (\(ref.x), \(ref.y))")
                let hard = Self.mass(v, w, h, gotX, gotY, ww, wh) / total
                #expect(abs(window.massShare - hard) < 1e-6, "mass share \(window.massShare) vs \(hard)")
                // The window has the requested aspect and is as large as the image allows.
                let ratio = ww / wh
                #expect(abs(ratio - aspect) < 1e-9 * aspect)
                #expect(abs(ww - Double(w)) < 1e-9 || abs(wh - Double(h)) < 1e-9)
            }
        }
    }

    /// A 120x40 map with two solid blocks: the main one (x 10..<40) and a smaller one whose
    /// left edge is at `secondStart`. A 1:1 window is 40x40 cells.
    static func twoBlocks(secondStart: Int, secondWidth: Int) -> ImportanceMap {
        var values = [Float](repeating: 0, count: 120 * 40)
        for y in 10..<30 {
            for x in 10..<40 { values[y * 120 + x] = 1 }
            for x in secondStart..<(secondStart + secondWidth) { values[y * 120 + x] = 1 }
        }
        return ImportanceMap(width: 120, height: 40, values: values)
    }

    static func holds(_ window: SubjectWindow, from: Int, to: Int) -> Bool {
        window.x * 120 <= Double(from) + 1e-9 && (window.x + window.width) * 120 >= Double(to) - 1e-9
    }

    @Test func mainRegionIsNotCutForABlockThatCannotShareTheWindow() {
        // Main 10..<40 and second 45..<65: no 40-cell window holds both. The most mass would be
        // 25..<65 (half the main block and all the second); the main block must stay whole.
        let map = Self.twoBlocks(secondStart: 45, secondWidth: 20)
        let window = SubjectLocator.bestWindow(in: map, aspect: 1)
        #expect(Self.holds(window, from: 10, to: 40), "main block cut: x \(window.x * 120) width \(window.width * 120)")
        var off = SubjectLocator.Options()
        off.outsideRegionWeight = 1
        let plain = SubjectLocator.bestWindow(in: map, aspect: 1, options: off)
        #expect(!Self.holds(plain, from: 10, to: 40), "without regions the window settles between the blocks")
    }

    @Test func mainRegionWiderThanTheWindowStillOutweighsTheRest() {
        // A long low subject (x 0..<60, value 0.5, mass 300) and a smaller, denser patch
        // (x 80..<95, value 0.35, mass 157.5) in a 100x50 map; a 9:16 window is 28 cells wide.
        // The subject can't fit whole, but it is still the subject: the window shows part of it
        // rather than the patch, which would win on raw mass.
        var values = [Float](repeating: 0, count: 100 * 50)
        for y in 20..<30 { for x in 0..<60 { values[y * 100 + x] = 0.5 } }
        for y in 10..<40 { for x in 80..<95 { values[y * 100 + x] = 0.35 } }
        let map = ImportanceMap(width: 100, height: 50, values: values)
        let regions = Regions(map, threshold: 0.3)
        #expect(regions.main == regions.labels[25 * 100 + 10], "the long subject is the main region")
        let weighted = regions.weighted(map, windowWidth: 28.125, windowHeight: 50, outsideWeight: 0.4)
        #expect(weighted[10, 25] == 0.5, "the main region keeps its weight")
        #expect(abs(weighted[85, 25] - 0.35 * 0.4) < 1e-6)
        let window = SubjectLocator.bestWindow(in: map, aspect: 9.0 / 16)
        #expect(window.x * 100 < 60 - 20, "x \(window.x * 100): the window left the subject")
        var off = SubjectLocator.Options()
        off.outsideRegionWeight = 1
        let plain = SubjectLocator.bestWindow(in: map, aspect: 9.0 / 16, options: off)
        #expect(plain.x * 100 > 60, "without regions the patch wins")
    }

    @Test func blocksThatFitTogetherAreBothKept() {
        let map = Self.twoBlocks(secondStart: 42, secondWidth: 6)
        let window = SubjectLocator.bestWindow(in: map, aspect: 1)
        #expect(Self.holds(window, from: 10, to: 48), "x \(window.x * 120) width \(window.width * 120)")
    }

    @Test func regionsAreFoundWithTheirBoxes() {
        let regions = Regions(Self.twoBlocks(secondStart: 45, secondWidth: 20), threshold: 0.3)
        #expect(regions.boxes.count == 2)
        #expect(regions.boxes.map { [$0.x0, $0.y0, $0.x1, $0.y1] } == [[10, 10, 40, 30], [45, 10, 65, 30]])
        #expect(regions.main == 1)
        #expect(regions.labels[15 * 120 + 50] == 2 && regions.labels[5 * 120 + 50] == 0)
        let weighted = regions.weighted(Self.twoBlocks(secondStart: 45, secondWidth: 20), windowWidth: 40, windowHeight: 40,
                                        outsideWeight: 0.4)
        #expect(weighted[20, 15] == 1 && abs(weighted[50, 15] - 0.4) < 1e-6)
        let roomy = regions.weighted(Self.twoBlocks(secondStart: 45, secondWidth: 20), windowWidth: 55, windowHeight: 40,
                                     outsideWeight: 0.4)
        #expect(roomy[50, 15] == 1)
    }

    @Test func zoomMatchesBruteForce() {
        var rng = SplitMix(seed: 9)
        for _ in 0..<6 {
            let w = 20 + Int(rng.next() % 20), h = 20 + Int(rng.next() % 20)
            let map = Self.randomMap(&rng, w, h, sparse: true)
            let v = map.values.map(Double.init)
            var options = SubjectLocator.Options()
            options.allowZoom = true
            options.minScale = 0.4
            options.scaleSteps = 7
            options.outsideRegionWeight = 1   // the search alone
            for aspect in [1.0, 16.0 / 9, 0.8] {
                let window = SubjectLocator.bestWindow(in: map, aspect: aspect, options: options)
                // Reference: the same scales, each searched directly.
                let ratio = Double(w) / Double(h)
                let (fw, fh) = ratio > aspect ? (aspect / ratio, 1.0) : (1.0, ratio / aspect)
                var chosen = (x: 0.0, y: 0.0, s: 1.0)
                var full = 0.0
                for k in 0..<options.scaleSteps {
                    let s = 1 - (1 - options.minScale) * Double(k) / Double(options.scaleSteps - 1)
                    let ww = s * fw * Double(w), wh = s * fh * Double(h)
                    let best = Self.reference(v, w, h, ww, wh, margin: options.margin)
                    let hard = Self.mass(v, w, h, best.x, best.y, ww, wh)
                    if k == 0 { full = hard; chosen = (best.x, best.y, s) }
                    else if hard >= options.keep * full { chosen = (best.x, best.y, s) }
                    else { break }
                }
                #expect(abs(window.scale - chosen.s) < 1e-12, "scale \(window.scale) vs \(chosen.s)")
                #expect(abs(window.x * Double(w) - chosen.x) < 1e-9 && abs(window.y * Double(h) - chosen.y) < 1e-9)
            }
        }
    }

    /// The same map always gives the same window, and every output size of one aspect the same
    /// source rectangle.
    @Test func sameAspectSameRectangle() {
        var scene = Scene.textured(width: 256, height: 171, seed: 4)
        scene.ellipse(Box(x: 30, y: 50, width: 40, height: 60), (230, 200, 30))
        let a = scene.map(), b = scene.map()
        #expect(a == b)
        let families: [[(Int, Int)]] = [
            [(256, 256), (100, 100), (1080, 1080), (1, 1)],
            [(256, 320), (1024, 1280), (80, 100), (4, 5)],
            [(270, 480), (1080, 1920), (9, 16), (540, 960)],
            [(480, 270), (1920, 1080), (16, 9), (160, 90)],
            [(382, 200), (191, 100), (1910, 1000)],
        ]
        for family in families {
            var rects: [SubjectPixelRect] = []
            for (w, h) in family {
                let window = SubjectLocator.bestWindow(in: a, aspect: Double(w) / Double(h), imageAspect: 481.0 / 321)
                #expect(window == SubjectLocator.bestWindow(in: b, aspect: Double(w) / Double(h), imageAspect: 481.0 / 321))
                rects.append(window.pixelRect(sourceWidth: 481, sourceHeight: 321, targetWidth: w, targetHeight: h))
            }
            #expect(Set(rects.map { "\($0)" }).count == 1, "\(family): \(rects)")
        }
    }

    /// The rectangle is the largest of the aspect, clamped inside the image, and scales with the source.
    @Test func pixelRectGeometry() {
        let window = SubjectWindow(x: 0.25, y: 0, width: 0.5, height: 1, focalX: 0.5, focalY: 0.5, massShare: 1, confidence: 1)
        let r = window.pixelRect(sourceWidth: 400, sourceHeight: 200, targetWidth: 1, targetHeight: 1)
        #expect(r == SubjectPixelRect(x: 100, y: 0, width: 200, height: 200))
        let big = window.pixelRect(sourceWidth: 4000, sourceHeight: 2000, targetWidth: 1, targetHeight: 1)
        #expect(big == SubjectPixelRect(x: 1000, y: 0, width: 2000, height: 2000))
        // A window slightly off the source's aspect still lands inside the image.
        let edge = SubjectWindow(x: 0.51, y: 0, width: 0.49, height: 1, focalX: 0.5, focalY: 0.5, massShare: 1, confidence: 1)
        let e = edge.pixelRect(sourceWidth: 481, sourceHeight: 321, targetWidth: 1, targetHeight: 1)
        #expect(e == SubjectPixelRect(x: 160, y: 0, width: 321, height: 321))
        // Same aspect as the source: the whole image.
        #expect(window.pixelRect(sourceWidth: 400, sourceHeight: 200, targetWidth: 2, targetHeight: 1)
                == SubjectPixelRect(x: 0, y: 0, width: 400, height: 200))
    }

    /// A uniform map holds no preference: the centred window, with zero confidence.
    @Test func uniformMapGivesCentre() {
        let map = ImportanceMap(width: 64, height: 40, values: [Float](repeating: 0.5, count: 64 * 40))
        let window = SubjectLocator.bestWindow(in: map, aspect: 1)
        #expect(abs(window.x - (1 - 40.0 / 64) / 2) < 1e-12)
        #expect(window.confidence < 1e-9)
        #expect(!window.isFlat)
    }
}
