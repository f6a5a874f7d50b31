import Inference

// The public surface of the module: image in, faces out. Everything else is internal so the
// runtime can change without breaking the pipeline that calls it.

/// A point in the analysed image's pixel coordinates (origin top-left, x to the right).
public struct Point2: Sendable, Hashable, Codable {
    public var x: Float
    public var y: Float

    public init(x: Float, y: Float) {
        self.x = x
        self.y = y
    }
}

/// One detected face, in the pixel coordinates of the image given to `detect`.
public struct Face: Sendable, Hashable, Codable {
    public var x: Float
    public var y: Float
    public var width: Float
    public var height: Float
    /// Detector confidence in 0...1 (YuNet: sqrt(cls·obj); MTCNN: O-Net face probability).
    public var score: Float
    /// Right eye, left eye, nose tip, right mouth corner, left mouth corner, named from the
    /// subject's point of view (so the "right eye" is usually on the image's left). Empty when
    /// the detector gives none.
    public var landmarks: [Point2]

    public init(x: Float, y: Float, width: Float, height: Float, score: Float, landmarks: [Point2] = []) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
        self.score = score
        self.landmarks = landmarks
    }
}

/// Interleaved 8-bit RGB pixels, row-major, no row padding: `pixels.count == width * height * 3`.
public struct RGBImage: Sendable {
    public let width: Int
    public let height: Int
    public let pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

public struct DetectionOptions: Sendable {
    /// Minimum score of a reported face; `nil` uses the detector's threshold for sensitivity 0.5
    /// (`scoreThreshold(forSensitivity: 0.5)`).
    public var scoreThreshold: Float?
    /// Faces whose larger side is below this many pixels of the analysed image are not reported.
    /// MTCNN also starts its image pyramid at this size, so smaller values cost time.
    public var minFaceSize: Float = 20
    /// Overlap above which the lower-scoring of two faces is dropped; `nil` uses the detector's
    /// own (YuNet: IoU 0.3 as OpenCV; MTCNN: the reference cascade's thresholds).
    public var nmsThreshold: Float?
    /// At most this many faces are returned (the highest-scoring ones).
    public var maxFaces: Int = 750
    /// Threads one detection may use. MTCNN spreads its pyramid's scales over them (the faces
    /// found do not change); YuNet is one network run and ignores it. Leave it at 1 where
    /// requests already run one per core (a server); a one-shot command can use every core.
    public var threads: Int = 1

    public init(scoreThreshold: Float? = nil, minFaceSize: Float = 20, nmsThreshold: Float? = nil, maxFaces: Int = 750,
                threads: Int = 1) {
        self.scoreThreshold = scoreThreshold
        self.minFaceSize = minFaceSize
        self.nmsThreshold = nmsThreshold
        self.maxFaces = maxFaces
        self.threads = threads
    }
}

/// A face detector. Implementations are immutable after loading and safe to call from many
/// threads at once.
public protocol FaceDetector: Sendable {
    /// "yunet" or "mtcnn".
    var name: String { get }
    /// Faces sorted by score, highest first, boxes clamped to the image.
    func detect(_ image: RGBImage, options: DetectionOptions) throws -> [Face]
    /// The score threshold that corresponds to a user-facing sensitivity in 0...1 (higher
    /// sensitivity finds more faces). Values outside 0...1 are clamped.
    func scoreThreshold(forSensitivity sensitivity: Float) -> Float
}

extension FaceDetector {
    public func detect(_ image: RGBImage) throws -> [Face] {
        try detect(image, options: DetectionOptions())
    }
}

public enum FaceDetectionError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The model bytes can't be used: `model` is the display name the caller gave, `remedy`
    /// says where the right file comes from.
    case invalidModel(model: String, reason: String, remedy: String)
    case invalidImage(reason: String)

    public var description: String {
        switch self {
        case let .invalidModel(model, reason, remedy):
            return "face model \(model) can't be used: \(reason). \(remedy)"
        case let .invalidImage(reason):
            return "image can't be analysed for faces: \(reason)"
        }
    }
}

extension FaceDetectionError {
    init(_ error: ModelError) {
        self = .invalidModel(model: error.model, reason: error.reason, remedy: error.remedy)
    }
}

/// Runs a runtime call that can refuse a model, reporting the refusal as this module's error.
func faceModel<T>(_ body: () throws(ModelError) -> T) throws(FaceDetectionError) -> T {
    do { return try body() } catch { throw FaceDetectionError(error) }
}

extension RGBImage {
    func validate() throws {
        guard width > 0, height > 0 else {
            throw FaceDetectionError.invalidImage(reason: "size \(width)x\(height) is empty")
        }
        guard pixels.count == width * height * 3 else {
            throw FaceDetectionError.invalidImage(
                reason: "\(pixels.count) bytes for \(width)x\(height) RGB, expected \(width * height * 3)")
        }
    }
}
