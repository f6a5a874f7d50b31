#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import Synchronization

public struct PipelineOptions: Sendable {
    public var limits: DecodeLimits
    /// The job's deadline and cancel switch: checked between steps, and by libvips during
    /// them. Past the deadline the job fails with `deadlineExceeded`, once cancelled with `cancelled`.
    public var stop: StopSignal
    /// The face detectors smart crops use; nil reads `SMARTCROP_FACE_MODEL` once per process.
    public var faceModels: FaceModels?
    /// The subject model smart crops use; nil reads `SMARTCROP_SUBJECT_MODEL` once per process.
    public var subjectModels: SubjectModels?
    /// Also make `PipelineOutput.explanation`, a picture of the decision.
    public var explain = false
    /// Let `variants` crop and encode the sizes after the first on several threads. Right for a
    /// one-shot call that owns the machine (the CLI); a server that already runs one request per
    /// core leaves it off.
    public var concurrentVariants = false
    /// Threads one analysis network may use: face detection (see `DetectionOptions.threads`) and
    /// the subject model (its convolutions split their rows). The same rule as
    /// `concurrentVariants` applies.
    public var analysisThreads = 1

    public init(limits: DecodeLimits = DecodeLimits(), deadline: ContinuousClock.Instant? = nil, faceModels: FaceModels? = nil) {
        self.init(limits: limits, stop: StopSignal(deadline: deadline), faceModels: faceModels)
    }

    public init(limits: DecodeLimits = DecodeLimits(), stop: StopSignal, faceModels: FaceModels? = nil) {
        self.limits = limits
        self.stop = stop
        self.faceModels = faceModels
    }
}

/// The encoded result of a pipeline and how it was reached.
public struct PipelineOutput: Sendable {
    public var data: Data
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    public var source: SourceInfo
    /// The first crop of the pipeline, in source pixels, with the strategy that placed it.
    public var decision: CropDecision?
    /// Time per phase: decode, analyse, crop, encode…
    public var timings: [String: Duration]
    /// The size the source was decoded at (shrink-on-load keeps this small for small outputs).
    public var decodedWidth: Int
    public var decodedHeight: Int
    /// With `PipelineOptions.explain`: the source with the faces found and the crop chosen
    /// drawn on it (or the subject importance map, for subject crops).
    public var explanation: Image?
    /// What went wrong but was got past, e.g. a truncated file decoded under `fail_on: none`.
    public var warnings: [String] = []
    /// Frames of the output: more than one for an animation that stayed one.
    public var frames = 1
}

/// Runs pipelines: one decode (shrunk on load to what the pipeline needs), each step in
/// order with the deadline checked in between, one encode.
public enum PipelineRunner {
    public static func run(_ pipeline: Pipeline, on source: ImageSource, options: PipelineOptions = PipelineOptions()) throws -> PipelineOutput {
        let opened = try OpenedSource(source, limits: options.limits)
        return try variants([("", pipeline)], on: opened, options: options)[0].1
    }

