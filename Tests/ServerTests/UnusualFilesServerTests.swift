import Foundation
import SmartCrop
@testable import SmartCropServer
import Testing

/// What the service answers for valid files the decoders do not implement, for a broken colour
/// profile, and which subject map and detector the smart-crop tool's answer names.
extension ServerSuite {
    @Suite("Unusual files") struct UnusualFilesServerTests {
        /// The first markers of a lossless (SOF3) JPEG.
        static let losslessJPEG = Data([0xFF, 0xD8, 0xFF, 0xC3, 0x00, 0x0B, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00,
                                        0xFF, 0xD9])

        /// A JPEG of `Images.make` with a 7-byte APP2 ICC_PROFILE segment after SOI.
        static func jpegWithBrokenProfile() throws -> Data {
            let plain = try Images.make(width: 320, height: 240)
            let payload = Array("ICC_PROFILE".utf8) + [0, 1, 1] + Array("garbage".utf8)
            let segment: [UInt8] = [0xFF, 0xE2, 0, UInt8(payload.count + 2)] + payload
            return Data(plain.prefix(2)) + Data(segment) + Data(plain.dropFirst(2))
        }

        @Test("a lossless JPEG is 415 with the reason, not 422 damaged")
        func losslessJPEGIsUnsupported() async throws {
            try await TestServer.with { server in
                let reply = try await HTTP.postMultipart(server.base + "/v1/transform", file: Self.losslessJPEG,
                                                         fields: ["operations": [["type": "smart_crop", "width_in_px": 64]]])
                #expect(reply.status == 415, "\(reply.text)")
                #expect(reply.error["message"] as? String == "lossless JPEG is not supported")
            }
        }

        @Test("a broken colour profile crops, with a warning in the JSON and in X-Smartcrop-Warning")
        func brokenProfileWarns() async throws {
            try await TestServer.with { server in
                let operations: [[String: Any]] = [["type": "smart_crop", "width_in_px": 64], ["type": "convert", "format": "png"]]
                let json = try await HTTP.postMultipart(server.base + "/v1/transform", file: Self.jpegWithBrokenProfile(),
                                                        fields: ["operations": operations])
                #expect(json.status == 200, "\(json.text)")
                let warnings = json.data["warnings"] as? [String] ?? []
                #expect(warnings.contains { $0.contains("colour profile") }, "\(json.text.prefix(300))")
                let raw = try await HTTP.postMultipart(server.base + "/v1/transform", file: Self.jpegWithBrokenProfile(),
                                                       fields: ["operations": operations], headers: [("Accept", "image/*")])
                #expect(raw.status == 200)
                #expect(raw.headers.first(name: "X-Smartcrop-Warning")?.contains("colour profile") == true)
            }
        }

        @Test("the smart-crop tool names the subject map and the detector, in JSON and in X-Smartcrop-* headers")
        func toolReportsSubjectSourceAndDetector() async throws {
            let configurations: [(String?, String)] = [("none", "heuristic")]
                + (SubjectModelServerTests.hasModel ? [(SubjectModelServerTests.modelPath, "model")] : [])
            for (model, expected) in configurations {
                try await TestServer.with({ $0.subjectModel = model }) { server in
                    let reply = try await HTTP.postMultipart(server.base + "/api/v1/tools/smart-crop", file: try SubjectModelServerTests.disc(),
                                                             filename: "disc.png",
                                                             fields: ["settings": ["mode": "subject", "width": 128, "height": 128]])
                    #expect(reply.status == 200, "\(reply.text)")
                    #expect(reply.json["subjectSource"] as? String == expected, "\(reply.text)")
                    #expect(reply.headers.first(name: "X-Smartcrop-Subject-Source") == expected)
                    #expect(reply.headers.first(name: "X-Smartcrop-Strategy") == "subject")
                    #expect(reply.headers.first(name: "X-Smartcrop-Crop") != nil)

                    // auto looks for faces first: the detector is named too.
                    let auto = try await HTTP.postMultipart(server.base + "/api/v1/tools/smart-crop", file: Images.small,
                                                            fields: ["settings": ["mode": "auto", "width": 64, "height": 64]])
                    #expect(auto.status == 200, "\(auto.text)")
                    let detector = try #require(auto.json["detector"] as? String)
                    #expect(["mtcnn", "yunet"].contains(detector))
                    #expect(auto.headers.first(name: "X-Smartcrop-Detector") == detector)
                }
            }
            if !SubjectModelServerTests.hasModel { print("note: the model case needs u2netp.onnx (SMARTCROP_SUBJECT_MODEL); only the heuristic case ran") }
        }
    }
}
