import Foundation
import SmartCrop
@testable import SmartCropServer
import Testing

nonisolated(unsafe) private let smartCrop256: [[String: Any]] = [["type": "smart_crop", "width_in_px": 256, "height_in_px": 256],
                                             ["type": "convert", "format": "webp"]]

extension ServerSuite {
    @Suite("Transform") struct TransformTests {
        @Test("JSON in, JSON out: the image as base64 with its decision")
        func transformJSON() async throws {
            try await TestServer.with { server in
                let reply = try await HTTP.postJSON(server.base + "/v1/transform",
                                                    ["file": Images.fileJSON(Images.small), "operations": smartCrop256])
                #expect(reply.status == 200, "\(reply.text)")
                let data = reply.data
                #expect(data["mime_type"] as? String == "image/webp")
                #expect(data["width"] as? Int == 256)
                #expect(data["height"] as? Int == 256)
                #expect(data["strategy"] is String)
                let crop = try #require(data["crop"] as? [String: Any])
                #expect(crop["height"] as? Int == 240)
                #expect(data["faces"] is [Any])
                let buffer = try #require((data["buffer"] as? String).flatMap { Data(base64Encoded: $0) })
                #expect(Array(buffer.prefix(4)) == Array("RIFF".utf8))
                #expect(buffer.count == data["bytes"] as? Int)
            }
        }

        @Test("multipart: a file part and an operations part")
        func transformMultipart() async throws {
            try await TestServer.with { server in
                let reply = try await HTTP.postMultipart(server.base + "/v1/transform", file: Images.small,
                                                         fields: ["operations": [["type": "resize", "width_in_px": 100], ["type": "convert", "format": "png"]]])
                #expect(reply.status == 200, "\(reply.text)")
                #expect(reply.data["mime_type"] as? String == "image/png")
                #expect(reply.data["width"] as? Int == 100)
                #expect(reply.data["height"] as? Int == 75)
            }
        }

        @Test("Accept: image/* answers with the image bytes and the decision in headers")
        func transformRawImage() async throws {
            try await TestServer.with { server in
                let reply = try await HTTP.postJSON(server.base + "/v1/transform", ["file": Images.fileJSON(Images.small), "operations": smartCrop256],
                                                    headers: [("Accept", "image/*")])
                #expect(reply.status == 200)
                #expect(reply.headers.first(name: "Content-Type") == "image/webp")
                #expect(Array(reply.body.prefix(4)) == Array("RIFF".utf8))
                let crop = try #require(reply.headers.first(name: "X-Smartcrop-Crop"))
                #expect(crop.split(separator: ",").count == 4)
                #expect(reply.headers.first(name: "X-Smartcrop-Strategy") != nil)
                #expect(reply.headers.first(name: "X-Smartcrop-Width") == "256")
                #expect(reply.headers.first(name: "X-Smartcrop-Faces")?.hasPrefix("[") == true)
            }
        }

        @Test("variants: one upload, named outputs in order")
        func variants() async throws {
            try await TestServer.with { server in
                let variants: [[String: Any]] = [
                    ["name": "sm", "operations": [["type": "smart_crop", "width_in_px": 48, "height_in_px": 48]]],
                    ["name": "md", "operations": [["type": "smart_crop", "width_in_px": 128, "height_in_px": 128], ["type": "convert", "format": "webp"]]],
                    ["name": "lg", "operations": [["type": "smart_crop", "width_in_px": 300, "height_in_px": 200], ["type": "convert", "format": "png"]]],
                ]
                let reply = try await HTTP.postJSON(server.base + "/v1/transform/variants", ["file": Images.fileJSON(Images.small), "variants": variants])
                #expect(reply.status == 200, "\(reply.text)")
                let entries = try #require(reply.data["variants"] as? [[String: Any]])
                #expect(entries.map { $0["name"] as? String } == ["sm", "md", "lg"])
                #expect(entries.map { $0["width"] as? Int } == [48, 128, 300])
                #expect(entries.map { $0["mime_type"] as? String } == ["image/jpeg", "image/webp", "image/png"])
                #expect((reply.data["source"] as? [String: Any])?["width"] as? Int == 320)

                let bad = try await HTTP.postJSON(server.base + "/v1/transform/variants", ["file": Images.fileJSON(Images.small), "variants": [
                    ["name": "ok", "operations": [["type": "resize", "width_in_px": 10]]],
                    ["name": "bad", "operations": [["type": "resize", "width_in_px": 10], ["type": "blur"]]],
                ]])
                #expect(bad.status == 400)
                #expect(bad.error["field"] as? String == "variants[1].operations[1].sigma")
            }
        }

