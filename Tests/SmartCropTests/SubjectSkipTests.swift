import Saliency
import Testing
import OnnxTestSupport
@testable import SmartCrop

/// `auto` runs the subject model only where its map could move the crop. The rule is decided
/// from face boxes and crop geometry alone (`FaceFraming.subjectCanMove`), so these scenes are
/// synthetic: face boxes in frame pixels and, to check the rule's promise, random subject maps.
@Suite struct SubjectSkipTests {
    func face(_ x: Double, _ y: Double, _ width: Double, _ height: Double? = nil) -> FaceFraming.Face {
        FaceFraming.Face(rect: Rect(x: x, y: y, width: width, height: height ?? width * 1.2))
    }

    func request(_ faces: [FaceFraming.Face], image: (Int, Int), target: (Int, Int), preset: FacePreset? = nil,
                 subject: ImportanceMap? = nil) -> FaceFraming.Request {
        FaceFraming.Request(frameWidth: image.0, frameHeight: image.1, targetWidth: target.0, targetHeight: target.1,
                            faces: faces, preset: preset, subject: subject)
    }

    @Test func aHeadshotInASquareSkips() {
        // A 600 x 800 portrait to a square: the crop is the image's width, and the face with its
        // room (half a face above and below) fills the crop's height.
        #expect(!FaceFraming.subjectCanMove(request([face(150, 150, 300)], image: (600, 800), target: (256, 256))))
        // The same face in a square photo: there is one square crop of the largest size.
        #expect(!FaceFraming.subjectCanMove(request([face(150, 150, 300)], image: (600, 600), target: (256, 256))))
    }

    @Test func aFaceThatFillsTheCropSkips() {
        // 2000 x 2400 in a 3000-px square of a 4000 x 3000 photo: its room takes the rest.
        #expect(!FaceFraming.subjectCanMove(request([face(1000, 300, 2000)], image: (4000, 3000), target: (400, 400))))
    }

    @Test func aFaceTooBigForTheCropSkips() {
        // Taller than the 16:9 crop's 1000 px: it is placed by its eye line, whatever the subject.
        #expect(!FaceFraming.subjectCanMove(request([face(600, 0, 800, 1100)], image: (2000, 1000), target: (480, 270))))
    }

    @Test func aSmallFaceBesideALargeObjectDoesNotSkip() {
        #expect(FaceFraming.subjectCanMove(request([face(300, 200, 100)], image: (2000, 1000), target: (256, 256))))
        // Nor a medium face with room to spare in a wide crop of a tall photo.
        #expect(FaceFraming.subjectCanMove(request([face(450, 300, 100)], image: (1000, 1600), target: (480, 270))))
        // "A pixel of the output" is the output's: the same free range that matters for a 256-px
        // avatar is under a pixel of a 4-px one.
        #expect(FaceFraming.subjectCanMove(request([face(300, 300, 400)], image: (1000, 1200), target: (256, 256))))
        #expect(!FaceFraming.subjectCanMove(request([face(300, 300, 400)], image: (1000, 1200), target: (4, 4))))
    }

    @Test func smallFacesThatPinTheCropStillLetTheSubjectWeighIn() {
        // Two small faces (under a tenth of the shorter side) at both edges of a 3000-px square
        // pin it, but the subject may outweigh them elsewhere in the 4000-px-wide photo.
        let faces = [face(10, 1400, 120), face(2870, 1400, 120)]
        #expect(FaceFraming.subjectCanMove(request(faces, image: (4000, 3000), target: (256, 256))))
        // When the crop has nowhere else to go, they cannot be outweighed.
        #expect(!FaceFraming.subjectCanMove(request(faces, image: (3000, 3000), target: (256, 256))))
    }

    @Test func noFaceToFrameSkipsNothingItNeeds() {
        // With no face the crop falls back to the subject strategy, which looks at the subject itself.
        #expect(!FaceFraming.subjectCanMove(request([], image: (1000, 1000), target: (256, 256))))
    }

