import Testing
@testable import SmartCrop

@Suite struct AspectFitTests {
    @Test(arguments: [
        // image, target → expected largest crop
        (600, 400, 1, 1, 400, 400),
        (400, 600, 1, 1, 400, 400),
        (600, 400, 16, 9, 600, 338),   // 600 / (16/9) = 337.5 → 338
        (600, 400, 9, 16, 225, 400),
        (1000, 100, 1, 1, 100, 100),
        (382, 200, 382, 200, 382, 200),
        (1, 1, 256, 256, 1, 1),
    ])
    func largestCrop(w: Int, h: Int, tw: Int, th: Int, ew: Int, eh: Int) {
        let crop = AspectFit.largestCrop(width: w, height: h, targetWidth: tw, targetHeight: th)
        #expect(crop.width == ew && crop.height == eh)
    }

    @Test func centredCropIsClampedInsideTheImage() {
        let size = (width: 100, height: 100)
        #expect(AspectFit.centred(on: Point(x: 0, y: 0), size: size, imageWidth: 300, imageHeight: 200) == PixelRect(x: 0, y: 0, width: 100, height: 100))
        #expect(AspectFit.centred(on: Point(x: 300, y: 200), size: size, imageWidth: 300, imageHeight: 200) == PixelRect(x: 200, y: 100, width: 100, height: 100))
        #expect(AspectFit.centred(on: Point(x: 150, y: 100), size: size, imageWidth: 300, imageHeight: 200) == PixelRect(x: 100, y: 50, width: 100, height: 100))
        // A crop larger than the image is shrunk to it.
        #expect(AspectFit.centred(on: Point(x: 5, y: 5), size: (500, 500), imageWidth: 300, imageHeight: 200) == PixelRect(x: 0, y: 0, width: 300, height: 200))
    }
}

@Suite struct RectTests {
    @Test func intersectionUnionAndContainment() {
        let a = Rect(x: 0, y: 0, width: 10, height: 10), b = Rect(x: 5, y: 5, width: 10, height: 10)
        #expect(a.intersection(b) == Rect(x: 5, y: 5, width: 5, height: 5))
        #expect(a.union(b) == Rect(x: 0, y: 0, width: 15, height: 15))
        #expect(a.intersection(Rect(x: 20, y: 20, width: 1, height: 1)) == nil)
        #expect(b.fractionInside(a) == 0.25)
        #expect(a.contains(Rect(x: 1, y: 1, width: 9, height: 9)))
        #expect(!a.contains(b))
    }

    @Test func shiftingKeepsSizeAndStaysInside() {
        let bounds = Rect(x: 0, y: 0, width: 100, height: 50)
        #expect(Rect(x: -10, y: 45, width: 20, height: 20).shifted(inside: bounds) == Rect(x: 0, y: 30, width: 20, height: 20))
        #expect(Rect(x: 95, y: -3, width: 20, height: 20).shifted(inside: bounds) == Rect(x: 80, y: 0, width: 20, height: 20))
        // Longer than the bounds: centred on them.
        #expect(Rect(x: 0, y: 0, width: 120, height: 10).shifted(inside: bounds) == Rect(x: -10, y: 0, width: 120, height: 10))
    }

    @Test func pixelRectRoundsAndClamps() {
        #expect(Rect(x: 10.4, y: 9.6, width: 20.5, height: 19.4).pixelRect(within: 100, 100) == PixelRect(x: 10, y: 10, width: 21, height: 19))
        #expect(Rect(x: 90, y: -5, width: 30, height: 10).pixelRect(within: 100, 100) == PixelRect(x: 70, y: 0, width: 30, height: 10))
    }
}

@Suite struct SourceMappingTests {
    let image = (width: 40.0, height: 30.0)

    @Test func cropThenScale() {
        let m = SourceMapping.identity.cropped(x: 10, y: 20).scaled(x: 0.5, y: 0.25)
        #expect(m.map(Point(x: 0, y: 0)) == Point(x: 10, y: 20))
        #expect(m.map(Point(x: 4, y: 4)) == Point(x: 18, y: 36))
    }

