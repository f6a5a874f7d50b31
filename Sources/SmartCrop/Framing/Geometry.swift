/// An integer rectangle in some image's pixel grid.
public struct PixelRect: Codable, Hashable, Sendable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var maxX: Int { x + width }
    public var maxY: Int { y + height }
    public var area: Int { width * height }
    public var asRect: Rect { Rect(x: Double(x), y: Double(y), width: Double(width), height: Double(height)) }
    public var description: String { "\(width)x\(height)+\(x)+\(y)" }

    public func contains(_ other: PixelRect) -> Bool {
        other.x >= x && other.y >= y && other.maxX <= maxX && other.maxY <= maxY
    }
}

/// A real-valued rectangle: the working type of all framing maths.
public struct Rect: Codable, Hashable, Sendable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public init(minX: Double, minY: Double, maxX: Double, maxY: Double) {
        self.init(x: minX, y: minY, width: maxX - minX, height: maxY - minY)
    }

    public var maxX: Double { x + width }
    public var maxY: Double { y + height }
    public var midX: Double { x + width / 2 }
    public var midY: Double { y + height / 2 }
    public var area: Double { max(width, 0) * max(height, 0) }

    public func intersection(_ other: Rect) -> Rect? {
        let x0 = Swift.max(x, other.x), y0 = Swift.max(y, other.y)
        let x1 = Swift.min(maxX, other.maxX), y1 = Swift.min(maxY, other.maxY)
        return x1 > x0 && y1 > y0 ? Rect(minX: x0, minY: y0, maxX: x1, maxY: y1) : nil
    }

    public func union(_ other: Rect) -> Rect {
        Rect(minX: Swift.min(x, other.x), minY: Swift.min(y, other.y),
             maxX: Swift.max(maxX, other.maxX), maxY: Swift.max(maxY, other.maxY))
    }

    /// The share of this rectangle's area that lies inside `other` (0...1).
    public func fractionInside(_ other: Rect) -> Double {
        guard area > 0 else { return 0 }
        return (intersection(other)?.area ?? 0) / area
    }

    public func contains(_ other: Rect, tolerance: Double = 1e-9) -> Bool {
        other.x >= x - tolerance && other.y >= y - tolerance
            && other.maxX <= maxX + tolerance && other.maxY <= maxY + tolerance
    }

    public func scaled(x sx: Double, y sy: Double) -> Rect {
        Rect(x: x * sx, y: y * sy, width: width * sx, height: height * sy)
    }

    public func insetBy(dx: Double, dy: Double) -> Rect {
        Rect(x: x + dx, y: y + dy, width: width - 2 * dx, height: height - 2 * dy)
    }

    /// Moves (never resizes) the rectangle so it lies inside `bounds` where it fits; a side
    /// longer than the bounds is centred on them.
    public func shifted(inside bounds: Rect) -> Rect {
        func place(_ origin: Double, _ length: Double, _ lo: Double, _ boundLength: Double) -> Double {
            if length >= boundLength { return lo + (boundLength - length) / 2 }
            return Swift.min(Swift.max(origin, lo), lo + boundLength - length)
        }
        return Rect(x: place(x, width, bounds.x, bounds.width), y: place(y, height, bounds.y, bounds.height),
                    width: width, height: height)
    }

    /// The pixel rectangle this covers, rounded to the nearest grid lines and kept inside a
    /// `width` × `height` image.
    public func pixelRect(within width: Int, _ height: Int) -> PixelRect {
        let w = Swift.min(Swift.max(Int(self.width.rounded()), 1), width)
        let h = Swift.min(Swift.max(Int(self.height.rounded()), 1), height)
        let px = Swift.min(Swift.max(Int(x.rounded()), 0), width - w)
        let py = Swift.min(Swift.max(Int(y.rounded()), 0), height - h)
        return PixelRect(x: px, y: py, width: w, height: h)
    }
}

public struct Point: Codable, Hashable, Sendable {
    public var x: Double
    public var y: Double
    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

public enum AspectFit {
    /// The biggest rectangle of the target aspect that fits in a `width` × `height` image,
    /// rounded the way the crop evaluator rounds it.
    public static func largestCrop(width: Int, height: Int, targetWidth: Int, targetHeight: Int) -> (width: Int, height: Int) {
        let target = Double(targetWidth) / Double(targetHeight)
        if Double(width) / Double(height) > target {
            return (Swift.min(width, Swift.max(1, Int((Double(height) * target).rounded()))), height)
        }
        return (width, Swift.min(height, Swift.max(1, Int((Double(width) / target).rounded()))))
    }

