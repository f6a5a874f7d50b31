#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Saliency
import Synchronization

/// What a crop decided, in the pixels of the oriented source image.
public struct CropDecision: Codable, Sendable, Equatable {
    /// The region of the source that the output shows.
    public var crop: PixelRect
    /// What placed the crop: face, subject, attention, entropy, center, focal, trim or rect.
    public var strategy: String
    /// The point the crop was built around, when there is one.
    public var focalPoint: Point?
    /// Why a preferred strategy was not used (e.g. "no face found", "flat image").
    public var fallback: String?
    /// Every face the detector reported (source pixels), whether or not it shaped the crop.
    public var faces: [DetectedFace]
    /// The detector that looked, when faces were looked for.
    public var detector: String?
    /// Indices into `faces` of the faces the crop was built around.
    public var usedFaces: [Int] = []
    /// Faces that were found but not trusted to steer the crop, each with the reason.
    public var leftOutFaces: [LeftOutFace] = []
    /// Where the subject map the crop looked at came from (the U-2-Netp model or the heuristic
    /// map), when it looked at one.
    public var subjectSource: SubjectSource?
    /// For an animation that stays one: how many frames the crop was applied to (all of them).
    public var frames: Int?
    /// For an animation: the frames the decision looked at (faces and the subject), when it
    /// looked at any.
    public var analysedFrames: [Int]?

    public init(crop: PixelRect, strategy: String, focalPoint: Point? = nil, fallback: String? = nil,
                faces: [DetectedFace] = [], detector: String? = nil) {
        self.crop = crop
        self.strategy = strategy
        self.focalPoint = focalPoint
        self.fallback = fallback
        self.faces = faces
        self.detector = detector
    }
}

/// A face the detector reported that `auto` did not let steer the crop, and why.
public struct LeftOutFace: Codable, Sendable, Equatable {
    /// Index into the decision's `faces`.
    public var face: Int
    public var reason: String

    public init(face: Int, reason: String) {
        self.face = face
        self.reason = reason
    }
}

/// Analysis sizes. Analysis always runs on a proxy of a fixed size, never on the output, so
/// the same photo gives the same crop whatever output size is asked for.
public enum AnalysisSize {
    /// Longest side of the proxy the subject, attention and entropy strategies look at.
    public static let subjectProxy = 256
    /// Longest side of the proxy the face detector looks at.
    public static let faceProxy = 640
    /// The least longest side an animation's frames are decoded at when they are analysed.
    /// Every frame is decoded at one size, and libvips' WebP decode costs with the size it
    /// makes: a 100-frame 480-px animation takes 0.68 s whole, 0.52 s at 256 px and 0.36 s at
    /// 128 px, which is what its 128-px output needs anyway. The first frame is still searched
    /// for faces on the face proxy (the view `detect` decodes); the other analysed frames are
    /// searched at this size, where a face of a sixth of the frame is still 20 px, and the
    /// subject maps (built on a 128-cell grid) lose nothing.
    public static let animationFrame = 128
}

/// Per-request cache of analysis proxies and results, so variants of one upload share them.
final class AnalysisCache: @unchecked Sendable {
    private struct FaceKey: Hashable {
        let image: ObjectIdentifier
        let search: FaceSearch
    }

    private struct State {
        var proxies: [ProxyKey: Image] = [:]
        var faces: [FaceKey: FaceReport] = [:]
        var importance: [ObjectIdentifier: SubjectMap] = [:]
        var keepAlive: [Image] = []
    }
    private let state = Mutex(State())

    private struct ProxyKey: Hashable {
        let image: ObjectIdentifier
        let longestSide: Int
    }

    /// Faces in `image` for `search`, detected once per request however many variants ask.
    func faces(of image: Image, search: FaceSearch, detect: () throws -> FaceReport) throws -> FaceReport {
        let key = FaceKey(image: ObjectIdentifier(image), search: search)
        if let cached = state.withLock({ $0.faces[key] }) { return cached }
        let report = try detect()
        state.withLock {
            $0.faces[key] = report
            $0.keepAlive.append(image)
        }
        return report
    }

    func hasSubjectMap(of image: Image) -> Bool {
        state.withLock { $0.importance[ObjectIdentifier(image)] != nil }
    }

