import CVips
import CVipsShim

/// `crop`: an explicit rectangle, or a window of exact pixel size placed by gravity.
struct CropStep: PipelineStep {
    let operation: CropOperation
    var name: String { "crop" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        let image = state.image
        let frame = state.frame(source: context.source.info)
        let bounds = PixelRect(x: 0, y: 0, width: frame.width, height: frame.height)
        let decision: FrameDecision
        if let rect = operation.rect {
            guard bounds.contains(rect) else {
                throw SmartCropError.invalidArgument(field: "rect", message: "rectangle \(rect) leaves the \(frame.width)x\(frame.height) image")
            }
            decision = FrameDecision(rect: rect, strategy: "rect")
        } else {
            let size = (width: min(operation.width!, frame.width), height: min(operation.height!, frame.height))
            switch operation.gravity {
            case .center, .focalPoint:
                let f = operation.gravity == .center ? Point(x: 0.5, y: 0.5) : (operation.focal ?? Point(x: 0.5, y: 0.5))
                let p = Point(x: f.x * Double(frame.width), y: f.y * Double(frame.height))
                decision = FrameDecision(rect: AspectFit.centred(on: p, size: size, imageWidth: frame.width, imageHeight: frame.height),
                                         strategy: operation.gravity == .center ? "center" : "focal", focalPoint: p)
            case .attention, .entropy:
                // Exact pixel windows: libvips looks at the working image itself, not a proxy.
                let inImage = (Int((Double(size.width) * frame.imageScaleX).rounded()), Int((Double(size.height) * frame.imageScaleY).rounded()))
                var left: Int32 = 0, top: Int32 = 0
                let interesting = operation.gravity == .attention ? VIPS_INTERESTING_ATTENTION : VIPS_INTERESTING_ENTROPY
                _ = try context.timed("analyse") {
                    try image.derive("smartcrop") { sc_smartcrop($0, $1, Int32(max(inImage.0, 1)), Int32(max(inImage.1, 1)), interesting, &left, &top) }
                }
                let origin = Point(x: Double(left) / frame.imageScaleX, y: Double(top) / frame.imageScaleY)
                let rect = Rect(x: origin.x, y: origin.y, width: Double(size.width), height: Double(size.height))
                decision = FrameDecision(rect: rect.pixelRect(within: frame.width, frame.height), strategy: operation.gravity.rawValue,
                                         focalPoint: Point(x: rect.midX, y: rect.midY))
            }
        }
        state.record(decision, frame: frame)
        try state.cut(decision.rect, frame: frame, to: nil, context: context)
    }
}
