/// Where a crop of a given aspect should go, in fractions of the image (0...1), with what
/// the choice rests on.
public struct SubjectWindow: Sendable, Equatable {
    /// Left, top, width and height as fractions of the image's width and height.
    public var x: Double, y: Double, width: Double, height: Double
    /// Importance-weighted centroid inside the window, as fractions of the image (the focal point).
    public var focalX: Double, focalY: Double
    /// Share of the map's importance inside the window (0...1).
    public var massShare: Double
    /// How decided the choice is: 0 when importance is spread evenly (the window holds only its
    /// area's share), 1 when all of it is inside. 0 for flat images; 1 when the window is the
    /// whole image and holds everything.
    public var confidence: Double
    /// Scale of the window relative to the largest crop of the aspect (1 unless zoom was allowed).
    public var scale: Double
    /// The map was flat: this is the centred window and the caller should say it fell back.
    public var isFlat: Bool

    public init(x: Double, y: Double, width: Double, height: Double, focalX: Double, focalY: Double,
                massShare: Double, confidence: Double, scale: Double = 1, isFlat: Bool = false) {
        self.x = x; self.y = y; self.width = width; self.height = height
        self.focalX = focalX; self.focalY = focalY
        self.massShare = massShare; self.confidence = confidence; self.scale = scale; self.isFlat = isFlat
    }
}

/// A rectangle in source pixels.
public struct SubjectPixelRect: Sendable, Equatable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) { self.x = x; self.y = y; self.width = width; self.height = height }
}

extension SubjectWindow {
    /// The window in source pixels: the largest rectangle of `targetWidth:targetHeight` that fits
    /// in the source (times `scale` when zoomed), placed at the same position along the room the
    /// window had to move in, and clamped inside the image. It depends only on the aspect, never on
    /// the output size, and rounds the same way every time.
    public func pixelRect(sourceWidth: Int, sourceHeight: Int, targetWidth: Int, targetHeight: Int) -> SubjectPixelRect {
        precondition(sourceWidth > 0 && sourceHeight > 0 && targetWidth > 0 && targetHeight > 0)
        let size = SubjectLocator.largestCrop(width: sourceWidth, height: sourceHeight,
                                              aspect: Double(targetWidth) / Double(targetHeight))
        var w = size.width, h = size.height
        if scale < 1 - 1e-9 {
            w = Swift.max(1, Swift.min(w, Int((Double(w) * scale).rounded())))
            h = Swift.max(1, Swift.min(h, Int((Double(h) * scale).rounded())))
        }
        func place(_ start: Double, _ extent: Double, room: Int) -> Int {
            guard room > 0 else { return 0 }
            let free = 1 - extent
            let t = free > 1e-9 ? Swift.min(Swift.max(start / free, 0), 1) : 0.5
            return Swift.min(Swift.max(Int((t * Double(room)).rounded()), 0), room)
        }
        return SubjectPixelRect(x: place(x, width, room: sourceWidth - w), y: place(y, height, room: sourceHeight - h),
                                width: w, height: h)
    }
}

