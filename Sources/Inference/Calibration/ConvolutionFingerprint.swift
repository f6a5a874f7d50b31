// What lets a calibration table measured on one file serve another export of the same network.
// rembg's u2netp.onnx (the file setup installs) and ../shared/models/u2netp.onnx hold the same
// network and weights, but the shared file's weights went through float16 and back, its tensors
// are named by a newer PyTorch, and rembg's may be fixed at 320×320: its sha256 differs, and so
// do the names the table keys its ranges by. Activation ranges follow from the weights and the
// photos, not from the bytes, so a table also applies to a file whose convolutions carry the same
// weights: each calibrated tensor is found again as the input of the convolution whose weights
// match the ones that read it in the measured file.

/// A convolution's weights in brief: their shape; their sum, sum of magnitudes and sum of squares
/// in float64; and 16 of them, evenly spaced. Two exports of one trained network differ by float
/// rounding (float16's relative step is 2⁻¹¹ ≈ 4.9e-4); the sums tell layers and networks apart,
/// and the samples also a network whose weights were nudged by noise, which sums average away.
package struct ConvolutionFingerprint: Codable, Sendable, Equatable {
    /// OIHW.
    package var shape: [Int]
    package var sum: Double
    package var abs: Double
    package var squares: Double
    package var samples: [Float]

    static let sampleCount = 16

    package init(shape: [Int], sum: Double, abs: Double, squares: Double, samples: [Float]) {
        self.shape = shape
        self.sum = sum
        self.abs = abs
        self.squares = squares
        self.samples = samples
    }

    package init(shape: [Int], weights: [Float]) {
        var sum = 0.0, magnitudes = 0.0, squares = 0.0
        for weight in weights {
            let w = Double(weight)
            sum += w
            magnitudes += Swift.abs(w)
            squares += w * w
        }
        let step = max(weights.count / Self.sampleCount, 1)
        let samples = stride(from: 0, to: weights.count, by: step).prefix(Self.sampleCount).map { weights[$0] }
        self.init(shape: shape, sum: sum, abs: magnitudes, squares: squares, samples: samples)
    }

    /// Relative tolerance of each sum and sample: twice float16's step, so any rounding of the
    /// weights to float16 or back passes even if every error had the same sign.
    static let tolerance = 1e-3

    /// Whether `other` is these weights up to float rounding.
    package func matches(_ other: ConvolutionFingerprint) -> Bool {
        guard shape == other.shape else { return false }
        let scale = max(abs, other.abs)
        guard Swift.abs(sum - other.sum) <= Self.tolerance * scale,
              Swift.abs(abs - other.abs) <= Self.tolerance * scale,
              Swift.abs(squares - other.squares) <= 2 * Self.tolerance * max(squares, other.squares),
              samples.count == other.samples.count else { return false }
        // float16 flushes weights under 6e-5 to its subnormal grid, 6e-8 apart.
        return zip(samples, other.samples).allSatisfy { a, b in
            Swift.abs(Double(a) - Double(b)) <= Self.tolerance * Double(max(Swift.abs(a), Swift.abs(b))) + 1e-7
        }
    }
}

/// One convolution of a model: the tensor it reads and its weights' fingerprint.
package struct ConvolutionReader: Sendable, Equatable {
    package var input: String
    package var fingerprint: ConvolutionFingerprint

    package init(input: String, fingerprint: ConvolutionFingerprint) {
        self.input = input
        self.fingerprint = fingerprint
    }

    /// Every Conv node of `model` whose weights are an initializer, in the graph's order.
    package static func all(in model: OnnxModel) -> [ConvolutionReader] {
        var initializers: [String: OnnxTensor] = [:]
        for tensor in model.graph.initializers { initializers[tensor.name] = tensor }
        return model.graph.nodes.compactMap { node in
            guard node.opType == "Conv", node.domain.isEmpty || node.domain == "ai.onnx", node.inputs.count >= 2,
                  let weights = initializers[node.inputs[1]], !weights.floats.isEmpty else { return nil }
            return ConvolutionReader(input: node.inputs[0], fingerprint: ConvolutionFingerprint(shape: weights.dims, weights: weights.floats))
        }
    }
}
