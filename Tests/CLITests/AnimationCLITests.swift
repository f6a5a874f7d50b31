import Foundation
import GIFTestSupport
import Testing

/// Animated GIFs for the CLI, written byte by byte: a red disc crossing the right part of a
/// light 480x240 canvas (transparent, when asked), 20 frames of 40, 50 and 60 ms, played 4 times
/// (repeated 3 times, in GIF's words).
enum DiscAnimation {
    static let width = 480, height = 240, frames = 20, radius = 16
    static let delays = (0..<frames).map { 4 + $0 % 3 }  // centiseconds
    static func centreX(_ frame: Int) -> Int { 216 + 168 * frame / (frames - 1) }

    static func gif(transparent: Bool = false) -> Data {
        let frames = (0..<Self.frames).map { frame in
            GIFWriter.Frame(indices: (0..<(width * height)).map { i in
                let dx = i % width - centreX(frame), dy = i / width - height / 2
                return dx * dx + dy * dy <= radius * radius ? 1 : 0
            }, width: width, height: height, delay: delays[frame])
        }
        return GIFWriter.encode(width: width, height: height, palette: [(235, 235, 225), (230, 40, 30)], frames: frames, loop: 3,
                                transparent: transparent ? 0 : nil)
    }

    /// `count` frames of 8x8 that alternate black and white.
    static func long(_ count: Int) -> Data {
        let frames = (0..<count).map { GIFWriter.Frame(indices: Array(repeating: UInt8($0 % 2), count: 64), width: 8, height: 8, delay: 4) }
        return GIFWriter.encode(width: 8, height: 8, palette: [(0, 0, 0), (255, 255, 255)], frames: frames)
    }
}

@Suite(.serialized) struct AnimationCLITests {
    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func summary(_ path: String) throws -> AnimationSummary {
        try #require(AnimationReader.read(try Data(contentsOf: URL(fileURLWithPath: path))), "\(path) is a GIF or WebP")
    }

