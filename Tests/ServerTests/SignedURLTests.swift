import Foundation
@testable import SmartCropServer
import Testing
import URLSigning

extension ServerSuite {
    @Suite("signed GET URLs") struct SignedURLTests {
        static let operations = #"[{"type": "smart_crop", "width_in_px": 48, "height_in_px": 48}]"#
        static let keys = [URLSigningKey(key: "old secret", salt: "old salt"), URLSigningKey(key: "new secret", salt: "new salt")]

        func configure(_ c: inout ServerConfiguration) {
            c.fetchAllow = [IPNetwork("127.0.0.1/32")!]
            c.urlSigning = Self.keys
            c.apiKeys = ["api-key"]  // signed URLs need none
        }

        @Test("a signed URL is answered with the image, cache headers and an ETag; If-None-Match gives 304")
        func signedImage() async throws {
            try await OriginServer.with { origin in
                try await TestServer.with(configure) { server in
                    let source = "http://127.0.0.1:\(origin.port)/photo.jpg"
                    let path = URLSigner.path(operations: Self.operations, source: source, ext: "webp", key: Self.keys[1])
                    let reply = try await HTTP.get(server.base + path)
                    #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
                    #expect(reply.headers["Content-Type"].first == "image/webp")
                    #expect(reply.headers["Cache-Control"].first == "public, max-age=31536000, immutable")
                    #expect(reply.headers["X-Smartcrop-Width"].first == "48")
                    let etag = try #require(reply.headers["ETag"].first)
                    #expect(etag.hasPrefix("\"") && etag.count == 34, "a strong ETag: \(etag)")

                    let again = try await HTTP.get(server.base + path, headers: [("If-None-Match", etag)])
                    #expect(again.status == 304)
                    #expect(again.body.isEmpty)
                    #expect(again.headers["ETag"].first == etag)
                    let other = try await HTTP.get(server.base + path, headers: [("If-None-Match", "\"0000\"")])
                    #expect(other.status == 200)
                    #expect(other.body == reply.body, "the same URL makes the same bytes")

                    // Another operation list is another image, and another tag.
                    let jpeg = URLSigner.path(operations: #"[{"type": "smart_crop", "width_in_px": 32}]"#, source: source, ext: "jpg",
                                              key: Self.keys[0])
                    let small = try await HTTP.get(server.base + jpeg)
                    #expect(small.status == 200)
                    #expect(small.headers["Content-Type"].first == "image/jpeg")
                    #expect(small.headers["ETag"].first != etag)
                }
            }
        }

