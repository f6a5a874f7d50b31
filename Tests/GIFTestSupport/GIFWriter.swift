import Foundation

/// Animated GIFs written byte by byte, so tests that have only the binary under test (or want
/// files no encoder would write) can make their own animations: frames of palette indices, each
/// frame's delay, the loop count, a transparent index, and frames whose descriptors claim any
/// size at all.
public enum GIFWriter {
    public struct Frame {
        /// Palette indices, row by row, `width` × `height` of them.
        public var indices: [UInt8]
        public var width: Int
        public var height: Int
        /// Centiseconds (GIF's unit).
        public var delay: Int

        public init(indices: [UInt8], width: Int, height: Int, delay: Int) {
            self.indices = indices
            self.width = width
            self.height = height
            self.delay = delay
        }
    }

    /// A GIF of `frames` on a `width` × `height` screen. `loop` is the NETSCAPE count of repeats
    /// after the first play; 0 plays forever.
    public static func encode(width: Int, height: Int, palette: [(UInt8, UInt8, UInt8)], frames: [Frame], loop: Int = 0,
                              transparent: UInt8? = nil) -> Data {
        precondition(!palette.isEmpty && palette.count <= 256)
        var out = header(width: width, height: height, palette: palette, loop: loop)
        for frame in frames {
            out += graphicControl(delay: frame.delay, transparent: transparent)
            out += descriptor(width: frame.width, height: frame.height)
            out += lzw(frame.indices)
        }
        out.append(0x3B)
        return out
    }

    /// A GIF whose `count` frames each claim to be `claimed` pixels while holding one pixel of
    /// data: what a bomb looks like to a decoder that believes the header.
    public static func bomb(screen: (width: Int, height: Int), claimed: (width: Int, height: Int), count: Int) -> Data {
        var out = header(width: screen.width, height: screen.height, palette: [(0, 0, 0), (255, 255, 255)], loop: 0)
        let frame = graphicControl(delay: 10, transparent: nil) + descriptor(width: claimed.width, height: claimed.height) + lzw([1])
        out.reserveCapacity(out.count + frame.count * count + 1)
        for _ in 0..<count { out += frame }
        out.append(0x3B)
        return out
    }

    private static func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF)] }

    private static func header(width: Int, height: Int, palette: [(UInt8, UInt8, UInt8)], loop: Int) -> Data {
        var out = Data("GIF89a".utf8)
        out += le16(width) + le16(height)
        // A global table of 256 entries (size code 7), padded with black.
        out += [0xF7, 0, 0]
        for i in 0..<256 {
            let c = i < palette.count ? palette[i] : (0, 0, 0)
            out += [c.0, c.1, c.2]
        }
        out += [0x21, 0xFF, 0x0B] + Array("NETSCAPE2.0".utf8) + [0x03, 0x01] + le16(loop) + [0x00]
        return out
    }

    private static func graphicControl(delay: Int, transparent: UInt8?) -> Data {
        // Disposal 2 (restore to background) so a transparent frame does not show the one before.
        Data([0x21, 0xF9, 0x04, 0x08 | (transparent == nil ? 0 : 1)] + le16(delay) + [transparent ?? 0, 0x00])
    }

    private static func descriptor(width: Int, height: Int) -> Data {
        Data([0x2C] + le16(0) + le16(0) + le16(width) + le16(height) + [0x00])
    }

    /// Image data at a minimum code size of 8, written without compression: a clear code
    /// every 250 pixels keeps every code 9 bits wide (the table never grows to 512).
    private static func lzw(_ indices: [UInt8]) -> Data {
        var bits = 0, count = 0
        var bytes: [UInt8] = []
        func put(_ code: Int) {
            bits |= code << count
            count += 9
            while count >= 8 {
                bytes.append(UInt8(bits & 0xFF))
                bits >>= 8
                count -= 8
            }
        }
        for (i, index) in indices.enumerated() {
            if i % 250 == 0 { put(256) }
            put(Int(index))
        }
        put(257)
        if count > 0 { bytes.append(UInt8(bits & 0xFF)) }
        var out = Data([0x08])
        var offset = 0
        while offset < bytes.count {
            let n = min(255, bytes.count - offset)
            out.append(UInt8(n))
            out += bytes[offset..<(offset + n)]
            offset += n
        }
        out.append(0x00)
        return out
    }
}
