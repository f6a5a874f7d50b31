// What the runtime's tests share across test targets: building ONNX models by hand, loading
// them, the deterministic parity input and the parity criterion.
import Inference

/// The deterministic test input shared with tools/parity/make_fixtures.py, in float32 steps
/// identical to numpy's: v = float((i*37) % 251) / 250 * 255, optionally (v - 127.5) * 0.0078125.
package func syntheticInput(count: Int, normalised: Bool) -> [Float] {
    (0..<count).map { i in
        let v = Float((i * 37) % 251) / 250 * 255
        return normalised ? (v - 127.5) * 0.0078125 : v
    }
}

/// U-2-Netp's parity input, in the same float32 steps as tools/parity/make_fixtures.py: a bright
/// ellipse filling the middle of a dark frame (NCHW), with the synthetic texture on top.
package func syntheticSceneInput(shape: [Int]) -> [Float] {
    let (channels, height, width) = (shape[1], shape[2], shape[3])
    let texture = syntheticInput(count: shape.reduce(1, *), normalised: false)
    return texture.indices.map { i in
        let within = i % (channels * height * width)
        let (c, y, x) = (within / (height * width), (within / width) % height, within % width)
        let dx = 2 * x + 1 - width, dy = 2 * y + 1 - height
        let inside = dx * dx * height * height + dy * dy * width * width <= (height * width / 2) * (height * width / 2)
        let base: Float = inside ? Float(0.8) - Float(0.1) * Float(c) : 0.2
        return ((base + texture[i] / 255 * 0.1) - 0.5) * 4
    }
}

/// The parity criterion for a network output against onnxruntime:
///     |ours - reference| <= 1e-4 * max(|reference|, 0.01)
/// i.e. 1e-4 relative for every value of magnitude 0.01 or more, and 1e-6 absolute below. The
/// floor exists because onnxruntime's own Sigmoid is quantised near zero (its outputs of order
/// 1e-7 are multiples of 2^-24), and because sums that cancel to almost nothing carry float32
/// rounding of their large terms; scores that small are far below any detection threshold.
package struct ParityReport {
    package static let relativeTolerance: Float = 1e-4
    package static let floor: Float = 0.01
    /// Largest |ours - reference| / max(|reference|, floor) seen.
    package var worstRelativeError: Float = 0
    package var failures: [String] = []

    package init() {}

    package mutating func compare(_ ours: [Float], _ reference: [Float], label: String) {
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

/// Loads one network the way the detectors do, for tests that look at raw outputs; on the
/// process's kernel set (SMARTCROP_ISA's, or the widest) unless `instructionSet` names one, in
/// float32 (parity with onnxruntime's float32 is what these tests hold; int8 has its own).
package func loadNetwork(_ bytes: [UInt8], name: String = "test.onnx", instructionSet: InstructionSet? = nil,
                         precision: Precision = .float32) throws -> Network {
    try Network(model: bytes, source: ModelSource(name: name, remedy: "(test)"), instructionSet: instructionSet, precision: precision)
}

/// Every kernel set this CPU runs, for parity tests that check each one in the same process.
package let supportedInstructionSets: [InstructionSet] = KernelSelection.supported

