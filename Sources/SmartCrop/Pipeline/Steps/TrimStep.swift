/// `trim`: remove a uniform border or background, then optionally add room around what is
/// left, pad it to a square and size it.
struct TrimStep: PipelineStep {
    var threshold: Int
    var padding: Double
    var padToSquare: Bool
    var padColor: Colour
    var targetSize: Int?
    /// When set (and no target size), the result is fitted inside exactly this size.
    var outputSize: (width: Int, height: Int)?
    var name: String { "trim" }

    init(_ op: TrimOperation) {
        threshold = op.threshold
        padding = op.padding
        padToSquare = op.padToSquare
        padColor = op.padColor
        targetSize = op.targetSize
    }

    init(_ settings: SmartCropSettings) {
        threshold = settings.threshold
        padding = settings.padding
        padToSquare = settings.padToSquare
        padColor = settings.padColor
        targetSize = settings.targetSize
        outputSize = settings.width != nil || settings.height != nil ? settings.outputSize : nil
    }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        let frame = state.frame(source: context.source.info)
        let image = state.image
        let found = try context.timed("analyse") { try CropPlanner.trimRect(image, threshold: threshold) }
        let whole = PixelRect(x: 0, y: 0, width: image.width, height: image.height)
        let kept = found ?? whole
        let inFrame = kept.asRect.scaled(x: 1 / frame.imageScaleX, y: 1 / frame.imageScaleY).pixelRect(within: frame.width, frame.height)
        state.record(FrameDecision(rect: inFrame, strategy: "trim", fallback: found == nil ? "nothing to trim" : nil, analysedFrames: [0]),
                     frame: frame)

        // Room around the subject comes from the image itself where it has any, then from padColor.
        // Decided on the first frame of an animation, and applied to every frame alike.
        let dx = Int((Double(kept.width) * padding / 100).rounded()), dy = Int((Double(kept.height) * padding / 100).rounded())
        let wanted = PixelRect(x: kept.x - dx, y: kept.y - dy, width: kept.width + 2 * dx, height: kept.height + 2 * dy)
        let available = wanted.asRect.intersection(whole.asRect)!.pixelRect(within: image.width, image.height)
        var map = state.mapping.cropped(x: Double(available.x), y: Double(available.y))
        var canvas = (width: wanted.width, height: wanted.height, x: available.x - wanted.x, y: available.y - wanted.y)
        if padToSquare {
            let side = max(canvas.width, canvas.height)
            canvas = (side, side, canvas.x + (side - canvas.width) / 2, canvas.y + (side - canvas.height) / 2)
        }
        let padded = canvas.width != available.width || canvas.height != available.height
        if padded { map = map.padded(left: Double(canvas.x), top: Double(canvas.y)) }
        var size: (width: Int, height: Int)?
        var plan: ResizePlan?
        if let targetSize {
            let scale = Double(targetSize) / Double(max(canvas.width, canvas.height))
            let w = max(1, Int((Double(canvas.width) * scale).rounded())), h = max(1, Int((Double(canvas.height) * scale).rounded()))
            map = map.scaled(x: Double(w) / Double(canvas.width), y: Double(h) / Double(canvas.height))
            size = (w, h)
        } else if let outputSize {
            plan = ResizePlan.make(inputWidth: canvas.width, inputHeight: canvas.height, width: outputSize.width, height: outputSize.height,
                                   fit: .contain, allowEnlargement: true)
            map = ResizeStep.mapping(map, through: plan!)
        }
        try state.transform(mapping: map) { animationFrame in
            var out = try animationFrame.cropped(available)
            if padded { out = try out.embedded(x: canvas.x, y: canvas.y, width: canvas.width, height: canvas.height, colour: padColor) }
            if let size { out = try out.resized(toWidth: size.width, height: size.height) }
            if let plan { out = try ResizeStep.resized(out, by: plan, background: padColor) }
            return out
        }
    }
}
