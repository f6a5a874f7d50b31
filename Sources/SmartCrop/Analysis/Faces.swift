import CEmbeddedModels
import FaceDetection
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Which face detector to use. `auto` is YuNet when its model file is configured, else MTCNN.
public enum DetectorChoice: String, Codable, Sendable, CaseIterable {
    case auto, yunet, mtcnn
}

/// A face in the pixels of the oriented source image.
public struct DetectedFace: Codable, Sendable, Hashable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double
    public var score: Double
    /// Right eye, left eye, nose tip, right and left mouth corners (the subject's right and
    /// left); empty when the detector gives none.
    public var landmarks: [Point]
    /// The frame of an animation the face was found in; nil for a still.
    public var frame: Int?

    public init(x: Double, y: Double, width: Double, height: Double, score: Double, landmarks: [Point] = [], frame: Int? = nil) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
        self.score = score
        self.landmarks = landmarks
        self.frame = frame
    }

    public var rect: Rect { Rect(x: x, y: y, width: width, height: height) }
    /// Linear size, as the evaluation tools measure it.
    public var size: Double { (max(width, 0) * max(height, 0)).squareRoot() }
}

/// A face as the CLI and the HTTP API print it: box and landmarks to 0.1 px, score to 0.001,
/// landmarks as [x, y] pairs. One shape for both front-ends.
public struct FaceJSON: Encodable, Sendable {
    public let x, y, width, height, score: Double
    public let landmarks: [[Double]]
    /// The animation frame the face was found in (absent for a still).
    public let frame: Int?

    public init(_ face: DetectedFace) {
        func r(_ v: Double) -> Double { (v * 10).rounded() / 10 }
        x = r(face.x); y = r(face.y); width = r(face.width); height = r(face.height)
        score = (face.score * 1000).rounded() / 1000
        landmarks = face.landmarks.map { [r($0.x), r($0.y)] }
        frame = face.frame
    }
}

/// How to look for faces.
public struct FaceSearch: Sendable, Hashable {
    public var detector: DetectorChoice = .auto
    /// 0-1; maps linearly onto the detector's score threshold (see `FaceModels`).
    public var sensitivity: Double = 0.5
    /// Smallest face to report, in source pixels; nil means 20 pixels of the analysis proxy.
    public var minFaceSize: Double?
    /// Longest side of the proxy the detector runs on.
    public var proxySide: Int = AnalysisSize.faceProxy

    public init(detector: DetectorChoice = .auto, sensitivity: Double = 0.5, minFaceSize: Double? = nil) {
        self.detector = detector
        self.sensitivity = sensitivity
        self.minFaceSize = minFaceSize
    }
}

/// What a face search found, in source pixels.
public struct FaceReport: Sendable, Codable, Equatable {
    public var detector: String
    public var faces: [DetectedFace]
    /// The score threshold the sensitivity mapped to.
    public var threshold: Double
    public var proxyWidth: Int
    public var proxyHeight: Int
}

/// The face models of a process: YuNet from a file when one is configured or installed, and
/// MTCNN, whose weights are embedded in the binary at build time (so there is nothing to
/// download or find at run time). Loaded models are immutable and shared by every request.
public final class FaceModels: Sendable {
    /// The YuNet file in use, and how it was chosen; nil when MTCNN runs alone.
    public let location: ModelLocation?
    public var yunetPath: String? { yunet == nil ? nil : location?.path }
    /// What was got past while choosing the model: a file found by default that is not a known
    /// YuNet file (MTCNN runs instead). For the start-up log, or stderr.
    public let notes: [String]
    private let yunet: YuNetDetector?
    private let mtcnn = Mutex<MTCNNDetector?>(nil)

    /// The environment variable naming the YuNet model file ("none": MTCNN alone).
    public static let modelEnvironmentKey = "SMARTCROP_FACE_MODEL"

