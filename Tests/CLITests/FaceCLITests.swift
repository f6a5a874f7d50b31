import Foundation
import Testing

/// The sample photos `make samples` unpacks (scikit-image's astronaut and coffee).
enum CLISamples {
    static var directory: String {
        let assets = ProcessInfo.processInfo.environment["SMARTCROP_ASSETS"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.assets").standardized.path
        return assets + "/samples"
    }
    static func path(_ name: String) -> String { directory + "/" + name }
    static func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }
}

private func object(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

private func num(_ value: Any?) -> Double { (value as? NSNumber)?.doubleValue ?? .nan }

private func magic(_ path: String) throws -> String {
    let head = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(12)
    if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "png" }
    if head.starts(with: [0xFF, 0xD8]) { return "jpeg" }
    if head.count == 12, head.suffix(4) == Data("WEBP".utf8) { return "webp" }
    return "?"
}

/// Many sizes from one call, folders, detection and drawings, through the real binary.
@Suite(.serialized, .enabled(if: CLISamples.exists("astronaut.png") && CLISamples.exists("coffee.png"),
                             "needs .assets/samples from `make samples`"))
struct FaceCLITests {
    @Test func manySizesFromOneCallShareOneCropAndKeepTheFace() throws {
        let ws = try Workspace()
        let r = try CLI.run(["crop", CLISamples.path("astronaut.png"), "--size", "48x48,128x128:png,256x256:q60,400x400",
                             "-o", ws.path("avatar-{w}x{h}.webp"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try object(r.stdout)
        let variants = try #require(json["variants"] as? [[String: Any]])
        #expect(variants.count == 4)
        for (variant, side) in zip(variants, [48, 128, 256, 400]) {
            let output = try #require(variant["output"] as? [String: Any])
            #expect(output["width"] as? Int == side && output["height"] as? Int == side)
            #expect(variant["strategy"] as? String == "face")
            #expect(try magic(ws.path("avatar-\(side)x\(side).webp")) == (side == 128 ? "png" : "webp"))
        }
        // One decision for every size: the same rectangle of the source.
        let crops = variants.compactMap { $0["crop"] as? [String: Int] }
        #expect(crops.count == 4 && Set(crops).count == 1, "\(crops)")
        let crop = try #require(crops.first)
        let faces = try #require(json["faces"] as? [[String: Any]])
        #expect(!faces.isEmpty)
        for face in faces {
            let x = num(face["x"]), y = num(face["y"]), w = num(face["width"]), h = num(face["height"])
            #expect(x >= Double(crop["x"]!) && y >= Double(crop["y"]!), "\(face) in \(crop)")
            #expect(x + w <= Double(crop["x"]! + crop["width"]!) && y + h <= Double(crop["y"]! + crop["height"]!), "\(face) in \(crop)")
        }
        let timings = try #require(json["timings_ms"] as? [String: Any])
        #expect(num(timings["decode"]) > 0 && num(timings["detect"]) > 0 && num(timings["encode"]) > 0, "\(timings)")
        #expect(num(timings["detect"]) <= num(timings["analyse"]), "detection is part of the analysis")
    }

    @Test func theJSONSaysWhenTheFacesPinnedTheCropAndTheSubjectWasNotAnalysed() throws {
        let ws = try Workspace()
        let none = ["SMARTCROP_SUBJECT_MODEL": "none"]
        let square = try CLI.run(["crop", CLISamples.path("astronaut.png"), "--size", "256x256", "-o", ws.path("a.webp"), "--json"],
                                 setting: none)
        #expect(square.status == 0, "\(square.stderr)")
        let json = try object(square.stdout)
        #expect(json["subject_source"] as? String == "skipped")
        #expect((json["timings_ms"] as? [String: Any])?["subject"] == nil, "\(square.stdout)")
        let both = try CLI.run(["crop", CLISamples.path("astronaut.png"), "--size", "256x256,1200x630", "-o", ws.path("a-{w}.webp"),
                                "--json"], setting: none)
        #expect(both.status == 0, "\(both.stderr)")
        let variants = try #require(try object(both.stdout)["variants"] as? [[String: Any]])
        #expect(variants.map { $0["subject_source"] as? String } == ["skipped", "heuristic"], "\(both.stdout)")
    }

    @Test func batchContinuesPastBadFilesAndCounts() throws {
        let ws = try Workspace()
        let inputs = ws.path("in"), outputs = ws.path("out")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: true)
        for name in ["astronaut.png", "coffee.png"] {
            try FileManager.default.copyItem(atPath: CLISamples.path(name), toPath: inputs + "/" + name)
        }
        try Data("not an image at all".utf8).write(to: URL(fileURLWithPath: inputs + "/broken.jpg"))
        let r = try CLI.run(["batch", inputs, outputs, "--sizes", "64x64,200x100:jpeg", "--jobs", "2"])
        #expect(r.status != 0, "a failed file makes the exit status say so")
        #expect(r.stdout.contains("2 ok, 1 failed, 1 no face"), "\(r.stdout)")
        #expect(r.stdout.contains("images/s"))
        #expect(r.stderr.contains("broken.jpg"))
        let written = (try? FileManager.default.contentsOfDirectory(atPath: outputs).sorted()) ?? []
        #expect(written == ["astronaut-200x100.jpg", "astronaut-64x64.webp", "coffee-200x100.jpg", "coffee-64x64.webp"])
        #expect(try magic(outputs + "/coffee-200x100.jpg") == "jpeg")
    }

    @Test func detectPrintsFacesAndDraws() throws {
        let ws = try Workspace()
        let r = try CLI.run(["detect", CLISamples.path("astronaut.png"), "--json", "--draw", ws.path("faces.png")])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try object(r.stdout)
        #expect(json["detector"] as? String == "mtcnn" || json["detector"] as? String == "yunet")
        let faces = try #require(json["faces"] as? [[String: Any]])
        // The astronaut's face: about (178, 60, 90 x 115) of 512 x 512.
        let found = faces.contains { f in
            let cx = num(f["x"]) + num(f["width"]) / 2, cy = num(f["y"]) + num(f["height"]) / 2
            return abs(cx - 223) < 25 && abs(cy - 117) < 30 && (f["landmarks"] as? [Any])?.count == 5
        }
        #expect(found, "\(faces)")
        #expect(try magic(ws.path("faces.png")) == "png")

        let none = try object(try CLI.run(["detect", CLISamples.path("coffee.png"), "--json"]).stdout)
        #expect((none["faces"] as? [Any])?.isEmpty == true)
    }

    @Test(.enabled(if: CLISamples.exists("motorcycle_left.png")))
    func autoLeavesOutAFaceThatASecondLookDoesNotFind() throws {
        // The embedded MTCNN sees a 31-px "face" on the shelf of motorcycle_left.png (score
        // about 0.79). `auto` reports it, says why it did not steer, and crops by the subject.
        let path = CLISamples.path("motorcycle_left.png")
        let mtcnn = ["SMARTCROP_FACE_MODEL": "none"]
        let detected = try object(try CLI.run(["detect", path, "--json"], setting: mtcnn).stdout)
        let reported = try #require(detected["faces"] as? [[String: Any]])
        let ws = try Workspace()
        let r = try CLI.run(["crop", path, "--size", "1200x630", "--json", "--draw", ws.path("why.png")], setting: mtcnn)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try magic(ws.path("why.png")) == "png")
        let json = try object(r.stdout)
        let faces = try #require(json["faces"] as? [[String: Any]])
        #expect(faces.count == reported.count && !faces.isEmpty, "crop \(faces) vs detect \(reported)")
        let left = try #require(json["left_out_faces"] as? [[String: Any]])
        #expect(left.count == faces.count)
        #expect((left.first?["reason"] as? String)?.contains("second look") == true)
        #expect(json["strategy"] as? String == "subject")
        #expect(json["used_faces"] == nil)
        // The same decisions and rectangle at a smaller size of the same aspect, which decodes
        // the photo at the face proxy's size instead of whole: the second look and the faces
        // do not depend on the output size.
        let small = try object(try CLI.run(["crop", path, "--size", "600x315", "--json"], setting: mtcnn).stdout)
        let rect = { (json: [String: Any]) throws -> [Double] in
            let crop = try #require(json["crop"] as? [String: Any])
            return ["x", "y", "width", "height"].map { num(crop[$0]) }
        }
        #expect(try rect(small) == rect(json))
        #expect((small["left_out_faces"] as? [[String: Any]])?.count == left.count)
        #expect((small["faces"] as? [[String: Any]])?.map { num($0["score"]) } == faces.map { num($0["score"]) })
        // In --mode face the user asked for faces: the same detection frames the crop.
        let face = try object(try CLI.run(["crop", path, "--size", "1200x630", "--json", "--mode", "face"], setting: mtcnn).stdout)
        #expect(face["strategy"] as? String == "face")
    }

    @Test func cropExplainsItselfInAPicture() throws {
        let ws = try Workspace()
        let r = try CLI.run(["crop", CLISamples.path("coffee.png"), "--size", "100x100", "--draw", ws.path("why.png"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try object(r.stdout)
        #expect(json["strategy"] as? String == "subject")
        #expect((json["fallback"] as? String)?.contains("no face") == true)
        #expect(try magic(ws.path("why.png")) == "png")
    }

    @Test func detectAndCropReportTheSameFacesOfALargePhoto() throws {
        // Above the detector's 640-px proxy, both commands must look at the same proxy: for a
        // small output, which decodes at the proxy's size, and for a card that needs more of
        // the source (1200x630 decodes the 1500-px photo at 0.8), from a PNG (resized from the
        // larger decode) and a JPEG (decoded again with the loader's shrink).
        let ws = try Workspace()
        var photos: [String] = []
        for ext in ["png", "jpg"] {
            let big = ws.path("big.\(ext)")
            let enlarge = try CLI.run(["crop", CLISamples.path("astronaut.png"), "--size", "1500x1500", "--mode", "center", "-o", big])
            #expect(enlarge.status == 0, "\(enlarge.stderr)")
            photos.append(big)
        }
        var models: [[String]] = [[]]
        if let yunet = ProcessInfo.processInfo.environment["SMARTCROP_YUNET_MODEL"], FileManager.default.fileExists(atPath: yunet) {
            models.append(["--face-model", yunet])
        }
        func boxes(_ json: [String: Any]) -> [[Double]] {
            ((json["faces"] as? [[String: Any]]) ?? []).map { [num($0["x"]), num($0["y"]), num($0["width"]), num($0["height"]), num($0["score"])] }
        }
        for photo in photos {
            for model in models {
                let detected = try object(try CLI.run(["detect", photo, "--json"] + model).stdout)
                #expect(!boxes(detected).isEmpty)
                for size in ["128x128", "1200x630"] {
                    let cropped = try object(try CLI.run(["crop", photo, "--size", size, "--json"] + model).stdout)
                    #expect(boxes(detected) == boxes(cropped), "\(photo) \(size) \(model): detect \(boxes(detected)) vs crop \(boxes(cropped))")
                }
            }
        }
    }
}