        @Test("detect: faces of a real photo, in source pixels")
        func detect() async throws {
            let photo = try Images.sample("astronaut.png")
            try await TestServer.with { server in
                let reply = try await HTTP.postMultipart(server.base + "/v1/detect", file: photo, filename: "astronaut.png")
                #expect(reply.status == 200, "\(reply.text)")
                #expect(reply.data["width"] as? Int == 512)
                let faces = try #require(reply.data["faces"] as? [[String: Any]])
                #expect(faces.count >= 1)
                let face = try #require(faces.first)
                let x = try #require(face["x"] as? Double), w = try #require(face["width"] as? Double)
                #expect(x > 100 && x + w < 400, "the astronaut's face is in the middle third: \(face)")
                #expect((face["landmarks"] as? [Any])?.count == 5)

                // A crop says which faces it was built around, and which it left out (none here).
                let crop = try await HTTP.postJSON(server.base + "/v1/transform", [
                    "file": Images.fileJSON(photo, name: "a.png"),
                    "operations": [["type": "smart_crop", "width": 200, "height": 100]],
                ])
                #expect(crop.status == 200, "\(crop.text)")
                #expect(crop.data["strategy"] as? String == "face")
                #expect(crop.data["used_faces"] as? [Int] == [0])
                #expect(crop.data["left_out_faces"] == nil)
                // A 9:16 strip may move across the photo, so the subject was looked at; a square of
                // the square portrait is pinned by her face, so it was not, and the answer says so.
                let strip = try await HTTP.postJSON(server.base + "/v1/transform", [
                    "file": Images.fileJSON(photo, name: "a.png"),
                    "operations": [["type": "smart_crop", "width": 90, "height": 160]],
                ])
                #expect(["model", "heuristic"].contains(strip.data["subject_source"] as? String), "\(strip.text)")
                let square = try await HTTP.postJSON(server.base + "/v1/transform", [
                    "file": Images.fileJSON(photo, name: "a.png"),
                    "operations": [["type": "smart_crop", "width": 128, "height": 128]],
                ])
                #expect(square.data["subject_source"] as? String == "skipped", "\(square.text)")
                let tool = try await HTTP.postMultipart(server.base + "/api/v1/tools/smart-crop", file: photo, filename: "a.png",
                                                        fields: ["settings": ["mode": "auto", "width": 128, "height": 128]])
                #expect(tool.status == 200, "\(tool.text)")
                #expect(tool.headers.first(name: "X-Smartcrop-Subject-Source") == "skipped")

                let json = try await HTTP.postJSON(server.base + "/v1/detect", ["file": Images.fileJSON(photo, name: "a.png"),
                                                                               "settings": ["sensitivity": 2]])
                #expect(json.status == 400)
                #expect(json.error["field"] as? String == "settings.sensitivity")
            }
        }
    }
}

extension ServerSuite {
    @Suite("Smart-crop tool and downloads") struct ToolTests {
        @Test("the tool answers with a download URL that serves the file")
        func toolAndDownload() async throws {
            try await TestServer.with { server in
                let reply = try await HTTP.postMultipart(server.base + "/api/v1/tools/smart-crop", file: Images.small, filename: "../My Photo!.jpg",
                                                         fields: ["settings": ["mode": "auto", "width": 200, "height": 100, "quality": 70]])
                #expect(reply.status == 200, "\(reply.text)")
                let json = reply.json
                let jobId = try #require(json["jobId"] as? String)
                #expect(UUID(uuidString: jobId) != nil)
                let url = try #require(json["downloadUrl"] as? String)
                #expect(url == "/api/v1/download/\(jobId)/My_Photo__smartcrop.jpg")
                #expect(json["originalSize"] as? Int == Images.small.count)
                let file = try await HTTP.get(server.base + url)
                #expect(file.status == 200)
                #expect(file.headers.first(name: "Content-Type") == "image/jpeg")
                #expect(file.body.count == json["processedSize"] as? Int)
                let image = try OpenedSource(.data(file.body))
                #expect(image.info.width == 200 && image.info.height == 100)

                // Unknown, malformed and traversal-shaped ids and names are all just not found.
                for path in ["/api/v1/download/\(UUID().uuidString.lowercased())/My_Photo__smartcrop.jpg",
                             "/api/v1/download/\(jobId)/other.jpg",
                             "/api/v1/download/not-a-uuid/My_Photo__smartcrop.jpg",
                             "/api/v1/download/\(jobId)/..%2F..%2Fetc%2Fpasswd",
                             "/api/v1/download/\(jobId)/.hidden",
                             "/api/v1/download/..%2F\(jobId)/My_Photo__smartcrop.jpg",
                             "/api/v1/download/\(jobId.uppercased())/My_Photo__smartcrop.jpg"] {
                    let missing = try await HTTP.get(server.base + path)
                    #expect(missing.status == 404, "\(path)")
                    #expect(missing.error["code"] as? String == "not_found")
                }
            }
        }

