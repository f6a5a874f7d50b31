#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto

/// What a model file is for.
public enum ModelSlot: String, CaseIterable, Codable, Sendable {
    /// The face detector: YuNet from a file, else the MTCNN embedded in the binary.
    case face
    /// The subject model: U-2-Netp from a file, else the heuristic importance map.
    case subject

    /// The name setup installs the slot's file under, and the one looked for in model folders.
    public var fileName: String {
        switch self {
        case .face: "face_detection_yunet_2023mar.onnx"
        case .subject: "u2netp.onnx"
        }
    }

    /// What runs when the slot has no model file.
    public var embeddedDefault: String {
        switch self {
        case .face: "the embedded MTCNN"
        case .subject: "the heuristic subject map"
        }
    }

    /// What the user gets from the file, and what without it; one line each, for setup's notice.
    public var qualityWithout: String {
        switch self {
        case .face: "faces are found by the embedded MTCNN (on crowds it finds fewer faces than YuNet)"
        case .subject: "photos without a face are cropped on the heuristic subject map (about 80 % of subjects kept on unseen photos, against 88-90 % with U-2-Netp)"
        }
    }
}

/// A model file known to work, identified by its bytes. Setup fetches the ones with a `url`;
/// a file found by default is used only if it is one of these.
public struct PinnedModelFile: Sendable, Equatable {
    public let slot: ModelSlot
    /// What the file is, for people: "YuNet 2023mar (OpenCV Zoo)".
    public let name: String
    public let byteCount: Int
    /// Lower-case hex.
    public let sha256: String
    /// Where its publisher serves it; nil for a file that has no public copy.
    public let url: String?

    public init(slot: ModelSlot, name: String, byteCount: Int, sha256: String, url: String?) {
        self.slot = slot
        self.name = name
        self.byteCount = byteCount
        self.sha256 = sha256
        self.url = url
    }
}

public enum PinnedModels {
    /// Every known-good file of each slot, the one setup downloads first.
    public static let files: [PinnedModelFile] = [
        PinnedModelFile(slot: .face, name: "YuNet 2023mar (OpenCV Zoo)", byteCount: 232_589,
                        sha256: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
                        url: "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx"),
        PinnedModelFile(slot: .subject, name: "U-2-Netp (rembg release)", byteCount: 4_574_861,
                        sha256: "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
                        url: "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2netp.onnx"),
        // The free-size export of the same network and weights (../shared/models/README.md).
        PinnedModelFile(slot: .subject, name: "U-2-Netp (free-size export)", byteCount: 4_643_764,
                        sha256: "2b58591a25cfcb7ce878c11b2d22801d4ccc9093bb47ce612ec334072b1252b6", url: nil),
    ]

    public static func files(for slot: ModelSlot) -> [PinnedModelFile] { files.filter { $0.slot == slot } }

    /// The pinned file these bytes are, if any.
    public static func identify(_ bytes: [UInt8], slot: ModelSlot, among pinned: [PinnedModelFile]? = nil) -> PinnedModelFile? {
        let candidates = (pinned ?? files).filter { $0.slot == slot && $0.byteCount == bytes.count }
        guard !candidates.isEmpty else { return nil }
        let digest = sha256Hex(bytes)
        return candidates.first { $0.sha256 == digest }
    }

    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}
