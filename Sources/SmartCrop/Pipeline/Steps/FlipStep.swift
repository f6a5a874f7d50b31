/// `flip`: mirror left-right (horizontal), top-bottom (vertical), or both.
struct FlipStep: PipelineStep {
    let horizontal: Bool
    let vertical: Bool
    var name: String { "flip" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        var mapping = state.mapping
        if horizontal { mapping = mapping.flipped(horizontal: true, extent: Double(state.image.width)) }
        if vertical { mapping = mapping.flipped(horizontal: false, extent: Double(state.image.height)) }
        try state.transform(mapping: mapping) { image in
            let mirrored = horizontal ? try image.flipped(horizontal: true) : image
            return vertical ? try mirrored.flipped(horizontal: false) : mirrored
        }
    }
}
