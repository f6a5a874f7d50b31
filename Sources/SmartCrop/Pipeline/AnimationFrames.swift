/// An animation as a pipeline carries it: the frames after the first (the first is the
/// state's image) and the timing, which no operation changes.
struct AnimationFrames {
    var others: [Image]
    let timing: AnimationTiming

    init(_ decoded: DecodedAnimation) {
        others = Array(decoded.frames.dropFirst())
        timing = decoded.timing
    }

    /// Frames in all, the first included.
    var count: Int { others.count + 1 }

    mutating func transform(_ operation: (Image) throws -> Image) throws {
        others = try others.map(operation)
    }
}

extension Pipeline {
    /// Whether this pipeline's output of `source` is an animation: the source is one, no
    /// operation asks for a still (`animated: false`), and the output format can hold one.
    /// Anything else reads the first frame only, as a still.
    public func keepsAnimation(of source: SourceInfo) -> Bool {
        guard source.isAnimated else { return false }
        var format = source.format.defaultOutput(hasAlpha: source.hasAlpha)
        for operation in operations {
            switch operation {
            case .smartCrop(let settings) where !settings.animated:
                return false
            case .convert(let convert):
                guard convert.animated else { return false }
                format = convert.negotiatedAnimationFormat ?? convert.format
            default:
                break
            }
        }
        return format.canAnimate
    }
}
