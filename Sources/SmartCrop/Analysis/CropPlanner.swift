import CVips
import CVipsShim
import Saliency
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The coordinate frame crop decisions are made in: the oriented source when the image is
/// still the decoded source (so decisions do not depend on the decode size), otherwise the
/// working image itself.
struct CropFrame {
    let width: Int
    let height: Int
    /// Working-image pixels per frame pixel.
    let imageScaleX: Double
    let imageScaleY: Double
    /// From frame pixels to oriented source pixels.
    let toSource: SourceMapping
}

/// A decision in frame pixels, before it is cut out of the image.
struct FrameDecision {
    var rect: PixelRect
    var strategy: String
    var focalPoint: Point?
    var fallback: String?
    /// Faces found, in frame pixels.
    var faces: [DetectedFace] = []
    var detector: String?
    var usedFaces: [Int] = []
    var leftOutFaces: [LeftOutFace] = []
    var subjectSource: SubjectSource?
    /// The animation frames the decision looked at.
    var analysedFrames: [Int]?
}

/// Chooses where a crop of a given aspect goes, for the strategies that only look at pixels.
enum CropPlanner {
    /// Below this standard deviation (in 0-255 levels) the proxy is taken as flat: there is
    /// nothing to look at, so the crop is centred.
    static let flatDeviation = 2.0

    static func largestCrop(in frame: CropFrame, target: (width: Int, height: Int)) -> (width: Int, height: Int) {
        AspectFit.largestCrop(width: frame.width, height: frame.height, targetWidth: target.width, targetHeight: target.height)
    }

    static func centre(_ frame: CropFrame, target: (width: Int, height: Int), fallback: String? = nil) -> FrameDecision {
        let size = largestCrop(in: frame, target: target)
        let centre = Point(x: Double(frame.width) / 2, y: Double(frame.height) / 2)
        return FrameDecision(rect: AspectFit.centred(on: centre, size: size, imageWidth: frame.width, imageHeight: frame.height),
                             strategy: "center", focalPoint: centre, fallback: fallback)
    }

    static func focal(_ frame: CropFrame, target: (width: Int, height: Int), point: Point) -> FrameDecision {
        let size = largestCrop(in: frame, target: target)
        let p = Point(x: point.x * Double(frame.width), y: point.y * Double(frame.height))
        return FrameDecision(rect: AspectFit.centred(on: p, size: size, imageWidth: frame.width, imageHeight: frame.height),
                             strategy: "focal", focalPoint: p)
    }

    /// libvips attention or entropy, run on the fixed-size proxy; the window it picks is
    /// re-centred at full size so the crop is exactly the largest one of the target aspect.
    static func libvips(_ interesting: VipsInteresting, name: String, image: Image, frame: CropFrame,
                        target: (width: Int, height: Int), analysis: AnalysisCache) throws -> FrameDecision {
        let proxy = try analysis.proxy(of: image, longestSide: AnalysisSize.subjectProxy)
        if try proxy.deviation() < flatDeviation {
            return centre(frame, target: target, fallback: "flat image")
        }
        let window = AspectFit.largestCrop(width: proxy.width, height: proxy.height, targetWidth: target.width, targetHeight: target.height)
        var left: Int32 = 0, top: Int32 = 0
        _ = try proxy.derive("smartcrop") { _, out in sc_smartcrop(proxy.evaluated, out, Int32(window.width), Int32(window.height), interesting, &left, &top) }
        let cx = (Double(left) + Double(window.width) / 2) * Double(frame.width) / Double(proxy.width)
        let cy = (Double(top) + Double(window.height) / 2) * Double(frame.height) / Double(proxy.height)
        let size = largestCrop(in: frame, target: target)
        let point = Point(x: cx, y: cy)
        return FrameDecision(rect: AspectFit.centred(on: point, size: size, imageWidth: frame.width, imageHeight: frame.height),
                             strategy: name, focalPoint: point)
    }

    /// Our subject strategy: the window of the output's aspect that holds the most importance
    /// (edges of objects against their surroundings, border contrast, skin), found exhaustively;
    /// for an animation, in the map of all its analysed frames.
    static func subject(frames: AnalysedFrames, frame: CropFrame, target: (width: Int, height: Int), analysis: AnalysisCache,
                        models: SubjectModels, threads: Int = 1, stop: StopSignal? = nil) throws -> (FrameDecision, SubjectMap) {
        let subject = try analysis.subjectMap(of: frames, models: models, threads: threads, stop: stop)
        let map = subject.map
        if map.isFlat {
            var decision = centre(frame, target: target, fallback: "flat image")
            decision.subjectSource = subject.source
            return (decision, subject)
        }
        let window = SubjectLocator.bestWindow(in: map, aspect: Double(target.width) / Double(target.height),
                                               imageAspect: Double(frame.width) / Double(frame.height), options: subject.searchOptions)
        let r = window.pixelRect(sourceWidth: frame.width, sourceHeight: frame.height,
                                 targetWidth: target.width, targetHeight: target.height)
        let focal = Point(x: window.focalX * Double(frame.width), y: window.focalY * Double(frame.height))
        return (FrameDecision(rect: PixelRect(x: r.x, y: r.y, width: r.width, height: r.height), strategy: "subject", focalPoint: focal,
                              subjectSource: subject.source), subject)
    }

