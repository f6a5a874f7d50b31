#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds an `ImportanceMap` from a small RGB proxy of a photo.
///
/// Steps, at a working size of about 128 cells on the longest side:
///  1. box-average the proxy in linear light and convert to CIELAB;
///  2. find a uniform frame or letterbox on any side and leave it out;
///  3. surroundedness: the minimum-barrier distance to the border, summed over L, a and b,
///     then smoothed (radius 4 cells, two box passes) so isolated specks of texture count less
///     than solid regions;
///  4. border contrast: Lab distance to the nearest of 8 colours clustered (k-means) from a band
///     6 % deep along the border;
///  5. skin: a soft skin-tone likelihood (a* ≈ 18, b* ≈ 20), times how much the cell stands out;
///  6. weighted sum (0.75, 0.25, 0.3), normalised by its maximum, raised to the power 3.
/// Each cue is normalised by its own maximum, so the weights are shares, not units. The image is
/// flat when neither surroundedness nor border contrast reaches `flatContrast` ΔE.
public enum ImportanceMapBuilder {
    public struct Options: Sendable, Equatable {
        /// Longest side of the working grid. The proxy is box-averaged by a whole factor to get
        /// close to it; 128 keeps the cues above texture scale and the work under a millisecond.
        public var workingSide = 128
        /// Weight of surroundedness (minimum-barrier distance to the border): the strongest cue.
        public var surroundednessWeight: Float = 0.75
        /// Weight of the distance to the border's colours.
        public var borderContrastWeight: Float = 0.25
        /// Weight of skin tones (only where they also stand out from the background).
        public var skinWeight: Float = 0.3
        /// Power applied to the normalised sum. Above 1 it concentrates the mass on what clearly
        /// stands out; 3 measured best (2 and 4 are within a point).
        public var exponent: Float = 3
        /// Smoothing radius of surroundedness at 128 cells (scaled with the grid).
        public var surroundednessSmoothing = 4
        /// Number of border colours.
        public var borderColours = 8
        /// Depth of the border band the colours are taken from, as a share of the shorter side.
        public var borderBand: Float = 0.06
        /// Below this strength (ΔE) of either cue the image counts as flat.
        public var flatContrast: Float = 5
        /// Recognise and ignore a uniform frame or letterbox.
        public var ignoresFrames = true
        public init() {}
    }

    /// Builds the map from interleaved 8-bit pixels (RGB, or RGBA etc. with `bytesPerPixel`;
    /// the first three channels are taken as R, G, B). `bytesPerRow` defaults to width * bytesPerPixel.
    public static func build(pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int,
                             bytesPerPixel: Int = 3, bytesPerRow: Int? = nil,
                             options: Options = Options()) -> ImportanceMap {
        precondition(width > 0 && height > 0 && bytesPerPixel >= 3, "need a non-empty RGB image")
        let stride = bytesPerRow ?? width * bytesPerPixel
        precondition(pixels.count >= (height - 1) * stride + width * bytesPerPixel, "pixel buffer too small")
        var builder = Builder(width: width, height: height, options: options)
        return builder.run(pixels: pixels, bytesPerPixel: bytesPerPixel, stride: stride)
    }

    /// Convenience for a packed RGB array (`width * height * 3` bytes).
    public static func build(rgb: [UInt8], width: Int, height: Int, options: Options = Options()) -> ImportanceMap {
        rgb.withUnsafeBufferPointer { build(pixels: $0, width: width, height: height, options: options) }
    }
}

/// The working state of one build: every buffer is allocated once, up front.
private struct Builder {
    let options: ImportanceMapBuilder.Options
    let sourceWidth: Int, sourceHeight: Int
    let factor: Int
    let width: Int, height: Int

    init(width: Int, height: Int, options: ImportanceMapBuilder.Options) {
        self.options = options
        sourceWidth = width; sourceHeight = height
        let side = Swift.max(1, options.workingSide)
        factor = Swift.max(1, Int((Double(Swift.max(width, height)) / Double(side)).rounded()))
        self.width = Swift.max(1, width / factor)
        self.height = Swift.max(1, height / factor)
    }

