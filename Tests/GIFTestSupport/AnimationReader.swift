import Foundation

/// What an animated GIF or WebP file says about itself, read from its bytes (not through the
/// decoder under test): frames, each frame's delay, the loop count, the canvas size.
public struct AnimationSummary: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var frames: Int
    /// Milliseconds.
    public var delays: [Int]
    /// How many times the animation plays, 0 meaning forever. A GIF's NETSCAPE count is of
    /// repeats after the first play (a GIF without one plays once); a WebP's ANIM count is of
    /// plays.
    public var plays: Int
}

public enum AnimationReader {
    /// The summary of a GIF or WebP file; nil for anything else or a file cut short.
    public static func read(_ data: Data) -> AnimationSummary? {
        let bytes = [UInt8](data)
        if bytes.starts(with: Array("GIF8".utf8)) { return gif(bytes) }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) { return webp(bytes) }
        return nil
    }

    private static func le(_ bytes: [UInt8], _ offset: Int, _ count: Int) -> Int {
        (0..<count).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
    }

    private static func gif(_ b: [UInt8]) -> AnimationSummary? {
        guard b.count >= 13 else { return nil }
        var summary = AnimationSummary(width: le(b, 6, 2), height: le(b, 8, 2), frames: 0, delays: [], plays: 1)
        var at = 13
        if b[10] & 0x80 != 0 { at += 3 << (Int(b[10] & 7) + 1) }
        var delay = 0
        /// Skips sub-blocks from `at`; returns the offset after the terminator.
        func skipBlocks(_ start: Int) -> Int? {
            var p = start
            while p < b.count {
                let n = Int(b[p])
                p += 1 + n
                if n == 0 { return p }
            }
            return nil
        }
        while at < b.count {
            switch b[at] {
            case 0x21:
                guard at + 2 < b.count else { return nil }
                let label = b[at + 1]
                if label == 0xF9, at + 6 < b.count { delay = le(b, at + 4, 2) * 10 }
                if label == 0xFF, at + 18 < b.count, Array(b[(at + 3)..<(at + 14)]) == Array("NETSCAPE2.0".utf8), b[at + 15] == 1 {
                    let repeats = le(b, at + 16, 2)
                    summary.plays = repeats == 0 ? 0 : repeats + 1
                }
                guard let next = skipBlocks(at + 2) else { return nil }
                at = next
            case 0x2C:
                guard at + 10 < b.count else { return nil }
                var p = at + 10
                if b[at + 9] & 0x80 != 0 { p += 3 << (Int(b[at + 9] & 7) + 1) }
                guard p < b.count, let next = skipBlocks(p + 1) else { return nil }
                summary.frames += 1
                summary.delays.append(delay)
                delay = 0
                at = next
            case 0x3B:
                return summary
            default:
                return nil
            }
        }
        return nil
    }

    private static func webp(_ b: [UInt8]) -> AnimationSummary? {
        var summary = AnimationSummary(width: 0, height: 0, frames: 0, delays: [], plays: 1)
        var at = 12
        while at + 8 <= b.count {
            let name = String(decoding: b[at..<(at + 4)], as: UTF8.self)
            let size = le(b, at + 4, 4)
            let body = at + 8
            guard body + size <= b.count else { return nil }
            switch name {
            case "VP8X" where size >= 10:
                summary.width = le(b, body + 4, 3) + 1
                summary.height = le(b, body + 7, 3) + 1
            case "ANIM" where size >= 6:
                summary.plays = le(b, body + 4, 2)
            case "ANMF" where size >= 16:
                summary.frames += 1
                summary.delays.append(le(b, body + 12, 3))
            case "VP8 ", "VP8L":
                // A still: one frame, no timing.
                if summary.frames == 0 { summary.frames = 1 }
            default:
                break
            }
            at = body + size + (size & 1)
        }
        return summary
    }
}
