import Foundation
import Testing
@testable import FaceDetection
import Inference
import OnnxTestSupport

/// Each real network against onnxruntime's outputs for the same synthetic input
/// (Fixtures/*-parity.json, made by tools/parity/make_fixtures.py).
@Suite struct ModelParityTests {
    struct Fixture: Decodable {
        struct Output: Decodable {
            var name: String
            var shape: [Int]
            var values: [Float]
        }
        var model: String
        var inputShape: [Int]
        var normalised: Bool
        var outputs: [Output]
    }

    static func check(modelBytes: [UInt8], fixtureName: String, on instructionSet: InstructionSet) throws -> Float {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: TestAssets.fixture(fixtureName)))
        let network = try loadNetwork(modelBytes, name: fixture.model, instructionSet: instructionSet)
        #expect(network.kernels.instructionSet == instructionSet)
        let input = syntheticInput(count: fixture.inputShape.reduce(1, *), normalised: fixture.normalised)
        let outputs = try network.run(input, shape: fixture.inputShape)
        var report = ParityReport()
        for expected in fixture.outputs {
            guard let index = network.outputNames.firstIndex(of: expected.name) else {
                Issue.record("\(fixture.model) has no output \(expected.name)")
                continue
            }
            #expect(outputs[index].shape == expected.shape, "\(expected.name) shape")
            report.compare(outputs[index].values, expected.values, label: "\(fixture.model).\(expected.name) (\(instructionSet))")
        }
        #expect(report.failures.isEmpty, "\(report.failures.joined(separator: "\n"))")
        print("parity \(fixture.model) on \(instructionSet): worst relative error \(report.worstRelativeError)")
        return report.worstRelativeError
    }

    @Test(.enabled(if: TestAssets.hasMTCNN, "needs .assets/models/mtcnn/pnet.onnx (run `make models`)"), arguments: supportedInstructionSets)
    func pnetMatchesOnnxRuntime(instructionSet: InstructionSet) throws {
        _ = try Self.check(modelBytes: TestAssets.bytes(TestAssets.mtcnnFile("pnet.onnx")), fixtureName: "pnet-parity.json", on: instructionSet)
    }

    @Test(.enabled(if: TestAssets.hasMTCNN, "needs .assets/models/mtcnn/rnet.onnx (run `make models`)"), arguments: supportedInstructionSets)
    func rnetMatchesOnnxRuntime(instructionSet: InstructionSet) throws {
        _ = try Self.check(modelBytes: TestAssets.bytes(TestAssets.mtcnnFile("rnet.onnx")), fixtureName: "rnet-parity.json", on: instructionSet)
    }

    @Test(.enabled(if: TestAssets.hasMTCNN, "needs .assets/models/mtcnn/onet.onnx (run `make models`)"), arguments: supportedInstructionSets)
    func onetMatchesOnnxRuntime(instructionSet: InstructionSet) throws {
        _ = try Self.check(modelBytes: TestAssets.bytes(TestAssets.mtcnnFile("onet.onnx")), fixtureName: "onet-parity.json", on: instructionSet)
    }

    @Test(.enabled(if: TestAssets.hasYuNet, "needs face_detection_yunet_2023mar.onnx (SMARTCROP_YUNET_MODEL or ../shared/models/)"), arguments: supportedInstructionSets)
    func yunetMatchesOnnxRuntime(instructionSet: InstructionSet) throws {
        _ = try Self.check(modelBytes: TestAssets.bytes(TestAssets.yunetFile), fixtureName: "yunet-parity.json", on: instructionSet)
    }
}
