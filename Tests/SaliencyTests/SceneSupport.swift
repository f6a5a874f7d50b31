import OnnxTestSupport
import Saliency

/// Synthetic RGB scenes for the tests: a background and some objects, drawn in code.
struct Scene {
    var width: Int
    var height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int, colour: (UInt8, UInt8, UInt8)) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            pixels[3 * i] = colour.0; pixels[3 * i + 1] = colour.1; pixels[3 * i + 2] = colour.2
        }
    }

    /// A busy, grass-like background: stripes of two greens with strong pixel noise.
    static func textured(width: Int, height: Int, seed: UInt64 = 1) -> Scene {
        var scene = Scene(width: width, height: height, colour: (0, 0, 0))
        var rng = SplitMix(seed: seed)
        for y in 0..<height {
            for x in 0..<width {
                let stripe = ((x + 2 * y) / 5) % 2 == 0
                let n = Int(rng.next() % 61) - 30
                let base = stripe ? (70, 120, 50) : (95, 140, 60)
                scene.set(x, y, (clamp(base.0 + n), clamp(base.1 + n), clamp(base.2 + n / 2)))
            }
        }
        return scene
    }

    mutating func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
        let i = 3 * (y * width + x)
        pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
    }

    /// A filled ellipse inscribed in the rectangle.
    mutating func ellipse(_ r: Box, _ c: (UInt8, UInt8, UInt8)) {
        let cx = Double(r.x) + Double(r.width) / 2, cy = Double(r.y) + Double(r.height) / 2
        let rx = Double(r.width) / 2, ry = Double(r.height) / 2
        for y in max(0, r.y)..<min(height, r.y + r.height) {
            for x in max(0, r.x)..<min(width, r.x + r.width) {
                let dx = (Double(x) + 0.5 - cx) / rx, dy = (Double(y) + 0.5 - cy) / ry
                if dx * dx + dy * dy <= 1 { set(x, y, c) }
            }
        }
    }

    mutating func rectangle(_ r: Box, _ c: (UInt8, UInt8, UInt8)) {
        for y in max(0, r.y)..<min(height, r.y + r.height) {
            for x in max(0, r.x)..<min(width, r.x + r.width) { set(x, y, c) }
        }
    }

    func map(_ options: ImportanceMapBuilder.Options = .init()) -> ImportanceMap {
        ImportanceMapBuilder.build(rgb: pixels, width: width, height: height, options: options)
    }

    /// The crop the subject strategy picks for an output of targetWidth x targetHeight.
    func crop(_ targetWidth: Int, _ targetHeight: Int, map: ImportanceMap? = nil) -> SubjectPixelRect {
        let m = map ?? self.map()
        let window = SubjectLocator.bestWindow(in: m, aspect: Double(targetWidth) / Double(targetHeight),
                                               imageAspect: Double(width) / Double(height))
        return window.pixelRect(sourceWidth: width, sourceHeight: height, targetWidth: targetWidth, targetHeight: targetHeight)
    }
}

struct Box: Equatable, CustomStringConvertible {
    var x: Int, y: Int, width: Int, height: Int
    var description: String { "(\(x), \(y), \(width)x\(height))" }

    /// Share of this box inside the crop.
    func share(inside crop: SubjectPixelRect) -> Double {
        let ix = max(0, min(x + width, crop.x + crop.width) - max(x, crop.x))
        let iy = max(0, min(y + height, crop.y + crop.height) - max(y, crop.y))
        return Double(ix * iy) / Double(width * height)
    }
}

func clamp(_ v: Int) -> UInt8 { UInt8(max(0, min(255, v))) }

/// The five aspects the crop evaluation uses, as output sizes.
let evaluationSizes: [(Int, Int)] = [(256, 256), (256, 320), (270, 480), (480, 270), (382, 200)]
