import Foundation
import Testing

/// Outputs carry no metadata unless `--keep-icc` or `--keep-metadata` asks for it.
@Suite(.enabled(if: CLISamples.exists("astronaut.png"), "needs .assets/samples from `make samples`"))
struct MetadataCLITests {
    /// Whether a JPEG has an ICC profile (an APP2 segment named ICC_PROFILE).
    static func hasICC(_ data: Data) -> Bool { data.range(of: Data("ICC_PROFILE".utf8)) != nil }

    @Test func outputsAreLeanUnlessAskedAndBatchAgrees() throws {
        let ws = try Workspace()
        // The astronaut carries the 3 KB sRGB profile cameras embed.
        let photo = CLISamples.path("astronaut.png")
        for (flags, icc) in [([String](), false), (["--keep-icc"], true), (["--keep-metadata"], true)] {
            let out = ws.path("avatar\(flags.joined()).jpg")
            let r = try CLI.run(["crop", photo, "--size", "48x48", "-o", out] + flags)
            #expect(r.status == 0, "\(r.stderr)")
            let data = try Data(contentsOf: URL(fileURLWithPath: out))
            #expect(Self.hasICC(data) == icc, "\(flags): \(data.count) bytes")
            if !icc { #expect(data.count < 2500, "a lean 48x48 JPEG: \(data.count) bytes") }
        }
        try FileManager.default.createDirectory(atPath: ws.path("in"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: photo, toPath: ws.path("in/astronaut.png"))
        let batch = try CLI.run(["batch", ws.path("in"), ws.path("out"), "--sizes", "48x48:jpeg", "--keep-icc"])
        #expect(batch.status == 0, "\(batch.stderr)")
        #expect(Self.hasICC(try Data(contentsOf: URL(fileURLWithPath: ws.path("out/astronaut-48x48.jpg")))))
    }
}
