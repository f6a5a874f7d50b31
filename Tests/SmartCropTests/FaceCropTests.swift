import Foundation
import Testing
@testable import SmartCrop

/// Face-aware crops on scenes composed from a real portrait: scikit-image's `astronaut.png`
/// (NASA, public domain), which `make samples` unpacks. The face in it sits at about
/// (178, 60, 90 × 115) of its 512 × 512 pixels.
@Suite(.enabled(if: Samples.exists("astronaut.png"), "needs .assets/samples/astronaut.png from `make samples`"))
struct FaceCropTests {
    static let faceInPortrait = Rect(x: 178, y: 60, width: 90, height: 115)
    static let aspects = [(256, 256), (256, 320), (270, 480), (480, 270), (382, 200)]

    /// A canvas with the portrait pasted at `places` (top-left corner, scale); returns the PNG
    /// and where each face is.
    struct Scene {
        let data: Data
        let width: Int
        let height: Int
        let faces: [Rect]
    }

    static let portrait: (pixels: [UInt8], size: Int) = {
        let image = try! OpenedSource(.file(Samples.path("astronaut.png"))).decode(scale: 1)
        return (try! image.rgbBytes(), image.width)
    }()

    func scene(width: Int, height: Int, places: [(x: Int, y: Int, scale: Double)], orientation: Int = 1) throws -> Scene {
        var canvas = try Synthetic.texture(width: width, height: height, amplitude: 12, base: 150)
        var faces: [Rect] = []
        let source = try Image.fromPixels(Self.portrait.pixels, width: Self.portrait.size, height: Self.portrait.size, bands: 3)
        for place in places {
            let side = Int(Double(Self.portrait.size) * place.scale)
            let scaled = try source.resized(toWidth: side, height: side).rgbBytes()
            for y in 0..<side where place.y + y >= 0 && place.y + y < height {
                for x in 0..<side where place.x + x >= 0 && place.x + x < width {
                    let to = 3 * ((place.y + y) * width + place.x + x), from = 3 * (y * side + x)
                    canvas[to] = scaled[from]; canvas[to + 1] = scaled[from + 1]; canvas[to + 2] = scaled[from + 2]
                }
            }
            let f = Self.faceInPortrait.scaled(x: place.scale, y: place.scale)
            faces.append(Rect(x: f.x + Double(place.x), y: f.y + Double(place.y), width: f.width, height: f.height))
        }
        var image = try Image.fromPixels(canvas, width: width, height: height, bands: 3)
        var suffix = ".png"
        if orientation != 1 {
            // Store the pixels turned back, tagged so that applying the tag shows the scene upright.
            image = try image.rotated(orientation == 6 ? 3 : 1).strippedMetadata(keepingICC: false)
            setOrientation(image, orientation)
            suffix = ".jpg[Q=92]"
        }
        return Scene(data: try Synthetic.encode(image, suffix), width: width, height: height, faces: faces)
    }

    func crop(_ scene: Scene, _ size: (Int, Int), mode: CropMode = .auto, preset: FacePreset? = nil,
              policy: FacePolicy = .all) throws -> PipelineOutput {
        var settings = SmartCropSettings(width: size.0, height: size.1, mode: mode)
        settings.facePreset = preset
        settings.faces = policy
        return try PipelineRunner.run(Pipeline([.smartCrop(settings), .convert(ConvertOperation(format: .webp))]),
                                      on: .data(scene.data), options: PipelineOptions(faceModels: try FaceModels(yunetModel: nil)))
    }

    func inside(_ face: Rect, _ crop: PixelRect?, share: Double = 0.9) -> Bool {
        guard let crop else { return false }
        return face.fractionInside(crop.asRect) >= share
    }

    @Test(arguments: [
        // canvas, where the person stands
        (1600, 600, 10, 100), (1600, 600, 1280, 100),     // far left, far right of a wide shot
        (600, 1600, 100, 0), (600, 1600, 100, 1280),      // top, bottom of a tall one
    ])
    func faceAtTheEdgeIsKeptInEveryAspect(w: Int, h: Int, x: Int, y: Int) throws {
        let s = try scene(width: w, height: h, places: [(x, y, 0.6)])
        for aspect in Self.aspects {
            let out = try crop(s, aspect)
            #expect(out.decision?.strategy == "face", "\(aspect)")
            #expect(inside(s.faces[0], out.decision?.crop), "\(aspect): crop \(String(describing: out.decision?.crop)) misses \(s.faces[0])")
            #expect((out.width, out.height) == aspect)
        }
    }

    /// Faces down to about 20 px on the 640 px analysis image (here 40 px of a 1000 px scene).
    @Test(arguments: [0.45, 0.7, 1.0])
    func facesOfEveryScaleAreFound(scale: Double) throws {
        let s = try scene(width: 1000, height: 700, places: [(1000 - Int(512 * scale) - 10, 700 - Int(512 * scale), scale)])
        let out = try crop(s, (256, 256))
        #expect(out.decision?.strategy == "face")
        #expect(inside(s.faces[0], out.decision?.crop))
        let found = try #require(out.decision?.faces.first)
        #expect(found.rect.fractionInside(s.faces[0].insetBy(dx: -s.faces[0].width * 0.3, dy: -s.faces[0].height * 0.3)) > 0.8)
    }

