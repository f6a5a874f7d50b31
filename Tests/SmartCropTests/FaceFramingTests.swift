import Testing
@testable import SmartCrop

/// Pure geometry: faces in, a crop rectangle out.
@Suite struct FaceFramingTests {
    func face(_ x: Double, _ y: Double, _ size: Double, eyes: Double? = nil) -> FaceFraming.Face {
        FaceFraming.Face(rect: Rect(x: x, y: y, width: size, height: size * 1.2), eyeY: eyes)
    }

    func frame(_ faces: [FaceFraming.Face], image: (Int, Int), target: (Int, Int), policy: FacePolicy = .all,
               preset: FacePreset? = nil, padding: Double = 0) -> FaceFraming.Result? {
        FaceFraming.frame(.init(frameWidth: image.0, frameHeight: image.1, targetWidth: target.0, targetHeight: target.1,
                                faces: faces, policy: policy, preset: preset, padding: padding))
    }

    func contains(_ crop: PixelRect, _ f: FaceFraming.Face) -> Bool { crop.asRect.contains(f.rect, tolerance: 0.5) }

    @Test func noFacesMeansNoFraming() {
        #expect(frame([], image: (400, 300), target: (1, 1)) == nil)
    }

    @Test(arguments: [
        // image, face x, y — a face near every edge and corner of wide, tall and square images
        (1600, 600, 20.0, 250.0), (1600, 600, 1480.0, 250.0), (1600, 600, 760.0, 30.0),
        (600, 1600, 250.0, 20.0), (600, 1600, 250.0, 1450.0), (600, 1600, 20.0, 800.0),
        (1000, 1000, 10.0, 10.0), (1000, 1000, 880.0, 870.0),
    ])
    func positionOnlyKeepsTheFaceAndUsesTheLargestCrop(w: Int, h: Int, x: Double, y: Double) throws {
        let f = face(x, y, 100)
        for target in [(1, 1), (4, 5), (9, 16), (16, 9), (191, 100)] {
            let r = try #require(frame([f], image: (w, h), target: target))
            let largest = AspectFit.largestCrop(width: w, height: h, targetWidth: target.0, targetHeight: target.1)
            #expect((r.rect.width, r.rect.height) == largest, "target \(target)")
            #expect(contains(r.rect, f), "target \(target): crop \(r.rect) misses face at \(x),\(y)")
            #expect(PixelRect(x: 0, y: 0, width: w, height: h).contains(r.rect))
        }
    }

    @Test func faceIsCentredAcrossAndEyesSitHighInTallCrops() throws {
        // A face in the middle of a tall image: a square crop puts the eye line 40 % down.
        let f = face(250, 700, 100, eyes: 745)
        let r = try #require(frame([f], image: (600, 1600), target: (1, 1)))
        #expect(r.rect.y == Int((745 - 0.4 * 600).rounded()))
        // Across a wide image the face is centred.
        let g = face(700, 100, 100)
        let s = try #require(frame([g], image: (1600, 600), target: (1, 1)))
        #expect(abs(Double(s.rect.x) + 300 - 750) <= 1)
    }

    @Test(arguments: FacePreset.allCases)
    func presetsFrameTheFaceAtTheirShare(preset: FacePreset) throws {
        let f = face(900, 500, 80, eyes: 540)   // 96 px tall face in a big image
        let r = try #require(frame([f], image: (3000, 2000), target: (1, 1), preset: preset))
        let share = f.rect.height / Double(r.rect.height)
        #expect(abs(share - FaceFraming.faceShare(preset)) < 0.01, "\(preset): share \(share)")
        #expect(contains(r.rect, f))
        // Eye line 40 % from the top.
        #expect(abs((540 - Double(r.rect.y)) / Double(r.rect.height) - FaceFraming.eyeLine) < 0.01)
    }

