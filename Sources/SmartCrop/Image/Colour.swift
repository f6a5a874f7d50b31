/// An 8-bit sRGB colour with alpha, parsed from `#rgb`, `#rrggbb`, `#rrggbbaa` or a few names.
public struct Colour: Sendable, Hashable, Codable, CustomStringConvertible {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8
    public var alpha: UInt8

    public init(red: UInt8, green: UInt8, blue: UInt8, alpha: UInt8 = 255) {
        self.red = red
        self.green = green
        self.blue = blue
        self.alpha = alpha
    }

    public static let white = Colour(red: 255, green: 255, blue: 255)
    public static let black = Colour(red: 0, green: 0, blue: 0)
    public static let transparent = Colour(red: 0, green: 0, blue: 0, alpha: 0)

    private static let names: [String: Colour] = [
        "white": .white, "black": .black, "transparent": .transparent,
        "red": Colour(red: 255, green: 0, blue: 0), "green": Colour(red: 0, green: 128, blue: 0),
        "blue": Colour(red: 0, green: 0, blue: 255), "grey": Colour(red: 128, green: 128, blue: 128),
        "gray": Colour(red: 128, green: 128, blue: 128),
    ]

    public init?(parsing text: String) {
        let lowered = text.lowercased()
        if let named = Colour.names[lowered] { self = named; return }
        guard lowered.hasPrefix("#") else { return nil }
        var digits = Array(lowered.dropFirst())
        guard digits.allSatisfy(\.isHexDigit), [3, 4, 6, 8].contains(digits.count) else { return nil }
        if digits.count <= 4 { digits = digits.flatMap { [$0, $0] } }
        var bytes: [UInt8] = []
        var index = 0
        while index < digits.count {
            bytes.append(UInt8(String(digits[index...index + 1]), radix: 16)!)
            index += 2
        }
        self.init(red: bytes[0], green: bytes[1], blue: bytes[2], alpha: bytes.count == 4 ? bytes[3] : 255)
    }

    public var description: String {
        let hex = [red, green, blue] + (alpha == 255 ? [] : [alpha])
        return "#" + hex.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    /// The colour as libvips ink for an image with `bands` bands (grey, grey+alpha, RGB, RGBA).
    func ink(bands: Int) -> [Double] {
        let grey = (0.2126 * Double(red) + 0.7152 * Double(green) + 0.0722 * Double(blue)).rounded()
        switch bands {
        case 1: return [grey]
        case 2: return [grey, Double(alpha)]
        case 3: return [Double(red), Double(green), Double(blue)]
        default: return [Double(red), Double(green), Double(blue), Double(alpha)]
        }
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let colour = Colour(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a colour: \(text)"))
        }
        self = colour
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension String {
    func leftPadded(to length: Int, with pad: Character = "0") -> String {
        count >= length ? self : String(repeating: pad, count: length - count) + self
    }
}