/// Finds the window of a given aspect that holds the most importance.
///
/// Every position of the window (in half-cell steps) is scored with a summed-area table, so the
/// search is exhaustive and exact: cells partly inside the window count in proportion. The map is
/// first blurred, with zeros outside the image, by `margin` times the window's size along each
/// axis the window can move on: a window's score is then the average over nearby positions, so
/// one that holds the subject with room to spare beats one whose edge just touches it. Ties go to
/// the position nearest the centre.
///
/// Before the search the map is split into regions (4-connected cells at `regionThreshold` or
/// more). The region with the most importance is the main subject, and keeps its full weight
/// even when no window of the aspect can hold it whole. Other regions keep their full
/// weight only where one window of the aspect could hold them together with the main one.
/// Everything else, background included, counts `outsideRegionWeight`. The crop then follows
/// one object instead of settling between two that cannot share it, or being pulled off the
/// object by a bright patch elsewhere. Objects that fit together are still kept together.
///
/// With zoom, every scale from 1 down to `minScale` is searched too, and the smallest window that
/// still holds `keep` of what the best full-size window holds wins.
public enum SubjectLocator {
    public struct Options: Sendable, Equatable {
        /// Soft margin, as a share of the window's size (0 = hard window edges). 0.15 measured best.
        public var margin: Double = 0.15
        /// Allow windows smaller than the largest crop of the aspect.
        public var allowZoom = false
        /// Smallest scale tried when zooming.
        public var minScale: Double = 0.5
        /// Scales tried between 1 and `minScale` when zooming (inclusive).
        public var scaleSteps = 11
        /// Share of the full-size window's importance a zoomed window must keep.
        public var keep: Double = 0.9
        /// Cells at or above this value form regions (the map's values are 0...1). 0.25 measured
        /// best on the salient set (0.2 to 0.35 within 0.7 points).
        public var regionThreshold: Float = 0.25
        /// Weight of what lies outside the main region and cannot share a window with it. 0.4
        /// measured best on the salient set (0.15 to 0.6 within a point); 1 turns regions off.
        public var outsideRegionWeight: Float = 0.4
        public init() {}
    }

    /// The largest `width` x `height` rectangle of `aspect` (width / height) inside an image,
    /// rounded as the rest of smartcrop rounds it.
    public static func largestCrop(width: Int, height: Int, aspect: Double) -> (width: Int, height: Int) {
        if Double(width) / Double(height) > aspect {
            return (Swift.min(width, Swift.max(1, Int((Double(height) * aspect).rounded()))), height)
        }
        return (width, Swift.min(height, Swift.max(1, Int((Double(width) / aspect).rounded()))))
    }

    /// The best window of `aspect` (width / height of the output) over the map. `imageAspect` is
    /// the source's width / height (defaults to the map's; pass the source's for exactness).
    public static func bestWindow(in map: ImportanceMap, aspect: Double, imageAspect: Double? = nil,
                                  options: Options = Options()) -> SubjectWindow {
        precondition(aspect > 0 && aspect.isFinite, "aspect must be positive")
        let W = map.width, H = map.height
        let imageRatio = imageAspect ?? Double(W) / Double(H)
        let (fw, fh) = imageRatio > aspect ? (aspect / imageRatio, 1.0) : (1.0, imageRatio / aspect)
        let total = map.totalMass
        guard !map.isFlat, total > 0 else {
            return SubjectWindow(x: (1 - fw) / 2, y: (1 - fh) / 2, width: fw, height: fh, focalX: 0.5, focalY: 0.5,
                                 massShare: fw * fh, confidence: 0, isFlat: true)
        }
        let focused = options.outsideRegionWeight < 1
            ? Regions(map, threshold: options.regionThreshold)
                .weighted(map, windowWidth: fw * Double(W), windowHeight: fh * Double(H), outsideWeight: options.outsideRegionWeight)
            : map
        var search = WindowSearch(map: focused)
        let scales: [Double]
        if options.allowZoom, options.minScale < 1, options.scaleSteps > 1 {
            let lo = Swift.max(options.minScale, 1e-3)
            scales = (0..<options.scaleSteps).map { 1 - (1 - lo) * Double($0) / Double(options.scaleSteps - 1) }
        } else {
            scales = [1]
        }
        var chosen: (x: Double, y: Double, w: Double, h: Double, scale: Double)? = nil
        var fullMass = 0.0
        for s in scales {
            let ww = s * fw * Double(W), wh = s * fh * Double(H)
            let best = search.best(windowWidth: ww, windowHeight: wh, margin: options.margin)
            let mass = search.hardMass(x: best.x, y: best.y, width: ww, height: wh)
            if s == scales[0] { fullMass = mass; chosen = (best.x, best.y, ww, wh, s) }
            else if mass >= options.keep * fullMass { chosen = (best.x, best.y, ww, wh, s) }
            else { break }
        }
        let c = chosen!
        let share = search.hardMass(x: c.x, y: c.y, width: c.w, height: c.h) / focused.totalMass
        let focal = search.centroid(x: c.x, y: c.y, width: c.w, height: c.h)
        let area = (c.w * c.h) / Double(W * H)
        let confidence = area < 1 - 1e-9 ? Swift.min(Swift.max((share - area) / (1 - area), 0), 1) : share
        return SubjectWindow(x: c.x / Double(W), y: c.y / Double(H), width: c.w / Double(W), height: c.h / Double(H),
                             focalX: focal.x / Double(W), focalY: focal.y / Double(H),
                             massShare: Swift.min(Swift.max(share, 0), 1), confidence: confidence, scale: c.scale)
    }
}

