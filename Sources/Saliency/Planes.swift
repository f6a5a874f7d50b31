// Small image-processing kernels on float planes (row-major, width * height), internal to the
// map builder. They work in place or into caller-provided scratch, so the hot loops allocate nothing.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

typealias Plane = UnsafeMutableBufferPointer<Float>

/// sRGB 8-bit code value -> linear light, 0...1.
let srgbToLinear: [Float] = (0..<256).map { code in
    let c = Double(code) / 255
    return Float(c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4))
}

/// Linear RGB (0...1) -> CIELAB (D65), in place: r, g, b become L, a, b.
func linearRGBToLab(_ r: Plane, _ g: Plane, _ b: Plane, count: Int) {
    @inline(__always) func f(_ t: Float) -> Float { t > 0.008856 ? cbrtf(t) : 7.787 * t + 16.0 / 116.0 }
    for i in 0..<count {
        let R = r[i], G = g[i], B = b[i]
        let x = (0.4124 * R + 0.3576 * G + 0.1805 * B) / 0.9505
        let y = 0.2126 * R + 0.7152 * G + 0.0722 * B
        let z = (0.0193 * R + 0.1192 * G + 0.9505 * B) / 1.089
        let fx = f(x), fy = f(y), fz = f(z)
        r[i] = 116 * fy - 16
        g[i] = 500 * (fx - fy)
        b[i] = 200 * (fy - fz)
    }
}

/// Box blur of radius `radius` with edge clamping (each cell becomes the mean of the
/// 2r+1 cells around it, the border cells repeated), vertical then horizontal, `passes` times.
/// Two passes approximate a Gaussian. `scratch` needs max(width, height) + 2 * radius + 1 cells.
func boxBlurClamped(_ plane: Plane, width: Int, height: Int, radius: Int, passes: Int, scratch: Plane) {
    guard radius > 0 else { return }
    let scale = 1 / Float(2 * radius + 1)
    for _ in 0..<passes {
        // Vertical: for each column, a running sum down the padded column.
        for x in 0..<width {
            var k = 0
            for j in -radius..<(height + radius) {
                scratch[k] = plane[Swift.min(Swift.max(j, 0), height - 1) * width + x]; k += 1
            }
            var sum: Float = 0
            for j in 0..<(2 * radius + 1) { sum += scratch[j] }
            for y in 0..<height {
                plane[y * width + x] = sum * scale
                if y + 1 < height { sum += scratch[y + 2 * radius + 1] - scratch[y] }
            }
        }
        // Horizontal.
        for y in 0..<height {
            let row = y * width
            var k = 0
            for j in -radius..<(width + radius) {
                scratch[k] = plane[row + Swift.min(Swift.max(j, 0), width - 1)]; k += 1
            }
            var sum: Float = 0
            for j in 0..<(2 * radius + 1) { sum += scratch[j] }
            for x in 0..<width {
                plane[row + x] = sum * scale
                if x + 1 < width { sum += scratch[x + 2 * radius + 1] - scratch[x] }
            }
        }
    }
}

/// Box blur with zeros outside the plane (a plain convolution with a (2rx+1) x (2ry+1) box of
/// weight 1/(count)), from `source` into `target`. Mass near the edges leaks out, which is the
/// point: it is what makes the window search keep a margin. `scratch` needs width * height cells.
func boxBlurZero(_ source: UnsafeBufferPointer<Float>, into target: Plane, width: Int, height: Int,
                 radiusX: Int, radiusY: Int, scratch: Plane) {
    // Horizontal into scratch.
    if radiusX > 0 {
        let scale = 1 / Float(2 * radiusX + 1)
        for y in 0..<height {
            let row = y * width
            var sum: Float = 0
            for j in 0..<Swift.min(radiusX, width) { sum += source[row + j] }
            for x in 0..<width {
                let add = x + radiusX, drop = x - radiusX - 1
                if add < width { sum += source[row + add] }
                if drop >= 0 { sum -= source[row + drop] }
                scratch[row + x] = sum * scale
            }
        }
    } else {
        for i in 0..<(width * height) { scratch[i] = source[i] }
    }
    // Vertical into target.
    if radiusY > 0 {
        let scale = 1 / Float(2 * radiusY + 1)
        for x in 0..<width {
            var sum: Float = 0
            for j in 0..<Swift.min(radiusY, height) { sum += scratch[j * width + x] }
            for y in 0..<height {
                let add = y + radiusY, drop = y - radiusY - 1
                if add < height { sum += scratch[add * width + x] }
                if drop >= 0 { sum -= scratch[drop * width + x] }
                target[y * width + x] = sum * scale
            }
        }
    } else {
        for i in 0..<(width * height) { target[i] = scratch[i] }
    }
}