        @Test("defaults: 1080x1080, and a PNG stays a PNG")
        func toolDefaults() async throws {
            let png = try Images.make(width: 1200, height: 1400, format: .png)
            try await TestServer.with { server in
                let reply = try await HTTP.postMultipart(server.base + "/api/v1/tools/smart-crop", file: png, filename: "tall.png")
                #expect(reply.status == 200, "\(reply.text)")
                #expect((reply.json["downloadUrl"] as? String)?.hasSuffix("/tall_smartcrop.png") == true)
                #expect(reply.json["width"] as? Int == 1080 && reply.json["height"] as? Int == 1080)
                let bad = try await HTTP.postMultipart(server.base + "/api/v1/tools/smart-crop", file: png, fields: ["settings": ["padding": 80]])
                #expect(bad.status == 400)
                #expect(bad.error["field"] as? String == "settings.padding")
            }
        }

        @Test("downloads expire after the configured time")
        func expiry() async throws {
            try await TestServer.with({ $0.downloadTTL = .seconds(8) }) { server in
                let reply = try await HTTP.postMultipart(server.base + "/api/v1/tools/smart-crop", file: Images.small,
                                                         fields: ["settings": ["width": 64]])
                let url = try #require(reply.json["downloadUrl"] as? String)
                #expect(try await HTTP.get(server.base + url).status == 200)
                try await Task.sleep(for: .milliseconds(8500))
                let expired = try await HTTP.get(server.base + url)
                #expect(expired.status == 404)
                let jobId = try #require(reply.json["jobId"] as? String)
                #expect(!FileManager.default.fileExists(atPath: server.configuration.downloadDirectory + "/" + jobId))
            }
        }
    }
}

extension ServerSuite {
    @Suite("Errors") struct ErrorTests {

        @Test("400: invalid JSON, operations and fields name the field")
        func invalid() async throws {
            try await TestServer.with { server in
                let url = server.base + "/v1/transform"
                let file = Images.fileJSON(Images.small)
                expectError(try await HTTP.postJSON(url, ["file": file, "operations": [["type": "resize", "width_in_px": 10],
                                                                                      ["type": "smart_crop", "width_in_px": 0]]]),
                            400, "invalid_argument", field: "operations[1].width_in_px")
                expectError(try await HTTP.postJSON(url, ["file": file, "operations": Array(repeating: ["type": "sharpen"], count: 31)]),
                            400, "invalid_argument", field: "operations")
                expectError(try await HTTP.postJSON(url, ["file": file]), 400, "invalid_argument", field: "operations")
                expectError(try await HTTP.postJSON(url, ["operations": smartCrop256]), 400, "invalid_argument", field: "file")
                expectError(try await HTTP.postJSON(url, ["file": ["type": "ftp"], "operations": smartCrop256]), 400, "invalid_argument", field: "file.type")
                expectError(try await HTTP.postJSON(url, ["file": ["type": "base64", "base64": "***"], "operations": smartCrop256]),
                            400, "invalid_argument", field: "file.base64")
                expectError(try await HTTP.postJSON(url, ["file": file, "operations": smartCrop256, "extra": 1]), 400, "invalid_argument", field: "extra")
                expectError(try await HTTP.send(.POST, url, body: Data("{not json".utf8), headers: [("Content-Type", "application/json")]),
                            400, "invalid_argument")
                expectError(try await HTTP.send(.POST, url, body: Data("--x\r\nbroken".utf8), headers: [("Content-Type", "multipart/form-data")]),
                            400, "invalid_argument")
            }
        }