    @Test func cropKeepsTheAnimationItsTimingAndItsLoop() throws {
        let ws = try Workspace()
        try DiscAnimation.gif().write(to: URL(fileURLWithPath: ws.path("disc.gif")))
        for name in ["out.gif", "out.webp"] {
            let r = try CLI.run(["crop", ws.path("disc.gif"), "--size", "128x128", "-o", ws.path(name), "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let report = try json(r.stdout)
            #expect((report["source"] as? [String: Any])?["frames"] as? Int == 20)
            #expect(report["frames"] as? Int == 20)
            #expect(report["analysed_frames"] as? [Int] == [0, 6, 13, 19])
            #expect((report["output"] as? [String: Any])?["frames"] as? Int == 20)
            // The disc's path (200...400) inside the one rectangle.
            let crop = try #require(report["crop"] as? [String: Int])
            #expect(crop["x"]! <= 200 && crop["x"]! + crop["width"]! >= 400, "\(crop)")

            let written = try summary(ws.path(name))
            #expect((written.width, written.height, written.frames) == (128, 128, 20), "\(name)")
            #expect(written.delays == DiscAnimation.delays.map { $0 * 10 }, "\(name)")
            #expect(written.plays == 4, "\(name)")
        }
    }

    @Test func noAnimationAndStillFormatsWriteTheFirstFrame() throws {
        let ws = try Workspace()
        try DiscAnimation.gif().write(to: URL(fileURLWithPath: ws.path("disc.gif")))
        let still = try CLI.run(["crop", ws.path("disc.gif"), "--size", "64x64", "--no-animation", "-o", ws.path("still.gif"), "--json"])
        #expect(still.status == 0, "\(still.stderr)")
        #expect(try json(still.stdout)["frames"] == nil)
        #expect(try summary(ws.path("still.gif")).frames == 1)

        let jpeg = try CLI.run(["crop", ws.path("disc.gif"), "--size", "64x64", "-o", ws.path("still.jpg"), "--json"])
        #expect(jpeg.status == 0, "\(jpeg.stderr)")
        #expect(try json(jpeg.stdout)["frames"] == nil)
        // Read back by the CLI: one frame, no animation in it.
        let back = try CLI.run(["crop", ws.path("still.jpg"), "--size", "8x8"])
        #expect((try json(back.stdout)["source"] as? [String: Any])?["frames"] == nil)

        try Data(#"[{"type": "smart_crop", "width_in_px": 64}]"#.utf8).write(to: URL(fileURLWithPath: ws.path("p.json")))
        #expect(try CLI.run(["run", ws.path("p.json"), ws.path("disc.gif"), "-o", ws.path("run.webp"), "--no-animation"]).status == 0)
        #expect(try summary(ws.path("run.webp")).frames == 1)
    }

    @Test func runAndBatchKeepTheAnimation() throws {
        let ws = try Workspace()
        try FileManager.default.createDirectory(atPath: ws.path("in"), withIntermediateDirectories: true)
        try DiscAnimation.gif(transparent: true).write(to: URL(fileURLWithPath: ws.path("in/disc.gif")))
        try Data(#"[{"type": "smart_crop", "width_in_px": 96, "height_in_px": 64}, {"type": "flip", "direction": "horizontal"}]"#.utf8)
            .write(to: URL(fileURLWithPath: ws.path("p.json")))
        let run = try CLI.run(["run", ws.path("p.json"), ws.path("in/disc.gif"), "-o", ws.path("run.webp"), "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let written = try summary(ws.path("run.webp"))
        #expect((written.width, written.height, written.frames, written.plays) == (96, 64, 20, 4))

        let batch = try CLI.run(["batch", ws.path("in"), ws.path("out"), "--sizes", "48x48,32x32:gif"])
        #expect(batch.status == 0, "\(batch.stdout) \(batch.stderr)")
        #expect(try summary(ws.path("out/disc-48x48.webp")).frames == 20)
        #expect(try summary(ws.path("out/disc-32x32.gif")).frames == 20)
    }

    @Test func drawShowsTheFirstFrame() throws {
        let ws = try Workspace()
        try DiscAnimation.gif().write(to: URL(fileURLWithPath: ws.path("disc.gif")))
        let r = try CLI.run(["crop", ws.path("disc.gif"), "--size", "64x64", "--mode", "center", "--draw", ws.path("why.png"), "-o", ws.path("o.webp")])
        #expect(r.status == 0, "\(r.stderr)")
        // The source's first frame, as decoded, with the crop drawn: a PNG of the frame's size.
        let png = try Data(contentsOf: URL(fileURLWithPath: ws.path("why.png")))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width * DiscAnimation.height == height * DiscAnimation.width, "\(width)x\(height)")
    }

    @Test func animationsOverTheLimitsAreRefusedWithinSeconds() throws {
        let ws = try Workspace()
        let cases: [(String, Data, [String], String)] = [
            ("long.gif", DiscAnimation.long(301), [], "the animation has 301 frames; the limit is 300"),
            ("pixels.gif", DiscAnimation.gif(), ["--max-pixels", "2000000"], "20 frames of 480x240"),
            ("bomb.gif", GIFWriter.bomb(screen: (1, 1), claimed: (1, 1), count: 100_000), [], "frames; the limit is 300"),
            ("huge.gif", GIFWriter.bomb(screen: (16, 16), claimed: (60_000, 60_000), count: 3), [], "the limit is 100.0 MP"),
        ]
        for (name, data, flags, says) in cases {
            try data.write(to: URL(fileURLWithPath: ws.path(name)))
            let start = ContinuousClock.now
            let r = try CLI.run(["crop", ws.path(name), "--size", "64x64", "-o", ws.path("out.gif")] + flags)
            let took = ContinuousClock.now - start
            #expect(r.status == 1, "\(name): \(r.stderr)")
            #expect(r.stderr.contains(says) && r.stderr.split(separator: "\n").count == 1, "\(name): \(r.stderr)")
            #expect(took < .seconds(10), "\(name): answered after \(took)")
        }
        #expect(!ws.files.contains("out.gif"))
        // The caps are the caller's to raise.
        #expect(try CLI.run(["crop", ws.path("long.gif"), "--size", "8x8", "--max-frames", "301", "-o", ws.path("out.gif")]).status == 0)
        #expect(try summary(ws.path("out.gif")).frames == 301)
    }
}
