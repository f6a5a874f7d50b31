// Small image-processing kernels on planes (row-major, width * height), internal to the map
// builder. Colour planes hold CIELAB as SIMD4 (L, a, b, 0) so the three channels go through each
// kernel together. Everything works in place or in caller-provided scratch: no hot loop allocates.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

typealias Vec = SIMD4<Float>
typealias Plane = UnsafeMutableBufferPointer<Float>
typealias VecPlane = UnsafeMutableBufferPointer<Vec>

/// sRGB 8-bit code value -> linear light, 0...1.
let srgbToLinear: [Float] = (0..<256).map { code in
    let c = Double(code) / 255
    return Float(c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4))
}

/// Cube root of a positive float: exponent trick for a first guess (within 4 %), then two Newton
/// steps (relative error about 1e-5, 0.001 ΔE in Lab; the C library's cbrtf is several times slower).
@inline(__always) func cubeRoot(_ x: Float) -> Float {
    var y = Float(bitPattern: x.bitPattern / 3 &+ 709_921_077)
    y = (2 * y + x / (y * y)) * (1.0 / 3.0)
    y = (2 * y + x / (y * y)) * (1.0 / 3.0)
    return y
}

/// Linear RGB (0...1, in x, y, z) -> CIELAB (D65) as (L, a, b, 0).
@inline(__always) func linearRGBToLab(_ rgb: Vec) -> Vec {
    @inline(__always) func f(_ t: Float) -> Float { t > 0.008856 ? cubeRoot(t) : 7.787 * t + 16.0 / 116.0 }
    let R = rgb.x, G = rgb.y, B = rgb.z
    let x = (0.4124 * R + 0.3576 * G + 0.1805 * B) / 0.9505
    let y = 0.2126 * R + 0.7152 * G + 0.0722 * B
    let z = (0.0193 * R + 0.1192 * G + 0.9505 * B) / 1.089
    let fx = f(x), fy = f(y), fz = f(z)
    return Vec(116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz), 0)
}

/// What the blurs need of a cell value: sums and scaling (Float and SIMD4<Float>).
protocol BlurElement {
    static var zero: Self { get }
    static func + (lhs: Self, rhs: Self) -> Self
    static func - (lhs: Self, rhs: Self) -> Self
    static func += (lhs: inout Self, rhs: Self)
    static func * (lhs: Self, rhs: Float) -> Self
}
extension Float: BlurElement {}
extension SIMD4: BlurElement where Scalar == Float {}

/// Box blur of radius `radius` with edge clamping (each cell becomes the mean of the 2r+1 cells
/// around it, border cells repeated), vertical then horizontal, `passes` times; two passes
/// approximate a Gaussian. `scratch` needs width * height cells, `line` max(width, height).
@inline(__always)
func boxBlurClamped<T: BlurElement>(_ plane: UnsafeMutableBufferPointer<T>, width: Int, height: Int, radius: Int,
                                    passes: Int, scratch: UnsafeMutableBufferPointer<T>, line: UnsafeMutableBufferPointer<T>) {
    guard radius > 0 else { return }
    let scale = 1 / Float(2 * radius + 1)
    let n = width * height
    for _ in 0..<passes {
        // Vertical: a running sum of whole rows, read from a copy.
        for i in 0..<n { scratch[i] = plane[i] }
        for x in 0..<width { line[x] = .zero }
        for j in -radius...radius {
            let row = Swift.min(Swift.max(j, 0), height - 1) * width
            for x in 0..<width { line[x] += scratch[row + x] }
        }
        for y in 0..<height {
            let out = y * width
            for x in 0..<width { plane[out + x] = line[x] * scale }
            if y + 1 < height {
                let add = Swift.min(y + radius + 1, height - 1) * width, drop = Swift.max(y - radius, 0) * width
                for x in 0..<width { line[x] += scratch[add + x] - scratch[drop + x] }
            }
        }
        // Horizontal: a running sum along each row.
        for y in 0..<height {
            let row = y * width
            for x in 0..<width { line[x] = plane[row + x] }
            var sum = T.zero
            for j in -radius...radius { sum += line[Swift.min(Swift.max(j, 0), width - 1)] }
            for x in 0..<width {
                plane[row + x] = sum * scale
                sum += line[Swift.min(x + radius + 1, width - 1)] - line[Swift.max(x - radius, 0)]
            }
        }
    }
}

/// Box blur with zeros outside the plane (a plain convolution with a (2rx+1) x (2ry+1) box of
/// weight 1/count), from `source` into `target`. Mass near the edges leaks out, which is the
/// point: it is what makes the window search keep a margin. `scratch` needs width * height cells,
/// `line` width cells.
func boxBlurZero(_ source: UnsafeBufferPointer<Float>, into target: Plane, width: Int, height: Int,
                 radiusX: Int, radiusY: Int, scratch: Plane, line: Plane) {
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
    // Vertical into target: a running sum of rows.
    if radiusY > 0 {
        let scale = 1 / Float(2 * radiusY + 1)
        for x in 0..<width { line[x] = 0 }
        for j in 0..<Swift.min(radiusY, height) { for x in 0..<width { line[x] += scratch[j * width + x] } }
        for y in 0..<height {
            let add = y + radiusY, drop = y - radiusY - 1
            if add < height { for x in 0..<width { line[x] += scratch[add * width + x] } }
            if drop >= 0 { for x in 0..<width { line[x] -= scratch[drop * width + x] } }
            for x in 0..<width { target[y * width + x] = line[x] * scale }
        }
    } else {
        for i in 0..<(width * height) { target[i] = scratch[i] }
    }
}

