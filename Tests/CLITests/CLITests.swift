import Foundation
import Testing

/// Runs the real `smartcrop` binary, built next to the test bundle.
struct CLI {
    static var binary: String {
        if let explicit = ProcessInfo.processInfo.environment["SMARTCROP_BIN"] { return explicit }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // swift-testing's runner may live inside the .xctest bundle.
        for _ in 0..<3 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("smartcrop").path) {
            dir.deleteLastPathComponent()
        }
        return dir.appendingPathComponent("smartcrop").path
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    @discardableResult
    static func run(_ arguments: [String], in directory: URL? = nil, without unset: [String] = [],
                    setting extra: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if !unset.isEmpty || !extra.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.filter { !unset.contains($0.key) }
                .merging(extra) { _, new in new }
        }
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }
}

/// A scratch folder with a test image, written by the CLI itself from a PNG we hand-encode.
final class Workspace {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try Workspace.png(width: 120, height: 80).write(to: url.appendingPathComponent("in.png"))
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    var files: [String] { (try? FileManager.default.contentsOfDirectory(atPath: url.path).sorted()) ?? [] }

    /// A minimal valid RGB PNG (stored, uncompressed deflate blocks), so the CLI tests need
    /// nothing but the binary under test.
    static func png(width: Int, height: Int,
                    pixel: (Int, Int) -> [UInt8] = { x, y in [UInt8(x * 2 % 256), UInt8(y * 3 % 256), 128] }) -> Data {
        var raw = Data()
        for y in 0..<height {
            raw.append(0)
            for x in 0..<width { raw.append(contentsOf: pixel(x, y)) }
        }
        var zlib = Data([0x78, 0x01])
        var offset = 0
        while offset < raw.count {
            let n = min(65535, raw.count - offset)
            zlib.append(offset + n == raw.count ? 1 : 0)
            zlib.append(contentsOf: [UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)])
            zlib.append(raw[offset..<offset + n])
            offset += n
        }
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        zlib.append(contentsOf: withUnsafeBytes(of: ((b << 16) | a).bigEndian, Array.init))
        func chunk(_ type: String, _ body: Data) -> Data {
            var d = Data(withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init))
            let typed = Data(type.utf8) + body
            d.append(typed)
            d.append(contentsOf: withUnsafeBytes(of: crc32(typed).bigEndian, Array.init))
            return d
        }
        var header = Data(withUnsafeBytes(of: UInt32(width).bigEndian, Array.init))
        header.append(contentsOf: withUnsafeBytes(of: UInt32(height).bigEndian, Array.init))
        header.append(contentsOf: [8, 2, 0, 0, 0])
        return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + chunk("IHDR", header) + chunk("IDAT", zlib) + chunk("IEND", Data())
    }

    static func crc32(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
        }
        return ~crc
    }
}

@Suite(.serialized) struct CLITests {
    @Test func jsonContractWithoutOutputWritesNoImage() throws {
        let ws = try Workspace()
        let r = try CLI.run(["crop", ws.path("in.png"), "--size", "40x40", "--mode", "center"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let source = json["source"] as! [String: Any], crop = json["crop"] as! [String: Any], output = json["output"] as! [String: Any]
        #expect(source["width"] as? Int == 120 && source["height"] as? Int == 80 && source["format"] as? String == "png")
        #expect(crop["x"] as? Int == 20 && crop["y"] as? Int == 0 && crop["width"] as? Int == 80 && crop["height"] as? Int == 80)
        #expect(json["strategy"] as? String == "center")
        #expect(output["width"] as? Int == 40 && (output["bytes"] as? Int ?? 0) > 0)
        #expect(ws.files == ["in.png"])
    }

    @Test func outputFormatFollowsTheExtensionUnlessGiven() throws {
        let ws = try Workspace()
        #expect(try CLI.run(["crop", ws.path("in.png"), "--size", "30x20", "-o", ws.path("a.webp")]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: ws.path("a.webp"))).prefix(12).suffix(4) == Data("WEBP".utf8))
        let r = try CLI.run(["crop", ws.path("in.png"), "--size", "30x20", "-o", ws.path("b.webp"), "--format", "jpeg", "--json"])
        #expect(r.status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: ws.path("b.webp"))).prefix(2) == Data([0xFF, 0xD8]))
        #expect(r.stdout.contains("\"format\":\"jpeg\""))
    }

    @Test func badInputIsOneLineAndExitOne() throws {
        let ws = try Workspace()
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: ws.path("text.jpg")))
        let png = try Data(contentsOf: URL(fileURLWithPath: ws.path("in.png")))
        try png.prefix(png.count / 2).write(to: URL(fileURLWithPath: ws.path("half.png")))
        for input in ["missing.jpg", "text.jpg", "half.png"] {
            let r = try CLI.run(["crop", ws.path(input), "--size", "10x10", "-o", ws.path("out.webp")])
            #expect(r.status == 1, "\(input): \(r.stderr)")
            #expect(r.stderr.hasPrefix("smartcrop: ") && r.stderr.split(separator: "\n").count == 1, "\(input): \(r.stderr)")
        }
        #expect(!ws.files.contains("out.webp"))
    }

