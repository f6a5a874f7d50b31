/// `sharpen`: unsharp masking on lightness, so colours don't fringe.
struct SharpenStep: PipelineStep {
    let sigma: Double
    var name: String { "sharpen" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        state.replace(with: try state.image.sharpened(sigma: sigma), mapping: state.mapping)
    }
}

/// `blur`: Gaussian blur.
struct BlurStep: PipelineStep {
    let sigma: Double
    var name: String { "blur" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        state.replace(with: try state.image.blurred(sigma: sigma), mapping: state.mapping)
    }
}