/// Summed-area tables over the map (and over its margin-blurred copy) and the exhaustive search.
struct WindowSearch {
    let map: ImportanceMap
    let width: Int, height: Int
    /// SAT of the map itself: (width + 1) x (height + 1), sat[y][x] = sum over [0, x) x [0, y).
    private var exact: [Double]
    private var blurred: [Double]
    private var blurredFor: (rx: Int, ry: Int)? = nil
    private var plane: [Float], scratch: [Float], line: [Float]
    private var scores: [Double] = []

    init(map: ImportanceMap) {
        self.map = map
        width = map.width; height = map.height
        exact = [Double](repeating: 0, count: (width + 1) * (height + 1))
        blurred = exact
        plane = [Float](repeating: 0, count: width * height)
        scratch = plane
        line = [Float](repeating: 0, count: width)
        map.values.withUnsafeBufferPointer { v in
            exact.withUnsafeMutableBufferPointer { WindowSearch.fillSAT(v, width: map.width, height: map.height, into: $0) }
        }
    }

    /// The SAT of `values` box-blurred with zeros outside the map (`plane`, `scratch` and
    /// `line` are working buffers of the map's size and width, kept by the caller for reuse).
    static func fillSoftenedSAT(_ values: [Float], width: Int, height: Int, radiusX: Int, radiusY: Int,
                                plane: inout [Float], scratch: inout [Float], line: inout [Float], into table: inout [Double]) {
        values.withUnsafeBufferPointer { v in
            plane.withUnsafeMutableBufferPointer { p in
                scratch.withUnsafeMutableBufferPointer { s in
                    line.withUnsafeMutableBufferPointer { l in
                        boxBlurZero(v, into: p, width: width, height: height, radiusX: radiusX, radiusY: radiusY, scratch: s, line: l)
                    }
                }
            }
        }
        plane.withUnsafeBufferPointer { p in table.withUnsafeMutableBufferPointer { fillSAT(p, width: width, height: height, into: $0) } }
    }

    /// One pass: each row's running sum plus the row above.
    static func fillSAT(_ values: UnsafeBufferPointer<Float>, width: Int, height: Int, into sat: UnsafeMutableBufferPointer<Double>) {
        let stride = width + 1
        for x in 0...width { sat[x] = 0 }
        for y in 0..<height {
            var run = 0.0
            let row = (y + 1) * stride, above = y * stride
            sat[row] = 0
            for x in 0..<width {
                run += Double(values[y * width + x])
                sat[row + x + 1] = sat[above + x + 1] + run
            }
        }
    }

    /// Integral of the piecewise-constant map over [0, x] x [0, y] for real x, y: bilinear
    /// interpolation of the table, which is exact for cells of constant value.
    @inline(__always)
    static func integral(_ sat: UnsafeBufferPointer<Double>, width: Int, height: Int, _ x: Double, _ y: Double) -> Double {
        let cx = Swift.min(Swift.max(x, 0), Double(width)), cy = Swift.min(Swift.max(y, 0), Double(height))
        let x0 = Swift.min(Int(cx), width - 1), y0 = Swift.min(Int(cy), height - 1)
        let fx = cx - Double(x0), fy = cy - Double(y0)
        let stride = width + 1
        let a = sat[y0 * stride + x0], b = sat[y0 * stride + x0 + 1]
        let c = sat[(y0 + 1) * stride + x0], d = sat[(y0 + 1) * stride + x0 + 1]
        return a * (1 - fx) * (1 - fy) + b * fx * (1 - fy) + c * (1 - fx) * fy + d * fx * fy
    }

