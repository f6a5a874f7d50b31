import Foundation
import GIFTestSupport
import SmartCrop
@testable import SmartCropServer
import Testing
import URLSigning

/// A small animated GIF: a dark square crossing a light 160x80 canvas, 12 frames of 50 ms,
/// played 3 times (repeated twice), written byte by byte.
private enum SquareAnimation {
    static let frames = 12
    static let gif: Data = {
        let width = 160, height = 80
        let frames = (0..<SquareAnimation.frames).map { frame in
            GIFWriter.Frame(indices: (0..<(width * height)).map { i in
                let x = i % width - 40 - 6 * frame, y = i / width - 30
                return (0..<20).contains(x) && (0..<20).contains(y) ? 1 : 0
            }, width: width, height: height, delay: 5)
        }
        return GIFWriter.encode(width: width, height: height, palette: [(240, 240, 240), (20, 30, 160)], frames: frames, loop: 2)
    }()
}

extension ServerSuite {
    @Suite("Animations") struct AnimationServerTests {
        nonisolated(unsafe) static let crop64: [[String: Any]] = [["type": "smart_crop", "width_in_px": 64, "height_in_px": 64],
                                               ["type": "convert", "format": "webp"]]

        @Test("transform: an animated GIF in, an animated WebP out, with its frames in the answer")
        func transform() async throws {
            try await TestServer.with { server in
                let raw = try await HTTP.postMultipart(server.base + "/v1/transform", file: SquareAnimation.gif, filename: "a.gif",
                                                       fields: ["operations": Self.crop64], headers: [("Accept", "image/*")])
                #expect(raw.status == 200, "\(raw.text)")
                #expect(raw.headers.first(name: "Content-Type") == "image/webp")
                #expect(raw.headers.first(name: "X-Smartcrop-Frames") == "12")
                let written = try #require(AnimationReader.read(raw.body))
                #expect((written.width, written.height, written.frames, written.plays) == (64, 64, 12, 3))
                #expect(written.delays == Array(repeating: 50, count: 12))

                let json = try await HTTP.postJSON(server.base + "/v1/transform",
                                                   ["file": Images.fileJSON(SquareAnimation.gif, name: "a.gif"),
                                                    "operations": [["type": "smart_crop", "width_in_px": 64]]])
                #expect(json.status == 200, "\(json.text)")
                #expect(json.data["format"] as? String == "gif")
                #expect(json.data["frames"] as? Int == 12)
                #expect(json.data["analysed_frames"] as? [Int] == [0, 4, 7, 11])
                #expect((json.data["source"] as? [String: Any])?["frames"] as? Int == 12)
                let buffer = try #require((json.data["buffer"] as? String).flatMap { Data(base64Encoded: $0) })
                #expect(AnimationReader.read(buffer)?.frames == 12)
            }
        }

        @Test("variants: WebP stays animated, JPEG and animated: false take the first frame")
        func variants() async throws {
            try await TestServer.with { server in
                let reply = try await HTTP.postMultipart(server.base + "/v1/transform/variants", file: SquareAnimation.gif, filename: "a.gif", fields: [
                    "variants": [["name": "anim", "operations": Self.crop64],
                                 ["name": "jpeg", "operations": [["type": "smart_crop", "width_in_px": 32], ["type": "convert", "format": "jpeg"]]],
                                 ["name": "still", "operations": [["type": "smart_crop", "width_in_px": 32, "animated": false]]]]])
                #expect(reply.status == 200, "\(reply.text)")
                let variants = try #require(reply.data["variants"] as? [[String: Any]])
                #expect(variants.map { $0["frames"] as? Int } == [12, nil, nil])
                #expect(variants.map { $0["format"] as? String } == ["webp", "jpeg", "gif"])
                let still = try #require((variants[2]["buffer"] as? String).flatMap { Data(base64Encoded: $0) })
                #expect(AnimationReader.read(still)?.frames == 1)
            }
        }

