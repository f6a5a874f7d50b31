import Saliency
import Testing
@testable import SmartCrop

/// `auto`'s composition: the faces it trusts are constraints, the subject is the objective.
/// Scenes are synthetic importance maps (1 cell = 10 frame pixels) with face boxes in frame pixels.
@Suite struct CompositionTests {
    /// A map of `width` x `height` cells, 1 inside the given cell rectangles, a faint 0.02 elsewhere.
    func map(_ width: Int, _ height: Int, subject rects: [(Int, Int, Int, Int)]) -> ImportanceMap {
        var values = [Float](repeating: 0.02, count: width * height)
        for (x0, y0, w, h) in rects {
            for y in y0..<(y0 + h) { for x in x0..<(x0 + w) { values[y * width + x] = 1 } }
        }
        return ImportanceMap(width: width, height: height, values: values)
    }

    func face(_ x: Double, _ y: Double, _ size: Double) -> FaceFraming.Face {
        FaceFraming.Face(rect: Rect(x: x, y: y, width: size, height: size * 1.2))
    }

    func frame(_ faces: [FaceFraming.Face], image: (Int, Int), target: (Int, Int), subject: ImportanceMap?) throws -> PixelRect {
        try #require(FaceFraming.frame(.init(frameWidth: image.0, frameHeight: image.1, targetWidth: target.0,
                                             targetHeight: target.1, faces: faces, subject: subject))).rect
    }

    func holds(_ crop: PixelRect, _ r: Rect) -> Bool { crop.asRect.contains(r, tolerance: 0.5) }

    @Test func aFaceAtTheTopOfATallSubjectKeepsTheBodyInAWideCrop() throws {
        // A standing person, 1000 px tall, in a 1000 x 1600 portrait photo; the face is at the top.
        let person = map(100, 160, subject: [(40, 30, 20, 100)])
        let head = face(450, 300, 100)
        let body = Rect(x: 400, y: 300, width: 200, height: 1000)
        let plain = try frame([head], image: (1000, 1600), target: (16, 9), subject: nil)
        let composed = try frame([head], image: (1000, 1600), target: (16, 9), subject: person)
        #expect(holds(plain, head.rect) && holds(composed, head.rect))
        // Without the subject the face sits at the eye line of a 562-px-high crop, with the body cut off below it.
        let kept = { (crop: PixelRect) in (crop.asRect.intersection(body)?.area ?? 0) / body.area }
        #expect(kept(composed) > kept(plain) + 0.1, "body kept \(kept(composed)) vs \(kept(plain))")
        // And the face still has room above it.
        #expect(Double(composed.y) <= head.rect.y - 25)
    }

    @Test func aFaceBesideAnObjectKeepsBothWhenTheyFit() throws {
        // A landscape photo: a person at x 300, their product at x 1100..1400.
        let scene = map(200, 100, subject: [(25, 20, 15, 70), (110, 40, 30, 40)])
        let head = face(300, 200, 100)
        let product = Rect(x: 1100, y: 400, width: 300, height: 400)
        for target in [(1, 1), (4, 5), (16, 9)] {
            let crop = try frame([head], image: (2000, 1000), target: target, subject: scene)
            #expect(holds(crop, head.rect), "target \(target)")
            if AspectFit.largestCrop(width: 2000, height: 1000, targetWidth: target.0, targetHeight: target.1).width >= 1200 {
                #expect(holds(crop, product), "target \(target): \(crop)")
            }
        }
    }

    @Test func facesStayConstraintsWhateverTheSubjectSays() throws {
        // The subject is at the far right; the faces at the left must stay whole all the same.
        let scene = map(200, 100, subject: [(170, 10, 30, 80)])
        let faces = [face(100, 300, 120), face(260, 320, 110)]
        for target in [(1, 1), (4, 5), (9, 16)] {
            let crop = try frame(faces, image: (2000, 1000), target: target, subject: scene)
            for f in faces { #expect(holds(crop, f.rect), "target \(target)") }
        }
    }

    @Test func roomAroundTheMainFaceDoesNotCostAnotherFaceItsChin() throws {
        // Two people, one above the other (a couple, a parent holding a child): the faces span
        // 908 px and the 16:9 crop is 900 high, so they do not fit together with any room. Room
        // above the upper face would put the crop at the top and cut the lower chin; whole faces
        // come first, so the crop moves down until both are whole.
        let scene = map(160, 100, subject: [(30, 0, 100, 100)])
        let upper = face(400, 20, 400), lower = face(800, 460, 390)
        let crop = try frame([upper, lower], image: (1600, 1000), target: (16, 9), subject: scene)
        #expect(crop.height == 900)
        for f in [upper, lower] { #expect(f.rect.fractionInside(crop.asRect) >= 0.95, "\(f.rect) in \(crop)") }
        // With room to spare, the room is kept: a single face still gets half a face above it.
        let alone = try frame([face(400, 300, 300)], image: (1600, 1000), target: (16, 9), subject: scene)
        #expect(Double(alone.y) <= 300 - 150 + 0.5, "\(alone)")
    }

    @Test func roomAcrossIsTheHeadsWidthSoAFaceBesideItStaysWhole() throws {
        // A large headshot with a small face at the right (a child, a passer-by: too small to
        // count, 0.19 of the main face). The 4:5 crop is 688 px wide. Half a face height of room
        // either side (216 px) pinned it at x 136, cutting the small face to 63 %. A head is
        // about one and a half boxes wide, so a quarter of the width either side leaves the crop
        // free to move and hold the small face whole (95 % inside, the framing's own measure).
        let scene = map(100, 86, subject: [(30, 20, 38, 66)])
        let main = face(300, 220, 360), beside = face(780, 540, 70)
        let crop = try frame([main, beside], image: (1000, 860), target: (4, 5), subject: scene)
        #expect(crop.width == 688)
        #expect(beside.rect.fractionInside(crop.asRect) >= 0.95, "\(beside.rect) in \(crop)")
        // The main face keeps its room across: a quarter of its width on each side.
        #expect(Double(crop.x) <= 300 - 90 + 0.5 && Double(crop.x + crop.width) >= 660 + 90 - 0.5, "\(crop)")
    }

    @Test func theSubjectOnlyDecidesAmongPositionsThatHoldTheFaces() throws {
        // Two subjects either side of a face: the crop goes to the heavier one, and stays on the face.
        let scene = map(300, 100, subject: [(20, 20, 40, 60), (180, 30, 50, 60)])
        let head = face(1400, 400, 120)
        let crop = try frame([head], image: (3000, 1000), target: (1, 1), subject: scene)
        #expect(holds(crop, head.rect))
        #expect(crop.x > 1000, "the right subject (3000 cells) outweighs the left (2400): \(crop)")
    }

    @Test func compositionIsStableAcrossOutputSizesOfOneAspect() throws {
        let scene = map(160, 100, subject: [(40, 20, 60, 70)])
        let faces = [face(500, 250, 90)]
        let reference = try frame(faces, image: (1600, 1000), target: (1, 1), subject: scene)
        for size in [48, 128, 256, 400, 1080] {
            #expect(try frame(faces, image: (1600, 1000), target: (size, size), subject: scene) == reference)
        }
    }

    @Test func aFlatSubjectLeavesTheFaceFramingAsItWas() throws {
        let flat = ImportanceMap(width: 100, height: 100, values: [Float](repeating: 0.5, count: 10000), isFlat: true)
        let faces = [face(600, 200, 100)]
        let plain = try frame(faces, image: (1000, 1000), target: (16, 9), subject: nil)
        #expect(try frame(faces, image: (1000, 1000), target: (16, 9), subject: flat).y == plain.y)
    }

    func background(_ faces: [FaceFraming.Face], image: (Int, Int), target: (Int, Int), subject: ImportanceMap) throws -> Double? {
        let request = FaceFraming.Request(frameWidth: image.0, frameHeight: image.1, targetWidth: target.0, targetHeight: target.1,
                                          faces: faces, subject: subject)
        return FaceFraming.backgroundShare(of: try #require(FaceFraming.frame(request)), for: request)
    }

    @Test func aSmallFaceInTheBackgroundOfALargeSubjectLetsTheSubjectWin() throws {
        // A dancer fills the right half of a 2000 x 1000 photo; an onlooker's 60-px face is at the far left.
        let dancer = map(200, 100, subject: [(120, 10, 60, 85)])
        let onlooker = face(80, 300, 60)
        let share = try #require(try background([onlooker], image: (2000, 1000), target: (1, 1), subject: dancer))
        #expect(share < 0.5)
        // In a crop wide enough for both, the face and the dancer share it: the face steers.
        #expect(try background([onlooker], image: (2000, 1000), target: (191, 100), subject: dancer) == nil)
    }

    @Test func aSmallFaceOnTheSubjectOrALargeFaceStillSteers() throws {
        let dancer = map(200, 100, subject: [(120, 10, 60, 85)])
        // The dancer's own face, at the top of the subject.
        #expect(try background([face(1400, 120, 60)], image: (2000, 1000), target: (1, 1), subject: dancer) == nil)
        // A face of a fifth of the image's height is a portrait, wherever the subject map points.
        #expect(try background([face(80, 300, 200)], image: (2000, 1000), target: (1, 1), subject: dancer) == nil)
    }
}