    @inline(__always)
    static func mass(_ sat: UnsafeBufferPointer<Double>, width: Int, height: Int, x: Double, y: Double, w: Double, h: Double) -> Double {
        integral(sat, width: width, height: height, x + w, y + h) - integral(sat, width: width, height: height, x, y + h)
            - integral(sat, width: width, height: height, x + w, y) + integral(sat, width: width, height: height, x, y)
    }

    func hardMass(x: Double, y: Double, width w: Double, height h: Double) -> Double {
        exact.withUnsafeBufferPointer { WindowSearch.mass($0, width: width, height: height, x: x, y: y, w: w, h: h) }
    }

    /// Positions 0, step, ..., room in half-cell steps (just 0 when there is no room).
    static func positions(room: Double) -> Int { room < 1e-6 ? 1 : Swift.max(2, Int((room * 2).rounded(.up)) + 1) }

    /// The best top-left corner for a window of the given size (in cells).
    mutating func best(windowWidth ww: Double, windowHeight wh: Double, margin: Double) -> (x: Double, y: Double) {
        let roomX = Swift.max(Double(width) - ww, 0), roomY = Swift.max(Double(height) - wh, 0)
        let rx = roomX >= 1e-6 ? Int((margin * ww).rounded()) : 0
        let ry = roomY >= 1e-6 ? Int((margin * wh).rounded()) : 0
        let nx = WindowSearch.positions(room: roomX), ny = WindowSearch.positions(room: roomY)
        if rx > 0 || ry > 0 {
            if blurredFor == nil || blurredFor! != (rx, ry) {
                WindowSearch.fillSoftenedSAT(map.values, width: width, height: height, radiusX: rx, radiusY: ry,
                                             plane: &plane, scratch: &scratch, line: &line, into: &blurred)
                blurredFor = (rx, ry)
            }
        }
        let useBlurred = rx > 0 || ry > 0
        if scores.count < nx * ny { scores = [Double](repeating: 0, count: nx * ny) }
        let w = width, h = height
        var top = -Double.infinity
        let table = useBlurred ? blurred : exact
        table.withUnsafeBufferPointer { sat in
            scores.withUnsafeMutableBufferPointer { sc in
                for j in 0..<ny {
                    let y = ny == 1 ? 0 : roomY * Double(j) / Double(ny - 1)
                    for i in 0..<nx {
                        let x = nx == 1 ? 0 : roomX * Double(i) / Double(nx - 1)
                        let m = WindowSearch.mass(sat, width: w, height: h, x: x, y: y, w: ww, h: wh)
                        sc[j * nx + i] = m
                        if m > top { top = m }
                    }
                }
            }
        }
        // Among the (numerically) best, the one nearest the centre.
        let tolerance = 1e-9 * Swift.max(top, 1e-12)
        var pick = (x: roomX / 2, y: roomY / 2), nearest = Double.infinity
        for j in 0..<ny {
            let y = ny == 1 ? 0 : roomY * Double(j) / Double(ny - 1)
            for i in 0..<nx where scores[j * nx + i] >= top - tolerance {
                let x = nx == 1 ? 0 : roomX * Double(i) / Double(nx - 1)
                let d = (x - roomX / 2) * (x - roomX / 2) + (y - roomY / 2) * (y - roomY / 2)
                if d < nearest { nearest = d; pick = (x, y) }
            }
        }
        return pick
    }