    /// Runs several pipelines on one upload: the source is decoded once, at the largest scale
    /// any of them needs, and analysis (faces, subject) is shared between them. An animation
    /// is decoded whole when any of them keeps it one; the others take its first frame.
    public static func variants(_ pipelines: [(String, Pipeline)], on source: OpenedSource,
                                options: PipelineOptions = PipelineOptions()) throws -> [(String, PipelineOutput)] {
        let analysis = AnalysisCache()
        let scale = pipelines.map { DecodePlanner.scale(for: $0.1, source: source.info) }.max() ?? 1
        let shared = PipelineContext(source: source, analysis: analysis, options: options)
        let keepsAnimation = pipelines.map { $0.1.keepsAnimation(of: source.info) }
        if keepsAnimation.contains(true), let problem = options.limits.animationProblem(source.info) {
            throw SmartCropError.tooLarge(problem)
        }
        try shared.checkDeadline(before: "decode")
        // Face models load on first use (the embedded MTCNN takes ~15 ms to read and pack);
        // that needs no pixels, so it overlaps the decode.
        let warmUp = DispatchGroup()
        if pipelines.contains(where: { $0.1.looksForFaces }) {
            DispatchQueue.global().async(group: warmUp) { _ = try? shared.faceModels().detector(.auto) }
        }
        // Likewise the subject model, when the caller deferred its loading (a one-shot command).
        if pipelines.contains(where: { $0.1.looksAtSubject }) {
            DispatchQueue.global().async(group: warmUp) { try? shared.subjectModels().load() }
        }
        let decoded: Image
        let animation: DecodedAnimation?
        do {
            defer { warmUp.wait() }
            if keepsAnimation.contains(true) {
                let whole = try shared.timed("decode") { try source.decodeAnimation(scale: scale, limits: options.limits, stop: options.stop) }
                (decoded, animation) = (whole.frames[0], whole)
            } else {
                (decoded, animation) = (try shared.timed("decode") { try source.decode(scale: scale, stop: options.stop) }, nil)
            }
        }
        if pipelines.contains(where: { $0.1.firstOperationLooksForFaces }) {
            try shared.timed("decode") {
                try FaceAnalysis.adoptDetectView(of: source, decoded: decoded, analysis: analysis, stop: options.stop)
            }
        }
        let decodeTime = shared.timings["decode"] ?? .zero
        @Sendable func output(_ index: Int) throws -> PipelineOutput {
            let context = PipelineContext(source: source, analysis: analysis, options: options)
            let frames = keepsAnimation[index] ? animation.map(AnimationFrames.init) : nil
            return try run(pipelines[index].1, decoded: decoded, animation: frames, context: context, decodeTime: decodeTime)
        }
        guard options.concurrentVariants, pipelines.count > 2 else {
            return try pipelines.indices.map { (pipelines[$0].0, try output($0)) }
        }
        // The smallest variant goes first and alone: it does the analysis the others share
        // (faces, subject) and adds little to it. The rest only crop, resize and encode,
        // independent work, started largest first so the longest encode does not come last.
        let order = pipelines.indices.sorted { pipelines[$0].1.outputPixels < pipelines[$1].1.outputPixels }
        var outputs = [PipelineOutput?](repeating: nil, count: pipelines.count)
        outputs[order[0]] = try output(order[0])
        let rest = Array(order.dropFirst().reversed())
        let results = Mutex([Result<PipelineOutput, any Error>?](repeating: nil, count: rest.count))
        DispatchQueue.concurrentPerform(iterations: rest.count) { i in
            let result = Result { try output(rest[i]) }
            results.withLock { $0[i] = result }
        }
        for (i, result) in results.withLock({ $0 }).enumerated() { outputs[rest[i]] = try result!.get() }
        return zip(pipelines, outputs).map { ($0.0, $1!) }
    }