    @Test func twoAndThreePeopleAreKeptTogetherWhenTheyFit() throws {
        let two = try scene(width: 1500, height: 700, places: [(150, 150, 0.55), (700, 120, 0.55)])
        for aspect in [(480, 270), (382, 200), (256, 256)] {
            let out = try crop(two, aspect)
            for face in two.faces { #expect(inside(face, out.decision?.crop), "\(aspect)") }
        }
        let three = try scene(width: 1500, height: 600, places: [(60, 100, 0.6), (500, 110, 0.6), (940, 90, 0.6)])
        let wide = try crop(three, (480, 270))
        for face in three.faces { #expect(inside(face, wide.decision?.crop)) }
        #expect(wide.decision?.usedFaces.count == 3)
        // A square cannot hold all three: it holds the largest, and no face is cut in half.
        let square = try crop(three, (256, 256))
        let c = try #require(square.decision?.crop)
        #expect(three.faces.contains { inside($0, c) })
        for face in three.faces {
            let share = face.fractionInside(c.asRect)
            #expect(share < 0.1 || share > 0.9, "face cut: \(share)")
        }
    }

    @Test func aTinyBackgroundFaceDoesNotDragTheCrop() throws {
        let s = try scene(width: 2000, height: 800, places: [(40, 100, 1.0), (1750, 200, 0.25)])
        let out = try crop(s, (256, 256))
        let decision = try #require(out.decision)
        #expect(inside(s.faces[0], decision.crop))
        #expect(decision.crop.x < 200, "crop \(decision.crop) should stay with the big face")
        if decision.faces.count > 1 {
            #expect(decision.usedFaces.count == 1)
        }
    }

    @Test(arguments: [6, 8])
    func rotatedPhotosAreCroppedUpright(orientation: Int) throws {
        let s = try scene(width: 1400, height: 600, places: [(20, 60, 0.6)], orientation: orientation)
        let out = try crop(s, (256, 256))
        #expect((out.source.width, out.source.height) == (1400, 600))
        #expect(out.decision?.strategy == "face")
        #expect(inside(s.faces[0], out.decision?.crop), "\(String(describing: out.decision?.crop))")
    }

    @Test(arguments: FacePreset.allCases)
    func presetsFrameTheFaceWithinTheirBand(preset: FacePreset) throws {
        let s = try scene(width: 2400, height: 2000, places: [(900, 400, 0.8)])
        let out = try crop(s, (256, 256), mode: .face, preset: preset)
        let decision = try #require(out.decision)
        let face = try #require(decision.faces.first)
        let share = face.height / Double(decision.crop.height)
        let nominal = FaceFraming.faceShare(preset)
        #expect(abs(share - nominal) <= 0.2 * nominal, "\(preset): face is \(share) of the crop height")
        #expect(inside(s.faces[0], decision.crop, share: 0.95))
    }

    @Test func theSameCropAtEverySize() throws {
        let s = try scene(width: 1600, height: 900, places: [(1000, 200, 0.7)])
        let sizes = [48, 128, 256, 400]
        // One call, many sizes: one decode, one detection, identical rectangles.
        let source = try OpenedSource(.data(s.data))
        let variants = try PipelineRunner.variants(sizes.map { ("\($0)", Pipeline([.smartCrop(SmartCropSettings(width: $0, height: $0))])) },
                                                   on: source, options: PipelineOptions(faceModels: try FaceModels(yunetModel: nil)))
        #expect(Set(variants.map { $0.1.decision!.crop }).count == 1)
        // Separate calls decode at different sizes; the crop moves by at most 1 % of the image.
        let rects = try sizes.map { try #require(try crop(s, ($0, $0)).decision?.crop) }
        for r in rects {
            #expect(abs(r.x - rects[0].x) <= 16 && abs(r.y - rects[0].y) <= 9 && r.width == rects[0].width, "\(rects)")
        }
    }

    @Test(.enabled(if: Samples.exists("coffee.png"), "needs .assets/samples/coffee.png"))
    func noFaceFallsBackToTheSubjectAndAFlatImageToTheCentre() throws {
        let coffee = try Data(contentsOf: URL(fileURLWithPath: Samples.path("coffee.png")))
        let out = try PipelineRunner.run(Pipeline([.smartCrop(SmartCropSettings(width: 200, height: 200))]), on: .data(coffee),
                                         options: PipelineOptions(faceModels: try FaceModels(yunetModel: nil)))
        #expect(out.decision?.strategy == "subject")
        #expect(out.decision?.fallback == "no face found")
        let flat = try Synthetic.encode(try Synthetic.image(width: 300, height: 200, background: (90, 90, 90)), ".png")
        let centre = try run([.smartCrop(SmartCropSettings(width: 50, height: 50))], on: flat)
        #expect(centre.decision?.strategy == "center")
    }
}

import CVips
func setOrientation(_ image: Image, _ orientation: Int) {
    vips_image_set_int(image.pointer, "orientation", Int32(orientation))
}
