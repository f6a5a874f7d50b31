import Foundation
import Testing
@testable import SmartCrop

@Suite struct PipelineParsingTests {
    func parse(_ json: String) throws -> Pipeline { try Pipeline.parse(Data(json.utf8)) }

    func error(_ json: String) -> SmartCropError? {
        do { _ = try parse(json); return nil } catch let e as SmartCropError { return e } catch { return nil }
    }

    @Test func theDocumentedExamplesParse() throws {
        let p = try parse("""
        [{"type": "smart_crop", "width_in_px": 256, "height_in_px": 256},
         {"type": "resize", "width_in_px": 200, "height_in_px": 200, "fit": "cover"},
         {"type": "crop", "rect": {"x": 1, "y": 2, "width": 30, "height": 40}},
         {"type": "crop", "gravity": "focal_point", "width": 50, "height": 60, "focal_x": 0.2, "focal_y": 0.7},
         {"type": "trim", "threshold": 12},
         {"type": "sharpen", "sigma": 0.5},
         {"type": "rotate", "angle": 270},
         {"type": "flip", "direction": "horizontal"},
         {"type": "blur", "sigma": 2},
         {"type": "pad", "all": 4, "color": "#102030"},
         {"type": "convert", "format": "webp", "quality": 85}]
        """)
        #expect(p.operations.count == 11)
        #expect(p.operations[0] == .smartCrop(SmartCropSettings(width: 256, height: 256)))
        #expect(p.operations[2] == .crop(CropOperation(rect: PixelRect(x: 1, y: 2, width: 30, height: 40))))
        #expect(p.operations[3] == .crop(CropOperation(gravity: .focalPoint, width: 50, height: 60, focal: Point(x: 0.2, y: 0.7))))
        #expect(p.operations[6] == .rotate(quarterTurns: 3))
        #expect(p.operations[7] == .flip(horizontal: true, vertical: false))
        #expect(p.operations[9] == .pad(PadOperation(top: 4, right: 4, bottom: 4, left: 4, colour: Colour(red: 16, green: 32, blue: 48))))
        #expect(p.operations[10] == .convert(ConvertOperation(format: .webp, quality: 85)))
    }

    @Test func roundTripsThroughCodable() throws {
        let p = try parse("""
        [{"type": "smart_crop", "width": 100, "height": 50, "mode": "face", "facePreset": "upper-body", "padding": 10,
          "faces": "index:2", "sensitivity": 0.7, "padColor": "#ff0000", "quality": 70},
         {"type": "resize", "width_in_px": 20, "fit": "inside", "without_enlargement": false},
         {"type": "convert", "format": "avif"}]
        """)
        let again = try JSONDecoder().decode(Pipeline.self, from: JSONEncoder().encode(p))
        #expect(again == p)
        guard case .smartCrop(let s) = p.operations[0] else { Issue.record("not a smart crop"); return }
        #expect(s.mode == .face && s.facePreset == .upperBody && s.faces == .index(2) && s.quality == 70)
    }

