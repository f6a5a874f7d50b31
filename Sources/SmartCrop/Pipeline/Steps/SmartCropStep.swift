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
        let decision = try context.timed("analyse") { try decide(frame: frame, image: image, size: size, context: context) }
        state.record(decision, frame: frame)
        try context.timed("crop") { try state.cut(decision.rect, frame: frame, to: size, context: context) }
    }

    private func decide(frame: CropFrame, image: Image, size: (width: Int, height: Int), context: PipelineContext) throws -> FrameDecision {
        switch settings.mode {
        case .center:
            return CropPlanner.centre(frame, target: size)
        case .focal:
            return CropPlanner.focal(frame, target: size, point: settings.focal ?? Point(x: 0.5, y: 0.5))
        case .rect:
            return try rectDecision(frame: frame, size: size)
        case .auto, .face, .subject, .trim:
            return try subject(frame: frame, image: image, size: size, context: context)
        }
    }

    private func subject(frame: CropFrame, image: Image, size: (width: Int, height: Int), context: PipelineContext) throws -> FrameDecision {
        switch settings.strategy ?? .attention {
        case .entropy:
            return try CropPlanner.libvips(VIPS_INTERESTING_ENTROPY, name: "entropy", image: image, frame: frame, target: size, analysis: context.analysis)
        case .attention, .subject:
            return try CropPlanner.libvips(VIPS_INTERESTING_ATTENTION, name: "attention", image: image, frame: frame, target: size, analysis: context.analysis)
        }
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