        @Test("format auto picks AVIF, WebP or JPEG from Accept, with Vary: Accept and a tag per format")
        func formatAuto() async throws {
            try await OriginServer.with { origin in
                try await TestServer.with(configure) { server in
                    let ops = #"[{"type": "smart_crop", "width_in_px": 40, "height_in_px": 40}, {"type": "convert", "format": "auto"}]"#
                    let path = URLSigner.path(operations: ops, source: "http://127.0.0.1:\(origin.port)/photo.jpg", ext: "jpg", key: Self.keys[0])
                    var tags: [String: String] = [:]
                    for (accept, type) in [("image/avif,image/webp,image/*;q=0.8", "image/avif"), ("image/webp,*/*", "image/webp"),
                                           ("image/avif;q=0, image/webp", "image/webp"), ("image/jpeg", "image/jpeg"), ("", "image/jpeg")] {
                        let reply = try await HTTP.get(server.base + path, headers: accept.isEmpty ? [] : [("Accept", accept)])
                        #expect(reply.status == 200)
                        #expect(reply.headers["Content-Type"].first == type, "Accept: \(accept)")
                        #expect(reply.headers["Vary"].first == "Accept")
                        let tag = try #require(reply.headers["ETag"].first)
                        if let seen = tags[type] { #expect(seen == tag, "one tag per format") }
                        tags[type] = tag
                    }
                    #expect(Set(tags.values).count == 3, "three formats, three tags: \(tags)")
                    let webpTag = try #require(tags["image/webp"])
                    let notModified = try await HTTP.get(server.base + path, headers: [("Accept", "image/webp"), ("If-None-Match", webpTag)])
                    #expect(notModified.status == 304)
                    let otherFormat = try await HTTP.get(server.base + path, headers: [("Accept", "image/avif"), ("If-None-Match", webpTag)])
                    #expect(otherFormat.status == 200, "the WebP's tag does not match the AVIF")

                    // The POST transform negotiates the same way.
                    let transform = try await HTTP.postJSON(server.base + "/v1/transform", [
                        "file": ["type": "url", "url": "http://127.0.0.1:\(origin.port)/photo.jpg"],
                        "operations": [["type": "smart_crop", "width_in_px": 32], ["type": "convert", "format": "auto"]],
                    ], headers: [("Accept", "image/webp"), ("Authorization", "Bearer api-key")])
                    #expect(transform.status == 200)
                    #expect(transform.headers["Content-Type"].first == "image/webp")
                    #expect(transform.headers["Vary"].first == "Accept")
                }
            }
        }

        @Test("a changed operation, source or extension, a wrong key and a garbled signature are 403, not cached")
        func tamperingIsRefused() async throws {
            try await OriginServer.with { origin in
                try await TestServer.with(configure) { server in
                    let source = "http://127.0.0.1:\(origin.port)/photo.jpg"
                    let path = URLSigner.path(operations: Self.operations, source: source, ext: "webp", key: Self.keys[0])
                    let parts = path.split(separator: "/").map(String.init)  // v1, img, signature, operations, source
                    let signature = parts[2]
                    let otherOperations = Base64URL.encode(Data(#"[{"type": "smart_crop", "width_in_px": 4000}]"#.utf8))
                    let otherSource = Base64URL.encode(Data("http://127.0.0.1:\(origin.port)/big".utf8)) + ".webp"
                    let attempts = [
                        "/v1/img/\(signature)/\(otherOperations)/\(parts[4])",
                        "/v1/img/\(signature)/\(parts[3])/\(otherSource)",
                        "/v1/img/\(signature)/\(parts[3])/\(parts[4].dropLast(4))jpg",
                        URLSigner.path(operations: Self.operations, source: source, ext: "webp", key: URLSigningKey(key: "guess", salt: "old salt")),
                        "/v1/img/AAAA/\(parts[3])/\(parts[4])",
                        "/v1/img/not-base64!/\(parts[3])/\(parts[4])",
                    ]
                    for attempt in attempts {
                        let reply = try await HTTP.get(server.base + attempt)
                        #expect(reply.status == 403, "\(attempt): \(reply.status)")
                        #expect(reply.error["code"] as? String == "forbidden")
                        #expect(reply.headers["Cache-Control"].first == "no-store")
                    }
                    // The untouched URL still works, with either key of the rotation.
                    let untouchedStatus = try await HTTP.get(server.base + path).status
                    #expect(untouchedStatus == 200)
                }
                // After the rotation ends, URLs signed with the retired key stop working.
                try await TestServer.with({ configure(&$0); $0.urlSigning = [Self.keys[1]] }) { server in
                    let source = "http://127.0.0.1:\(origin.port)/photo.jpg"
                    let retired = URLSigner.path(operations: Self.operations, source: source, ext: "webp", key: Self.keys[0])
                    let retiredStatus = try await HTTP.get(server.base + retired).status
                    #expect(retiredStatus == 403)
                    let current = URLSigner.path(operations: Self.operations, source: source, ext: "webp", key: Self.keys[1])
                    let currentStatus = try await HTTP.get(server.base + current).status
                    #expect(currentStatus == 200)
                }
            }
        }

        @Test("sources outside source_prefixes are refused; bad operations are 400 and not cached")
        func allowListAndValidation() async throws {
            try await OriginServer.with { origin in
                try await TestServer.with({ configure(&$0); $0.sourcePrefixes = ["http://127.0.0.1:\(origin.port)/redirect/"] }) { server in
                    let outside = URLSigner.path(operations: Self.operations, source: "http://127.0.0.1:\(origin.port)/photo.jpg",
                                                 ext: "webp", key: Self.keys[0])
                    let refused = try await HTTP.get(server.base + outside)
                    #expect(refused.status == 403)
                    #expect((refused.error["message"] as? String)?.contains("source_prefixes") == true)
                    let inside = URLSigner.path(operations: Self.operations, source: "http://127.0.0.1:\(origin.port)/redirect/1",
                                                ext: "webp", key: Self.keys[0])
                    let insideStatus = try await HTTP.get(server.base + inside).status
                    #expect(insideStatus == 200)
                    let invalid = URLSigner.path(operations: #"[{"type": "smart_crop", "width_in_px": -3}]"#,
                                                 source: "http://127.0.0.1:\(origin.port)/redirect/1", ext: "webp", key: Self.keys[0])
                    let bad = try await HTTP.get(server.base + invalid)
                    #expect(bad.status == 400)
                    #expect(bad.headers["Cache-Control"].first == "no-store")
                }
            }
        }

        @Test("several sizes of one source fetch it once (source cache); without the cache, once each")
        func sourceCache() async throws {
            try await OriginServer.with { origin in
                let source = "http://127.0.0.1:\(origin.port)/photo.jpg"
                try await TestServer.with(configure) { server in
                    for side in [48, 128, 200] {
                        let path = URLSigner.path(operations: #"[{"type": "smart_crop", "width_in_px": \#(side)}]"#, source: source,
                                                  ext: "webp", key: Self.keys[0])
                        let status = try await HTTP.get(server.base + path).status
                        #expect(status == 200)
                    }
                    #expect(origin.photoRequests.value == 1, "fetched \(origin.photoRequests.value) times")
                }
                try await TestServer.with({ configure(&$0); $0.sourceCacheMegabytes = 0 }) { server in
                    for side in [48, 128] {
                        let path = URLSigner.path(operations: #"[{"type": "smart_crop", "width_in_px": \#(side)}]"#, source: source,
                                                  ext: "webp", key: Self.keys[0])
                        let status = try await HTTP.get(server.base + path).status
                        #expect(status == 200)
                    }
                    #expect(origin.photoRequests.value == 3)
                }
            }
        }

        @Test("local:/// reads under local_root only: no .., no symbolic link out, refused when local_root is unset")
        func localSources() async throws {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-local-\(UUID().uuidString)")
            let root = base.appendingPathComponent("root"), outside = base.appendingPathComponent("outside")
            defer { try? FileManager.default.removeItem(at: base) }
            try FileManager.default.createDirectory(at: root.appendingPathComponent("a"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
            try Images.small.write(to: root.appendingPathComponent("a/photo.jpg"))
            try Images.small.write(to: outside.appendingPathComponent("secret.jpg"))
            try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("link"), withDestinationURL: outside)
            try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("inside.jpg"),
                                                       withDestinationURL: root.appendingPathComponent("a/photo.jpg"))
            func path(_ source: String) -> String {
                URLSigner.path(operations: Self.operations, source: source, ext: "png", key: Self.keys[0])
            }
            try await TestServer.with({ configure(&$0); $0.localRoot = root.path }) { server in
                for (source, status) in [("local:///a/photo.jpg", 200), ("local:///inside.jpg", 200), ("local:///a/../a/photo.jpg", 403),
                                         ("local:///../outside/secret.jpg", 403), ("local:///link/secret.jpg", 403),
                                         ("local:///a//photo.jpg", 403), ("local:///a/missing.jpg", 404), ("local:///a", 404)] {
                    let reply = try await HTTP.get(server.base + path(source))
                    #expect(reply.status == status, "\(source): \(String(decoding: reply.body, as: UTF8.self))")
                }
            }
            try await TestServer.with(configure) { server in
                let reply = try await HTTP.get(server.base + path("local:///a/photo.jpg"))
                #expect(reply.status == 403)
                #expect((reply.error["message"] as? String)?.contains("local_root") == true)
            }
        }

        @Test("without a signing key, only a loopback-bound server answers unsigned URLs")
        func unsignedOnLoopbackOnly() async throws {
            try await OriginServer.with { origin in
                let path = "/v1/img/unsigned/\(Base64URL.encode(Data(Self.operations.utf8)))/"
                    + Base64URL.encode(Data("http://127.0.0.1:\(origin.port)/photo.jpg".utf8)) + ".png"
                try await TestServer.with({ $0.fetchAllow = [IPNetwork("127.0.0.1/32")!] }) { server in
                    #expect(server.configuration.bindsLoopbackOnly)
                    let reply = try await HTTP.get(server.base + path)
                    #expect(reply.status == 200, "loopback, no key: signing is off")
                    #expect(reply.headers["Content-Type"].first == "image/png")
                }
                try await TestServer.with({ $0.fetchAllow = [IPNetwork("127.0.0.1/32")!]; $0.host = "0.0.0.0"; $0.apiKeys = ["k"] }) { server in
                    #expect(!server.configuration.bindsLoopbackOnly)
                    let reply = try await HTTP.get(server.base + path)
                    #expect(reply.status == 403)
                    #expect((reply.error["message"] as? String)?.contains("not configured") == true)
                }
            }
        }
    }
}
