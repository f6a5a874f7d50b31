import Foundation
import Testing
@testable import Inference
import OnnxTestSupport

/// A calibration table serves another export of the weights it was measured on (renamed tensors,
/// weights rounded differently: rembg's u2netp.onnx against the shared one), and nothing else.
@Suite struct CalibrationMatchTests {
    /// `weights` with every value moved by a random fraction of `relative`, of either sign.
    static func jittered(_ weights: [Float], relative: Float, seed: UInt64) -> [Float] {
        var random = SplitMix(seed: seed)
        return weights.map { $0 * (1 + relative * (Float(random.unit()) * 2 - 1)) }
    }

    static func fingerprint(_ weights: [Float]) -> ConvolutionFingerprint {
        ConvolutionFingerprint(shape: [weights.count, 1, 1, 1], weights: weights)
    }

    @Test func fingerprintsMatchThroughFloatRoundingAndNothingMore() {
        var random = SplitMix(seed: 11)
        let weights = (0..<576).map { _ in Float(random.unit() * 2 - 1) * 0.3 }
        let original = ConvolutionFingerprint(shape: [8, 8, 3, 3], weights: weights)
        // float16 keeps 11 significant bits: its rounding moves a weight by at most 2⁻¹².
        #expect(original.matches(ConvolutionFingerprint(shape: [8, 8, 3, 3], weights: Self.jittered(weights, relative: 1 / 4096, seed: 1))))
        #expect(!original.matches(ConvolutionFingerprint(shape: [8, 8, 3, 3], weights: weights.map { $0 * 1.01 })))
        #expect(!original.matches(ConvolutionFingerprint(shape: [8, 8, 3, 3], weights: Array(weights.reversed().dropFirst()) + [0.5])))
        #expect(!original.matches(ConvolutionFingerprint(shape: [8, 2, 6, 6], weights: weights)), "same numbers, other layer")
        // Noise a sum averages away (a network nudged by further training) shows in the samples.
        #expect(!original.matches(ConvolutionFingerprint(shape: [8, 8, 3, 3], weights: Self.jittered(weights, relative: 0.05, seed: 2))))
    }

    /// A two-convolution table measured on tensors "a" and "b".
    static func table(readers: [String: ConvolutionFingerprint], convolutions: Int) -> CalibratedModel {
        CalibratedModel(model: "t.onnx", sha256: "", bytes: 0, method: "", tensors: [
            "a": .init(min: 0, max: 4), "b": .init(min: 0, max: 9),
        ], float: [:], convolutions: convolutions, readers: readers)
    }