    /// Importance-weighted centroid of the window (cells count by the share of them inside).
    func centroid(x: Double, y: Double, width w: Double, height h: Double) -> (x: Double, y: Double) {
        var sum = 0.0, sx = 0.0, sy = 0.0
        let x0 = Swift.max(0, Int(x)), x1 = Swift.min(width, Int((x + w).rounded(.up)))
        let y0 = Swift.max(0, Int(y)), y1 = Swift.min(height, Int((y + h).rounded(.up)))
        for row in y0..<Swift.max(y0, y1) {
            let cover = Swift.min(Double(row + 1), y + h) - Swift.max(Double(row), y)
            guard cover > 0 else { continue }
            for col in x0..<Swift.max(x0, x1) {
                let coverX = Swift.min(Double(col + 1), x + w) - Swift.max(Double(col), x)
                guard coverX > 0 else { continue }
                let m = Double(map.values[row * width + col]) * cover * coverX
                sum += m; sx += m * (Double(col) + 0.5); sy += m * (Double(row) + 0.5)
            }
        }
        guard sum > 0 else { return (x + w / 2, y + h / 2) }
        return (sx / sum, sy / sum)
    }
}

/// The 4-connected regions of a map's cells at or above a threshold, and which one is the main
/// subject (the most importance; ties go to the first in row order).
struct Regions {
    /// Per cell: 0 for background, else the region's number (1...).
    private(set) var labels: [Int32]
    /// Per region (index = number - 1): bounding box in cells, upper bounds exclusive.
    private(set) var boxes: [(x0: Int, y0: Int, x1: Int, y1: Int)] = []
    private(set) var main: Int32 = 0

    init(_ map: ImportanceMap, threshold: Float) {
        let width = map.width, count = map.width * map.height
        labels = [Int32](repeating: 0, count: count)
        var stack = [Int32](repeating: 0, count: count)
        var bestMass: Float = 0
        var boxes: [(x0: Int, y0: Int, x1: Int, y1: Int)] = []
        labels.withUnsafeMutableBufferPointer { label in
            stack.withUnsafeMutableBufferPointer { stack in
                map.values.withUnsafeBufferPointer { values in
                    for seed in 0..<count where label[seed] == 0 && values[seed] >= threshold {
                        let number = Int32(boxes.count + 1)
                        var box = (x0: seed % width, y0: seed / width, x1: seed % width + 1, y1: seed / width + 1)
                        var top = 1, mass: Float = 0
                        label[seed] = number
                        stack[0] = Int32(seed)
                        while top > 0 {
                            top -= 1
                            let i = Int(stack[top]), x = i % width, y = i / width
                            mass += values[i]
                            box = (Swift.min(box.x0, x), Swift.min(box.y0, y), Swift.max(box.x1, x + 1), Swift.max(box.y1, y + 1))
                            @inline(__always) func visit(_ j: Int) {
                                guard label[j] == 0 && values[j] >= threshold else { return }
                                label[j] = number
                                stack[top] = Int32(j)
                                top += 1
                            }
                            if x > 0 { visit(i - 1) }
                            if x < width - 1 { visit(i + 1) }
                            if y > 0 { visit(i - width) }
                            if i + width < count { visit(i + width) }
                        }
                        boxes.append(box)
                        if mass > bestMass { bestMass = mass; main = number }
                    }
                }
            }
        }
        self.boxes = boxes
    }

    /// The map with every cell outside the main region scaled by `outsideWeight`, except regions
    /// that fit in one `windowWidth` x `windowHeight` window (in cells) together with the main one.
    func weighted(_ map: ImportanceMap, windowWidth: Double, windowHeight: Double, outsideWeight: Float) -> ImportanceMap {
        guard main != 0 else { return map }
        let m = boxes[Int(main) - 1]
        var weight = [Float](repeating: outsideWeight, count: boxes.count + 1)
        for (index, box) in boxes.enumerated() {
            let width = Swift.max(m.x1, box.x1) - Swift.min(m.x0, box.x0)
            let height = Swift.max(m.y1, box.y1) - Swift.min(m.y0, box.y0)
            if Double(width) <= windowWidth + 1e-9 && Double(height) <= windowHeight + 1e-9 { weight[index + 1] = 1 }
        }
        // The main region is the subject even when it is too big for the window.
        weight[Int(main)] = 1
        var values = map.values
        for i in values.indices { values[i] *= weight[Int(labels[i])] }
        return ImportanceMap(width: map.width, height: map.height, values: values, isFlat: map.isFlat,
                             contrast: map.contrast, frame: map.frame)
    }
}