        @Test("401: API keys in constant time; public paths stay open")
        func auth() async throws {
            try await TestServer.with({ $0.apiKeys = ["k-one", "second-key"] }) { server in
                let body: [String: Any] = ["file": Images.fileJSON(Images.small), "operations": smartCrop256]
                let url = server.base + "/v1/transform"
                let missing = try await HTTP.postJSON(url, body)
                expectError(missing, 401, "unauthorized")
                #expect(missing.headers.first(name: "WWW-Authenticate") == "Bearer")
                expectError(try await HTTP.postJSON(url, body, headers: [("Authorization", "Bearer k-on")]), 401, "unauthorized")
                expectError(try await HTTP.postJSON(url, body, headers: [("Authorization", "Bearer k-one2")]), 401, "unauthorized")
                expectError(try await HTTP.postJSON(url, body, headers: [("Authorization", "Basic k-one")]), 401, "unauthorized")
                expectError(try await HTTP.get(server.base + "/api/v1/download/\(UUID())/x.jpg"), 401, "unauthorized")
                #expect(try await HTTP.postJSON(url, body, headers: [("Authorization", "Bearer k-one")]).status == 200)
                #expect(try await HTTP.postJSON(url, body, headers: [("Authorization", "bearer second-key")]).status == 200)
                for path in ["/", "/healthz", "/readyz", "/metrics", "/openapi.json"] {
                    #expect(try await HTTP.get(server.base + path).status == 200, "\(path)")
                }
            }
            #expect(constantTimeEqual(Array("abc".utf8), Array("abc".utf8)) == 1)
            #expect(constantTimeEqual(Array("abc".utf8), Array("abd".utf8)) == 0)
            #expect(constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)) == 0)
            #expect(constantTimeEqual([], Array("a".utf8)) == 0)
        }

        @Test("auth off: no key needed, and the server refuses to listen beyond loopback")
        func authOff() async throws {
            try await TestServer.with { server in
                let reply = try await HTTP.postJSON(server.base + "/v1/transform", ["file": Images.fileJSON(Images.small), "operations": smartCrop256])
                #expect(reply.status == 200)
            }
            var configuration = ServerConfiguration()
            configuration.host = "0.0.0.0"
            #expect(!configuration.bindsLoopbackOnly)
            configuration.host = "127.0.0.1"
            #expect(configuration.bindsLoopbackOnly)
            configuration.host = "::1"
            #expect(configuration.bindsLoopbackOnly)
        }

        @Test("404: unknown routes")
        func notFound() async throws {
            try await TestServer.with { server in
                expectError(try await HTTP.get(server.base + "/v2/nothing"), 404, "not_found")
                expectError(try await HTTP.postJSON(server.base + "/v1/transformer", [:]), 404, "not_found")
            }
        }

        @Test("413: body, file and pixel limits")
        func tooLarge() async throws {
            try await TestServer.with({ $0.maxBodyBytes = 64 * 1024; $0.maxPixels = 50_000; $0.maxOutputPixels = 1_000_000 }) { server in
                let big = try Images.make(width: 600, height: 600)
                #expect(big.count > 64 * 1024)
                expectError(try await HTTP.postJSON(server.base + "/v1/transform", ["file": Images.fileJSON(big), "operations": smartCrop256]),
                            413, "too_large")
                expectError(try await HTTP.postMultipart(server.base + "/v1/transform", file: big, fields: ["operations": smartCrop256]), 413, "too_large")
                let pixels = try Images.make(width: 300, height: 200)  // 60,000 pixels, small file
                expectError(try await HTTP.postJSON(server.base + "/v1/transform", ["file": Images.fileJSON(pixels), "operations": smartCrop256]),
                            413, "too_large")
            }
        }

        @Test("415: not an image, or not JSON nor multipart")
        func unsupported() async throws {
            try await TestServer.with { server in
                let url = server.base + "/v1/transform"
                expectError(try await HTTP.postJSON(url, ["file": Images.fileJSON(Data("hello, world".utf8)), "operations": smartCrop256]),
                            415, "unsupported_format")
                let svg = Data("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>".utf8)
                expectError(try await HTTP.postMultipart(url, file: svg, fields: ["operations": smartCrop256]), 415, "unsupported_format")
                expectError(try await HTTP.send(.POST, url, body: Data("x".utf8), headers: [("Content-Type", "text/plain")]), 415, "unsupported_media_type")
            }
        }

