#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// The image a pipeline is working on, and how its pixels relate to the source.
struct PipelineState {
    var image: Image
    /// From working-image pixels to oriented source pixels.
    var mapping: SourceMapping
    /// True while the image is the decoded source, untouched: decisions are then made in
    /// source pixels, and a crop that needs more resolution may decode again.
    var pristine: Bool
    var decision: CropDecision?
    var format: ImageFormat?
    var quality: Int?
    var background: Colour?
    var keepICC = false
    var keepMetadata = false
    /// A step's own picture of its decision (e.g. the subject importance map), if it made one.
    var explanation: Image?
    /// The image's lazy chain holds a neighbourhood operation (blur, sharpen) since it was last
    /// held in memory.
    var neighbourhoodPending = false
    /// The rest of an animation that stays one (`image` is its first frame): every step does
    /// to each of these frames what it does to `image`. Nil for a still.
    var animation: AnimationFrames?

    /// The frame decisions are made in (see `CropFrame`).
    func frame(source: SourceInfo) -> CropFrame {
        if pristine {
            return CropFrame(width: source.width, height: source.height,
                             imageScaleX: Double(image.width) / Double(source.width),
                             imageScaleY: Double(image.height) / Double(source.height), toSource: .identity)
        }
        return CropFrame(width: image.width, height: image.height, imageScaleX: 1, imageScaleY: 1, toSource: mapping)
    }

    /// Records the first crop decision of the pipeline; that is the one reported.
    mutating func record(_ decision: FrameDecision, frame: CropFrame) {
        guard self.decision == nil else { return }
        let crop = frame.toSource.map(decision.rect.asRect)
        let focal = decision.focalPoint.map { frame.toSource.map($0) }
        func rounded(_ p: Point) -> Point { Point(x: (p.x * 10).rounded() / 10, y: (p.y * 10).rounded() / 10) }
        let faces = decision.faces.map { face -> DetectedFace in
            let r = frame.toSource.map(face.rect)
            return DetectedFace(x: (r.x * 10).rounded() / 10, y: (r.y * 10).rounded() / 10, width: (r.width * 10).rounded() / 10,
                                height: (r.height * 10).rounded() / 10, score: (face.score * 1000).rounded() / 1000,
                                landmarks: face.landmarks.map { rounded(frame.toSource.map($0)) }, frame: face.frame)
        }
        var recorded = CropDecision(crop: crop.pixelRect(within: Int.max / 4, Int.max / 4), strategy: decision.strategy,
                                    focalPoint: focal.map(rounded), fallback: decision.fallback, faces: faces, detector: decision.detector)
        recorded.usedFaces = decision.usedFaces
        recorded.leftOutFaces = decision.leftOutFaces
        recorded.subjectSource = decision.subjectSource
        recorded.frames = animation?.count
        recorded.analysedFrames = animation == nil ? nil : decision.analysedFrames
        self.decision = recorded
    }

    /// Replaces the image by a neighbourhood operation on it. Stacked lazily, each such operation
    /// asks the one before for its whole margin on every tile, so 30 of them in a row took
    /// minutes and gigabytes for one small image; the image is held in memory between them
    /// instead, which bounds the work of each to one pass and keeps every pass stoppable.
    mutating func replace(byNeighbourhood operation: (Image) throws -> Image) throws {
        if neighbourhoodPending {
            image = try image.materialised()
            try animation?.transform { try $0.materialised() }
        }
        try transform(mapping: mapping, operation)
        neighbourhoodPending = true
    }

    /// Replaces the image, and every other frame of an animation, by what `operation` makes of
    /// it; `mapping` is the result's.
    mutating func transform(mapping: SourceMapping, _ operation: (Image) throws -> Image) throws {
        let first = try operation(image)
        try animation?.transform(operation)
        image = first
        self.mapping = mapping
        pristine = false
    }

    /// What a smart crop looks at: the image, and for an animation a few of its other frames.
    var analysedFrames: AnalysedFrames {
        guard let animation else { return .still(image) }
        let indices = AnalysedFrames.indices(count: animation.count)
        return AnalysedFrames(images: indices.map { $0 == 0 ? image : animation.others[$0 - 1] }, indices: indices, animated: true)
    }

    /// Cuts `rect` (frame pixels) out of the image and, when given, resamples it to exactly
    /// `size`. When the source is still pristine and the working image is too small for the
    /// requested output, the source is decoded again at the resolution the crop needs.
    mutating func cut(_ rect: PixelRect, frame: CropFrame, to size: (width: Int, height: Int)?, context: PipelineContext) throws {
        var frame = frame
        if pristine, let size {
            let needed = min(1, max(Double(size.width) / Double(rect.width), Double(size.height) / Double(rect.height)))
            if needed > frame.imageScaleX * 1.02, needed > frame.imageScaleY * 1.02 {
                let image: Image
                if animation != nil {
                    let decoded = try context.timed("decode") {
                        try context.source.decodeAnimation(scale: needed, limits: context.options.limits, stop: context.options.stop)
                    }
                    image = decoded.frames[0]
                    animation = AnimationFrames(decoded)
                } else {
                    image = try context.timed("decode") { try context.source.decode(scale: needed, stop: context.options.stop) }
                }
                self.image = image
                mapping = SourceMapping.identity.scaled(x: Double(image.width) / Double(context.source.info.width),
                                                        y: Double(image.height) / Double(context.source.info.height))
                frame = self.frame(source: context.source.info)
            }
        }
        let inImage = rect.asRect.scaled(x: frame.imageScaleX, y: frame.imageScaleY).pixelRect(within: image.width, image.height)
        var map = mapping.cropped(x: Double(inImage.x), y: Double(inImage.y))
        if let size {
            map = map.scaled(x: Double(size.width) / Double(inImage.width), y: Double(size.height) / Double(inImage.height))
        }
        try transform(mapping: map) { image in
            let out = try image.cropped(inImage)
            return try size.map { try out.resized(toWidth: $0.width, height: $0.height) } ?? out
        }
    }
}

/// What every step can reach: the source (for a second decode), the analysis cache and the
/// request's deadline.
final class PipelineContext: @unchecked Sendable {
    let source: OpenedSource
    let analysis: AnalysisCache
    let options: PipelineOptions
    private let durations = Mutex<[String: Duration]>([:])

    /// The face models for this request: the caller's, or the process default.
    func faceModels() throws -> FaceModels {
        try options.faceModels ?? FaceModels.environmentDefault()
    }

    /// The subject model for this request: the caller's, or the process default.
    func subjectModels() throws -> SubjectModels {
        try options.subjectModels ?? SubjectModels.environmentDefault()
    }

    init(source: OpenedSource, analysis: AnalysisCache, options: PipelineOptions) {
        self.source = source
        self.analysis = analysis
        self.options = options
    }

    func timed<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        let start = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - start
            durations.withLock { $0[phase, default: .zero] += elapsed }
        }
        return try body()
    }

    var timings: [String: Duration] { durations.withLock { $0 } }

    func checkDeadline(before step: String) throws {
        try options.stop.check(before: step)
    }
}

/// One pipeline step: one small type per operation, each in its own file.
protocol PipelineStep: Sendable {
    var name: String { get }
    func apply(to state: inout PipelineState, context: PipelineContext) throws
}
