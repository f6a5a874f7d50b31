/// `sharpen`: unsharp masking on lightness, so colours don't fringe.
struct SharpenStep: PipelineStep {
    let sigma: Double
    var name: String { "sharpen" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        try state.replace(byNeighbourhood: { try $0.sharpened(sigma: sigma) })
    }
}

/// `blur`: Gaussian blur.
struct BlurStep: PipelineStep {
    let sigma: Double
    var name: String { "blur" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        try state.replace(byNeighbourhood: { try $0.blurred(sigma: sigma) })
    }
}