    @Test func convertKeepsMetadataOnlyWhenAsked() throws {
        let p = try parse(#"[{"type": "convert", "format": "jpeg", "keep_icc": true, "keep_metadata": true}]"#)
        guard case .convert(let c) = p.operations[0] else { Issue.record("not a convert"); return }
        #expect(c.keepICC && c.keepMetadata)
        #expect(try JSONDecoder().decode(Pipeline.self, from: JSONEncoder().encode(p)) == p)
        guard case .convert(let plain) = try parse(#"[{"type": "convert", "format": "jpeg"}]"#).operations[0] else { return }
        #expect(!plain.keepICC && !plain.keepMetadata)
        #expect(error(#"[{"type": "convert", "format": "jpeg", "keep_icc": "yes"}]"#)?.message != nil)
        // Through the runner: a tagged PNG keeps its profile only when asked.
        let tagged = try Synthetic.encode(try Synthetic.image(width: 32, height: 32, background: (20, 90, 160))
            .iccTransformed(to: "srgb", from: "srgb"), ".png")
        #expect(try OpenedSource(.data(tagged)).info.hasICCProfile)
        let lean = try run([.convert(ConvertOperation(format: .jpeg))], on: tagged)
        #expect(try !OpenedSource(.data(lean.data)).info.hasICCProfile)
        var keep = ConvertOperation(format: .jpeg)
        keep.keepICC = true
        #expect(try OpenedSource(.data(try run([.convert(keep)], on: tagged).data)).info.hasICCProfile)
    }

    @Test func formatAutoIsNegotiatedFromAccept() throws {
        let p = try parse(#"[{"type": "smart_crop", "width_in_px": 10}, {"type": "convert", "format": "auto", "quality": 70}]"#)
        #expect(p.negotiatesFormat)
        func format(_ accept: String?) -> ImageFormat? {
            guard case .convert(let c)? = p.negotiatingFormat(accept: accept).operations.last else { return nil }
            #expect(c.quality == 70)
            return c.format
        }
        #expect(format("image/avif,image/webp,*/*") == .avif)
        #expect(format("text/html, image/webp;q=0.9") == .webp)
        #expect(format("image/avif;q=0,image/webp") == .webp)
        #expect(format("*/*") == .jpeg)
        #expect(format(nil) == .jpeg)
        #expect(try JSONDecoder().decode(Pipeline.self, from: JSONEncoder().encode(p)) == p, "auto survives a round trip")
        #expect(!(try parse(#"[{"type": "convert", "format": "png"}]"#).negotiatesFormat))
    }

    @Test func toolFormLegacyModesMap() throws {
        guard case .smartCrop(let a) = try parse(#"[{"type":"smart_crop","mode":"attention"}]"#).operations[0],
              case .smartCrop(let c) = try parse(#"[{"type":"smart_crop","mode":"content"}]"#).operations[0] else {
            Issue.record("not smart crops"); return
        }
        #expect(a.mode == .subject)
        #expect(c.mode == .trim)
        #expect(a.outputSize! == (1080, 1080))
    }

    @Test(arguments: [
        (#"[{"type": "zoom"}]"#, "operations[0].type", "unknown operation \"zoom\""),
        (#"[{"type": "convert", "format": "webp"}, {"type": "smart_crop", "width_in_px": 0}]"#, "operations[1].width_in_px", "must be between 1 and 16384, got 0"),
        (#"[{"type": "smart_crop", "width_in_px": -5}]"#, "operations[0].width_in_px", "must be between 1 and 16384, got -5"),
        (#"[{"type": "smart_crop", "width_in_px": 100000}]"#, "operations[0].width_in_px", "must be between 1 and 16384, got 100000"),
        (#"[{"type": "smart_crop", "width_in_px": 12.5}]"#, "operations[0].width_in_px", "must be an integer"),
        (#"[{"type": "smart_crop", "widht_in_px": 100}]"#, "operations[0].widht_in_px", "is not a known field"),
        (#"[{"type": "resize", "fit": "cover"}]"#, "operations[0].width_in_px", "width_in_px or height_in_px is required"),
        (#"[{"type": "resize", "width_in_px": 10, "fit": "squash"}]"#, "operations[0].fit", "must be one of cover, contain, fill, inside, outside"),
        (#"[{"type": "rotate", "angle": 45}]"#, "operations[0].angle", "must be a multiple of 90, got 45"),
        (#"[{"type": "rotate"}]"#, "operations[0].angle", "is required"),
        (#"[{"type": "blur"}]"#, "operations[0].sigma", "is required"),
        (#"[{"type": "sharpen", "sigma": 50}]"#, "operations[0].sigma", "must be between"),
        (#"[{"type": "convert", "format": "bmp"}]"#, "operations[0].format", "must be one of jpeg, png, webp, avif"),
        (#"[{"type": "convert", "format": "webp", "quality": 0}]"#, "operations[0].quality", "must be between 1 and 100, got 0"),
        (#"[{"type": "convert", "format": "webp"}, {"type": "blur", "sigma": 1}]"#, "operations[0]", "convert must be the last operation"),
        (#"[{"type": "crop", "gravity": "center", "width": 10}]"#, "operations[0].height", "is required"),
        (#"[{"type": "crop", "rect": {"x": 0, "y": 0, "width": 10}}]"#, "operations[0].rect.height", "is required"),
        (#"[{"type": "crop", "rect": {"x": 0, "y": 0, "width": 10, "height": 10, "z": 1}}]"#, "operations[0].rect.z", "is not a known field"),
        (#"[{"type": "smart_crop", "sensitivity": 2}]"#, "operations[0].sensitivity", "must be between 0 and 1, got 2"),
        (#"[{"type": "smart_crop", "padding": 60}]"#, "operations[0].padding", "must be between 0 and 50, got 60"),
        (#"[{"type": "smart_crop", "faces": "biggest"}]"#, "operations[0].faces", "must be all, largest or index:N"),
        (#"[{"type": "smart_crop", "padColor": "blurple"}]"#, "operations[0].padColor", "must be a colour"),
        (#"[{"type": "smart_crop", "width": 10, "width_in_px": 10}]"#, "operations[0].width", "duplicates width_in_px"),
        (#"[{"type": "smart_crop", "mode": "rect"}]"#, "operations[0].rect", "is required for mode rect"),
        (#"[{"width_in_px": 10}]"#, "operations[0].type", "is required"),
        (#"[42]"#, "operations[0]", "must be an object, got a number"),
        (#"{"nope": 1}"#, "operations", "must be an array of operations, got an object"),
        (#"[]"#, "operations", "must hold at least one operation"),
        (#"[{"type": "pad"}]"#, "operations[0].all", "give at least one of"),
        (#"not json"#, "operations", "is not valid JSON"),
    ])
    func invalidPipelinesNameTheOperationAndField(json: String, field: String, message: String) {
        let e = error(json)
        #expect(e?.field == field, "\(json) → \(String(describing: e))")
        #expect(e?.message.contains(message) == true, "\(json) → \(String(describing: e?.message))")
    }

    @Test func moreThanThirtyOperationsAreRefused() {
        let thirty = "[" + Array(repeating: #"{"type": "blur", "sigma": 1}"#, count: 30).joined(separator: ",") + "]"
        #expect(error(thirty) == nil)
        let many = "[" + Array(repeating: #"{"type": "blur", "sigma": 1}"#, count: 31).joined(separator: ",") + "]"
        #expect(error(many) == .invalidArgument(field: "operations", message: "holds 31 operations; the limit is 30"))
    }

    @Test func cropJobShape() throws {
        let job = try CropJob.parse(Data(#"{"operation": "crop", "input": "a.jpg", "output": "b.webp", "gravity": "focal_point", "focal_x": 0.1, "focal_y": 0.9, "width": 64, "height": 32, "quality": 70}"#.utf8))
        var expected = SmartCropSettings(width: 64, height: 32, mode: .focal)
        expected.focal = Point(x: 0.1, y: 0.9)
        #expect(job.pipeline.operations == [.smartCrop(expected), .convert(ConvertOperation(format: .webp, quality: 70))])
        #expect(throws: SmartCropError.self) { try CropJob.parse(Data(#"{"input": "a.jpg"}"#.utf8)) }
        #expect(throws: SmartCropError.invalidArgument(field: "gravity", message: "cannot be combined with rect")) {
            try CropJob.parse(Data(#"{"input": "a.jpg", "inline": true, "rect": {"x":0,"y":0,"width":1,"height":1}, "gravity": "center"}"#.utf8))
        }
    }
}