    /// The real-valued size of the biggest rectangle with `aspect` (width / height) inside a box.
    public static func largest(aspect: Double, inside width: Double, _ height: Double) -> (width: Double, height: Double) {
        width / height > aspect ? (height * aspect, height) : (width, width / aspect)
    }

    /// Crop of `size` placed so its centre is as close to `point` as the image allows.
    public static func centred(on point: Point, size: (width: Int, height: Int), imageWidth: Int, imageHeight: Int) -> PixelRect {
        let w = Swift.min(size.width, imageWidth), h = Swift.min(size.height, imageHeight)
        let x = Int((point.x - Double(w) / 2).rounded())
        let y = Int((point.y - Double(h) / 2).rounded())
        return PixelRect(x: Swift.min(Swift.max(x, 0), imageWidth - w), y: Swift.min(Swift.max(y, 0), imageHeight - h),
                         width: w, height: h)
    }
}

/// Maps coordinates of the image a pipeline is working on back to the oriented source image,
/// through crops, resizes, quarter turns, flips and padding. Axis-aligned only.
public struct SourceMapping: Sendable, Hashable {
    // source = (a·x + b·y + tx, c·x + d·y + ty)
    var a = 1.0, b = 0.0, c = 0.0, d = 1.0, tx = 0.0, ty = 0.0

    public static let identity = SourceMapping()

    public func map(_ p: Point) -> Point {
        Point(x: a * p.x + b * p.y + tx, y: c * p.x + d * p.y + ty)
    }

    public func map(_ r: Rect) -> Rect {
        let p0 = map(Point(x: r.x, y: r.y)), p1 = map(Point(x: r.maxX, y: r.maxY))
        return Rect(minX: Swift.min(p0.x, p1.x), minY: Swift.min(p0.y, p1.y),
                    maxX: Swift.max(p0.x, p1.x), maxY: Swift.max(p0.y, p1.y))
    }

    /// Composes with a step whose new coordinates `q` relate to the old ones by
    /// old = (a·qx + b·qy + tx, c·qx + d·qy + ty).
    private func then(a a2: Double, b b2: Double, c c2: Double, d d2: Double, tx t2x: Double, ty t2y: Double) -> SourceMapping {
        SourceMapping(a: a * a2 + b * c2, b: a * b2 + b * d2, c: c * a2 + d * c2, d: c * b2 + d * d2,
                      tx: a * t2x + b * t2y + tx, ty: c * t2x + d * t2y + ty)
    }

    public func cropped(x: Double, y: Double) -> SourceMapping { then(a: 1, b: 0, c: 0, d: 1, tx: x, ty: y) }
    public func padded(left: Double, top: Double) -> SourceMapping { cropped(x: -left, y: -top) }
    public func scaled(x sx: Double, y sy: Double) -> SourceMapping { then(a: 1 / sx, b: 0, c: 0, d: 1 / sy, tx: 0, ty: 0) }

    /// After mirroring an image `width` wide left-right (or `height` tall top-bottom).
    public func flipped(horizontal: Bool, extent: Double) -> SourceMapping {
        horizontal ? then(a: -1, b: 0, c: 0, d: 1, tx: extent, ty: 0) : then(a: 1, b: 0, c: 0, d: -1, tx: 0, ty: extent)
    }

    /// After turning an image of the given (pre-turn) size clockwise by quarter turns.
    public func rotated(quarterTurns: Int, width: Double, height: Double) -> SourceMapping {
        switch ((quarterTurns % 4) + 4) % 4 {
        case 1: then(a: 0, b: 1, c: -1, d: 0, tx: 0, ty: height)   // new (qx,qy) came from old (qy, H - qx)
        case 2: then(a: -1, b: 0, c: 0, d: -1, tx: width, ty: height)
        case 3: then(a: 0, b: -1, c: 1, d: 0, tx: width, ty: 0)    // old (W - qy, qx)
        default: self
        }
    }
}
