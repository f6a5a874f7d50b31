import Foundation
import Testing

/// `smartcrop models` and the models a crop uses without being told, through a copy of the
/// binary installed in a prefix of its own, with a home of its own: nothing of this machine's
/// own installation or checkout is in the way.
@Suite(.serialized) struct ModelsCLITests {
    static var shared: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/models").standardized.path
    }

    static var hasSharedModels: Bool {
        ["face_detection_yunet_2023mar.onnx", "u2netp.onnx"].allSatisfy { FileManager.default.fileExists(atPath: shared + "/" + $0) }
    }

    /// prefix/bin/smartcrop (a copy of the binary under test) and an empty home.
    final class Installation {
        let root: URL
        var prefix: String { root.appendingPathComponent("prefix").path }
        var home: String { root.appendingPathComponent("home").path }
        var binary: String { prefix + "/bin/smartcrop" }
        var shareModels: String { prefix + "/share/smartcrop/models" }
        var userModels: String { home + "/.local/share/smartcrop/models" }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-install-\(UUID().uuidString)")
            try FileManager.default.createDirectory(atPath: prefix + "/bin", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: CLI.binary, toPath: binary)
        }

        deinit { try? FileManager.default.removeItem(at: root) }

        func put(_ name: String, in folder: String, bytes: Data) throws {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try bytes.write(to: URL(fileURLWithPath: folder + "/" + name))
        }

        /// Runs the installed copy with a clean environment: only PATH, HOME and `extra`.
        func run(_ arguments: [String], extra: [String: String] = [:]) throws -> CLI.Result {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            process.environment = ["PATH": "/usr/bin:/bin", "HOME": home].merging(extra) { $1 }
            process.currentDirectoryURL = root
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            let stdout = out.fileHandleForReading.readDataToEndOfFile()
            let stderr = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return CLI.Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                              stderr: String(decoding: stderr, as: UTF8.self))
        }

        func reports(extra: [String: String] = [:]) throws -> [String: [String: Any]] {
            let r = try run(["models", "--json"], extra: extra)
            #expect(r.status == 0, "\(r.stderr)")
            let list = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
            return Dictionary(uniqueKeysWithValues: list.map { ($0["slot"] as? String ?? "", $0) })
        }

        /// The decision of an auto crop of a photo with a face.
        func crop(extra: [String: String] = [:]) throws -> (json: [String: Any], stderr: String) {
            let photo = root.appendingPathComponent("in.png").path
            if !FileManager.default.fileExists(atPath: photo) { try Workspace.png(width: 120, height: 80).write(to: URL(fileURLWithPath: photo)) }
            let r = try run(["crop", photo, "--size", "64x64", "--json"], extra: extra)
            #expect(r.status == 0, "\(r.stderr)")
            return (try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]), r.stderr)
        }
    }

    @Test func noneFoundListsWhereItLookedAndTheEmbeddedDefaultsRun() throws {
        let install = try Installation()
        let reports = try install.reports()
        #expect(reports["face"]?["runs"] as? String == "the embedded MTCNN")
        #expect(reports["subject"]?["runs"] as? String == "the heuristic subject map")
        let searched = try #require(reports["face"]?["searched"] as? [String])
        #expect(searched.count == 2 && searched[0].contains(install.userModels) && searched[1].contains(install.shareModels), "\(searched)")
        let crop = try install.crop()
        #expect(crop.json["detector"] as? String == "mtcnn")
        #expect(crop.stderr.isEmpty, "\(crop.stderr)")
        let text = try install.run(["models"])
        #expect(text.stdout.contains("face: the embedded MTCNN") && text.stdout.contains("no u2netp.onnx in:"), "\(text.stdout)")
    }

    @Test(.enabled(if: hasSharedModels, "needs ../shared/models (YuNet and U-2-Netp)"))
    func bothFoundInTheInstallationAndEachLaterPlaceLosesToAnEarlierOneAndToAnOption() throws {
        let install = try Installation()
        let yunet = try Data(contentsOf: URL(fileURLWithPath: Self.shared + "/face_detection_yunet_2023mar.onnx"))
        let u2netp = try Data(contentsOf: URL(fileURLWithPath: Self.shared + "/u2netp.onnx"))
        try install.put("face_detection_yunet_2023mar.onnx", in: install.shareModels, bytes: yunet)
        try install.put("u2netp.onnx", in: install.shareModels, bytes: u2netp)
        var reports = try install.reports()
        #expect(reports["face"]?["runs"] as? String == "YuNet")
        #expect(reports["face"]?["pinned"] as? String == "YuNet 2023mar (OpenCV Zoo)")
        #expect((reports["face"]?["origin"] as? String)?.contains("installation") == true)
        #expect(reports["subject"]?["runs"] as? String == "U-2-Netp")
        #expect(reports["subject"]?["sha256"] as? String == "2b58591a25cfcb7ce878c11b2d22801d4ccc9093bb47ce612ec334072b1252b6")
        #expect(reports["subject"]?["input_size"] as? Int == 224)
        #expect(try install.crop().json["detector"] as? String == "yunet")
        // The shared U-2-Netp file has a calibration table, so it runs in int8 wherever --version
        // says calibrated models do; SMARTCROP_PRECISION=float32 turns that off for every slot.
        let version = try install.run(["--version"]).stdout
        let int8Here = version.contains("precision: int8")
        #expect(reports["subject"]?["precision"] as? String == (int8Here ? "int8" : "float32"), "\(version)")
        #expect(["float32", "int8"].contains(reports["face"]?["precision"] as? String ?? ""))
        let forced = try install.reports(extra: ["SMARTCROP_PRECISION": "float32"])
        #expect(forced["subject"]?["precision"] as? String == "float32" && forced["face"]?["precision"] as? String == "float32")
        #expect(try install.run(["models"]).stdout.contains("runs in \(int8Here ? "int8" : "float32")"))

        // The user data folder beats the installation; SMARTCROP_MODEL_DIR beats both.
        try install.put("face_detection_yunet_2023mar.onnx", in: install.userModels, bytes: yunet)
        reports = try install.reports()
        #expect(reports["face"]?["path"] as? String == install.userModels + "/face_detection_yunet_2023mar.onnx")
        let modelDir = install.root.appendingPathComponent("modeldir").path
        try install.put("face_detection_yunet_2023mar.onnx", in: modelDir, bytes: yunet)
        reports = try install.reports(extra: ["SMARTCROP_MODEL_DIR": modelDir])
        #expect(reports["face"]?["path"] as? String == modelDir + "/face_detection_yunet_2023mar.onnx")
        let xdg = install.root.appendingPathComponent("xdg").path
        try install.put("face_detection_yunet_2023mar.onnx", in: xdg + "/smartcrop/models", bytes: yunet)
        reports = try install.reports(extra: ["XDG_DATA_HOME": xdg])
        #expect(reports["face"]?["path"] as? String == xdg + "/smartcrop/models/face_detection_yunet_2023mar.onnx")

        // An option or variable wins over every folder, and "none" turns the model off.
        #expect(try install.crop(extra: ["SMARTCROP_FACE_MODEL": "none"]).json["detector"] as? String == "mtcnn")
        let listed = try install.run(["models", "--json", "--subject-model", "none"])
        #expect(listed.stdout.contains("the heuristic subject map"))
        let given = try install.run(["models", "--face-model", Self.shared + "/face_detection_yunet_2023mar.onnx"])
        #expect(given.stdout.contains("given by --face-model"), "\(given.stdout)")
    }

    @Test func aTamperedFileFoundByDefaultIsNamedAndTheEmbeddedDefaultRuns() throws {
        let install = try Installation()
        // The size of the pinned YuNet file with other bytes: what a damaged download looks like.
        var bytes = (try? Data(contentsOf: URL(fileURLWithPath: Self.shared + "/face_detection_yunet_2023mar.onnx")))
            ?? Data(repeating: 0x08, count: 232_589)
        bytes[bytes.count / 2] ^= 0xFF
        try install.put("face_detection_yunet_2023mar.onnx", in: install.userModels, bytes: bytes)
        let reports = try install.reports()
        #expect(reports["face"]?["runs"] as? String == "the embedded MTCNN")
        #expect(reports["face"]?["pinned"] == nil)
        let notes = try #require(reports["face"]?["notes"] as? [String])
        #expect(notes.count == 1 && notes[0].contains(install.userModels + "/face_detection_yunet_2023mar.onnx"), "\(notes)")
        let crop = try install.crop()
        #expect(crop.json["detector"] as? String == "mtcnn")
        #expect(crop.stderr.contains("warning:") && crop.stderr.contains("is not a known face model file"), "\(crop.stderr)")
    }

    @Test func fetchFromAServerThatIsDownSaysWhatIsMissingAndWhatRunsInstead() throws {
        let ws = try Workspace()
        let r = try CLI.run(["models", "fetch", "--from", "http://127.0.0.1:9/", "--dir", ws.path("models")])
        #expect(r.status == 1)
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("face model not installed") && $0.contains("MTCNN") }, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("subject model not installed") && $0.contains("heuristic") }, "\(r.stdout)")
        #expect(!FileManager.default.fileExists(atPath: ws.path("models/u2netp.onnx")))
    }
}
