/// `pad`: add a border of a colour.
struct PadStep: PipelineStep {
    let operation: PadOperation
    var name: String { "pad" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        let o = operation
        let width = state.image.width + o.left + o.right, height = state.image.height + o.top + o.bottom
        try state.transform(mapping: state.mapping.padded(left: Double(o.left), top: Double(o.top))) {
            try $0.embedded(x: o.left, y: o.top, width: width, height: height, colour: o.colour)
        }
    }
}
