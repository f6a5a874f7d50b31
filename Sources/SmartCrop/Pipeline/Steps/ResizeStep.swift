/// `resize`: one of the five fits.
struct ResizeStep: PipelineStep {
    let operation: ResizeOperation
    var name: String { "resize" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        let plan = ResizePlan.make(inputWidth: state.image.width, inputHeight: state.image.height,
                                   width: operation.width, height: operation.height,
                                   fit: operation.fit, allowEnlargement: operation.allowsEnlargement)
        if operation.fit == .cover, operation.width != nil, operation.height != nil {
            let frame = state.frame(source: context.source.info)
            let region = plan.region.asRect.scaled(x: 1 / frame.imageScaleX, y: 1 / frame.imageScaleY)
            state.record(FrameDecision(rect: region.pixelRect(within: frame.width, frame.height), strategy: "center"), frame: frame)
        }
        try state.transform(mapping: ResizeStep.mapping(state.mapping, through: plan)) {
            try ResizeStep.resized($0, by: plan, background: operation.background)
        }
    }

    /// The plan's pixels: the region cut out, scaled, and placed on the canvas.
    static func resized(_ image: Image, by plan: ResizePlan, background: Colour) throws -> Image {
        let out = try image.cropped(plan.region).resized(toWidth: plan.scaledWidth, height: plan.scaledHeight)
        guard plan.canvasWidth != plan.scaledWidth || plan.canvasHeight != plan.scaledHeight else { return out }
        return try out.embedded(x: plan.offsetX, y: plan.offsetY, width: plan.canvasWidth, height: plan.canvasHeight, colour: background)
    }

    /// Where the pixels the plan makes come from, given where its input's came from.
    static func mapping(_ mapping: SourceMapping, through plan: ResizePlan) -> SourceMapping {
        var map = mapping.cropped(x: Double(plan.region.x), y: Double(plan.region.y))
        map = map.scaled(x: Double(plan.scaledWidth) / Double(plan.region.width), y: Double(plan.scaledHeight) / Double(plan.region.height))
        if plan.canvasWidth != plan.scaledWidth || plan.canvasHeight != plan.scaledHeight {
            map = map.padded(left: Double(plan.offsetX), top: Double(plan.offsetY))
        }
        return map
    }
}