    /// - Parameters:
    ///   - yunetModel: path of face_detection_yunet_2023mar.onnx ("none": no YuNet), or nil to
    ///     read `SMARTCROP_FACE_MODEL`, and then to look in the model folders (`ModelSearch`).
    ///   - givenBy: how the caller names the option, for messages ("--face-model").
    public init(yunetModel: String? = nil, givenBy: String = "face_model", search: ModelSearch = ModelSearch()) throws {
        let location = search.locate(.face, given: yunetModel.map { ($0, givenBy) }, environmentKey: Self.modelEnvironmentKey)
        self.location = location
        guard let location else {
            yunet = nil
            notes = []
            return
        }
        let bytes: [UInt8]
        do {
            bytes = try location.verifiedBytes()
        } catch let mismatch as ModelMismatch {
            yunet = nil
            notes = [mismatch.description]
            return
        } catch {
            throw SmartCropError.io("cannot read the face model \(location.path) (\(location.origin)). \(FaceModels.yunetRemedy)")
        }
        do {
            yunet = try YuNetDetector(model: bytes, name: location.path)
        } catch let error as FaceDetectionError {
            throw SmartCropError.invalidArgument(field: "face_model", message: error.description)
        }
        notes = []
    }

    static let yunetRemedy = "Run `smartcrop models fetch`, or download face_detection_yunet_2023mar.onnx (232,589 bytes) from the OpenCV Zoo and pass it with --face-model or SMARTCROP_FACE_MODEL."

    public var hasYuNet: Bool { yunet != nil }

    /// What the face network's convolutions run in: YuNet's precision, or float32 for the
    /// embedded MTCNN (it has no calibration table).
    public var precision: String { yunet?.precision ?? "float32" }

    private static let fromEnvironment: Result<FaceModels, SmartCropError> = {
        do { return .success(try FaceModels()) } catch let error as SmartCropError { return .failure(error) } catch {
            return .failure(.io("cannot load the face model: \(error)"))
        }
    }()

    /// The models `SMARTCROP_FACE_MODEL` names, or those installed (MTCNN alone without one),
    /// loaded once per process.
    public static func environmentDefault() throws -> FaceModels { try fromEnvironment.get() }

    /// The detector for a choice; `auto` prefers YuNet.
    public func detector(_ choice: DetectorChoice) throws -> any FaceDetector {
        switch choice {
        case .yunet:
            guard let yunet else {
                throw SmartCropError.invalidArgument(field: "detector", message: "YuNet needs its model file. \(FaceModels.yunetRemedy)")
            }
            return yunet
        case .auto where yunet != nil:
            return yunet!
        case .auto, .mtcnn:
            return try embeddedMTCNN()
        }
    }

    private func embeddedMTCNN() throws -> MTCNNDetector {
        try mtcnn.withLock { cached in
            if let cached { return cached }
            func bytes(_ network: sc_mtcnn_network) throws -> [UInt8] {
                var size = 0
                let pointer = sc_mtcnn_model(network, &size)
                guard size > 0, let pointer else {
                    throw SmartCropError.processing(operation: "face detection",
                        message: "this binary was built without the MTCNN weights; run `make models` and rebuild")
                }
                return Array(UnsafeBufferPointer(start: pointer, count: size))
            }
            let detector = try MTCNNDetector(pnet: try bytes(SC_MTCNN_PNET), rnet: try bytes(SC_MTCNN_RNET),
                                             onet: try bytes(SC_MTCNN_ONET), name: "embedded MTCNN")
            cached = detector
            return detector
        }
    }
}

