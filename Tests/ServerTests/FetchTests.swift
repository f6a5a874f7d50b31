import Foundation
@testable import SmartCropServer
import Testing

extension ServerSuite {
    @Suite("URL input and SSRF") struct FetchTests {
        func transform(_ server: TestServer, url: String) async throws -> Reply {
            try await HTTP.postJSON(server.base + "/v1/transform", [
                "file": ["type": "url", "name": "remote.jpg", "url": url],
                "operations": [["type": "resize", "width_in_px": 64], ["type": "convert", "format": "png"]],
            ])
        }

        @Test("restricted ranges, IPv4 and IPv6, including addresses hidden inside IPv6 forms")
        func classifier() {
            let restricted = ["127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                              "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255",
                              "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "ff02::1",
                              "::ffff:10.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "2002:c0a8:101::1"]
            for text in restricted {
                let address = IPAddress(text)
                #expect(address != nil, "\(text) parses")
                #expect(address?.restriction != nil, "\(text) is refused")
            }
            for text in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
                #expect(IPAddress(text)?.restriction == nil, "\(text) is public")
            }
            let policy = FetchPolicy(allow: [IPNetwork("10.20.0.0/16")!, IPNetwork("::1")!])
            #expect(policy.refusal(for: IPAddress("10.20.3.4")!) == nil)
            #expect(policy.refusal(for: IPAddress("10.21.3.4")!) != nil)
            #expect(policy.refusal(for: IPAddress("::1")!) == nil)
            #expect(IPNetwork("10.0.0.0/33") == nil && IPNetwork("nonsense") == nil)
        }

        @Test("checks refuse private hosts, other schemes and credentials before any connection")
        func checksWithoutConnecting() async throws {
            let fetcher = SafeFetcher(policy: FetchPolicy())
            for url in ["http://10.0.0.1/a.jpg", "http://169.254.169.254/latest/meta-data/", "https://192.168.0.10/x.png", "http://[fd00::1]/x",
                        "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0:80/", "http://100.64.1.1/", "ftp://example.com/a.jpg",
                        "file:///etc/passwd", "gopher://example.com/", "http://user:pw@example.com/a.jpg", "http://localhost/a.jpg"] {
                await #expect(throws: APIError.self, "\(url)") { _ = try await fetcher.check(url) }
                do { _ = try await fetcher.check(url) } catch let error as APIError {
                    #expect(error.code == "url_not_allowed", "\(url): \(error.message)")
                    #expect(error.status == .badRequest)
                }
            }
            // A name resolving to a mix of public and private addresses is refused as a whole.
            let mixed = SafeFetcher(policy: FetchPolicy(), resolver: StaticResolver(table: ["mixed.test": [IPAddress("93.184.216.34")!, IPAddress("10.0.0.7")!]]))
            await #expect(throws: APIError.self) { _ = try await mixed.check("http://mixed.test/a.jpg") }
        }

        @Test("by default a URL naming loopback is refused")
        func loopbackRefusedByDefault() async throws {
            try await OriginServer.with { origin in
                try await TestServer.with { server in
                    for host in ["127.0.0.1", "localhost", "[::1]"] {
                        let reply = try await transform(server, url: "http://\(host):\(origin.port)/photo.jpg")
                        #expect(reply.status == 400, "\(host): \(reply.text)")
                        #expect(reply.error["code"] as? String == "url_not_allowed")
                        #expect(reply.error["field"] as? String == "file.url")
                    }
                }
            }
        }

        @Test("an allow-listed local server is reached; redirects are followed (at most 3) and re-checked")
        func allowListed() async throws {
            try await OriginServer.with { origin in
                try await TestServer.with({ $0.fetchAllow = [IPNetwork("127.0.0.1/32")!] }) { server in
                    let ok = try await transform(server, url: "http://127.0.0.1:\(origin.port)/photo.jpg")
                    #expect(ok.status == 200, "\(ok.text)")
                    #expect(ok.data["width"] as? Int == 64)
                    #expect((ok.data["source"] as? [String: Any])?["width"] as? Int == 320)

                    let three = try await transform(server, url: "http://127.0.0.1:\(origin.port)/redirect/3")
                    #expect(three.status == 200, "\(three.text)")
                    let four = try await transform(server, url: "http://127.0.0.1:\(origin.port)/redirect/4")
                    #expect(four.status == 400)
                    #expect(four.error["code"] as? String == "fetch_failed")
                    #expect((four.error["message"] as? String)?.contains("redirected more than 3") == true)

                    // A hop to another loopback address that is not on the allow-list is refused.
                    let away = try await transform(server, url: "http://127.0.0.1:\(origin.port)/away")
                    #expect(away.status == 400)
                    #expect(away.error["code"] as? String == "url_not_allowed", "\(away.text)")

                    let text = try await transform(server, url: "http://127.0.0.1:\(origin.port)/text")
                    #expect(text.status == 415)
                    let missing = try await transform(server, url: "http://127.0.0.1:\(origin.port)/nothing")
                    #expect(missing.status == 400)
                    #expect(missing.error["code"] as? String == "fetch_failed")
                }
                try await TestServer.with({ $0.fetchAllow = [IPNetwork("127.0.0.1")!]; $0.fetchMaxBytes = 1 << 20 }) { server in
                    let big = try await transform(server, url: "http://127.0.0.1:\(origin.port)/big")
                    #expect(big.status == 413, "\(big.text)")
                    #expect(big.error["code"] as? String == "too_large")
                }
            }
        }

        @Test("the connection goes to the address that was checked, not to a second DNS lookup")
        func connectsToCheckedAddress() async throws {
            // Only our resolver knows images.test; if the HTTP client resolved the name again it
            // would fail, so a 200 proves the checked address was used (the Host header stays the name).
            let resolver = StaticResolver(table: ["images.test": [IPAddress("127.0.0.1")!]])
            try await OriginServer.with { origin in
                try await TestServer.with({ $0.fetchAllow = [IPNetwork("127.0.0.0/8")!] }, resolver: resolver) { server in
                    let reply = try await transform(server, url: "http://images.test:\(origin.port)/photo.jpg")
                    #expect(reply.status == 200, "\(reply.text)")
                }
                try await TestServer.with(resolver: resolver) { server in
                    let reply = try await transform(server, url: "http://images.test:\(origin.port)/photo.jpg")
                    #expect(reply.error["code"] as? String == "url_not_allowed")
                }
            }
        }
    }
}
