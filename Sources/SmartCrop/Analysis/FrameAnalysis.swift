import Saliency

/// The images one crop decision looks at: a still's image, or a few frames of an animation
/// (the first among them), all of one size.
struct AnalysedFrames {
    let images: [Image]
    /// Each image's position in the animation.
    let indices: [Int]
    /// Whether these are frames of an animation, so faces say which frame they were found in.
    let animated: Bool

    static func still(_ image: Image) -> AnalysedFrames {
        AnalysedFrames(images: [image], indices: [0], animated: false)
    }

    /// The first frame: what pictures of the decision are drawn on, and what the strategies
    /// that look at one image (libvips attention and entropy, trim) look at.
    var first: Image { images[0] }

    /// The frame a face was found in.
    func image(showing face: DetectedFace) -> Image {
        images[indices.firstIndex(of: face.frame ?? 0) ?? 0]
    }

    /// Which frames of an animation of `count` frames are analysed: the first and the last and
    /// evenly spaced ones between, `maxAnalysed` in all. A subject that moves along a path is
    /// then seen at both ends of it, and a crop that holds both ends holds a straight path
    /// whole. Each frame costs a face search and a subject map, so the cap keeps an animation's
    /// analysis to a few times a still's however long it runs.
    static func indices(count: Int) -> [Int] {
        guard count > maxAnalysed else { return Array(0..<count) }
        return (0..<maxAnalysed).map { ($0 * (count - 1) + (maxAnalysed - 1) / 2) / (maxAnalysed - 1) }
    }

    static let maxAnalysed = 4
}

extension FaceAnalysis {
    /// Faces in every analysed frame, each tagged with its frame (for an animation). A face
    /// found in several frames is listed once per frame: a crop that holds each of those boxes
    /// holds the face wherever it went.
    static func find(in frames: AnalysedFrames, frame: CropFrame, models: FaceModels, search: FaceSearch,
                     analysis: AnalysisCache, threads: Int, stop: StopSignal?) throws -> FaceReport {
        var merged: FaceReport?
        for (image, index) in zip(frames.images, frames.indices) {
            try stop?.check(before: "looking for faces in frame \(index)")
            var report = try find(in: image, frame: frame, models: models, search: search, analysis: analysis, threads: threads)
            if frames.animated {
                report.faces = report.faces.map { face in
                    var tagged = face
                    tagged.frame = index
                    return tagged
                }
            }
            if merged == nil { merged = report } else { merged!.faces += report.faces }
        }
        return merged!
    }
}

extension AnalysisCache {
    /// Whether every analysed frame's subject map is already made (by another variant).
    func hasSubjectMap(of frames: AnalysedFrames) -> Bool {
        frames.images.allSatisfy(hasSubjectMap(of:))
    }

    /// One subject map for all the analysed frames: the per-cell maximum of the frames' maps.
    ///
    /// The maximum, not the mean: the crop must hold the subject wherever it is in any frame.
    /// A subject that moves is in each place in one frame only, so the mean would weigh each of
    /// its places at 1/n of a still background feature that is there in every frame, and the
    /// crop would follow the feature and cut the subject. The maximum keeps every place the
    /// subject reaches at its full weight, and the window search then looks for the crop that
    /// holds the most of its path. A map the model made and one the heuristic made are not on
    /// one scale, so when the model marked something in any frame, only its masks are combined.
    func subjectMap(of frames: AnalysedFrames, models: SubjectModels, threads: Int, stop: StopSignal?) throws -> SubjectMap {
        var maps: [SubjectMap] = []
        for (image, index) in zip(frames.images, frames.indices) {
            try stop?.check(before: "the subject map of frame \(index)")
            maps.append(try subjectMap(of: image, models: models, threads: threads))
        }
        if maps.count == 1 { return maps[0] }
        let source: SubjectSource = maps.contains { $0.source == .model } ? .model : .heuristic
        let combined = maps.filter { $0.source == source && !$0.map.isFlat && $0.map.width == maps[0].map.width
            && $0.map.height == maps[0].map.height }.map(\.map)
        guard var values = combined.first?.values else { return maps[0] }
        for map in combined.dropFirst() {
            for i in values.indices { values[i] = max(values[i], map.values[i]) }
        }
        let frame = ImportanceMap.Insets(top: combined.map(\.frame.top).min()!, bottom: combined.map(\.frame.bottom).min()!,
                                         left: combined.map(\.frame.left).min()!, right: combined.map(\.frame.right).min()!)
        let map = ImportanceMap(width: combined[0].width, height: combined[0].height, values: values, isFlat: false,
                                contrast: combined.map(\.contrast).max()!, frame: frame)
        return SubjectMap(map: map, source: source)
    }
}
