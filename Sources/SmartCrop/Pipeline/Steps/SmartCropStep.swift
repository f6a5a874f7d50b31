/// `smart_crop`: decide where the crop goes, then cut it at exactly the output size.
struct SmartCropStep: PipelineStep {
    let settings: SmartCropSettings
    var name: String { "smart_crop" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        if state.quality == nil { state.quality = settings.quality }
        guard settings.mode != .trim, let size = settings.outputSize else {
            return try TrimStep(settings).apply(to: &state, context: context)
        }
        let frame = state.frame(source: context.source.info)
        let image = state.image
        let frames = state.analysedFrames
        var picture: SubjectMap?
        var decision = try context.timed("analyse") {
            try decide(frame: frame, frames: frames, size: size, context: context, importance: &picture)
        }
        if decision.analysedFrames == nil, settings.mode == .auto || settings.mode == .face || settings.mode == .subject {
            decision.analysedFrames = frames.indices
        }
        if context.options.explain, state.explanation == nil, let picture {
            if !decision.faces.isEmpty {
                state.explanation = try CropPlanner.composition(of: image, map: picture.map, decision: decision, frame: frame)
            } else if picture.source == .model {
                state.explanation = try CropPlanner.heat(of: image, map: picture.map, crop: decision.rect, frame: frame)
            } else {
                state.explanation = try CropPlanner.picture(of: picture.map, crop: decision.rect, frame: frame)
            }
        }
        state.record(decision, frame: frame)
        try context.timed("crop") { try state.cut(decision.rect, frame: frame, to: size, context: context) }
    }

    private func decide(frame: CropFrame, frames: AnalysedFrames, size: (width: Int, height: Int), context: PipelineContext,
                        importance: inout SubjectMap?) throws -> FrameDecision {
        switch settings.mode {
        case .center:
            return CropPlanner.centre(frame, target: size)
        case .focal:
            return CropPlanner.focal(frame, target: size, point: settings.focal ?? Point(x: 0.5, y: 0.5))
        case .rect:
            return try rectDecision(frame: frame, size: size)
        case .auto, .face:
            var lookedFor = FrameDecision(rect: PixelRect(x: 0, y: 0, width: 0, height: 0), strategy: "")
            do {
                if let framed = try faces(frame: frame, frames: frames, size: size, context: context, found: &lookedFor,
                                          subject: &importance) {
                    return framed
                }
            } catch let error as SmartCropError {
                // Faces are a preference, not a requirement: a crop never fails for want of them.
                lookedFor.fallback = "face detection unavailable: \(error.message)"
            }
            var decision = try subject(frame: frame, frames: frames, size: size, context: context, importance: &importance)
            let none = lookedFor.leftOutFaces.isEmpty ? "no face found" : "no face trusted"
            decision.fallback = lookedFor.fallback ?? (decision.fallback.map { "\(none); \($0)" } ?? none)
            decision.faces = lookedFor.faces
            decision.detector = lookedFor.detector
            decision.leftOutFaces = lookedFor.leftOutFaces
            return decision
        case .subject, .trim:
            return try subject(frame: frame, frames: frames, size: size, context: context, importance: &importance)
        }
    }

    /// Frames the faces, or returns nil when there is none worth framing. `found` carries
    /// what the detector saw either way, for the record.
    private func faces(frame: CropFrame, frames: AnalysedFrames, size: (width: Int, height: Int), context: PipelineContext,
                       found: inout FrameDecision, subject map: inout SubjectMap?) throws -> FrameDecision? {
        var search = FaceSearch(sensitivity: settings.sensitivity)
        search.detector = .auto
        // Part of "analyse"; timed on its own so its share of the whole can be reported.
        let report = try context.timed("detect") {
            try FaceAnalysis.find(in: frames, frame: frame, models: try context.faceModels(), search: search,
                                  analysis: context.analysis, threads: context.options.analysisThreads, stop: context.options.stop)
        }
        found.faces = report.faces
        found.detector = report.detector
        let all = report.faces.map { face in
            let eyes = face.landmarks.count >= 2 ? (face.landmarks[0].y + face.landmarks[1].y) / 2 : nil
            return FaceFraming.Face(rect: face.rect, eyeY: eyes, score: face.score)
        }
        // `auto` weighs the evidence for each face and keeps the subject in view around the
        // faces it trusts; `face` mode and an explicit face choice mean what they say.
        let composing = settings.mode == .auto && settings.faces == .all
        var steering = Array(all.indices)
        if composing {
            found.leftOutFaces = try untrusted(all, report: report, frame: frame, frames: frames, search: search, context: context)
            let left = Set(found.leftOutFaces.map(\.face))
            steering.removeAll { left.contains($0) }
        }
        var request = FaceFraming.Request(
            frameWidth: frame.width, frameHeight: frame.height, targetWidth: size.width, targetHeight: size.height,
            faces: steering.map { all[$0] },
            policy: settings.faces,
            preset: settings.mode == .face ? (settings.facePreset ?? .headShoulders) : settings.facePreset,
            padding: settings.padding)
        var subjectSource: SubjectSource?
        if composing {
            // The subject model is most of the cost of a face photo; it runs only where its map
            // could move the crop. Variants share the analysis cache, so it runs once for all of
            // an upload's variants that need it, and not at all when none does. A map another
            // variant made costs nothing and is used, so sizes of one aspect keep one rectangle.
            if FaceFraming.subjectCanMove(request) || context.analysis.hasSubjectMap(of: frames) {
                let subjectMap = try context.timed("subject") {
                    try context.analysis.subjectMap(of: frames, models: try context.subjectModels(),
                                                    threads: context.options.analysisThreads, stop: context.options.stop)
                }
                map = subjectMap
                if !subjectMap.map.isFlat {
                    request.subject = subjectMap.map
                    subjectSource = subjectMap.source
                }
            } else {
                request.subjectSkipped = true
                subjectSource = .skipped
            }
        }
        guard let framed = FaceFraming.frame(request) else { return nil }
        if composing, let kept = FaceFraming.backgroundShare(of: framed, for: request) {
            // Small faces that cannot share the crop with the subject: the subject wins.
            let percent = Int((kept * 100).rounded())
            found.leftOutFaces += framed.focus.map {
                LeftOutFace(face: steering[$0], reason: "a small face away from the subject (a crop around it keeps \(percent) % of the subject)")
            }
            found.leftOutFaces.sort { $0.face < $1.face }
            return nil
        }
        return FrameDecision(rect: framed.rect, strategy: "face", focalPoint: framed.focalPoint, fallback: framed.note,
                             faces: report.faces, detector: report.detector, usedFaces: framed.focus.map { steering[$0] },
                             leftOutFaces: found.leftOutFaces, subjectSource: subjectSource)
    }

