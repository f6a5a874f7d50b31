/// `flip`: mirror left-right (horizontal), top-bottom (vertical), or both.
struct FlipStep: PipelineStep {
    let horizontal: Bool
    let vertical: Bool
    var name: String { "flip" }

    func apply(to state: inout PipelineState, context: PipelineContext) throws {
        var image = state.image, mapping = state.mapping
        if horizontal {
            mapping = mapping.flipped(horizontal: true, extent: Double(image.width))
            image = try image.flipped(horizontal: true)
        }
        if vertical {
            mapping = mapping.flipped(horizontal: false, extent: Double(image.height))
            image = try image.flipped(horizontal: false)
        }
        state.replace(with: image, mapping: mapping)
    }
}