    /// A picture of a subject decision: the importance map, with the crop drawn on it.
    static func picture(of map: ImportanceMap, crop: PixelRect, frame: CropFrame) throws -> Image {
        let grey = try Image.fromPixels(map.grayscale(), width: map.width, height: map.height, bands: 1)
        let scale = min(4, 512 / Double(max(map.width, map.height)))
        let big = try grey.resized(toWidth: max(1, Int(Double(map.width) * scale)), height: max(1, Int(Double(map.height) * scale)))
        let sx = Double(big.width) / Double(frame.width), sy = Double(big.height) / Double(frame.height)
        return try big.drawing([DrawnRect(rect: crop.asRect.scaled(x: sx, y: sy).pixelRect(within: big.width, big.height),
                                          colour: Colour(red: 255, green: 210, blue: 0), thickness: 3)])
    }

    /// A picture of a subject decision made on the model's mask: the photo (at most 1024 px) with
    /// the mask laid over it as heat (transparent where it is 0, red through yellow as it rises)
    /// and the crop in cyan.
    static func heat(of image: Image, map: ImportanceMap, crop: PixelRect, frame: CropFrame) throws -> Image {
        let shaded = try shade(image, by: map) { pixel, m in
            let alpha = 0.6 * m
            return pixel * (1 - alpha) + SIMD3(255, 255 * m, 0) * alpha
        }
        let sx = Double(shaded.width) / Double(frame.width), sy = Double(shaded.height) / Double(frame.height)
        return try shaded.drawing([DrawnRect(rect: crop.asRect.scaled(x: sx, y: sy).pixelRect(within: shaded.width, shaded.height),
                                             colour: Colour(red: 0, green: 220, blue: 255), thickness: max(2, shaded.width / 200))])
    }

    /// The photo at most 1024 px on its longer side, each pixel's RGB (0-255) replaced by what
    /// `blend` makes of it and the map's value under it.
    private static func shade(_ image: Image, by map: ImportanceMap,
                              _ blend: (SIMD3<Double>, Double) -> SIMD3<Double>) throws -> Image {
        let scale = min(1, 1024 / Double(max(image.width, image.height)))
        let w = max(1, Int((Double(image.width) * scale).rounded())), h = max(1, Int((Double(image.height) * scale).rounded()))
        var rgb = try image.resized(toWidth: w, height: h).rgbBytes()
        for y in 0..<h {
            let my = min(map.height - 1, y * map.height / h)
            for x in 0..<w {
                let i = (y * w + x) * 3
                let pixel = blend(SIMD3(Double(rgb[i]), Double(rgb[i + 1]), Double(rgb[i + 2])),
                                  Double(map[min(map.width - 1, x * map.width / w), my]))
                for c in 0..<3 { rgb[i + c] = UInt8(min(max(pixel[c].rounded(.down), 0), 255)) }
            }
        }
        return try Image.fromPixels(rgb, width: w, height: h, bands: 3)
    }

    /// A picture of a decision where faces and the subject met: the photo (at most 1024 px),
    /// dimmed where the subject map is low, with the faces that steered (green), those left out
    /// (grey) and the crop (yellow).
    static func composition(of image: Image, map: ImportanceMap, decision: FrameDecision, frame: CropFrame) throws -> Image {
        // The map is cubed for the search; its square root shows the shape better.
        try shade(image, by: map) { pixel, m in pixel * (0.25 + 0.75 * m.squareRoot()) }
            .annotated(faces: decision.faces, crop: decision.rect, sourceWidth: frame.width, sourceHeight: frame.height,
                       leftOut: Set(decision.leftOutFaces.map(\.face)))
    }

    /// The rectangle trim would keep: everything that differs from the background by more
    /// than `threshold`. The background is the top-left pixel (or transparency, for images
    /// with some). Nil when nothing differs.
    static func trimRect(_ image: Image, threshold: Int) throws -> PixelRect? {
        var subject = image
        var background: [Double]
        // A GIF that uses transparency anywhere (as frame-to-frame optimisation does) is decoded
        // with an alpha band in every frame; where that band is opaque throughout, it says
        // nothing, and the colours decide.
        let alpha = image.hasAlpha ? try image.extractBands(image.bands - 1, count: 1) : nil
        if let alpha, try alpha.deviation() > 0 {
            subject = alpha
            background = [0]
        } else {
            if alpha != nil { subject = try image.extractBands(0, count: image.bands - 1) }
            background = try subject.cropped(PixelRect(x: 0, y: 0, width: 1, height: 1)).pixelBytes().map(Double.init)
        }
        var l: Int32 = 0, t: Int32 = 0, w: Int32 = 0, h: Int32 = 0
        guard sc_find_trim(subject.evaluated, Double(threshold), &background, Int32(background.count), &l, &t, &w, &h) == 0 else {
            throw subject.failure("find_trim")
        }
        guard w > 0, h > 0 else { return nil }
        return PixelRect(x: Int(l), y: Int(t), width: Int(w), height: Int(h))
    }
}
