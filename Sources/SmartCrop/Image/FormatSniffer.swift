/// Decides what a file is from its first bytes, in our own code, before libvips sees it.
/// libvips' own probe asks every loader in turn, and some of those (the SVG loader inflating a
/// truncated .svgz) can spin forever on hostile bytes; here only the one loader of an accepted
/// format is ever called.
public enum FormatSniffer {
    /// How many leading bytes `sniff` needs at most.
    public static let headerLength = 64

    public enum Verdict: Sendable, Equatable {
        case accepted(ImageFormat)
        /// Not a format we read; the message names what it is in plain words.
        case refused(String)
    }

    public static func sniff<Bytes: RandomAccessCollection>(_ bytes: Bytes) -> Verdict where Bytes.Element == UInt8, Bytes.Index == Int {
        let head = Array(bytes.prefix(headerLength))
        func at(_ offset: Int, _ magic: [UInt8]) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        func text(_ offset: Int, _ magic: String) -> Bool { at(offset, Array(magic.utf8)) }

        if head.isEmpty { return .refused("the file is empty") }
        if at(0, [0xFF, 0xD8, 0xFF]) { return .accepted(.jpeg) }
        if at(0, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .accepted(.png) }
        if text(0, "GIF87a") || text(0, "GIF89a") { return .accepted(.gif) }
        if text(0, "RIFF"), text(8, "WEBP") { return .accepted(.webp) }
        // Classic TIFF (42), and BigTIFF (43: 64-bit offsets, for files over 4 GB), which the
        // same libtiff loader reads.
        if at(0, [0x49, 0x49, 0x2A, 0x00]) || at(0, [0x4D, 0x4D, 0x00, 0x2A])
            || at(0, [0x49, 0x49, 0x2B, 0x00]) || at(0, [0x4D, 0x4D, 0x00, 0x2B]) { return .accepted(.tiff) }
        if text(4, "ftyp"), head.count >= 12 {
            let brand = String(decoding: head[8..<12], as: UTF8.self)
            if ["avif", "avis"].contains(brand) { return .accepted(.avif) }
            if ["heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"].contains(brand) { return .accepted(.heic) }
            if ["crx "].contains(brand) { return .refused("camera raw files are not accepted") }
            return .refused("video and other ISO media files are not accepted")
        }
        if let kind = refusedKind(head) { return .refused("\(kind) are not accepted") }
        return .refused("the file is not an image")
    }

    /// Formats people upload by mistake, named so the error says what was sent.
    private static func refusedKind(_ head: [UInt8]) -> String? {
        func at(_ offset: Int, _ magic: [UInt8]) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        func text(_ offset: Int, _ magic: String) -> Bool { at(offset, Array(magic.utf8)) }
        if at(0, [0x1F, 0x8B]) { return "compressed files (gzip, .svgz)" }
        if text(0, "%PDF") { return "PDF documents" }
        if text(0, "BM") && head.count >= 14 { return "BMP images" }
        if at(0, [0x00, 0x00, 0x01, 0x00]) { return "ICO icons" }
        if text(0, "8BPS") { return "Photoshop (PSD) files" }
        if at(0, [0x76, 0x2F, 0x31, 0x01]) { return "OpenEXR images" }
        if at(0, [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || at(0, [0xFF, 0x4F, 0xFF, 0x51]) { return "JPEG 2000 images" }
        if at(0, [0xFF, 0x0A]) || at(0, [0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) { return "JPEG XL images" }
        if text(0, "SIMPLE  =") { return "FITS images" }
        if text(0, "#?RADIANCE") || text(0, "#?RGBE") { return "Radiance HDR images" }
        if text(0, "MATLAB") { return "MATLAB files" }
        if at(0, [0x08, 0xF2, 0xA6, 0xB6]) || at(0, [0xB6, 0xA6, 0xF2, 0x08]) { return "VIPS images" }
        if text(0, "PK\u{03}\u{04}") { return "ZIP archives" }
        if head.count >= 2, head[0] == UInt8(ascii: "P"), (UInt8(ascii: "1")...UInt8(ascii: "7")).contains(head[1]) {
            return "PNM/PPM images"
        }
        // Text: SVG, HTML, XML. Look past a byte-order mark and leading white space.
        var start = at(0, [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while start < head.count, [0x09, 0x0A, 0x0D, 0x20].contains(head[start]) { start += 1 }
        let lead = String(decoding: head[start...], as: UTF8.self).lowercased()
        if lead.hasPrefix("<svg") || lead.contains("<svg") { return "SVG images" }
        if lead.hasPrefix("<?xml") { return "XML files (SVG included)" }
        if lead.hasPrefix("<!doctype html") || lead.hasPrefix("<html") { return "HTML pages" }
        return nil
    }
}