    @Test func devicesPipesAndHostileFilesAreRefusedAtOnce() throws {
        let ws = try Workspace()
        #expect(mkfifo(ws.path("pipe"), 0o600) == 0)
        // A truncated .svgz made libvips' probe spin forever, whatever the file was called.
        let svgz: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xB3, 0x29, 0x2E, 0x4B]
        try Data(svgz).write(to: URL(fileURLWithPath: ws.path("cut.jpg")))
        for (input, says) in [("/dev/zero", "is a device"), (ws.path("pipe"), "is a pipe"), (ws.path("cut.jpg"), "(gzip, .svgz) are not accepted")] {
            let start = ContinuousClock.now
            let r = try CLI.run(["crop", input, "--size", "10x10", "-o", ws.path("out.webp")])
            #expect(r.status == 1, "\(input): \(r.stderr)")
            #expect(r.stderr.contains(says) && r.stderr.split(separator: "\n").count == 1, "\(input): \(r.stderr)")
            #expect(ContinuousClock.now - start < .seconds(10))
        }
        // The batch command goes past them, in the same folder as a good photo.
        try FileManager.default.createDirectory(atPath: ws.path("in"), withIntermediateDirectories: true)
        try Data(svgz).write(to: URL(fileURLWithPath: ws.path("in/cut.jpg")))
        #expect(mkfifo(ws.path("in/pipe.jpg"), 0o600) == 0)
        try Workspace.png(width: 40, height: 30).write(to: URL(fileURLWithPath: ws.path("in/good.png")))
        let batch = try CLI.run(["batch", ws.path("in"), ws.path("out"), "--sizes", "10x10"])
        #expect(batch.status == 1, "\(batch.stdout) \(batch.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.path("out")).count == 1)
    }

    @Test func badUsageExitsTwo() throws {
        let ws = try Workspace()
        for size in ["0x10", "-5x10", "100000x10", "abc"] {
            #expect(try CLI.run(["crop", ws.path("in.png"), "--size", size]).status == 2, "size \(size)")
        }
        #expect(try CLI.run(["crop", ws.path("in.png"), "--size", "10x10", "--mode", "magic"]).status == 2)
        #expect(try CLI.run(["crop", ws.path("in.png"), "--size", "10x10", "--quality", "101"]).status == 2)
        #expect(try CLI.run(["crop", ws.path("in.png"), "--size", "10x10", "-o", ws.path("x.bmp")]).status == 2)
    }

    @Test func unwritableOutputLeavesNothingBehind() throws {
        let ws = try Workspace()
        let r = try CLI.run(["crop", ws.path("in.png"), "--size", "10x10", "-o", ws.path("no/such/dir/out.webp")])
        #expect(r.status == 1)
        #expect(r.stderr.contains("does not exist"))
        try FileManager.default.createDirectory(atPath: ws.path("ro"), withIntermediateDirectories: true)
        chmod(ws.path("ro"), 0o500)
        defer { chmod(ws.path("ro"), 0o700) }
        if getuid() != 0 {  // root can write anywhere
            let denied = try CLI.run(["crop", ws.path("in.png"), "--size", "10x10", "-o", ws.path("ro/out.webp")])
            #expect(denied.status == 1)
            #expect(try FileManager.default.contentsOfDirectory(atPath: ws.path("ro")).isEmpty)
        }
    }

    @Test func runsPipelineFilesAndJobs() throws {
        let ws = try Workspace()
        try Data(#"[{"type": "resize", "width_in_px": 60, "fit": "inside"}, {"type": "rotate", "angle": 90}]"#.utf8)
            .write(to: URL(fileURLWithPath: ws.path("p.json")))
        let r = try CLI.run(["run", ws.path("p.json"), ws.path("in.png"), "-o", ws.path("r.png"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"width\":40") && r.stdout.contains("\"height\":60"))

        try Data(#"[{"type": "resize", "width_in_px": 0}]"#.utf8).write(to: URL(fileURLWithPath: ws.path("bad.json")))
        let bad = try CLI.run(["run", ws.path("bad.json"), ws.path("in.png"), "-o", ws.path("r2.png")])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("operations[0].width_in_px"))

        try Data(#"{"operation": "crop", "input": "in.png", "output": "job.jpg", "gravity": "center", "width": 20, "height": 20, "inline": true}"#.utf8)
            .write(to: URL(fileURLWithPath: ws.path("job.json")))
        let job = try CLI.run(["job", ws.path("job.json")])
        #expect(job.status == 0, "\(job.stderr)")
        let answer = try JSONSerialization.jsonObject(with: Data(job.stdout.utf8)) as! [String: Any]
        let inline = try #require(Data(base64Encoded: answer["data_base64"] as? String ?? ""))
        #expect(inline == (try Data(contentsOf: URL(fileURLWithPath: ws.path("job.jpg")))))
        #expect(inline.prefix(2) == Data([0xFF, 0xD8]))
    }
}