    /// A map with one to three bright blobs at random places, on a faint background.
    func randomMap(_ rng: inout SplitMix) -> ImportanceMap {
        let (w, h) = (64, 48)
        var values = [Float](repeating: 0.02, count: w * h)
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let bw = Int.random(in: 3...30, using: &rng), bh = Int.random(in: 3...30, using: &rng)
            let x0 = Int.random(in: 0...(w - bw), using: &rng), y0 = Int.random(in: 0...(h - bh), using: &rng)
            for y in y0..<(y0 + bh) { for x in x0..<(x0 + bw) { values[y * w + x] = 1 } }
        }
        return ImportanceMap(width: w, height: h, values: values)
    }

    /// The rule's promise: where it says the subject cannot move the crop, no subject map moves
    /// it by a pixel of the output (or a pixel of the frame, for crops smaller than the output),
    /// and none outweighs the faces; and where it skips, the skipped framing is that crop.
    @Test func whereItSkipsNoSubjectMovesTheCrop() throws {
        var rng = SplitMix(seed: 24)
        var skipped = 0, ran = 0
        for _ in 0..<600 {
            let image = (Int.random(in: 200...4000, using: &rng), Int.random(in: 200...4000, using: &rng))
            let target = [(48, 48), (256, 256), (256, 320), (270, 480), (480, 270), (382, 200), (1200, 630)].randomElement(using: &rng)!
            let shorter = Double(min(image.0, image.1))
            var faces: [FaceFraming.Face] = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let w = shorter * Double.random(in: 0.03...0.9, using: &rng)
                let h = min(w * Double.random(in: 1.0...1.35, using: &rng), Double(image.1))
                faces.append(face(Double.random(in: 0...(Double(image.0) - w), using: &rng),
                                  Double.random(in: 0...(Double(image.1) - h), using: &rng), w, h))
            }
            let preset: FacePreset? = Bool.random(using: &rng) ? nil : FacePreset.allCases.randomElement(using: &rng)
            let pending = request(faces, image: image, target: target, preset: preset)
            if FaceFraming.subjectCanMove(pending) { ran += 1; continue }
            skipped += 1
            var skip = pending
            skip.subjectSkipped = true
            let without = try #require(FaceFraming.frame(skip))
            let pixel = max(Double(without.rect.width) / Double(target.0), 1)
            for _ in 0..<4 {
                let withSubject = request(faces, image: image, target: target, preset: preset, subject: randomMap(&rng))
                let framed = try #require(FaceFraming.frame(withSubject))
                let moved = max(abs(framed.rect.x - without.rect.x), abs(framed.rect.y - without.rect.y))
                #expect(Double(moved) <= pixel, "\(faces) in \(image) to \(target): \(framed.rect) vs \(without.rect)")
                #expect(framed.rect.width == without.rect.width && framed.rect.height == without.rect.height)
                #expect(FaceFraming.backgroundShare(of: framed, for: withSubject) == nil)
            }
        }
        // Both answers are common enough to have been tested.
        #expect(skipped > 50 && ran > 50, "skipped \(skipped), ran \(ran)")
    }
}

/// The rule in the pipeline, on a real portrait: the square crop of the square astronaut is
/// pinned by her face, the 1200x630 card is not.
@Suite(.enabled(if: Samples.exists("astronaut.png"), "needs .assets/samples/astronaut.png from `make samples`"))
struct SubjectSkipPipelineTests {
    func variants(_ sizes: [(Int, Int)]) throws -> [PipelineOutput] {
        var options = PipelineOptions()
        options.subjectModels = .heuristic
        let source = try OpenedSource(.file(Samples.path("astronaut.png")))
        return try PipelineRunner.variants(sizes.map { size in
            ("\(size.0)x\(size.1)", Pipeline([.smartCrop(SmartCropSettings(width: size.0, height: size.1, mode: .auto))]))
        }, on: source, options: options).map(\.1)
    }

    @Test func theSubjectIsAnalysedOnlyForTheVariantsItCanMove() throws {
        let squares = try variants([(256, 256), (48, 48)])
        for out in squares {
            #expect(out.decision?.strategy == "face")
            #expect(out.decision?.subjectSource == .skipped)
            // "subject" times making the subject map: it was never made.
            #expect(out.timings["subject"] == nil, "\(out.timings)")
        }
        let mixed = try variants([(256, 256), (1200, 630)])
        #expect(mixed[0].decision?.subjectSource == .skipped)
        #expect(mixed[1].decision?.subjectSource == .heuristic)
        #expect(mixed[1].timings["subject"] != nil, "\(mixed[1].timings)")
        // Skipping changes nothing about the square crop.
        #expect(mixed[0].decision?.crop == squares[0].decision?.crop)
        // A map another variant already made costs nothing, so it is used: the card first, and
        // the square follows the map, in the same place.
        let cardFirst = try variants([(1200, 630), (256, 256)])
        #expect(cardFirst[1].decision?.subjectSource == .heuristic)
        #expect(cardFirst[1].decision?.crop == squares[0].decision?.crop)
    }
}
