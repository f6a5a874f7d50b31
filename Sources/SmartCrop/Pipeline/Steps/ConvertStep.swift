/// `convert`: choose the output format and quality; the runner encodes once, at the end.
struct ConvertStep: PipelineStep {
    let operation: ConvertOperation
    var name: String { "convert" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        state.format = operation.format
        state.quality = operation.quality ?? state.quality
        state.background = operation.background
        state.keepICC = operation.keepICC
        state.keepMetadata = operation.keepMetadata
    }
}