    @Test func presetsGetTighterInOrder() throws {
        let f = face(900, 500, 80)
        let heights = try FacePreset.allCases.map { try #require(frame([f], image: (3000, 2000), target: (1, 1), preset: $0)).rect.height }
        #expect(heights == heights.sorted())
    }

    @Test func framingLargerThanTheImageShrinksToTheLargestCrop() throws {
        let f = face(100, 100, 150)
        let r = try #require(frame([f], image: (500, 400), target: (1, 1), preset: .halfBody))
        #expect((r.rect.width, r.rect.height) == (400, 400))
        #expect(contains(r.rect, f))
    }

    @Test func framingNearAnEdgeShiftsInside() throws {
        let f = face(5, 5, 60)
        let r = try #require(frame([f], image: (2000, 2000), target: (1, 1), preset: .upperBody))
        #expect(r.rect.x == 0 && r.rect.y == 0)
        #expect(contains(r.rect, f))
    }

    @Test func paddingAddsRoom() throws {
        let f = face(900, 500, 80)
        let plain = try #require(frame([f], image: (3000, 2000), target: (1, 1), preset: .closeup))
        let padded = try #require(frame([f], image: (3000, 2000), target: (1, 1), preset: .closeup, padding: 20))
        #expect(abs(Double(padded.rect.height) / Double(plain.rect.height) - 1.2) < 0.02)
    }

    @Test func groupsThatFitAreAllKept() throws {
        let people = [face(300, 300, 100), face(600, 320, 90), face(900, 280, 110)]
        let r = try #require(frame(people, image: (2000, 1200), target: (1, 1)))
        for p in people { #expect(contains(r.rect, p)) }
        let tight = try #require(frame(people, image: (2000, 1200), target: (1, 1), preset: .closeup))
        for p in people { #expect(contains(tight.rect, p), "a preset widens to hold the group") }
    }

    @Test func tinyBackgroundFacesDoNotDragTheCrop() throws {
        // One big face on the left; a crowd of tiny faces on the right.
        var faces = [face(100, 200, 200)]
        for i in 0..<8 { faces.append(face(1500 + Double(i) * 40, 100, 30)) }
        let r = try #require(frame(faces, image: (2000, 800), target: (1, 1)))
        #expect(r.significant == [0])
        #expect(r.focus == [0])
        #expect(contains(r.rect, faces[0]))
        #expect(r.rect.x < 100)
    }

    @Test func whenFacesCannotFitTheLargestIsKeptWithTheMostWholeFaceArea() throws {
        // Square crop of a 3:1 panorama: the biggest face on the left edge, two medium faces
        // beyond reach on the right, one medium face near the biggest one.
        let faces = [face(50, 100, 150), face(420, 120, 100), face(2400, 100, 120), face(2700, 110, 120)]
        let r = try #require(frame(faces, image: (3000, 1000), target: (1, 1)))
        #expect(contains(r.rect, faces[0]))
        #expect(contains(r.rect, faces[1]), "the face that can come along does")
        #expect(r.note != nil)
    }

    @Test func facesAreNotCutWhenMovingAvoidsIt() throws {
        // Two faces side by side whose union doesn't fit a tall crop; the crop must not cut the
        // second one in half, though it may leave it out.
        let a = face(400, 400, 200), b = face(640, 420, 180)
        let r = try #require(frame([a, b], image: (1400, 1000), target: (9, 16)))
        #expect(contains(r.rect, a))
        let inside = b.rect.fractionInside(r.rect.asRect)
        #expect(inside < 0.05 || inside > 0.95, "second face \(inside) inside")
    }

    @Test func aFaceTallerThanTheCropKeepsTheEyeLineWhereItBelongs() throws {
        // A HELEN headshot cropped wide: the face box (442 px) is taller than any 16:9 crop
        // (361 px), so every position cuts it by the same amount. Rounding noise in that equal
        // cut must not decide: the eye line goes 40 % down, as for any other crop.
        let f = FaceFraming.Face(rect: Rect(x: 145.2, y: 177.7, width: 344.1, height: 441.5), eyeY: 377.3)
        let r = try #require(frame([f], image: (641, 800), target: (16, 9)))
        #expect(r.rect.height == 361)
        let ideal = 377.3 - FaceFraming.eyeLine * 360.5625
        #expect(abs(Double(r.rect.y) - ideal) <= 1, "crop \(r.rect), ideal y \(ideal)")
        // Same on the other axis: a face wider than a 9:16 crop is centred across.
        let g = FaceFraming.Face(rect: Rect(x: 101.3, y: 60.7, width: 419.9, height: 470.3), eyeY: 250.1)
        let s = try #require(frame([g], image: (700, 600), target: (9, 16)))
        #expect(abs(Double(s.rect.x) + Double(s.rect.width) / 2 - g.rect.midX) <= 1, "crop \(s.rect), face centre \(g.rect.midX)")
    }

    @Test func policiesPickTheirFaces() throws {
        let people = [face(100, 300, 100), face(1700, 300, 140)]
        let largest = try #require(frame(people, image: (2000, 800), target: (1, 1), policy: .largest))
        #expect(largest.focus == [1])
        #expect(contains(largest.rect, people[1]))
        let first = try #require(frame(people, image: (2000, 800), target: (1, 1), policy: .index(0)))
        #expect(first.focus == [0])
        #expect(contains(first.rect, people[0]))
        let missing = try #require(frame(people, image: (2000, 800), target: (1, 1), policy: .index(7)))
        #expect(missing.focus == [1])
        #expect(missing.note?.contains("no face 7") == true)
    }

    @Test func sameFacesSameRectangleWhateverTheOutputSize() throws {
        // Only the aspect ratio matters.
        let people = [face(500, 300, 120), face(760, 330, 100)]
        let rects = try [(48, 48), (128, 128), (256, 256), (400, 400)].map {
            try #require(frame(people, image: (2400, 1600), target: $0)).rect
        }
        #expect(Set(rects).count == 1)
    }
}
