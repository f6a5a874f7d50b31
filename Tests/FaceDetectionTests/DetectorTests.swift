import Foundation
import Testing
@testable import FaceDetection
import Inference
import OnnxTestSupport

@Suite struct DetectorTests {
    static func yunet() throws -> YuNetDetector {
        try YuNetDetector(model: TestAssets.bytes(TestAssets.yunetFile), name: TestAssets.yunetFile.lastPathComponent)
    }

    static func mtcnn() throws -> MTCNNDetector {
        try MTCNNDetector(pnet: TestAssets.bytes(TestAssets.mtcnnFile("pnet.onnx")),
                          rnet: TestAssets.bytes(TestAssets.mtcnnFile("rnet.onnx")),
                          onet: TestAssets.bytes(TestAssets.mtcnnFile("onet.onnx")), name: "mtcnn")
    }

    /// Smooth blobs and gradients, deterministic: busier than a flat image, nothing face-like.
    static func patternImage(width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let v = 128 + 100 * sin(Double(x) / 9) * cos(Double(y) / 13)
                pixels[(y * width + x) * 3] = UInt8(max(0, min(255, v)))
                pixels[(y * width + x) * 3 + 1] = UInt8((x * 255) / max(1, width - 1))
                pixels[(y * width + x) * 3 + 2] = UInt8((y * 255) / max(1, height - 1))
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test(.enabled(if: TestAssets.hasYuNet, "needs face_detection_yunet_2023mar.onnx (SMARTCROP_YUNET_MODEL or ../shared/models/)"))
    func yunetSensitivityMapsLinearlyWithOpenCVDefault() throws {
        let detector = try Self.yunet()
        #expect(detector.name == "yunet")
        #expect(abs(detector.scoreThreshold(forSensitivity: 0.5) - 0.6) < 1e-6)
        #expect(abs(detector.scoreThreshold(forSensitivity: 0) - 0.9) < 1e-6)
        #expect(abs(detector.scoreThreshold(forSensitivity: 1) - 0.3) < 1e-6)
        #expect(abs(detector.scoreThreshold(forSensitivity: 0.25) - 0.75) < 1e-6)
        #expect(detector.scoreThreshold(forSensitivity: 7) == detector.scoreThreshold(forSensitivity: 1))
    }

    @Test(.enabled(if: TestAssets.hasMTCNN, "needs .assets/models/mtcnn/{pnet,rnet,onet}.onnx (run `make models`)"))
    func mtcnnSensitivityMapsLinearlyWithReferenceDefault() throws {
        let detector = try Self.mtcnn()
        #expect(detector.name == "mtcnn")
        #expect(abs(detector.scoreThreshold(forSensitivity: 0.5) - 0.7) < 1e-6)
        #expect(abs(detector.scoreThreshold(forSensitivity: 0) - 0.9) < 1e-6)
        #expect(abs(detector.scoreThreshold(forSensitivity: 1) - 0.5) < 1e-6)
    }

    @Test(.enabled(if: TestAssets.hasYuNet, "needs face_detection_yunet_2023mar.onnx (SMARTCROP_YUNET_MODEL or ../shared/models/)"))
    func yunetRunsAtSizesThatAreNotMultiplesOf32() throws {
        let detector = try Self.yunet()
        for (width, height) in [(37, 50), (100, 33), (64, 64)] {
            let faces = try detector.detect(Self.patternImage(width: width, height: height),
                                            options: DetectionOptions(scoreThreshold: 0.01, minFaceSize: 0))
            for face in faces {
                #expect(face.x >= 0 && face.y >= 0 && face.x + face.width <= Float(width) + 1e-3
                        && face.y + face.height <= Float(height) + 1e-3)
                #expect(face.score >= 0.01 && face.score <= 1)
            }
            #expect(zip(faces, faces.dropFirst()).allSatisfy { $0.score >= $1.score })
        }
    }

    @Test(.enabled(if: TestAssets.hasYuNet, "needs face_detection_yunet_2023mar.onnx (SMARTCROP_YUNET_MODEL or ../shared/models/)"))
    func yunetThresholdFiltersCandidates() throws {
        let detector = try Self.yunet()
        let image = Self.patternImage(width: 96, height: 64)
        let loose = try detector.detect(image, options: DetectionOptions(scoreThreshold: 0.0001, minFaceSize: 0, maxFaces: 10_000))
        #expect(!loose.isEmpty, "at a near-zero threshold some cell always qualifies")
        let strict = try detector.detect(image, options: DetectionOptions(scoreThreshold: 0.95, minFaceSize: 0))
        #expect(strict.count <= loose.count)
        #expect(strict.allSatisfy { $0.score >= 0.95 })
        let capped = try detector.detect(image, options: DetectionOptions(scoreThreshold: 0.0001, minFaceSize: 0, maxFaces: 2))
        #expect(capped.count == min(2, loose.count))
        #expect(capped == Array(loose.prefix(capped.count)))
    }