enum FaceAnalysis {
    /// Finds faces in `image` (the working image) on its analysis proxy, and returns them in
    /// the pixels of `frame`.
    static func find(in image: Image, frame: CropFrame, models: FaceModels, search: FaceSearch,
                     analysis: AnalysisCache, threads: Int = 1) throws -> FaceReport {
        try analysis.faces(of: image, search: search) {
            let proxy = try analysis.proxy(of: image, longestSide: search.proxySide)
            let detector = try models.detector(search.detector)
            let threshold = detector.scoreThreshold(forSensitivity: Float(search.sensitivity))
            // Proxy pixels per frame pixel.
            let sx = Double(proxy.width) / Double(frame.width), sy = Double(proxy.height) / Double(frame.height)
            var options = DetectionOptions(scoreThreshold: threshold, threads: threads)
            if let minimum = search.minFaceSize {
                options.minFaceSize = Float(max(minimum * max(sx, sy), 8))
            }
            let rgb = RGBImage(width: proxy.width, height: proxy.height, pixels: try proxy.rgbBytes())
            let found: [Face]
            do {
                found = try detector.detect(rgb, options: options)
            } catch let error as FaceDetectionError {
                throw SmartCropError.processing(operation: "face detection", message: error.description)
            }
            let faces = found.map { face in
                DetectedFace(x: Double(face.x) / sx, y: Double(face.y) / sy, width: Double(face.width) / sx,
                             height: Double(face.height) / sy, score: Double(face.score),
                             landmarks: face.landmarks.map { Point(x: Double($0.x) / sx, y: Double($0.y) / sy) })
            }
            return FaceReport(detector: detector.name, faces: faces, threshold: Double(threshold),
                              proxyWidth: proxy.width, proxyHeight: proxy.height)
        }
    }
}

extension FaceAnalysis {
    /// The scale `detect` decodes a source at: its face proxy's, where the loader can shrink.
    static func viewScale(of info: SourceInfo, proxySide: Int) -> Double {
        min(1, Double(proxySide) / Double(max(info.width, info.height)))
    }

    /// For a crop whose output needs more of the source than the face proxy (a 1200×630 card
    /// of a 2000-px photo): makes `decoded`'s face proxy the view `detect` decodes, instead of
    /// a resize of `decoded`. The two differ slightly by resampling path, which is enough to move
    /// a face across the score threshold, and the same image must give the same faces whatever
    /// the output size and whether `detect` or `crop` asks.
    static func adoptDetectView(of source: OpenedSource, decoded: Image, analysis: AnalysisCache,
                                proxySide: Int = AnalysisSize.faceProxy, stop: StopSignal?) throws {
        let view = try source.decode(scale: viewScale(of: source.info, proxySide: proxySide), from: decoded, stop: stop)
        guard view !== decoded else { return }
        analysis.adopt(try AnalysisCache.shrunk(view, longestSide: proxySide), asProxyOf: decoded, longestSide: proxySide)
    }

    /// A second look at a face: the same detector on a crop around it (three face sizes
    /// across), at a different scale than the proxy showed it. A real face is found again;
    /// texture that looked like one at one scale (a shelf, an animal's markings) mostly is not.
    /// The look is cut from the face proxy, not from the working image, whose size follows the
    /// output: the same photo must trust the same faces at every output size.
    /// `face` is in frame pixels; true when a detection there overlaps it (IoU ≥ 0.3).
    static func seenAgain(_ face: DetectedFace, in image: Image, frame: CropFrame, report: FaceReport, models: FaceModels,
                          search: FaceSearch, analysis: AnalysisCache) throws -> Bool {
        let size = face.size
        guard size > 0 else { return false }
        let proxy = try analysis.proxy(of: image, longestSide: search.proxySide)
        // Proxy pixels per frame pixel.
        let px = Double(proxy.width) / Double(frame.width), py = Double(proxy.height) / Double(frame.height)
        let firstLook = size * px
        // Half again as large for a small face (a blurrier view than that loses real faces
        // too), a little over half the size for a large one.
        let target = firstLook < 64 ? firstLook * 1.5 : max(firstLook * 0.6, 40)
        let around = face.rect.insetBy(dx: -size, dy: -size)
        let inProxy = around.scaled(x: px, y: py).pixelRect(within: proxy.width, proxy.height)
        guard inProxy.width >= 8, inProxy.height >= 8 else { return false }
        let scale = target / firstLook
        let w = max(24, Int((Double(inProxy.width) * scale).rounded())), h = max(24, Int((Double(inProxy.height) * scale).rounded()))
        let view = try proxy.cropped(inProxy).resized(toWidth: w, height: h)
        let detector = try models.detector(search.detector)
        let options = DetectionOptions(scoreThreshold: Float(report.threshold), threads: 1)
        let found: [Face]
        do {
            found = try detector.detect(RGBImage(width: w, height: h, pixels: try view.rgbBytes()), options: options)
        } catch let error as FaceDetectionError {
            throw SmartCropError.processing(operation: "face detection", message: error.description)
        }
        // Where the face is expected in the view.
        let sx = Double(w) / Double(inProxy.width) * px, sy = Double(h) / Double(inProxy.height) * py
        let ox = Double(inProxy.x) / px, oy = Double(inProxy.y) / py
        let expected = Rect(x: (face.x - ox) * sx, y: (face.y - oy) * sy, width: face.width * sx, height: face.height * sy)
        return found.contains { other in
            let r = Rect(x: Double(other.x), y: Double(other.y), width: Double(other.width), height: Double(other.height))
            guard let overlap = r.intersection(expected) else { return false }
            return overlap.area / (r.area + expected.area - overlap.area) >= 0.3
        }
    }
}