    mutating func run(pixels: UnsafeBufferPointer<UInt8>, bytesPerPixel: Int, stride: Int) -> ImportanceMap {
        let count = width * height
        // Lab of the whole grid, as (L, a, b, 0).
        var lab = [Vec](repeating: .zero, count: count)
        lab.withUnsafeMutableBufferPointer { downsampleToLab(pixels, bytesPerPixel: bytesPerPixel, stride: stride, into: $0) }
        let frame = options.ignoresFrames ? findFrame(lab) : .zero
        let innerWidth = width - frame.left - frame.right, innerHeight = height - frame.top - frame.bottom
        guard innerWidth >= 4, innerHeight >= 4 else {
            return ImportanceMap(width: width, height: height, values: [Float](repeating: 0, count: count),
                                 isFlat: true, contrast: 0, frame: frame)
        }
        let inner = analyse(lab, frame: frame, w: innerWidth, h: innerHeight)
        var values = [Float](repeating: 0, count: count)
        if !inner.flat {
            for y in 0..<innerHeight {
                for x in 0..<innerWidth {
                    values[(y + frame.top) * width + x + frame.left] = inner.values[y * innerWidth + x]
                }
            }
        }
        return ImportanceMap(width: width, height: height, values: values, isFlat: inner.flat,
                             contrast: inner.contrast, frame: frame)
    }

    /// Box-averages `factor` x `factor` blocks of the proxy in linear light, then converts to Lab.
    private func downsampleToLab(_ pixels: UnsafeBufferPointer<UInt8>, bytesPerPixel: Int, stride: Int, into lab: VecPlane) {
        srgbToLinear.withUnsafeBufferPointer { lut in
            let scale = 1 / Float(factor * factor)
            for y in 0..<height {
                for x in 0..<width {
                    var sum = Vec.zero
                    for dy in 0..<factor {
                        var p = (y * factor + dy) * stride + x * factor * bytesPerPixel
                        for _ in 0..<factor {
                            sum += Vec(lut[Int(pixels[p])], lut[Int(pixels[p + 1])], lut[Int(pixels[p + 2])], 0)
                            p += bytesPerPixel
                        }
                    }
                    lab[y * width + x] = linearRGBToLab(sum * scale)
                }
            }
        }
    }

    /// A uniform frame: on each side, the outer lines that are uniform (at most 10 % of their
    /// cells more than 6 ΔE from the outermost line's mean colour), accepted only when the line
    /// inside them differs from that colour by more than 12 ΔE on average (a plain background
    /// running up to the subject does not), and when it is under 30 % of the image.
    private func findFrame(_ lab: [Vec]) -> ImportanceMap.Insets {
        func depth(lines: Int, length: Int, cell: (Int, Int) -> Vec) -> Int {
            let limit = Int(0.3 * Double(lines))
            guard limit > 0 else { return 0 }
            var ref = Vec.zero
            for j in 0..<length { ref += cell(0, j) }
            ref /= Float(length)
            func distance(_ c: Vec) -> Float { let d = c - ref; return (d * d).sum().squareRoot() }
            var k = 0
            while k < limit {
                var off = 0
                for j in 0..<length where distance(cell(k, j)) > 6 { off += 1 }
                if off * 10 > length { break }
                k += 1
            }
            guard k > 0, k < limit else { return 0 }
            var mean: Float = 0
            for j in 0..<length { mean += distance(cell(k, j)) }
            return mean / Float(length) > 12 ? k : 0
        }
        let w = width, h = height
        return ImportanceMap.Insets(
            top: depth(lines: h, length: w) { line, j in lab[line * w + j] },
            bottom: depth(lines: h, length: w) { line, j in lab[(h - 1 - line) * w + j] },
            left: depth(lines: w, length: h) { line, j in lab[j * w + line] },
            right: depth(lines: w, length: h) { line, j in lab[j * w + w - 1 - line] })
    }

