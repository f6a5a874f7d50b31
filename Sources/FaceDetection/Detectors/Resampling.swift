// Separable resampling of an 8-bit RGB region into floats for MTCNN. Shrinking averages the
// covered source area (what OpenCV's INTER_AREA does, which the reference cascade uses);
// enlarging interpolates bilinearly between pixel centres.

/// The source taps of one output index along one axis.
struct ResampleTaps {
    /// Per output index, the range of `indices`/`weights` that belongs to it.
    var ranges: [Range<Int>]
    var indices: [Int]
    var weights: [Float]
}

/// Taps mapping `sourceSize` pixels onto `outputSize`.
func resampleTaps(sourceSize: Int, outputSize: Int) -> ResampleTaps {
    var taps = ResampleTaps(ranges: [], indices: [], weights: [])
    taps.ranges.reserveCapacity(outputSize)
    let scale = Double(sourceSize) / Double(outputSize)
    for o in 0..<outputSize {
        let start = taps.indices.count
        if scale >= 1 {
            let begin = Double(o) * scale, end = Double(o + 1) * scale
            var s = Int(begin)
            while Double(s) < end && s < sourceSize {
                let overlap = min(end, Double(s + 1)) - max(begin, Double(s))
                if overlap > 1e-9 {
                    taps.indices.append(s)
                    taps.weights.append(Float(overlap / scale))
                }
                s += 1
            }
        } else {
            let center = (Double(o) + 0.5) * scale - 0.5
            let lower = Int(center.rounded(.down))
            let fraction = Float(center - Double(lower))
            taps.indices.append(min(max(lower, 0), sourceSize - 1))
            taps.weights.append(1 - fraction)
            taps.indices.append(min(max(lower + 1, 0), sourceSize - 1))
            taps.weights.append(fraction)
        }
        taps.ranges.append(start..<taps.indices.count)
    }
    return taps
}

/// Resamples the region with top-left `(originX, originY)` and size `regionWidth × regionHeight`
/// of an RGB image to `outputWidth × outputHeight`. Parts of the region outside the image are
/// black. Each result is passed to `store(x, y, r, g, b)`.
@inline(__always)
func resampleRegion(_ pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int,
                    originX: Int, originY: Int, regionWidth: Int, regionHeight: Int,
                    outputWidth: Int, outputHeight: Int, rowBuffer: inout [Float],
                    store: (Int, Int, Float, Float, Float) -> Void) {
    let horizontal = resampleTaps(sourceSize: regionWidth, outputSize: outputWidth)
    let vertical = resampleTaps(sourceSize: regionHeight, outputSize: outputHeight)
    if rowBuffer.count < regionWidth * 3 { rowBuffer = [Float](repeating: 0, count: regionWidth * 3) }
    let visibleStart = max(0, -originX), visibleEnd = min(regionWidth, width - originX)
    rowBuffer.withUnsafeMutableBufferPointer { row in
        for oy in 0..<outputHeight {
            // Vertical pass into one row of the region, then the horizontal taps from it.
            row.baseAddress!.update(repeating: 0, count: regionWidth * 3)
            for t in vertical.ranges[oy] {
                let y = originY + vertical.indices[t]
                guard y >= 0 && y < height && visibleStart < visibleEnd else { continue }
                let w = vertical.weights[t]
                let source = pixels.baseAddress! + (y * width + originX) * 3
                for i in (visibleStart * 3)..<(visibleEnd * 3) { row[i] += w * Float(source[i]) }
            }
            for ox in 0..<outputWidth {
                var r: Float = 0, g: Float = 0, b: Float = 0
                for t in horizontal.ranges[ox] {
                    let x = horizontal.indices[t] * 3
                    let w = horizontal.weights[t]
                    r += w * row[x]
                    g += w * row[x + 1]
                    b += w * row[x + 2]
                }
                store(ox, oy, r, g, b)
            }
        }
    }
}
