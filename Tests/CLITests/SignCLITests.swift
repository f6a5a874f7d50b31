import Foundation
import Testing

/// `smartcrop sign` against the signature Python's standard library computes from the README's
/// recipe, independently of our code.
@Suite struct SignCLITests {
    static let python: String? = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: python != nil, "needs python3"))
    func signMatchesAnIndependentHMAC() throws {
        let ops = #"[{"type": "smart_crop", "width_in_px": 256, "height_in_px": 256, "mode": "face"}]"#
        let source = "https://cdn.example.com/uploads/ünïcode photo.jpg?v=2"
        let r = try CLI.run(["sign", "--key", "k3y with spaces", "--salt", "s@lt", "--source", source, "--ops", ops, "--ext", "avif"])
        #expect(r.status == 0, "\(r.stderr)")
        let script = """
        import base64, hashlib, hmac, sys
        key, salt, source, ops, ext = sys.argv[1:]
        b64 = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        part = b64(ops.encode()) + "/" + b64(source.encode()) + "." + ext
        print("/v1/img/" + b64(hmac.new(key.encode(), (salt + "/" + part).encode(), hashlib.sha256).digest()) + "/" + part)
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Self.python))
        process.arguments = ["-c", script, "k3y with spaces", "s@lt", source, ops, "avif"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let expected = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(r.stdout == expected)
        #expect(r.stdout.hasPrefix("/v1/img/"))
    }

    /// The server serves `local:///` sources under its local_root; `sign` signs them, and
    /// refuses the forms the server refuses before it reads anything, in the server's words.
    @Test func signAcceptsEverySourceFormTheServerServes() throws {
        let ops = #"[{"type": "smart_crop", "width_in_px": 64}]"#
        for source in ["local:///up/p.jpg", "local:///p.jpg", "http://a.example/x.jpg", "https://[2001:db8::1]:8443/x.png"] {
            let r = try CLI.run(["sign", "--key", "k", "--source", source, "--ops", ops])
            #expect(r.status == 0, "\(source): \(r.stderr)")
            let signedSource = String(try #require(r.stdout.split(separator: "/").last?.split(separator: ".").first))
            let padded = signedSource.replacing("-", with: "+").replacing("_", with: "/")
                + String(repeating: "=", count: (4 - signedSource.count % 4) % 4)
            #expect(Data(base64Encoded: padded).map { String(decoding: $0, as: UTF8.self) } == source)
        }
        let refusals = [
            ("local:///up/../etc/p.jpg", "local:/// paths are relative to local_root, without .. or empty parts"),
            ("local:///up//p.jpg", "local:/// paths are relative to local_root, without .. or empty parts"),
            ("local:///", "local:/// paths are relative to local_root, without .. or empty parts"),
            ("local:///up/", "local:/// paths are relative to local_root, without .. or empty parts"),
            ("file:///etc/passwd", "only http and https URLs are accepted, got file"),
            ("ftp://a.example/x.jpg", "only http and https URLs are accepted, got ftp"),
            ("https://user:pw@a.example/x.jpg", "URLs with a user name or password are not accepted"),
            ("not a url", "is not a valid URL"),
            ("https:///x.jpg", "has no host"),
        ]
        for (source, words) in refusals {
            let r = try CLI.run(["sign", "--key", "k", "--source", source, "--ops", ops])
            #expect(r.status == 2, "\(source): \(r.stderr)")
            #expect(r.stderr.contains("--source: \(words)"), "\(source): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
    }

    @Test func signRefusesWhatTheServerWouldRefuse() throws {
        let good = ["--key", "k", "--source", "https://a.example/x.jpg", "--ops", #"[{"type": "smart_crop", "width_in_px": 64}]"#]
        #expect(try CLI.run(["sign"] + good).status == 0)
        for (flag, value) in [("--ops", #"[{"type": "explode"}]"#), ("--source", "file:///etc/passwd"), ("--ext", "tif"), ("--key", "")] {
            var args = good
            if let i = args.firstIndex(of: flag) { args[i + 1] = value } else { args += [flag, value] }
            let r = try CLI.run(["sign"] + args)
            #expect(r.status == 2, "\(flag) \(value): \(r.stderr)")
        }
    }
}
