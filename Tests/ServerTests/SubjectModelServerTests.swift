import Foundation
import SmartCrop
@testable import SmartCropServer
import Testing

/// U-2-Netp behind the server's `subject_model`: checked when the server starts, reported per crop.
extension ServerSuite {
    @Suite("Subject model") struct SubjectModelServerTests {
        static var modelPath: String {
            if let path = ProcessInfo.processInfo.environment["SMARTCROP_SUBJECT_MODEL"], !path.isEmpty, path != "none" { return path }
            return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("../shared/models/u2netp.onnx").standardizedFileURL.path
        }

        static var hasModel: Bool { FileManager.default.fileExists(atPath: modelPath) }

        /// A red disc on a plain wall near the right edge of a 2:1 photo, as PNG.
        static func disc() throws -> Data {
            var pixels = [UInt8](repeating: 0, count: 600 * 300 * 3)
            for y in 0..<300 {
                for x in 0..<600 {
                    let inside = (x - 500) * (x - 500) + (y - 150) * (y - 150) <= 3600
                    let colour: [UInt8] = inside ? [210, 40, 35] : [150, 150, 145]
                    for c in 0..<3 { pixels[(y * 600 + x) * 3 + c] = colour[c] }
                }
            }
            return try Image.fromPixels(pixels, width: 600, height: 300, bands: 3).encoded(EncodeOptions(format: .png))
        }

        @Test("a subject model file that is not U-2-Net stops the start, named")
        func wrongModelStopsTheStart() async throws {
            let notAModel = FileManager.default.temporaryDirectory.appendingPathComponent("not-u2netp-\(UUID().uuidString).onnx")
            try Data("not a model".utf8).write(to: notAModel)
            defer { try? FileManager.default.removeItem(at: notAModel) }
            await #expect { try await TestServer.with({ $0.subjectModel = notAModel.path }) { _ in } } throws: { error in
                "\(error)".contains(notAModel.path) && "\(error)".contains("subject model")
            }
        }

        @Test("subject_source says the model made the subject map", .enabled(if: hasModel, "needs u2netp.onnx (SMARTCROP_SUBJECT_MODEL or ../shared/models/)"))
        func subjectSourceIsReported() async throws {
            try await TestServer.with({ $0.subjectModel = Self.modelPath }) { server in
                let operations: [[String: Any]] = [["type": "smart_crop", "width_in_px": 128, "height_in_px": 128, "mode": "subject"]]
                let reply = try await HTTP.postJSON(server.base + "/v1/transform",
                                                    ["file": Images.fileJSON(try Self.disc(), name: "disc.png"), "operations": operations])
                #expect(reply.status == 200, "\(reply.text)")
                #expect(reply.data["subject_source"] as? String == "model", "\(reply.text)")
                #expect(reply.data["strategy"] as? String == "subject")
                // The 300x300 crop holds the disc (x 440...560).
                let crop = try #require(reply.data["crop"] as? [String: Any])
                let x = try #require(crop["x"] as? Int)
                #expect(x >= 260 && x <= 440, "\(crop)")
            }
        }
    }
}
