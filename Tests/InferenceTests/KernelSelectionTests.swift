import Foundation
import Inference
import OnnxTestSupport
import Testing

/// Which kernel set runs, and that every set this CPU has computes the same thing.
@Suite struct KernelSelectionTests {
    @Test func theWidestSupportedSetIsTheDefault() {
        #expect(KernelSelection.choose(forced: nil, supported: [.avx512, .avx2, .baseline]) == .success(.avx512))
        #expect(KernelSelection.choose(forced: "", supported: [.avx2, .baseline]) == .success(.avx2))
        #expect(KernelSelection.choose(forced: nil, supported: [.baseline]) == .success(.baseline))
    }

    @Test func aForcedSetIsUsedWhenTheCPUHasIt() {
        #expect(KernelSelection.choose(forced: "baseline", supported: [.avx512, .avx2, .baseline]) == .success(.baseline))
        #expect(KernelSelection.choose(forced: "AVX2", supported: [.avx512, .avx2, .baseline]) == .success(.avx2))
    }

    @Test func forcingASetTheCPULacksIsAnErrorThatSaysWhatItRuns() throws {
        let result = KernelSelection.choose(forced: "avx512", supported: [.avx2, .baseline])
        guard case let .failure(error) = result else { Issue.record("accepted \(result)"); return }
        #expect(error.description.contains("SMARTCROP_ISA=avx512"))
        #expect(error.description.contains("avx2, baseline"))
    }

    @Test func anUnknownNameIsAnErrorThatListsTheNames() {
        guard case let .failure(error) = KernelSelection.choose(forced: "sse2", supported: [.baseline]) else {
            Issue.record("accepted sse2"); return
        }
        #expect(error.description.contains("avx512, avx2, baseline"))
    }

    @Test func aCPUBelowTheBaselineIsAnError() {
        guard case .failure = KernelSelection.choose(forced: nil, supported: []) else { Issue.record("accepted no kernels"); return }
    }

    /// `make test` runs the runtime's tests again with SMARTCROP_ISA set to each set this CPU
    /// has; this makes sure such a run really used that set.
    @Test func theProcessHonoursSMARTCROP_ISA() throws {
        let forced = ProcessInfo.processInfo.environment["SMARTCROP_ISA"].flatMap { $0.isEmpty ? nil : $0 }
        let current = try KernelSelection.current.get()
        if let forced {
            #expect(current.rawValue == forced.lowercased())
        } else {
            #expect(current == KernelSelection.supported.first)
        }
        let network = try loadNetwork(makeModel(inputDims: [1, 1, 2, 2], outputs: ["y"], nodes: [TestNode("Relu", ["x"], ["y"])]))
        #expect(network.kernels.instructionSet == current)
    }

    @Test func aNetworkRefusesASetTheCPULacks() throws {
        let missing = InstructionSet.allCases.filter { !KernelSelection.supported.contains($0) }
        let bytes = makeModel(inputDims: [1, 1, 2, 2], outputs: ["y"], nodes: [TestNode("Relu", ["x"], ["y"])])
        for set in missing {
            #expect(throws: ModelError.self) { try loadNetwork(bytes, instructionSet: set) }
        }
    }

    /// A small network touching the direct (blocked and plain input, 16- and 8-channel tiles,
    /// short and long rows), depthwise, pooling and GEMM kernels gives the same outputs on every
    /// set this CPU has, within float rounding of differently ordered sums.
    @Test(arguments: [(5, 7), (9, 23), (31, 64)])
    func everySetComputesTheSameNetwork(height: Int, width: Int) throws {
        let bytes = mixedKernelModel()
        let shape = [1, 3, height, width]
        let input = syntheticInput(count: shape.reduce(1, *), normalised: true)
        let sets = KernelSelection.supported
        let reference = try loadNetwork(bytes, instructionSet: .baseline).run(input, shape: shape)
        for set in sets where set != .baseline {
            let outputs = try loadNetwork(bytes, instructionSet: set).run(input, shape: shape)
            for (ours, expected) in zip(outputs, reference) {
                #expect(ours.shape == expected.shape)
                var report = ParityReport()
                report.compare(ours.values, expected.values, label: "\(set) against baseline")
                #expect(report.failures.isEmpty, "\(report.failures.joined(separator: "\n"))")
            }
        }
    }
}

/// Conv 3→32 3×3 (plain input), ReLU; 1×1 32→24 (a pair and a single block of outputs);
/// depthwise 3×3; 2×2 max pool; 3×3 dilated 24→16; grouped 3×3 (im2col and GEMM); 1×1 16→1
/// (the one-channel kernel); sigmoid. Weights are fixed pseudo-random values.
private func mixedKernelModel() -> [UInt8] {
    var seed: UInt32 = 12345
    func weights(_ count: Int) -> [Float] {
        (0..<count).map { _ in
            seed = seed &* 1_664_525 &+ 1_013_904_223
            return Float(seed >> 8) / Float(1 << 24) - 0.5
        }
    }
    let pad1: TestAttribute = .ints("pads", [1, 1, 1, 1])
    return makeModel(
        inputDims: [1, 3, nil, nil], outputs: ["y"],
        nodes: [
            TestNode("Conv", ["x", "w1", "b1"], ["c1"], [pad1]),
            TestNode("Relu", ["c1"], ["r1"]),
            TestNode("Conv", ["r1", "w2"], ["c2"]),
            TestNode("Conv", ["c2", "w3", "b3"], ["c3"], [pad1, .int("group", 24)]),
            TestNode("Relu", ["c3"], ["r3"]),
            TestNode("MaxPool", ["r3"], ["p3"], [.ints("kernel_shape", [2, 2]), .ints("strides", [2, 2]), .int("ceil_mode", 1)]),
            TestNode("Conv", ["p3", "w4"], ["c4"], [.ints("pads", [2, 2, 2, 2]), .ints("dilations", [2, 2])]),
            TestNode("Conv", ["c4", "w5"], ["c5"], [pad1, .int("group", 2)]),
            TestNode("Conv", ["c5", "w6", "b6"], ["c6"]),
            TestNode("Sigmoid", ["c6"], ["y"]),
        ],
        initializers: [
            .floats("w1", [32, 3, 3, 3], weights(32 * 27)), .floats("b1", [32], weights(32)),
            .floats("w2", [24, 32, 1, 1], weights(24 * 32)),
            .floats("w3", [24, 1, 3, 3], weights(24 * 9)), .floats("b3", [24], weights(24)),
            .floats("w4", [16, 24, 3, 3], weights(16 * 24 * 9)),
            .floats("w5", [16, 8, 3, 3], weights(16 * 8 * 9)),
            .floats("w6", [1, 16, 1, 1], weights(16)), .floats("b6", [1], weights(1)),
        ])
}