/// Minimum barrier distance of every cell to the plane's border (FastMBD raster scans).
/// The barrier of a path is the highest minus the lowest value along it; each cell gets the
/// smallest barrier over the paths found by `passes` alternating forward and backward scans.
/// Border cells are the seeds (distance 0). Adds the distances into `accumulate`.
func minimumBarrierDistance(_ image: UnsafeBufferPointer<Float>, width: Int, height: Int, passes: Int,
                            accumulate: Plane, distance: Plane, upper: Plane, lower: Plane) {
    let count = width * height
    for i in 0..<count {
        upper[i] = image[i]; lower[i] = image[i]; distance[i] = .greatestFiniteMagnitude
    }
    for x in 0..<width { distance[x] = 0; distance[(height - 1) * width + x] = 0 }
    for y in 0..<height { distance[y * width] = 0; distance[y * width + width - 1] = 0 }
    guard width > 2, height > 2 else {
        for i in 0..<count { accumulate[i] += 0 }
        return
    }
    @inline(__always) func relax(_ i: Int, _ j: Int, _ v: Float) {
        let u = Swift.max(upper[j], v), l = Swift.min(lower[j], v)
        if u - l < distance[i] { distance[i] = u - l; upper[i] = u; lower[i] = l }
    }
    for pass in 0..<passes {
        if pass % 2 == 0 {
            for y in 1..<(height - 1) {
                for x in 1..<(width - 1) {
                    let i = y * width + x, v = image[i]
                    relax(i, i - 1, v)
                    relax(i, i - width, v)
                }
            }
        } else {
            for y in stride(from: height - 2, through: 1, by: -1) {
                for x in stride(from: width - 2, through: 1, by: -1) {
                    let i = y * width + x, v = image[i]
                    relax(i, i + 1, v)
                    relax(i, i + width, v)
                }
            }
        }
    }
    for i in 0..<count { accumulate[i] += distance[i] }
}

/// Deterministic k-means on 3-vectors (farthest-point initialisation from the mean, then
/// `iterations` Lloyd steps). `points` holds count * 3 floats; returns k * 3 centre coordinates.
func kMeans3(_ points: UnsafeBufferPointer<Float>, count: Int, k: Int, iterations: Int) -> [Float] {
    var centres = [Float](repeating: 0, count: k * 3)
    guard count > 0 else { return centres }
    var mean: (Double, Double, Double) = (0, 0, 0)
    for i in 0..<count { mean.0 += Double(points[3 * i]); mean.1 += Double(points[3 * i + 1]); mean.2 += Double(points[3 * i + 2]) }
    centres[0] = Float(mean.0 / Double(count)); centres[1] = Float(mean.1 / Double(count)); centres[2] = Float(mean.2 / Double(count))
    var nearest = [Float](repeating: .greatestFiniteMagnitude, count: count)
    var label = [Int](repeating: 0, count: count)
    @inline(__always) func d2(_ i: Int, _ c: Int) -> Float {
        let a = points[3 * i] - centres[3 * c], b = points[3 * i + 1] - centres[3 * c + 1], e = points[3 * i + 2] - centres[3 * c + 2]
        return a * a + b * b + e * e
    }
    for c in 1..<k {
        var best = -1 as Float, pick = 0
        for i in 0..<count {
            nearest[i] = Swift.min(nearest[i], d2(i, c - 1))
            if nearest[i] > best { best = nearest[i]; pick = i }
        }
        centres[3 * c] = points[3 * pick]; centres[3 * c + 1] = points[3 * pick + 1]; centres[3 * c + 2] = points[3 * pick + 2]
    }
    var sums = [Double](repeating: 0, count: k * 3)
    var sizes = [Int](repeating: 0, count: k)
    for _ in 0..<iterations {
        for i in 0..<count {
            var best = Float.greatestFiniteMagnitude, pick = 0
            for c in 0..<k { let d = d2(i, c); if d < best { best = d; pick = c } }
            label[i] = pick
        }
        for j in 0..<(k * 3) { sums[j] = 0 }
        for c in 0..<k { sizes[c] = 0 }
        for i in 0..<count {
            let c = label[i]
            sums[3 * c] += Double(points[3 * i]); sums[3 * c + 1] += Double(points[3 * i + 1]); sums[3 * c + 2] += Double(points[3 * i + 2])
            sizes[c] += 1
        }
        for c in 0..<k where sizes[c] > 0 {
            for j in 0..<3 { centres[3 * c + j] = Float(sums[3 * c + j] / Double(sizes[c])) }
        }
    }
    return centres
}
