/// `rotate`: clockwise quarter turns.
struct RotateStep: PipelineStep {
    let quarterTurns: Int
    var name: String { "rotate" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        let mapping = state.mapping.rotated(quarterTurns: quarterTurns, width: Double(state.image.width), height: Double(state.image.height))
        try state.transform(mapping: mapping) { try $0.rotated(quarterTurns) }
    }
}
