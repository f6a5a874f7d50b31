import Foundation
import Testing
@testable import FaceDetection
import Inference
import OnnxTestSupport

/// Where the tests find the model files (never committed): `SMARTCROP_ASSETS` (a folder holding
/// models/mtcnn/) and `SMARTCROP_YUNET_MODEL`, defaulting to the repository's `.assets` and the
/// shared YuNet file beside the repository.
enum TestAssets {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var assetsFolder: URL {
        if let path = ProcessInfo.processInfo.environment["SMARTCROP_ASSETS"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return repositoryRoot.appendingPathComponent(".assets")
    }

    static func mtcnnFile(_ name: String) -> URL {
        assetsFolder.appendingPathComponent("models/mtcnn/\(name)")
    }

    static var yunetFile: URL {
        if let path = ProcessInfo.processInfo.environment["SMARTCROP_YUNET_MODEL"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return repositoryRoot.appendingPathComponent("../shared/models/face_detection_yunet_2023mar.onnx").standardizedFileURL
    }

    static var hasMTCNN: Bool {
        ["pnet.onnx", "rnet.onnx", "onet.onnx"].allSatisfy { FileManager.default.fileExists(atPath: mtcnnFile($0).path) }
    }

    static var hasYuNet: Bool { FileManager.default.fileExists(atPath: yunetFile.path) }

    static func bytes(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }

    static func fixture(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
    }
}