        @Test("422: looks like an image, cannot be decoded")
        func undecodable() async throws {
            try await TestServer.with { server in
                var corrupt = Data([0xFF, 0xD8, 0xFF, 0xE0])
                corrupt.append(Data((0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 37) }))
                expectError(try await HTTP.postJSON(server.base + "/v1/transform", ["file": Images.fileJSON(corrupt), "operations": smartCrop256]),
                            422, "undecodable_image")
                let truncated = Images.small.prefix(200)
                expectError(try await HTTP.postJSON(server.base + "/v1/transform", ["file": Images.fileJSON(Data(truncated)), "operations": smartCrop256]),
                            422, "undecodable_image")
            }
        }

        @Test("503: a full queue is refused at once with Retry-After, and in-flight work completes")
        func overloaded() async throws {
            let slowImage = try Images.make(width: 2000, height: 2000)
            try await TestServer.with({ $0.workers = 1; $0.queueSize = 0 }) { server in
                let slow: [String: Any] = ["file": Images.fileJSON(slowImage), "operations": [["type": "blur", "sigma": 20], ["type": "convert", "format": "png"]]]
                let first = Task { try await HTTP.postJSON(server.base + "/v1/transform", slow) }
                #expect(try await waitUntilBusy(server.base))
                // Several at once, so that one still finds the worker taken even on a slow machine.
                let small = try JSONSerialization.data(withJSONObject: ["file": Images.fileJSON(Images.small), "operations": smartCrop256])
                let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                    for _ in 0..<3 {
                        group.addTask { try await HTTP.send(.POST, server.base + "/v1/transform", body: small, headers: [("Content-Type", "application/json")]) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let refused = try #require(replies.first { $0.status == 503 }, "\(replies.map(\.status))")
                expectError(refused, 503, "overloaded")
                #expect(refused.headers.first(name: "Retry-After") == "1")
                #expect(replies.allSatisfy { $0.status == 503 || $0.status == 200 })
                #expect(try await first.value.status == 200)
                let metrics = try await HTTP.get(server.base + "/metrics").text
                #expect(metrics.contains("smartcrop_rejected_total \(replies.filter { $0.status == 503 }.count)"))
            }
        }

        @Test("504: the deadline is checked between steps")
        func deadline() async throws {
            let image = try Images.make(width: 1600, height: 1600)
            try await TestServer.with({ $0.deadline = .milliseconds(1) }) { server in
                let reply = try await HTTP.postJSON(server.base + "/v1/transform", ["file": Images.fileJSON(image), "operations": [
                    ["type": "sharpen"], ["type": "blur", "sigma": 2], ["type": "convert", "format": "png"]]])
                expectError(reply, 504, "deadline_exceeded")
            }
        }
    }
}

extension ServerSuite {
    @Suite("Service") struct ServiceTests {
        @Test("healthz, readyz, metrics")
        func health() async throws {
            try await TestServer.with { server in
                #expect(try await HTTP.get(server.base + "/healthz").json["status"] as? String == "ok")
                #expect(try await HTTP.get(server.base + "/readyz").json["status"] as? String == "ready")
                #expect(try await HTTP.postJSON(server.base + "/v1/transform", ["file": Images.fileJSON(Images.small), "operations": smartCrop256]).status == 200)
                #expect(try await HTTP.postJSON(server.base + "/v1/transform", ["file": Images.fileJSON(Images.small)]).status == 400)
                let metrics = try await HTTP.get(server.base + "/metrics")
                #expect(metrics.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
                let text = metrics.text
                for expected in [#"smartcrop_http_requests_total{route="/v1/transform",method="POST",status="200"} 1"#,
                                 #"smartcrop_http_requests_total{route="/v1/transform",method="POST",status="400"} 1"#,
                                 #"smartcrop_http_request_duration_seconds_bucket{route="/v1/transform",method="POST",status="200",le="+Inf"} 1"#,
                                 "smartcrop_decode_duration_seconds_count 1", "smartcrop_detect_duration_seconds_count 1",
                                 "smartcrop_encode_duration_seconds_count 1", "smartcrop_http_request_bytes_total{route=\"/v1/transform\"}",
                                 "smartcrop_http_response_bytes_total{route=\"/v1/transform\"}", "smartcrop_http_requests_in_flight",
                                 "smartcrop_queue_depth 0", "smartcrop_jobs_running 0"] {
                    #expect(text.contains(expected), "\(expected)")
                }
            }
        }