/// Face detection on its own: the `detect` command and endpoint.
public enum FaceFinder {
    /// Decodes only the analysis proxy (shrink-on-load) and reports faces in source pixels.
    public static func detect(_ source: OpenedSource, models: FaceModels, search: FaceSearch = FaceSearch(),
                              threads: Int = 1, stop: StopSignal? = nil) throws -> FaceReport {
        try detectShowing(source, models: models, search: search, threads: threads, stop: stop).report
    }

    /// As `detect`, also returning the decoded analysis image (for drawing on).
    public static func detectShowing(_ source: OpenedSource, models: FaceModels, search: FaceSearch = FaceSearch(),
                                     threads: Int = 1, stop: StopSignal? = nil) throws -> (report: FaceReport, image: Image) {
        let info = source.info
        let image = try source.decode(scale: FaceAnalysis.viewScale(of: info, proxySide: search.proxySide), stop: stop)
        let frame = CropFrame(width: info.width, height: info.height,
                              imageScaleX: Double(image.width) / Double(info.width),
                              imageScaleY: Double(image.height) / Double(info.height), toSource: .identity)
        return (try FaceAnalysis.find(in: image, frame: frame, models: models, search: search, analysis: AnalysisCache(),
                                    threads: threads), image)
    }
}

extension Image {
    /// The image with face boxes (green; grey for the faces in `leftOut`, which did not steer
    /// the crop), landmarks (red) and optionally a crop (yellow) drawn on it; all coordinates in
    /// source pixels of a source `sourceWidth` wide.
    public func annotated(faces: [DetectedFace], crop: PixelRect? = nil, sourceWidth: Int, sourceHeight: Int,
                          leftOut: Set<Int> = []) throws -> Image {
        let sx = Double(width) / Double(sourceWidth), sy = Double(height) / Double(sourceHeight)
        let line = max(1, min(width, height) / 200)
        var shapes: [DrawnRect] = []
        if let crop {
            shapes.append(DrawnRect(rect: crop.asRect.scaled(x: sx, y: sy).pixelRect(within: width, height),
                                    colour: Colour(red: 255, green: 210, blue: 0), thickness: line * 2))
        }
        for (index, face) in faces.enumerated() {
            let colour = leftOut.contains(index) ? Colour(red: 150, green: 150, blue: 150) : Colour(red: 0, green: 230, blue: 60)
            shapes.append(DrawnRect(rect: face.rect.scaled(x: sx, y: sy).pixelRect(within: width, height),
                                    colour: colour, thickness: line))
            for point in face.landmarks {
                let dot = Rect(x: point.x * sx - Double(line), y: point.y * sy - Double(line), width: Double(2 * line + 1), height: Double(2 * line + 1))
                shapes.append(DrawnRect(rect: dot.pixelRect(within: width, height), colour: Colour(red: 255, green: 40, blue: 40), filled: true))
            }
        }
        return try drawing(shapes)
    }
}