/// Lane-wise max and min as compare-and-blend (the standard library's pointwiseMax/Min handle NaN
/// lane by lane, with branches; there are no NaNs here).
@inline(__always) func maxLanes(_ a: Vec, _ b: Vec) -> Vec { a.replacing(with: b, where: a .< b) }
@inline(__always) func minLanes(_ a: Vec, _ b: Vec) -> Vec { a.replacing(with: b, where: b .< a) }

/// Minimum barrier distance of every cell to the plane's border, per channel (FastMBD raster
/// scans). The barrier of a path is the highest minus the lowest value along it; each cell gets the
/// smallest barrier over the paths found by `passes` alternating forward and backward scans.
/// Border cells are the seeds (distance 0). Writes the sum over L, a and b into `output`.
///
/// The three channels run side by side in SIMD lanes, without data-dependent branches, and the
/// previous cell of the row is carried in registers: the serial dependency along a row is what
/// bounds the speed.
func minimumBarrierDistance(_ image: UnsafeBufferPointer<Vec>, width: Int, height: Int, passes: Int,
                            output: Plane, distance: VecPlane, upper: VecPlane, lower: VecPlane) {
    let count = width * height
    let far = Vec(repeating: .greatestFiniteMagnitude)
    for i in 0..<count { upper[i] = image[i]; lower[i] = image[i]; distance[i] = far }
    for x in 0..<width { distance[x] = .zero; distance[(height - 1) * width + x] = .zero }
    for y in 0..<height { distance[y * width] = .zero; distance[y * width + width - 1] = .zero }
    if width > 2, height > 2 {
        for pass in 0..<passes {
            let forward = pass % 2 == 0
            let step = forward ? 1 : -1, vertical = forward ? -width : width
            var y = forward ? 1 : height - 2
            for _ in 1..<(height - 1) {
                // The cell before the first one scanned is a border seed.
                var i = y * width + (forward ? 0 : width - 1)
                var u = upper[i], l = lower[i]
                for _ in 1..<(width - 1) {
                    i += step
                    let v = image[i]
                    let u1 = maxLanes(u, v), l1 = minLanes(l, v), b1 = u1 - l1   // from the previous cell
                    let j = i + vertical                                          // from the row before
                    let u2 = maxLanes(upper[j], v), l2 = minLanes(lower[j], v), b2 = u2 - l2
                    var cd = distance[i], cu = upper[i], cl = lower[i]
                    let t1 = b1 .< cd
                    cd.replace(with: b1, where: t1); cu.replace(with: u1, where: t1); cl.replace(with: l1, where: t1)
                    let t2 = b2 .< cd
                    cd.replace(with: b2, where: t2); cu.replace(with: u2, where: t2); cl.replace(with: l2, where: t2)
                    distance[i] = cd; upper[i] = cu; lower[i] = cl
                    u = cu; l = cl
                }
                y += forward ? 1 : -1
            }
        }
    }
    for i in 0..<count { let d = distance[i]; output[i] = d.x + d.y + d.z }
}

/// Deterministic k-means on colours (farthest-point initialisation from the mean, then
/// `iterations` Lloyd steps). Returns k centres.
func kMeans(_ points: UnsafeBufferPointer<Vec>, k: Int, iterations: Int) -> [Vec] {
    let count = points.count
    var centres = [Vec](repeating: .zero, count: k)
    guard count > 0 else { return centres }
    var mean = SIMD4<Double>.zero
    for p in points { mean += SIMD4<Double>(p) }
    centres[0] = Vec(mean / Double(count))
    var nearest = [Float](repeating: .greatestFiniteMagnitude, count: count)
    var label = [Int32](repeating: 0, count: count)
    var sums = [SIMD4<Double>](repeating: .zero, count: k)
    var sizes = [Int](repeating: 0, count: k)
    centres.withUnsafeMutableBufferPointer { c in
        nearest.withUnsafeMutableBufferPointer { nearest in
            label.withUnsafeMutableBufferPointer { label in
                for j in 1..<Swift.max(1, k) {
                    var best: Float = -1, pick = 0
                    let previous = c[j - 1]
                    for i in 0..<count {
                        let d = points[i] - previous
                        let n = Swift.min(nearest[i], (d * d).sum())
                        nearest[i] = n
                        if n > best { best = n; pick = i }
                    }
                    c[j] = points[pick]
                }
                for _ in 0..<iterations {
                    for i in 0..<count {
                        let p = points[i]
                        var best = Float.greatestFiniteMagnitude, pick: Int32 = 0
                        for j in 0..<k {
                            let d = p - c[j]
                            let e = (d * d).sum()
                            let closer = e < best               // first minimum wins, without a branch
                            pick = closer ? Int32(j) : pick
                            best = closer ? e : best
                        }
                        label[i] = pick
                    }
                    for j in 0..<k { sums[j] = .zero; sizes[j] = 0 }
                    for i in 0..<count {
                        let j = Int(label[i])
                        sums[j] += SIMD4<Double>(points[i]); sizes[j] += 1
                    }
                    for j in 0..<k where sizes[j] > 0 { c[j] = Vec(sums[j] / Double(sizes[j])) }
                }
            }
        }
    }
    return centres
}