    @Test func rangesFollowTheirReadersToTheNewNames() throws {
        let first = Self.fingerprint([0.1, -0.2, 0.3]), second = Self.fingerprint([0.5, 0.25, -0.125])
        let table = Self.table(readers: ["a": first, "b": second], convolutions: 3)
        let other = Self.fingerprint([1, 2, 3])
        let renamed = try #require(CalibrationTable.ranges(of: table, renamedFor: [
            ConvolutionReader(input: "17", fingerprint: second), ConvolutionReader(input: "input", fingerprint: other),
            ConvolutionReader(input: "9", fingerprint: first),
        ]))
        #expect(renamed["9"]?.max == 4 && renamed["17"]?.max == 9 && renamed.count == 2)
        // One convolution more or fewer is another network.
        #expect(CalibrationTable.ranges(of: table, renamedFor: [
            ConvolutionReader(input: "17", fingerprint: second), ConvolutionReader(input: "9", fingerprint: first),
        ]) == nil)
        // A calibrated tensor whose reader is nowhere: no table.
        #expect(CalibrationTable.ranges(of: table, renamedFor: [
            ConvolutionReader(input: "17", fingerprint: second), ConvolutionReader(input: "input", fingerprint: other),
            ConvolutionReader(input: "9", fingerprint: Self.fingerprint([0.1, -0.2, 0.31])),
        ]) == nil)
        // Two tensors read by the same weights cannot say which range is whose.
        #expect(CalibrationTable.ranges(of: table, renamedFor: [
            ConvolutionReader(input: "17", fingerprint: second), ConvolutionReader(input: "18", fingerprint: second),
            ConvolutionReader(input: "9", fingerprint: first),
        ]) == nil)
        // A table without readers (measured before they were recorded) serves its own file only.
        #expect(CalibrationTable.ranges(of: Self.table(readers: [:], convolutions: 3), renamedFor: [
            ConvolutionReader(input: "17", fingerprint: second), ConvolutionReader(input: "input", fingerprint: other),
            ConvolutionReader(input: "9", fingerprint: first),
        ]) == nil)
    }

    static var modelBytes: [UInt8]? { U2NetpInt8Tests.modelBytes }

    @Test(.enabled(if: U2NetpInt8Tests.hasCalibratedModel, "needs the calibrated u2netp.onnx (SMARTCROP_SUBJECT_MODEL or ../shared/models/)"))
    func theSharedTableFindsEveryTensorOfARenamedReroundedExport() throws {
        let bytes = try #require(Self.modelBytes)
        let table = try #require(CalibrationTable.model(for: bytes))
        #expect(table.convolutions != nil && table.readers?.count == table.tensors.count, "make calibration records the readers")
        var model = try OnnxModel(serialized: bytes)
        // Another exporter's names, and weights as they were before the shared file's float16 trip.
        var names: [String: String] = [:]
        let kept = Set(model.graph.inputs.map(\.name) + model.graph.outputs.map(\.name))
        func rename(_ name: String) -> String {
            if name.isEmpty || kept.contains(name) { return name }
            if let given = names[name] { return given }
            names[name] = "\(names.count + 100)"
            return names[name]!
        }
        for i in model.graph.initializers.indices {
            model.graph.initializers[i].name = rename(model.graph.initializers[i].name)
            model.graph.initializers[i].floats = Self.jittered(model.graph.initializers[i].floats, relative: 1 / 4096, seed: UInt64(i))
        }
        for i in model.graph.nodes.indices {
            model.graph.nodes[i].inputs = model.graph.nodes[i].inputs.map(rename)
            model.graph.nodes[i].outputs = model.graph.nodes[i].outputs.map(rename)
        }
        let readers = ConvolutionReader.all(in: model)
        let renamed = try #require(CalibrationTable.ranges(of: table, renamedFor: readers))
        #expect(renamed.count == table.tensors.count)
        for (name, range) in table.tensors {
            #expect(renamed[names[name] ?? ""]?.max == range.max, "\(name) → \(names[name] ?? "?")")
        }
        // One layer retrained (its weights 2 % larger): not this network any more.
        let conv = try #require(model.graph.nodes.firstIndex { $0.opType == "Conv" && names.values.contains($0.inputs[0]) })
        let weights = try #require(model.graph.initializers.firstIndex { $0.name == model.graph.nodes[conv].inputs[1] })
        model.graph.initializers[weights].floats = model.graph.initializers[weights].floats.map { $0 * 1.02 }
        #expect(CalibrationTable.ranges(of: table, renamedFor: ConvolutionReader.all(in: model)) == nil)
    }

    /// The fixed-320 export `make test` makes from the shared file, every tensor renamed
    /// (tools/fixtures/fixed_u2netp.py): int8 where the CPU has VNNI, with the shared file's ranges.
    static var fixturePath: String {
        let assets = ProcessInfo.processInfo.environment["SMARTCROP_ASSETS"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".assets").path
        return assets + "/fixtures/u2netp-fixed320.onnx"
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: fixturePath) && U2NetpInt8Tests.hasCalibratedModel,
                   "needs the fixed-320 fixture that make test makes from the calibrated ../shared/models/u2netp.onnx"))
    func theRenamedFixedExportRunsInInt8OnTheSharedTable() throws {
        let fixture = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixturePath)))
        #expect(CalibrationTable.model(for: fixture) == nil, "the fixture is another file")
        let model = try OnnxModel(serialized: fixture)
        #expect(!model.graph.nodes.contains { $0.inputs.contains { $0.hasPrefix("/") } }, "the fixture's tensors are renamed")
        let quantizations = try #require(CalibrationTable.quantizations(for: fixture, parsed: model)?.inputs)
        let sharedBytes = try #require(Self.modelBytes)
        let shared = try #require(CalibrationTable.model(for: sharedBytes))
        #expect(quantizations.count == shared.tensors.count)
        let network = try Network(model: fixture, source: ModelSource(name: "u2netp-fixed320.onnx", remedy: "(test)"), outputs: .first(1),
                                  precision: .int8, int8Implementation: .reference)
        #expect(network.precision == .int8)
        let plan = try network.plan(for: [1, 3, 320, 320])
        let int8Steps = plan.steps.filter {
            switch $0.kernel {
            case .convInt8, .convInt8Gathered: true
            default: false
            }
        }
        #expect(int8Steps.count == quantizations.count, "\(int8Steps.count) int8 layers for \(quantizations.count) ranges")
    }
}
