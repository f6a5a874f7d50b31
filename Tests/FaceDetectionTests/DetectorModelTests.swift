import Foundation
import Testing
@testable import FaceDetection
import OnnxTestSupport

/// How the detectors report a model they cannot use: by name, with where the right file comes from.
@Suite struct DetectorModelTests {
    @Test func unsupportedOperatorIsNamedWithTheModel() {
        let bytes = makeModel(inputDims: [1], outputs: ["y"], nodes: [TestNode("LSTM", ["x"], ["y"])])
        do {
            _ = try YuNetDetector(model: bytes, name: "odd-model.onnx")
            Issue.record("an unsupported operator was accepted")
        } catch {
            let message = "\(error)"
            #expect(message.contains("odd-model.onnx"))
            #expect(message.contains("LSTM"))
            #expect(message.contains("OpenCV Zoo"))
        }
    }

    @Test(.enabled(if: TestAssets.hasMTCNN, "needs .assets/models/mtcnn/pnet.onnx (run `make models`)"))
    func halfAModelIsRefusedByName() throws {
        let bytes = try TestAssets.bytes(TestAssets.mtcnnFile("pnet.onnx"))
        let rnet = try TestAssets.bytes(TestAssets.mtcnnFile("rnet.onnx"))
        let onet = try TestAssets.bytes(TestAssets.mtcnnFile("onet.onnx"))
        do {
            _ = try MTCNNDetector(pnet: Array(bytes.prefix(bytes.count / 2)), rnet: rnet, onet: onet, name: "my-models")
            Issue.record("a truncated P-Net was accepted")
        } catch let error as FaceDetectionError {
            guard case let .invalidModel(model, reason, remedy) = error else { Issue.record("\(error)"); return }
            #expect(model == "my-models/pnet.onnx")
            #expect(reason.contains("truncated"))
            #expect(remedy.contains("make models"))
        }
    }

    @Test(.enabled(if: TestAssets.hasMTCNN, "needs .assets/models/mtcnn/{pnet,rnet,onet}.onnx (run `make models`)"))
    func swappedMTCNNFilesAreRefused() throws {
        let pnet = try TestAssets.bytes(TestAssets.mtcnnFile("pnet.onnx"))
        let rnet = try TestAssets.bytes(TestAssets.mtcnnFile("rnet.onnx"))
        let onet = try TestAssets.bytes(TestAssets.mtcnnFile("onet.onnx"))
        #expect { try MTCNNDetector(pnet: pnet, rnet: onet, onet: rnet, name: "m") } throws: { error in
            "\(error)".contains("m/rnet.onnx")
        }
    }

    @Test(.enabled(if: TestAssets.hasYuNet, "needs face_detection_yunet_2023mar.onnx (SMARTCROP_YUNET_MODEL or ../shared/models/)"))
    func mtcnnFileIsNotAcceptedAsYuNet() throws {
        guard TestAssets.hasMTCNN else { return }
        let onet = try TestAssets.bytes(TestAssets.mtcnnFile("onet.onnx"))
        #expect { try YuNetDetector(model: onet, name: "onet-as-yunet.onnx") } throws: { error in
            "\(error)".contains("onet-as-yunet.onnx") && "\(error)".contains("cls_8")
        }
    }
}