    /// The cues on the region inside the frame (w x h), combined.
    private func analyse(_ lab: [Vec], frame: ImportanceMap.Insets, w: Int, h: Int) -> (values: [Float], flat: Bool, contrast: Float) {
        let n = w * h
        // Colour planes: Lab, scratch, and the MBD scan state (distance, upper, lower).
        var colours = [Vec](repeating: .zero, count: 5 * n + Swift.max(w, h))
        // Float planes: surroundedness, border contrast, scratch, line.
        var floats = [Float](repeating: 0, count: 3 * n + Swift.max(w, h))
        return colours.withUnsafeMutableBufferPointer { cv -> ([Float], Bool, Float) in
          floats.withUnsafeMutableBufferPointer { fv -> ([Float], Bool, Float) in
            func vec(_ k: Int) -> VecPlane { VecPlane(rebasing: cv[(k * n)..<((k + 1) * n)]) }
            func flt(_ k: Int) -> Plane { Plane(rebasing: fv[(k * n)..<((k + 1) * n)]) }
            let labs = vec(0), vscratch = vec(1), dist = vec(2), upper = vec(3), lower = vec(4)
            let vline = VecPlane(rebasing: cv[(5 * n)...])
            let mbd = flt(0), border = flt(1), fscratch = flt(2)
            let fline = Plane(rebasing: fv[(3 * n)...])
            for y in 0..<h {
                let src = (y + frame.top) * width + frame.left
                for x in 0..<w { labs[y * w + x] = lab[src + x] }
            }
            boxBlurClamped(labs, width: w, height: h, radius: 1, passes: 2, scratch: vscratch, line: vline)

            // Surroundedness.
            minimumBarrierDistance(UnsafeBufferPointer(labs), width: w, height: h, passes: 4,
                                   output: mbd, distance: dist, upper: upper, lower: lower)
            let smoothing = Swift.max(1, Int((Double(options.surroundednessSmoothing) * Double(Swift.max(w, h)) / 128).rounded()))
            boxBlurClamped(mbd, width: w, height: h, radius: smoothing, passes: 2, scratch: fscratch, line: fline)

            // Border contrast: k-means of the border band's colours.
            let band = Swift.max(1, Int((Double(options.borderBand) * Double(Swift.min(w, h))).rounded()))
            var points: [Vec] = []
            points.reserveCapacity(2 * band * (w + h))
            let b = Swift.min(band, h / 2)
            for y in 0..<b { for x in 0..<w { points.append(labs[y * w + x]) } }
            for y in (h - b)..<h { for x in 0..<w { points.append(labs[y * w + x]) } }
            if h - 2 * b > 0 {
                let bx = Swift.min(band, w / 2)
                for y in b..<(h - b) { for x in 0..<bx { points.append(labs[y * w + x]) } }
                for y in b..<(h - b) { for x in (w - bx)..<w { points.append(labs[y * w + x]) } }
            }
            let k = Swift.max(1, options.borderColours)
            let centres = points.withUnsafeBufferPointer { kMeans($0, k: k, iterations: 8) }
            centres.withUnsafeBufferPointer { c in
                for i in 0..<n {
                    let p = labs[i]
                    var best = Float.greatestFiniteMagnitude
                    for j in 0..<k { let d = p - c[j]; best = Swift.min(best, (d * d).sum()) }
                    border[i] = best.squareRoot()
                }
            }

            var mbdMax: Float = 0, borderMax: Float = 0
            for i in 0..<n { mbdMax = Swift.max(mbdMax, mbd[i]); borderMax = Swift.max(borderMax, border[i]) }
            let contrast = Swift.max(mbdMax, borderMax)
            if contrast < options.flatContrast { return ([], true, contrast) }

            // Combine. Skin counts in proportion to how much the cell stands out.
            let ws = options.surroundednessWeight, wb = options.borderContrastWeight, wk = options.skinWeight
            let invM = 1 / (mbdMax + 1e-6), invB = 1 / (borderMax + 1e-6)
            var standMax: Float = 0
            if wk != 0 { for i in 0..<n { standMax = Swift.max(standMax, mbd[i] + border[i]) } }
            let invS = 1 / (standMax + 1e-6)
            let total = ws + wb + wk
            var values = [Float](repeating: 0, count: n)
            var peak: Float = 0
            for i in 0..<n {
                var v = ws * mbd[i] * invM + wb * border[i] * invB
                if wk != 0 {
                    let c = labs[i]
                    if c.x > 20 && c.x < 95 {
                        let a = (c.y - 18) / 9, bb = (c.z - 20) / 11
                        v += wk * expf(-(a * a + bb * bb) / 2) * (mbd[i] + border[i]) * invS
                    }
                }
                v /= total
                values[i] = v
                peak = Swift.max(peak, v)
            }
            let inv = 1 / (peak + 1e-6)
            let e = options.exponent
            for i in 0..<n {
                let v = Swift.min(Swift.max(values[i] * inv, 0), 1)
                values[i] = e == 3 ? v * v * v : powf(v, e)
            }
            return (values, false, contrast)
          }
        }
    }
}
