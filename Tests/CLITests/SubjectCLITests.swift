import Foundation
import Testing

/// The subject model through the real binary: where the heuristic map and U-2-Netp disagree,
/// the crop follows the one in use and the JSON says which.
@Suite(.serialized) struct SubjectCLITests {
    static var modelPath: String {
        if let path = ProcessInfo.processInfo.environment["SMARTCROP_SUBJECT_MODEL"], !path.isEmpty, path != "none" { return path }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/models/u2netp.onnx")
            .standardized.path
    }

    static var hasModel: Bool { FileManager.default.fileExists(atPath: modelPath) }

    /// A grey wall with a red disc near its right edge and a black-and-white checkerboard on
    /// its left. The heuristic map follows the disc's colour against the wall; U-2-Netp marks the
    /// checkerboard, the larger and higher-contrast object.
    static func scene() -> Data {
        Workspace.png(width: 600, height: 300) { x, y in
            if (x - 500) * (x - 500) + (y - 150) * (y - 150) <= 3600 { return [210, 40, 35] }
            if (30..<174).contains(x) && (60..<240).contains(y) { return (x / 12 + y / 12) % 2 == 0 ? [20, 20, 20] : [250, 250, 250] }
            return [150, 150, 145]
        }
    }

    func crop(_ extra: [String], setting: [String: String] = [:]) throws -> [String: Any] {
        let ws = try Workspace()
        try Self.scene().write(to: URL(fileURLWithPath: ws.path("scene.png")))
        let r = try CLI.run(["crop", ws.path("scene.png"), "--size", "300x300", "--mode", "subject", "--json"] + extra, setting: setting)
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    @Test(.enabled(if: hasModel, "needs u2netp.onnx (SMARTCROP_SUBJECT_MODEL or ../shared/models/)"))
    func theJSONSaysWhichMapTheCropFollowed() throws {
        // "none" turns the model off, even when one is installed where it would be found.
        let heuristic = try crop([], setting: ["SMARTCROP_SUBJECT_MODEL": "none"])
        #expect(heuristic["subject_source"] as? String == "heuristic")
        let model = try crop(["--subject-model", Self.modelPath])
        #expect(model["subject_source"] as? String == "model")
        let heuristicX = try #require((heuristic["crop"] as? [String: Any])?["x"] as? Int)
        let modelX = try #require((model["crop"] as? [String: Any])?["x"] as? Int)
        // They disagree: the heuristic crop holds the disc (x 440...560), the model's the checkerboard (x 30...174).
        #expect(heuristicX >= 260, "heuristic crop at x \(heuristicX)")
        #expect(modelX <= 30, "model crop at x \(modelX)")
        // The environment variable works as the option does.
        let fromEnvironment = try crop([])
        if let named = ProcessInfo.processInfo.environment["SMARTCROP_SUBJECT_MODEL"], !named.isEmpty, named != "none" {
            #expect(fromEnvironment["subject_source"] as? String == "model")
        }
    }

    static var fixedModelPath: String {
        let assets = ProcessInfo.processInfo.environment["SMARTCROP_ASSETS"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.assets").standardized.path
        return assets + "/fixtures/u2netp-fixed320.onnx"
    }

    /// What a user's download may be: fixed at 320 with its resize sizes baked in. At the CLI's
    /// default size it runs at 320, and crops as the free-size model does at 320.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: fixedModelPath),
                   "needs the fixed-320 fixture that make test makes from ../shared/models/u2netp.onnx"))
    func aFixedSizeExportCropsAsTheFreeSizeModelAtItsSize() throws {
        let samples = ProcessInfo.processInfo.environment["SMARTCROP_ASSETS"].map { $0 + "/samples" }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.assets/samples").standardized.path
        for photo in ["motorcycle_left.png", "coffee.png"] {
            func crop(_ extra: [String]) throws -> [String: Int] {
                let r = try CLI.run(["crop", samples + "/" + photo, "--size", "400x225", "--mode", "subject", "--json"] + extra)
                #expect(r.status == 0, "\(r.stderr)")
                #expect(!r.stderr.contains("warning"), "no size was asked for: \(r.stderr)")
                let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
                #expect(json["subject_source"] as? String == "model")
                return try #require(json["crop"] as? [String: Int])
            }
            let fixed = try crop(["--subject-model", Self.fixedModelPath])
            let free = try crop(["--subject-model", Self.modelPath, "--subject-size", "320"])
            for key in ["x", "y", "width", "height"] {
                #expect(abs((fixed[key] ?? -9) - (free[key] ?? 9)) <= 1, "\(photo): \(fixed) vs \(free)")
            }
        }
    }

    @Test func aTruncatedModelIsRefusedWithItsName() throws {
        let ws = try Workspace()
        let truncated = ws.path("u2netp-half.onnx")
        let bytes = Self.hasModel ? try Data(contentsOf: URL(fileURLWithPath: Self.modelPath)) : Data(repeating: 0x0A, count: 4096)
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        let r = try CLI.run(["crop", ws.path("in.png"), "--size", "40x40", "--mode", "subject", "--subject-model", truncated])
        #expect(r.status != 0)
        #expect(r.stderr.contains(truncated) && r.stderr.contains("rembg"), "\(r.stderr)")
        #expect(ws.files == ["in.png", "u2netp-half.onnx"], "nothing written")
    }
}
