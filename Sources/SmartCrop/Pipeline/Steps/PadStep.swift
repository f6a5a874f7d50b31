/// `pad`: add a border of a colour.
struct PadStep: PipelineStep {
    let operation: PadOperation
    var name: String { "pad" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        let o = operation
        let image = try state.image.embedded(x: o.left, y: o.top, width: state.image.width + o.left + o.right,
                                             height: state.image.height + o.top + o.bottom, colour: o.colour)
        state.replace(with: image, mapping: state.mapping.padded(left: Double(o.left), top: Double(o.top)))
    }
}
