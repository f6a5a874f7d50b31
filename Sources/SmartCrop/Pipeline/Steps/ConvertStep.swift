/// `convert`: choose the output format and quality; the runner encodes once, at the end.
struct ConvertStep: PipelineStep {
    let operation: ConvertOperation
    var name: String { "convert" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        // An animation that stays one takes the animated choice of `format: auto`.
        state.format = state.animation == nil ? operation.format : operation.negotiatedAnimationFormat ?? operation.format
        state.quality = operation.quality ?? state.quality
        state.background = operation.background
        state.keepICC = operation.keepICC
        state.keepMetadata = operation.keepMetadata
    }
}