    static func run(_ pipeline: Pipeline, decoded: Image, animation: AnimationFrames? = nil, context: PipelineContext,
                    decodeTime: Duration) throws -> PipelineOutput {
        let info = context.source.info
        var state = PipelineState(image: decoded,
                                  mapping: SourceMapping.identity.scaled(x: Double(decoded.width) / Double(info.width),
                                                                         y: Double(decoded.height) / Double(info.height)),
                                  pristine: true)
        state.animation = animation
        let maxPixels = context.options.limits.maxOutputPixels
        var formatField = ""
        for (index, operation) in pipeline.operations.enumerated() {
            let step = makeStep(operation)
            try context.checkDeadline(before: "operations[\(index)] (\(step.name))")
            do {
                try step.apply(to: &state, context: context)
            } catch SmartCropError.invalidArgument(let field, let message) {
                throw SmartCropError.invalidArgument(field: "operations[\(index)]" + (field.isEmpty ? "" : ".\(field)"), message: message)
            }
            // libvips has only planned the step so far: an image too big to make is refused
            // before any of its pixels are computed.
            if let problem = DecodeLimits.sizeProblem((state.image.width, state.image.height), frames: state.animation?.count ?? 1,
                                                      maxPixels: maxPixels) {
                throw SmartCropError.invalidArgument(field: "operations[\(index)]", message: problem)
            }
            if case .convert = operation { formatField = "operations[\(index)].format" }
        }
        try context.checkDeadline(before: "encode")
        let format = state.format ?? info.format.defaultOutput(hasAlpha: state.image.hasAlpha)
        if let problem = format.sizeProblem(width: state.image.width, height: state.image.height) {
            throw SmartCropError.invalidArgument(field: formatField, message: problem)
        }
        let options = EncodeOptions(format: format, quality: state.quality, background: state.background ?? .white,
                                    keepICCProfile: state.keepICC, keepMetadata: state.keepMetadata)
        let image = state.image
        let animated = state.animation
        let data = try context.timed("encode") {
            guard let animated else { return try image.encoded(options) }
            return try Image.stacked([image] + animated.others).encoded(options, animation: animated.timing)
        }
        var timings = context.timings
        timings["decode", default: .zero] += decodeTime
        var explanation: Image?
        if context.options.explain {
            explanation = try state.explanation ?? decoded.annotated(faces: state.decision?.faces ?? [], crop: state.decision?.crop,
                                                                     sourceWidth: info.width, sourceHeight: info.height,
                                                                     leftOut: Set(state.decision?.leftOutFaces.map(\.face) ?? []))
        }
        return PipelineOutput(data: data, format: format, width: image.width, height: image.height, source: info,
                              decision: state.decision, timings: timings, decodedWidth: decoded.width, decodedHeight: decoded.height,
                              explanation: explanation, warnings: context.source.warnings, frames: animated?.count ?? 1)
    }

    static func makeStep(_ operation: ImageOperation) -> any PipelineStep {
        switch operation {
        case .smartCrop(let settings): SmartCropStep(settings: settings)
        case .resize(let op): ResizeStep(operation: op)
        case .crop(let op): CropStep(operation: op)
        case .trim(let op): TrimStep(op)
        case .sharpen(let sigma): SharpenStep(sigma: sigma)
        case .blur(let sigma): BlurStep(sigma: sigma)
        case .rotate(let turns): RotateStep(quarterTurns: turns)
        case .flip(let h, let v): FlipStep(horizontal: h, vertical: v)
        case .pad(let op): PadStep(operation: op)
        case .convert(let op): ConvertStep(operation: op)
        }
    }
}

/// How much of the source a pipeline needs decoded: only the first operation decides, since
/// it is the one that sees the source.
enum DecodePlanner {
    static func scale(for pipeline: Pipeline, source: SourceInfo) -> Double {
        let W = Double(source.width), H = Double(source.height)
        let longest = max(W, H)
        guard let first = pipeline.operations.first else { return 1 }
        let needed: Double
        switch first {
        case .smartCrop(let s):
            guard s.mode != .trim, let size = s.outputSize else { return 1 }
            switch s.mode {
            case .rect:
                guard let r = s.rect else { return 1 }
                needed = max(Double(size.width) / Double(r.width), Double(size.height) / Double(r.height))
            default:
                let crop = AspectFit.largestCrop(width: source.width, height: source.height, targetWidth: size.width, targetHeight: size.height)
                let output = max(Double(size.width) / Double(crop.width), Double(size.height) / Double(crop.height))
                let animated = pipeline.keepsAnimation(of: source)
                let proxy: Int? = switch s.mode {
                case .auto, .face, .subject where animated: AnalysisSize.animationFrame
                case .auto, .face: AnalysisSize.faceProxy
                case .subject: AnalysisSize.subjectProxy
                default: nil
                }
                needed = max(output, proxy.map { Double($0) / longest } ?? 0)
            }
        case .resize(let r):
            let plan = ResizePlan.make(inputWidth: source.width, inputHeight: source.height, width: r.width, height: r.height,
                                       fit: r.fit, allowEnlargement: r.allowsEnlargement)
            needed = max(Double(plan.scaledWidth) / Double(plan.region.width), Double(plan.scaledHeight) / Double(plan.region.height))
        default:
            return 1
        }
        return min(1, needed)
    }
}
