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
        let (image, mapping) = try ResizeStep.execute(plan, image: state.image, mapping: state.mapping, background: operation.background)
        state.replace(with: image, mapping: mapping)
    }

    static func execute(_ plan: ResizePlan, image: Image, mapping: SourceMapping, background: Colour) throws -> (Image, SourceMapping) {
        var out = try image.cropped(plan.region)
        var map = mapping.cropped(x: Double(plan.region.x), y: Double(plan.region.y))
        out = try out.resized(toWidth: plan.scaledWidth, height: plan.scaledHeight)
        map = map.scaled(x: Double(plan.scaledWidth) / Double(plan.region.width), y: Double(plan.scaledHeight) / Double(plan.region.height))
        if plan.canvasWidth != plan.scaledWidth || plan.canvasHeight != plan.scaledHeight {
            out = try out.embedded(x: plan.offsetX, y: plan.offsetY, width: plan.canvasWidth, height: plan.canvasHeight, colour: background)
            map = map.padded(left: Double(plan.offsetX), top: Double(plan.offsetY))
        }
        return (out, map)
    }
}
