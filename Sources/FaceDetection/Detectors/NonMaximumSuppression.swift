/// An axis-aligned box by its corners, in pixels.
public struct BoxCorners: Sendable, Hashable {
    public var minX: Float
    public var minY: Float
    public var maxX: Float
    public var maxY: Float

    public init(minX: Float, minY: Float, maxX: Float, maxY: Float) {
        self.minX = minX
        self.minY = minY
        self.maxX = maxX
        self.maxY = maxY
    }
}

/// How the overlap of two boxes is measured against the suppression threshold.
public enum OverlapMeasure: Sendable, Hashable {
    /// Intersection over union (OpenCV's NMSBoxes, MTCNN's "Union").
    case intersectionOverUnion
    /// Intersection over the smaller box's area (MTCNN's "Min"): suppresses boxes nested inside
    /// a better one even when they are much smaller.
    case intersectionOverMinimum
}

/// Greedy non-maximum suppression: repeatedly keeps the highest-scoring remaining box and drops
/// every other box whose overlap with it exceeds `threshold`.
///
/// - Parameters:
///   - inclusivePixels: measure sizes as `max - min + 1`, the convention of MTCNN's reference
///     code, whose coordinates name inclusive pixel indices; OpenCV uses `max - min`.
///   - limit: stop after keeping this many boxes.
/// - Returns: indices of the kept boxes, highest score first; equal scores keep input order.
public func nonMaximumSuppression(_ boxes: [BoxCorners], scores: [Float], threshold: Float,
                                  measure: OverlapMeasure = .intersectionOverUnion,
                                  inclusivePixels: Bool = false, limit: Int = .max) -> [Int] {
    precondition(boxes.count == scores.count, "one score per box")
    let extra: Float = inclusivePixels ? 1 : 0
    let order = boxes.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    var suppressed = [Bool](repeating: false, count: boxes.count)
    var kept: [Int] = []
    for (position, i) in order.enumerated() where !suppressed[i] {
        kept.append(i)
        if kept.count >= limit { break }
        let a = boxes[i]
        let areaA = max(0, a.maxX - a.minX + extra) * max(0, a.maxY - a.minY + extra)
        for j in order[(position + 1)...] where !suppressed[j] {
            let b = boxes[j]
            let w = max(0, min(a.maxX, b.maxX) - max(a.minX, b.minX) + extra)
            let h = max(0, min(a.maxY, b.maxY) - max(a.minY, b.minY) + extra)
            let intersection = w * h
            guard intersection > 0 else { continue }
            let areaB = max(0, b.maxX - b.minX + extra) * max(0, b.maxY - b.minY + extra)
            let overlap: Float
            switch measure {
            case .intersectionOverUnion: overlap = intersection / (areaA + areaB - intersection)
            case .intersectionOverMinimum: overlap = intersection / min(areaA, areaB)
            }
            if overlap > threshold { suppressed[j] = true }
        }
    }
    return kept
}

extension Face {
    var corners: BoxCorners { BoxCorners(minX: x, minY: y, maxX: x + width, maxY: y + height) }

    /// The face with its box and landmarks clamped to a `width` × `height` image.
    func clamped(width: Int, height: Int) -> Face {
        let w = Float(width), h = Float(height)
        let minX = min(max(x, 0), w), minY = min(max(y, 0), h)
        let maxX = min(max(x + self.width, 0), w), maxY = min(max(y + self.height, 0), h)
        return Face(x: minX, y: minY, width: maxX - minX, height: maxY - minY, score: score,
                    landmarks: landmarks.map { Point2(x: min(max($0.x, 0), w), y: min(max($0.y, 0), h)) })
    }
}

/// The common tail of both detectors: clamp, drop tiny faces, order by score, cap the count.
func finalizeFaces(_ faces: [Face], width: Int, height: Int, options: DetectionOptions) -> [Face] {
    var result = faces.map { $0.clamped(width: width, height: height) }
        .filter { max($0.width, $0.height) >= options.minFaceSize && $0.width > 0 && $0.height > 0 }
    result.sort { $0.score > $1.score }
    if result.count > max(0, options.maxFaces) { result.removeLast(result.count - max(0, options.maxFaces)) }
    return result
}
