/// How much each cell of a small grid over the image matters for the crop, in 0...1.
///
/// The grid covers the whole image (cell (0, 0) is its top-left corner); cells have the image's
/// aspect up to rounding. A map that is `isFlat` has no usable contrast: its values are all zero
/// and the caller should fall back to a centre crop.
public struct ImportanceMap: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Row-major, `width * height` values in 0...1.
    public let values: [Float]
    /// True when the image has no contrast worth following (see `contrast`).
    public let isFlat: Bool
    /// The strongest raw cue response, in CIELAB distance units (ΔE): about 0 for a blank
    /// image, 3 for a plain one with sensor noise, 15 and more for real photos.
    public let contrast: Float
    /// Lines of the grid that a uniform frame or letterbox took up and that were ignored.
    public let frame: Insets

    /// Cells left out of the analysis on each side because they were a uniform frame.
    public struct Insets: Sendable, Equatable {
        public var top: Int, bottom: Int, left: Int, right: Int
        public init(top: Int = 0, bottom: Int = 0, left: Int = 0, right: Int = 0) {
            self.top = top; self.bottom = bottom; self.left = left; self.right = right
        }
        public static let zero = Insets()
    }

    /// A map from given values (for tests, or a caller's own cues). Values are clamped to 0...1.
    /// When `isFlat` is nil the map is flat exactly when no value is above zero.
    public init(width: Int, height: Int, values: [Float], isFlat: Bool? = nil, contrast: Float? = nil,
                frame: Insets = .zero) {
        precondition(width > 0 && height > 0 && values.count == width * height,
                     "ImportanceMap needs width * height values")
        let clamped = values.map { $0.isNaN ? 0 : Swift.min(Swift.max($0, 0), 1) }
        let peak = clamped.max() ?? 0
        self.width = width
        self.height = height
        self.isFlat = isFlat ?? (peak <= 0)
        self.values = self.isFlat ? [Float](repeating: 0, count: width * height) : clamped
        self.contrast = contrast ?? peak
        self.frame = frame
    }

    /// Value of cell (x, y).
    @inlinable public subscript(x: Int, y: Int) -> Float { values[y * width + x] }

    /// The map as 8-bit grey levels (0 = unimportant, 255 = most important), row-major, for drawing.
    public func grayscale() -> [UInt8] {
        values.map { UInt8(Swift.min(Swift.max(($0 * 255).rounded(), 0), 255)) }
    }

    /// Sum of all values.
    public var totalMass: Double {
        var sum = 0.0
        for v in values { sum += Double(v) }
        return sum
    }
}