    @Test(.enabled(if: TestAssets.hasYuNet, "needs face_detection_yunet_2023mar.onnx (SMARTCROP_YUNET_MODEL or ../shared/models/)"))
    func concurrentDetectionsAgree() async throws {
        let detector = try Self.yunet()
        let images = [Self.patternImage(width: 96, height: 64), Self.patternImage(width: 160, height: 120)]
        let options = DetectionOptions(scoreThreshold: 0.001, minFaceSize: 0)
        let expected = try images.map { try detector.detect($0, options: options) }
        try await withThrowingTaskGroup(of: (Int, [Face]).self) { group in
            for i in 0..<16 {
                group.addTask { (i % 2, try detector.detect(images[i % 2], options: options)) }
            }
            for try await (index, faces) in group {
                #expect(faces == expected[index])
            }
        }
    }

    @Test(.enabled(if: TestAssets.hasMTCNN, "needs .assets/models/mtcnn/{pnet,rnet,onet}.onnx (run `make models`)"))
    func mtcnnRunsTheCascadeWithinBounds() throws {
        let detector = try Self.mtcnn()
        let image = Self.patternImage(width: 200, height: 150)
        // A permissive threshold so the later stages have crops to work on.
        let faces = try detector.detect(image, options: DetectionOptions(scoreThreshold: 0.05, minFaceSize: 12))
        for face in faces {
            #expect(face.x >= 0 && face.y >= 0 && face.x + face.width <= 200 + 1e-3 && face.y + face.height <= 150 + 1e-3)
            #expect(face.score > 0.05 && face.score <= 1)
            #expect(face.landmarks.count == 5)
        }
        #expect(zip(faces, faces.dropFirst()).allSatisfy { $0.score >= $1.score })
        #expect(try detector.detect(image, options: DetectionOptions(scoreThreshold: 0.05, minFaceSize: 12)) == faces)
    }

    @Test(.enabled(if: TestAssets.hasMTCNN, "needs .assets/models/mtcnn/{pnet,rnet,onet}.onnx (run `make models`)"))
    func mtcnnFindsTheSameFacesOnSeveralThreads() throws {
        let detector = try Self.mtcnn()
        let image = Self.patternImage(width: 320, height: 240)
        // Permissive, so that R-Net and O-Net get several batches to share out.
        var options = DetectionOptions(scoreThreshold: 0.02, minFaceSize: 12)
        let single = try detector.detect(image, options: options)
        #expect(!single.isEmpty)
        for threads in [2, 3, 8] {
            options.threads = threads
            #expect(try detector.detect(image, options: options) == single, "threads \(threads)")
        }
    }

    @Test func pyramidScalesAreSharedOutEvenly() {
        let scales = MTCNNDetector.pyramidScales(width: 640, height: 480, minFaceSize: 20)
        #expect(scales.count > 4)
        func area(_ i: Int) -> Double { 640 * 480 * scales[i] * scales[i] }
        for threads in [1, 2, 3, 4, 64] {
            let groups = MTCNNDetector.balancedGroups(scales, width: 640, height: 480, count: threads)
            #expect(groups.count == min(threads, scales.count))
            #expect(groups.flatMap { $0 }.sorted() == Array(scales.indices), "every scale exactly once")
            let loads = groups.map { $0.map(area).reduce(0, +) }
            // No group waits on more than the largest single scale beyond the lightest.
            #expect(loads.max()! - loads.min()! <= area(0) + 1e-6)
        }
        #expect(MTCNNDetector.balancedGroups([1], width: 10, height: 10, count: 4) == [[0]])
    }

    @Test(.enabled(if: TestAssets.hasYuNet, "needs face_detection_yunet_2023mar.onnx (SMARTCROP_YUNET_MODEL or ../shared/models/)"))
    func malformedImagesAreRefused() throws {
        let detector = try Self.yunet()
        #expect(throws: FaceDetectionError.self) { try detector.detect(RGBImage(width: 2, height: 2, pixels: [0, 0, 0])) }
        #expect(throws: FaceDetectionError.self) { try detector.detect(RGBImage(width: 0, height: 5, pixels: [])) }
    }
}