    @Test(arguments: [1, 2, 3])
    func rotationMapsCornersBackToTheirSource(turns: Int) {
        // Point (1, 2) in a 40x30 image; follow it through a turn and map it back.
        let (w, h) = (image.width, image.height)
        let p = Point(x: 1, y: 2)
        let turned: Point = switch turns {
        case 1: Point(x: h - p.y, y: p.x)        // clockwise
        case 2: Point(x: w - p.x, y: h - p.y)
        default: Point(x: p.y, y: w - p.x)
        }
        let m = SourceMapping.identity.rotated(quarterTurns: turns, width: w, height: h)
        let back = m.map(turned)
        #expect(abs(back.x - p.x) < 1e-9 && abs(back.y - p.y) < 1e-9)
    }

    @Test func flipsAndPadding() {
        let h = SourceMapping.identity.flipped(horizontal: true, extent: 40)
        #expect(h.map(Point(x: 0, y: 5)) == Point(x: 40, y: 5))
        let v = SourceMapping.identity.flipped(horizontal: false, extent: 30)
        #expect(v.map(Point(x: 3, y: 30)) == Point(x: 3, y: 0))
        let p = SourceMapping.identity.padded(left: 5, top: 7)
        #expect(p.map(Point(x: 5, y: 7)) == Point(x: 0, y: 0))
        let r = SourceMapping.identity.scaled(x: 2, y: 2).map(Rect(x: 10, y: 10, width: 20, height: 20))
        #expect(r == Rect(x: 5, y: 5, width: 10, height: 10))
    }
}

@Suite struct ResizePlanTests {
    func plan(_ w: Int, _ h: Int, _ tw: Int?, _ th: Int?, _ fit: Fit, enlarge: Bool = true) -> ResizePlan {
        ResizePlan.make(inputWidth: w, inputHeight: h, width: tw, height: th, fit: fit, allowEnlargement: enlarge)
    }

    @Test func coverCropsTheCentreToExactSize() {
        let p = plan(600, 400, 200, 200, .cover)
        #expect(p.region == PixelRect(x: 100, y: 0, width: 400, height: 400))
        #expect((p.canvasWidth, p.canvasHeight) == (200, 200))
    }

    @Test func containPadsToExactSize() {
        let p = plan(600, 400, 200, 200, .contain)
        #expect((p.scaledWidth, p.scaledHeight) == (200, 133))
        #expect((p.canvasWidth, p.canvasHeight, p.offsetX, p.offsetY) == (200, 200, 0, 33))
    }

    @Test func fillStretches() {
        let p = plan(600, 400, 100, 300, .fill)
        #expect((p.canvasWidth, p.canvasHeight) == (100, 300))
        #expect(p.region == PixelRect(x: 0, y: 0, width: 600, height: 400))
    }

    @Test func insideAndOutsideKeepTheAspect() {
        let inside = plan(600, 400, 300, 300, .inside)
        #expect((inside.canvasWidth, inside.canvasHeight) == (300, 200))
        let outside = plan(600, 400, 300, 300, .outside)
        #expect((outside.canvasWidth, outside.canvasHeight) == (450, 300))
    }

    @Test func noEnlargementUnlessAsked() {
        #expect((plan(100, 50, 400, 400, .inside, enlarge: false).canvasWidth) == 100)
        let cover = plan(100, 50, 400, 400, .cover, enlarge: false)
        #expect((cover.canvasWidth, cover.canvasHeight) == (50, 50))
        let contain = plan(100, 50, 400, 400, .contain, enlarge: false)
        #expect((contain.scaledWidth, contain.scaledHeight, contain.canvasWidth, contain.canvasHeight) == (100, 50, 400, 400))
        #expect(plan(100, 50, 400, 400, .inside, enlarge: true).canvasWidth == 400)
    }

    @Test func oneSideFollowsTheAspect() {
        let p = plan(600, 400, 300, nil, .cover)
        #expect((p.canvasWidth, p.canvasHeight) == (300, 200))
        let q = plan(600, 400, nil, 100, .contain)
        #expect((q.canvasWidth, q.canvasHeight) == (150, 100))
    }
}
