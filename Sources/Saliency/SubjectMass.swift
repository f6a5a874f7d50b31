/// The importance a window of one size would hold at any position: what `SubjectLocator`
/// maximises, as a table that can be asked about positions someone else chose. Face framing
/// uses it when faces limit where the window may go, and the subject decides among the rest.
///
/// The map is weighted and softened exactly as `bestWindow` does it for this window size: the
/// main region at full weight, other regions at full weight only where they fit in one window
/// with it, the rest at `outsideRegionWeight`, then a box blur of `margin` times the window's
/// size along each axis it can move on, so a window holding the subject with room to spare
/// scores above one whose edge just touches it.
public struct SubjectMass: Sendable {
    public let width: Int, height: Int
    private let table: [Double]
    private let total: Double

    /// - Parameters:
    ///   - windowWidth, windowHeight: the window's size as fractions of the image.
    public init(map: ImportanceMap, windowWidth: Double, windowHeight: Double, options: SubjectLocator.Options = .init()) {
        width = map.width; height = map.height
        let ww = windowWidth * Double(width), wh = windowHeight * Double(height)
        let weighted = options.outsideRegionWeight < 1 && !map.isFlat
            ? Regions(map, threshold: options.regionThreshold).weighted(map, windowWidth: ww, windowHeight: wh,
                                                                         outsideWeight: options.outsideRegionWeight)
            : map
        let rx = Double(width) - ww >= 1e-6 ? Int((options.margin * ww).rounded()) : 0
        let ry = Double(height) - wh >= 1e-6 ? Int((options.margin * wh).rounded()) : 0
        var table = [Double](repeating: 0, count: (width + 1) * (height + 1))
        if rx > 0 || ry > 0 {
            var plane = [Float](repeating: 0, count: width * height), scratch = plane, line = [Float](repeating: 0, count: width)
            WindowSearch.fillSoftenedSAT(weighted.values, width: width, height: height, radiusX: rx, radiusY: ry,
                                         plane: &plane, scratch: &scratch, line: &line, into: &table)
        } else {
            let (w, h) = (width, height)
            weighted.values.withUnsafeBufferPointer { v in table.withUnsafeMutableBufferPointer { WindowSearch.fillSAT(v, width: w, height: h, into: $0) } }
        }
        self.table = table
        total = weighted.totalMass
    }

    /// The largest `share` any position of a `width` x `height` window holds (fractions of the
    /// image), over the positions `SubjectLocator` searches (half-cell steps): what the
    /// subject's own crop of that size keeps.
    public func bestShare(width w: Double, height h: Double) -> Double {
        let roomX = Swift.max(1 - w, 0) * Double(width), roomY = Swift.max(1 - h, 0) * Double(height)
        let nx = WindowSearch.positions(room: roomX), ny = WindowSearch.positions(room: roomY)
        var best = 0.0
        for j in 0..<ny {
            let y = ny == 1 ? 0 : roomY * Double(j) / Double(ny - 1) / Double(height)
            for i in 0..<nx {
                let x = nx == 1 ? 0 : roomX * Double(i) / Double(nx - 1) / Double(width)
                best = Swift.max(best, share(x: x, y: y, width: w, height: h))
            }
        }
        return best
    }

    /// Share (0...1) of the weighted importance inside the window at `x`, `y` (its top-left
    /// corner) of size `width` x `height`, all as fractions of the image; 0 for a flat map.
    public func share(x: Double, y: Double, width w: Double, height h: Double) -> Double {
        guard total > 0 else { return 0 }
        let mass = table.withUnsafeBufferPointer {
            WindowSearch.mass($0, width: width, height: height, x: x * Double(width), y: y * Double(height),
                              w: w * Double(width), h: h * Double(height))
        }
        return Swift.min(Swift.max(mass / total, 0), 1)
    }
}