        @Test("the playground page is playground.html, byte for byte")
        func playground() async throws {
            let file = try Data(contentsOf: Images.packageRoot.appendingPathComponent("Sources/CServerAssets/playground.html"))
            try await TestServer.with { server in
                let page = try await HTTP.get(server.base + "/")
                #expect(page.status == 200)
                #expect(page.headers.first(name: "Content-Type")?.hasPrefix("text/html") == true)
                #expect(page.body == file)
            }
        }

        @Test("config file and environment, later sources winning; bad settings are refused")
        func configuration() throws {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-config-\(UUID()).json")
            try Data(#"{"port": 9000, "api_keys": ["a", "b"], "fetch_allow": ["127.0.0.1/32"], "deadline_seconds": 5, "queue_size": 3}"#.utf8).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let c = try ServerConfiguration.load(file: file.path, environment: ["SMARTCROP_PORT": "9001", "SMARTCROP_MAX_PIXELS": "1000"])
            #expect(c.port == 9001)
            #expect(c.apiKeys == ["a", "b"])
            #expect(c.fetchAllow.map(\.description) == ["127.0.0.1/32"])
            #expect(c.deadline == .seconds(5))
            #expect(c.queueSize == 3)
            #expect(c.maxPixels == 1000)
            #expect(c.maxBodyBytes == 50 << 20)
            #expect(c.downloadTTL == .seconds(3600))
            #expect(try ServerConfiguration.load(environment: ["SMARTCROP_API_KEYS": "x, y"]).apiKeys == ["x", "y"])
            #expect(throws: ConfigurationError.self) { try ServerConfiguration.load(environment: ["SMARTCROP_PORT": "http"]) }
            #expect(throws: ConfigurationError.self) { try ServerConfiguration.load(environment: ["SMARTCROP_FETCH_ALLOW": "10.0.0.0/33"]) }
            try Data(#"{"prot": 1}"#.utf8).write(to: file)
            #expect(throws: ConfigurationError.self) { try ServerConfiguration.load(file: file.path, environment: [:]) }
        }

        @Test("--print-config's settings are every setting, read back the same, with the secrets redacted")
        func effectiveSettings() throws {
            let environment = ["SMARTCROP_PORT": "9001", "SMARTCROP_DRAIN_TIMEOUT_SECONDS": "12.5", "SMARTCROP_FETCH_ALLOW": "10.1.0.0/16",
                               "SMARTCROP_LOCAL_ROOT": "/srv/images", "SMARTCROP_WORKERS": "3", "SMARTCROP_SOURCE_PREFIXES": "https://a.example/"]
            let configuration = try ServerConfiguration.load(environment: environment)
            let settings = configuration.effectiveSettings
            #expect(Set(settings.keys) == Set(ServerConfiguration.keys + ["listen_host", "exit_after_sigterm_at_most_seconds", "environment"]))
            #expect(settings["exit_after_sigterm_at_most_seconds"] == .number(22.5))
            #expect(settings["listen_host"] == .string("127.0.0.1"), "no API key: loopback only")
            #expect(settings["environment"] == .array(ServerConfiguration.environmentNames.map { .string($0) }))
            #expect(Set(environment.keys).isSubset(of: ServerConfiguration.environmentNames))

            // Written back as a config file, the settings load as the same configuration.
            var file = settings.filter { $0.value != .null }
            for derived in ["listen_host", "exit_after_sigterm_at_most_seconds", "environment"] { file[derived] = nil }
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-settings-\(UUID()).json")
            defer { try? FileManager.default.removeItem(at: path) }
            try JSONEncoder().encode(file).write(to: path)
            #expect(try ServerConfiguration.load(file: path.path, environment: [:]) == configuration)

            let keyed = try ServerConfiguration.load(environment: ["SMARTCROP_API_KEYS": "secret-1,secret-2", "SMARTCROP_URL_SIGNING_KEY": "sk",
                                                                   "SMARTCROP_URL_SIGNING_SALT": "ss"])
            let text = String(decoding: try JSONEncoder().encode(keyed.effectiveSettings), as: UTF8.self)
            for secret in ["secret-1", "secret-2", "sk", "ss"] { #expect(!text.contains("\"\(secret)\""), "\(secret) leaked: \(text)") }
            #expect(keyed.effectiveSettings["api_keys"] == .array([.string("<redacted>"), .string("<redacted>")]))
            #expect(keyed.effectiveSettings["listen_host"] == .string("0.0.0.0"))
        }
    }
}