        @Test("the smart-crop tool keeps an animated GIF an animated GIF")
        func tool() async throws {
            try await TestServer.with { server in
                let reply = try await HTTP.postMultipart(server.base + "/api/v1/tools/smart-crop", file: SquareAnimation.gif, filename: "square.gif",
                                                         fields: ["settings": ["width": 48, "height": 48]])
                #expect(reply.status == 200, "\(reply.text)")
                #expect(reply.json["frames"] as? Int == 12)
                let url = try #require(reply.json["downloadUrl"] as? String)
                #expect(url.hasSuffix("/square_smartcrop.gif"))
                let file = try await HTTP.get(server.base + url)
                #expect(file.headers.first(name: "Content-Type") == "image/gif")
                #expect(AnimationReader.read(file.body)?.frames == 12)
            }
        }

        @Test("a signed URL crops an animation, and format auto keeps it one")
        func signed() async throws {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-anim-\(UUID())")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: root) }
            try SquareAnimation.gif.write(to: root.appendingPathComponent("square.gif"))
            let key = URLSigningKey(key: "secret", salt: "salt")
            try await TestServer.with({ $0.localRoot = root.path; $0.urlSigning = [key] }) { server in
                let ops = #"[{"type": "smart_crop", "width_in_px": 40}, {"type": "convert", "format": "auto"}]"#
                let path = URLSigner.path(operations: ops, source: "local:///square.gif", ext: "webp", key: key)
                for (accept, type) in [("image/avif,image/webp,*/*", "image/webp"), ("image/jpeg", "image/gif")] {
                    let reply = try await HTTP.get(server.base + path, headers: [("Accept", accept)])
                    #expect(reply.status == 200, "\(reply.text)")
                    #expect(reply.headers.first(name: "Content-Type") == type, "\(accept)")
                    #expect(AnimationReader.read(reply.body)?.frames == 12, "\(accept)")
                }
            }
        }

        @Test("413 from the header: too many frames, too many pixels in all, a frame bomb, frames claiming huge sizes")
        func limits() async throws {
            try await TestServer.with({ $0.maxFrames = 10; $0.maxPixels = 1_000_000 }) { server in
                let cases: [(Data, String)] = [
                    (SquareAnimation.gif, "the animation has 12 frames; the limit is 10"),
                    (GIFWriter.bomb(screen: (1, 1), claimed: (1, 1), count: 100_000), "frames; the limit is 10"),
                    (GIFWriter.bomb(screen: (16, 16), claimed: (60_000, 60_000), count: 3), "the limit is 1.0 MP"),
                    (GIFWriter.bomb(screen: (16, 16), claimed: (800, 800), count: 3), "3 frames of 800x800"),
                ]
                for (file, says) in cases {
                    let start = ContinuousClock.now
                    let reply = try await HTTP.postMultipart(server.base + "/v1/transform", file: file, filename: "a.gif",
                                                             fields: ["operations": Self.crop64])
                    expectError(reply, 413, "too_large")
                    #expect((reply.error["message"] as? String)?.contains(says) == true, "\(reply.text)")
                    #expect(ContinuousClock.now - start < .seconds(10))
                }
                // A still of the first frame reads that frame only, and goes through.
                let still = try await HTTP.postMultipart(server.base + "/v1/transform", file: SquareAnimation.gif, filename: "a.gif",
                                                         fields: ["operations": [["type": "smart_crop", "width_in_px": 32], ["type": "convert", "format": "png"]]])
                #expect(still.status == 200, "\(still.text)")
            }
        }

        @Test("max_frames is a setting")
        func setting() throws {
            #expect(try ServerConfiguration.load(environment: [:]).maxFrames == DecodeLimits.defaultMaxFrames)
            let configured = try ServerConfiguration.load(environment: ["SMARTCROP_MAX_FRAMES": "42"])
            #expect(configured.maxFrames == 42)
            #expect(configured.decodeLimits.maxFrames == 42)
            #expect(throws: ConfigurationError.self) { try ServerConfiguration.load(environment: ["SMARTCROP_MAX_FRAMES": "0"]) }
        }
    }
}
