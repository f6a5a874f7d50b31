import CVips
import CVipsShim

/// Recognises embedded ICC profiles that describe sRGB itself, so decoding can skip a colour
/// transform that would change nothing: building it with lcms costs ~20 ms of CPU per image,
/// on the decode's critical path. Most camera and phone JPEGs that carry a profile carry the
/// sRGB IEC61966-2.1 one.
enum ICCProfile {
    /// True for the sRGB IEC61966-2.1 profile (and its copies, recognised by the header's
    /// device manufacturer "IEC " and model "sRGB", or by a description that starts with
    /// "sRGB IEC61966-2"), and for libvips' own sRGB profile, byte for byte. Anything else,
    /// including a damaged profile, is not sRGB and gets transformed.
    static func describesSRGB(_ profile: UnsafeRawBufferPointer) -> Bool {
        guard profile.count >= 132, ascii(profile, at: 16, count: 4) == "RGB ", ascii(profile, at: 36, count: 4) == "acsp" else {
            return false
        }
        if ascii(profile, at: 48, count: 4) == "IEC ", ascii(profile, at: 52, count: 4) == "sRGB" { return true }
        if let description = description(profile), description.hasPrefix("sRGB IEC61966-2") { return true }
        return builtinSRGB.withUnsafeBytes { $0.elementsEqual(profile) }
    }

    /// libvips' "srgb" profile, which it attaches to everything it converts to sRGB.
    private static let builtinSRGB: [UInt8] = {
        guard let blob = sc_profile_load("srgb") else { return [] }
        defer { vips_area_unref(UnsafeMutableRawPointer(blob).assumingMemoryBound(to: VipsArea.self)) }
        var length = 0
        guard let data = vips_blob_get(blob, &length), length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: length))
    }()

    /// The profile description: a v2 `desc` (ASCII) or v4 `mluc` (first record, UTF-16BE) tag.
    static func description(_ profile: UnsafeRawBufferPointer) -> String? {
        let tags = Int(uint32(profile, at: 128))
        guard tags < 1000, 132 + tags * 12 <= profile.count else { return nil }
        for index in 0..<tags {
            let entry = 132 + index * 12
            guard ascii(profile, at: entry, count: 4) == "desc" else { continue }
            let offset = Int(uint32(profile, at: entry + 4)), size = Int(uint32(profile, at: entry + 8))
            guard offset >= 0, size >= 12, offset + size <= profile.count else { return nil }
            switch ascii(profile, at: offset, count: 4) {
            case "desc":
                let count = min(Int(uint32(profile, at: offset + 8)), size - 12)
                guard count > 0 else { return nil }
                let text = profile[(offset + 12)..<(offset + 12 + count)].prefix { $0 != 0 }
                return String(decoding: text, as: UTF8.self)
            case "mluc":
                guard size >= 28, uint32(profile, at: offset + 8) >= 1 else { return nil }
                let length = Int(uint32(profile, at: offset + 20)), start = Int(uint32(profile, at: offset + 24))
                guard length >= 2, start + length <= size else { return nil }
                var units: [UInt16] = []
                for k in stride(from: offset + start, to: offset + start + length - 1, by: 2) {
                    units.append(UInt16(profile[k]) << 8 | UInt16(profile[k + 1]))
                }
                return String(decoding: units, as: UTF16.self)
            default:
                return nil
            }
        }
        return nil
    }

    private static func ascii(_ bytes: UnsafeRawBufferPointer, at offset: Int, count: Int) -> String? {
        guard offset >= 0, offset + count <= bytes.count else { return nil }
        return String(decoding: bytes[offset..<(offset + count)], as: UTF8.self)
    }

    private static func uint32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        guard offset >= 0, offset + 4 <= bytes.count else { return 0 }
        return (offset..<(offset + 4)).reduce(0) { $0 << 8 | UInt32(bytes[$1]) }
    }
}

extension Image {
    /// Whether the image carries an ICC profile that describes sRGB itself.
    var hasSRGBProfile: Bool {
        guard hasField(VIPS_META_ICC_NAME) else { return false }
        var data: UnsafeRawPointer?
        var length = 0
        guard vips_image_get_blob(pointer, VIPS_META_ICC_NAME, &data, &length) == 0, let data, length > 0 else { return false }
        return ICCProfile.describesSRGB(UnsafeRawBufferPointer(start: data, count: length))
    }

    /// Whether the embedded ICC profile can convert these pixels: lcms parses it, and its colour
    /// space has the image's bands (an RGB profile on a grey JPEG cannot be applied).
    var hasUsableProfile: Bool {
        var data: UnsafeRawPointer?
        var length = 0
        guard vips_image_get_blob(pointer, VIPS_META_ICC_NAME, &data, &length) == 0, let data, length > 0 else { return false }
        return vips_icc_is_compatible_profile(pointer, data, length) != 0
    }
}