    /// The subject map of `image`, made once per request: U-2-Netp's mask when there is a model
    /// and it marks something, else the heuristic importance map.
    func subjectMap(of image: Image, models: SubjectModels, threads: Int = 1) throws -> SubjectMap {
        let key = ObjectIdentifier(image)
        if let cached = state.withLock({ $0.importance[key] }) { return cached }
        var subject: SubjectMap?
        if let model = try models.model() {
            // Stretched to the square input: the network was trained on squares, and stretching
            // measured better than letterboxing.
            let square = try stretched(image, side: model.inputSize)
            do {
                let map = try model.importanceMap(squareRGB: try square.rgbBytes(), imageWidth: image.width, imageHeight: image.height,
                                                  threads: threads)
                if !map.isFlat { subject = SubjectMap(map: map, source: .model) }
            } catch let error as SubjectModelError {
                throw SmartCropError.invalidArgument(field: "subject_model", message: error.description)
            }
        }
        if subject == nil {
            let proxy = try self.proxy(of: image, longestSide: AnalysisSize.subjectProxy)
            subject = SubjectMap(map: ImportanceMapBuilder.build(rgb: try proxy.rgbBytes(), width: proxy.width, height: proxy.height),
                                 source: .heuristic)
        }
        state.withLock {
            $0.importance[key] = subject
            $0.keepAlive.append(image)
        }
        return subject!
    }

    /// `image` resized to `side × side` whatever its aspect, from the smallest cached proxy
    /// that is at least that large on both sides (else from the image).
    private func stretched(_ image: Image, side: Int) throws -> Image {
        try (smallestProxy(of: image, atLeast: side, side) ?? image).resized(toWidth: side, height: side).materialised()
    }

    /// The smallest cached proxy of `image` at least `width × height`, if there is one: a cheaper
    /// start for a smaller view than the decoded image, which may be many times its size.
    private func smallestProxy(of image: Image, atLeast width: Int, _ height: Int) -> Image? {
        state.withLock { state in
            state.proxies.filter { $0.key.image == ObjectIdentifier(image) && $0.value.width >= width && $0.value.height >= height }
                .min { $0.value.width < $1.value.width }?.value
        }
    }

    /// `image` shrunk so its longest side is at most `longestSide` (never enlarged), in memory.
    func proxy(of image: Image, longestSide: Int) throws -> Image {
        let key = ProxyKey(image: ObjectIdentifier(image), longestSide: longestSide)
        if let cached = state.withLock({ $0.proxies[key] }) { return cached }
        let size = Self.proxySize(of: image, longestSide: longestSide)
        // A larger proxy of the same image (the face detector's) is the cheaper start.
        let proxy = try Self.shrunk(smallestProxy(of: image, atLeast: size.width, size.height) ?? image, to: size)
        adopt(proxy, asProxyOf: image, longestSide: longestSide)
        return proxy
    }

    /// Makes `proxy` the proxy of `image` at `longestSide`, for a view of the same pixels made
    /// another way (see `FaceAnalysis.adoptDetectView`).
    func adopt(_ proxy: Image, asProxyOf image: Image, longestSide: Int) {
        state.withLock {
            $0.proxies[ProxyKey(image: ObjectIdentifier(image), longestSide: longestSide)] = proxy
            $0.keepAlive.append(image)  // the key's identity must not be reused while cached
        }
    }

    /// `image` shrunk so its longest side is at most `longestSide` (never enlarged), in memory.
    static func shrunk(_ image: Image, longestSide: Int) throws -> Image {
        try shrunk(image, to: proxySize(of: image, longestSide: longestSide))
    }

    private static func proxySize(of image: Image, longestSide: Int) -> (width: Int, height: Int) {
        let scale = min(1, Double(longestSide) / Double(max(image.width, image.height)))
        return (max(1, Int((Double(image.width) * scale).rounded())), max(1, Int((Double(image.height) * scale).rounded())))
    }

    private static func shrunk(_ start: Image, to size: (width: Int, height: Int)) throws -> Image {
        try start.resized(toWidth: size.width, height: size.height).materialised()
    }
}
