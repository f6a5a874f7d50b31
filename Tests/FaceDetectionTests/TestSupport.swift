import Foundation
import Testing
@testable import FaceDetection

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

/// The deterministic test input shared with tools/parity/make_fixtures.py, in float32 steps
/// identical to numpy's: v = float((i*37) % 251) / 250 * 255, optionally (v - 127.5) * 0.0078125.
func syntheticInput(count: Int, normalised: Bool) -> [Float] {
    (0..<count).map { i in
        let v = Float((i * 37) % 251) / 250 * 255
        return normalised ? (v - 127.5) * 0.0078125 : v
    }
}

/// The parity criterion for a network output against onnxruntime:
///     |ours - reference| <= 1e-4 * max(|reference|, 0.01)
/// i.e. 1e-4 relative for every value of magnitude 0.01 or more, and 1e-6 absolute below. The
/// floor exists because onnxruntime's own Sigmoid is quantised near zero (its outputs of order
/// 1e-7 are multiples of 2^-24), and because sums that cancel to almost nothing carry float32
/// rounding of their large terms; scores that small are far below any detection threshold.
struct ParityReport {
    static let relativeTolerance: Float = 1e-4
    static let floor: Float = 0.01
    /// Largest |ours - reference| / max(|reference|, floor) seen.
    var worstRelativeError: Float = 0
    var failures: [String] = []

    mutating func compare(_ ours: [Float], _ reference: [Float], label: String) {
        guard ours.count == reference.count else {
            failures.append("\(label): \(ours.count) values, reference has \(reference.count)")
            return
        }
        for (i, (a, b)) in zip(ours, reference).enumerated() {
            let scale = max(abs(b), Self.floor)
            worstRelativeError = max(worstRelativeError, abs(a - b) / scale)
            if !(abs(a - b) <= Self.relativeTolerance * scale) && failures.count < 10 {
                failures.append("\(label)[\(i)]: ours \(a), onnxruntime \(b)")
            }
        }
    }
}

/// Loads one network the way the detectors do, for tests that look at raw outputs.
func loadNetwork(_ bytes: [UInt8], name: String = "test.onnx") throws -> Network {
    try Network(model: bytes, source: ModelSource(name: name, remedy: "(test)"))
}

func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-5,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "count \(actual.count) vs \(expected.count)", sourceLocation: sourceLocation)
    for (i, (a, e)) in zip(actual, expected).enumerated() where !(abs(a - e) <= tolerance * max(1, abs(e))) {
        Issue.record("element \(i): \(a) != \(e)\nactual: \(actual)\nexpected: \(expected)", sourceLocation: sourceLocation)
        return
    }
}