    /// The faces `auto` does not let steer: those the detector was unsure of (scored below what
    /// half the sensitivity asks) that a second look at another scale does not find again.
    /// Only faces that could steer are weighed (the significant ones, at most `facesWeighed`);
    /// when one is left out, the faces it overshadowed may become significant and are weighed
    /// in turn.
    private func untrusted(_ faces: [FaceFraming.Face], report: FaceReport, frame: CropFrame, frames: AnalysedFrames, search: FaceSearch,
                           context: PipelineContext) throws -> [LeftOutFace] {
        var left: [LeftOutFace] = []
        var looked = Set<Int>()
        // A face the detector scores as it would at half the sensitivity needs no second look.
        let sure = Double(try context.faceModels().detector(search.detector).scoreThreshold(forSensitivity: Float(search.sensitivity / 2)))
        while looked.count < Self.facesWeighed {
            let out = Set(left.map(\.face))
            let remaining = faces.indices.filter { !out.contains($0) }
            let significant = FaceFraming.significantFaces(remaining.map { faces[$0] }).map { remaining[$0] }
            guard let next = significant.first(where: { !looked.contains($0) }) else { break }
            looked.insert(next)
            if faces[next].score >= sure { continue }
            let seen = try context.timed("second look") {
                try FaceAnalysis.seenAgain(report.faces[next], in: frames.image(showing: report.faces[next]), frame: frame, report: report,
                                           models: try context.faceModels(), search: search, analysis: context.analysis)
            }
            if !seen { left.append(LeftOutFace(face: next, reason: "not found again on a second look at another scale")) }
        }
        return left.sorted { $0.face < $1.face }
    }

    /// Faces weighed per crop, largest first. It bounds the second looks a crowd can cost; past
    /// them the crowd's faces are taken on trust.
    static let facesWeighed = 6

    private func subject(frame: CropFrame, frames: AnalysedFrames, size: (width: Int, height: Int), context: PipelineContext,
                         importance: inout SubjectMap?) throws -> FrameDecision {
        let interesting: VipsInteresting
        switch settings.strategy ?? .subject {
        case .subject:
            // Part of "analyse", timed on its own as "detect" is (the map and its search).
            let (decision, map) = try context.timed("subject") {
                try CropPlanner.subject(frames: frames, frame: frame, target: size, analysis: context.analysis,
                                        models: try context.subjectModels(), threads: context.options.analysisThreads,
                                        stop: context.options.stop)
            }
            importance = map
            return decision
        case .entropy: interesting = VIPS_INTERESTING_ENTROPY
        case .attention: interesting = VIPS_INTERESTING_ATTENTION
        }
        // libvips' strategies look at one image: an animation's first frame.
        var decision = try CropPlanner.libvips(interesting, name: (settings.strategy ?? .attention).rawValue, image: frames.first, frame: frame,
                                               target: size, analysis: context.analysis)
        decision.analysedFrames = [0]
        return decision
    }

    /// An explicit rectangle; when its shape differs from the output's, the largest part of it
    /// with the output's aspect (centred) is used, so nothing is stretched.
    private func rectDecision(frame: CropFrame, size: (width: Int, height: Int)) throws -> FrameDecision {
        guard let rect = settings.rect else {
            throw SmartCropError.invalidArgument(field: "rect", message: "is required for mode rect")
        }
        guard PixelRect(x: 0, y: 0, width: frame.width, height: frame.height).contains(rect) else {
            throw SmartCropError.invalidArgument(field: "rect", message: "rectangle \(rect) leaves the \(frame.width)x\(frame.height) image")
        }
        let inner = AspectFit.largestCrop(width: rect.width, height: rect.height, targetWidth: size.width, targetHeight: size.height)
        let placed = AspectFit.centred(on: Point(x: Double(rect.width) / 2, y: Double(rect.height) / 2), size: inner,
                                       imageWidth: rect.width, imageHeight: rect.height)
        return FrameDecision(rect: PixelRect(x: rect.x + placed.x, y: rect.y + placed.y, width: placed.width, height: placed.height),
                             strategy: "rect")
    }
}

import CVips
import Saliency
