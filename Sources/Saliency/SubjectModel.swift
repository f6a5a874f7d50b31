// A learned subject map: U-2-Netp (Qin et al., "U²-Net: Going Deeper with Nested U-Structure
// for Salient Object Detection", Pattern Recognition 2020), the 1.1 M-parameter variant, run on
// our own runtime. It was trained to mark the salient object of a photo (DUTS-TR), which is what a
// crop has to keep; the heuristic map in ImportanceMapBuilder only guesses it from contrast.
//
// The photo is stretched to a square input (the network's training shape; stretching beats
// letterboxing on the crop evaluation), and d0, the fused mask, is mapped back to the photo's
// aspect as an ImportanceMap, so that the crop search is the same as for the heuristic map.

import Inference

/// Why a subject model file can't be used, or an input can't be analysed.
public enum SubjectModelError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalidModel(model: String, reason: String, remedy: String)
    case invalidInputSize(Int)
    case invalidImage(reason: String)

    public var description: String {
        switch self {
        case let .invalidModel(model, reason, remedy):
            return "subject model \(model) can't be used: \(reason). \(remedy)"
        case let .invalidInputSize(size):
            return "subject model input size \(size) must be a multiple of 32 between 64 and 1024"
        case let .invalidImage(reason):
            return "image can't be analysed for its subject: \(reason)"
        }
    }
}

public final class SubjectModel: Sendable {
    /// The square input side. 224 keeps the subject in 92.1% of the dev crops against 92.6% at
    /// 256 and 92.0% at 320 (the training size), at half the work of 320; below 224 the figure
    /// drops (89.7% at 192). See ../shared/models/README.md.
    public static let defaultInputSize = 224
    public static let remedy = "Download u2netp.onnx (4,574,861 bytes, sha256 309c8469…ddd8) from the rembg releases "
        + "(github.com/danielgatis/rembg/releases/download/v0.0.0/u2netp.onnx) and pass it with --subject-model "
        + "or SMARTCROP_SUBJECT_MODEL."
    /// ImageNet statistics, as the network was trained.
    static let mean: [Float] = [0.485, 0.456, 0.406]
    static let std: [Float] = [0.229, 0.224, 0.225]

    public let name: String
    /// The square input side the model runs at: the one asked for, or the model's own when its
    /// input has a fixed height and width.
    public let inputSize: Int
    /// Whether the model's input has a fixed height and width (an export for one size).
    public let hasFixedInputSize: Bool
    /// The size asked for, when a fixed-size model could not take it.
    public let ignoredInputSize: Int?
    let network: Network

    /// Loads and checks the model once: one NCHW input with three channels, and a first output
    /// (d0) of one channel at the input's size, for a trial plan at `inputSize`. A model exported
    /// for one input size (rembg's file may declare 1×3×320×320, with its resize sizes folded for
    /// it) runs at that size whatever is asked for: any other size would be refused by its shapes.
    public init(model: [UInt8], name: String, inputSize requested: Int = SubjectModel.defaultInputSize) throws(SubjectModelError) {
        guard requested % 32 == 0, (64...1024).contains(requested) else { throw .invalidInputSize(requested) }
        self.name = name
        let source = ModelSource(name: name, remedy: Self.remedy)
        func refuse(_ error: ModelError) -> SubjectModelError {
            .invalidModel(model: error.model, reason: error.reason, remedy: error.remedy)
        }
        do {
            // d0 only: the six side outputs are for training.
            network = try Network(model: model, source: source, outputs: .first(1))
        } catch {
            throw refuse(error)
        }
        let dims = network.declaredInputShape
        guard dims.count == 4, dims[1] == .value(3) else {
            throw refuse(source.error("its input \(network.inputName) is not an NCHW image with 3 channels (\(dims)), so it is not U-2-Net"))
        }
        var inputSize = requested
        var fixed = false
        if case .value(let height) = dims[2], case .value(let width) = dims[3] {
            guard height == width, height % 32 == 0, (32...1024).contains(height) else {
                throw refuse(source.error("its input is fixed at \(width)x\(height); U-2-Net needs a square whose side is a multiple of 32"))
            }
            inputSize = height
            fixed = true
        }
        self.inputSize = inputSize
        hasFixedInputSize = fixed
        ignoredInputSize = inputSize != requested ? requested : nil
        let shape = [1, 3, inputSize, inputSize]
        let plan: ExecutionPlan
        do {
            plan = try network.plan(for: shape)
        } catch {
            throw refuse(error)
        }
        guard plan.outputShapes.first == [1, 1, inputSize, inputSize] else {
            throw refuse(source.error("for a \(inputSize)x\(inputSize) input its first output has shape \(plan.outputShapes.first ?? []), expected a [1, 1, \(inputSize), \(inputSize)] mask (d0), so it is not U-2-Net"))
        }
    }

    /// The subject mask of an interleaved 8-bit RGB image already stretched to
    /// `inputSize × inputSize`, as `inputSize²` values in 0...1, row-major. `threads` above 1
    /// splits the convolutions over that many threads (the mask is the same).
    public func mask(squareRGB rgb: [UInt8], threads: Int = 1) throws(SubjectModelError) -> [Float] {
        let side = inputSize
        guard rgb.count == side * side * 3 else {
            throw .invalidImage(reason: "\(rgb.count) bytes for a \(side)x\(side) RGB input, expected \(side * side * 3)")
        }
        do {
            return try network.run(inputShape: [1, 3, side, side], threads: threads, fill: { input in
                Self.normalise(rgb, plane: side * side, into: input)
            }, read: { outputs in Array(outputs[0]) })
        } catch let error as ModelError {
            throw .invalidModel(model: error.model, reason: error.reason, remedy: error.remedy)
        } catch {
            throw .invalidImage(reason: "\(error)")
        }
    }

    /// The mask of a photo of `imageWidth × imageHeight`, given stretched to the square input
    /// (`rgb`, by the caller's resampler), mapped back to the photo's aspect: an importance map
    /// whose longer side is the model's input side.
    public func importanceMap(squareRGB rgb: [UInt8], imageWidth: Int, imageHeight: Int,
                              threads: Int = 1) throws(SubjectModelError) -> ImportanceMap {
        guard imageWidth > 0, imageHeight > 0 else { throw .invalidImage(reason: "size \(imageWidth)x\(imageHeight) is empty") }
        let mask = try mask(squareRGB: rgb, threads: threads)
        return Self.importanceMap(mask: mask, side: inputSize, imageWidth: imageWidth, imageHeight: imageHeight)
    }

    /// Divides by the brightest value (as the reference pre-processing does), then normalises
    /// each channel; writes NCHW.
    static func normalise(_ rgb: [UInt8], plane: Int, into input: UnsafeMutableBufferPointer<Float>) {
        let peak = max(Float(rgb.max() ?? 0), 1)
        for c in 0..<3 {
            let scale = 1 / (peak * std[c])
            let offset = mean[c] / std[c]
            let out = input.baseAddress! + c * plane
            rgb.withUnsafeBufferPointer { pixels in
                for i in 0..<plane { out[i] = Float(pixels[i * 3 + c]) * scale - offset }
            }
        }
    }

    /// The square mask resampled (bilinear, pixel centres aligned) to a grid with the image's
    /// aspect and the mask's resolution along its longer side.
    static func importanceMap(mask: [Float], side: Int, imageWidth: Int, imageHeight: Int) -> ImportanceMap {
        let width = imageWidth >= imageHeight ? side : max(1, Int((Double(side) * Double(imageWidth) / Double(imageHeight)).rounded()))
        let height = imageHeight > imageWidth ? side : max(1, Int((Double(side) * Double(imageHeight) / Double(imageWidth)).rounded()))
        func taps(_ count: Int) -> [(Int, Int, Float)] {
            (0..<count).map { o in
                let x = min(max((Float(o) + 0.5) * Float(side) / Float(count) - 0.5, 0), Float(side - 1))
                let low = Int(x)
                return (low, min(low + 1, side - 1), x - Float(low))
            }
        }
        let rows = taps(height), columns = taps(width)
        var values = [Float](repeating: 0, count: width * height)
        for (y, (top, bottom, wy)) in rows.enumerated() {
            for (x, (left, right, wx)) in columns.enumerated() {
                let a = mask[top * side + left] + wx * (mask[top * side + right] - mask[top * side + left])
                let b = mask[bottom * side + left] + wx * (mask[bottom * side + right] - mask[bottom * side + left])
                values[y * width + x] = a + wy * (b - a)
            }
        }
        // A mask with nothing in it found no object: the caller falls back as for a flat image.
        let peak = values.max() ?? 0
        return ImportanceMap(width: width, height: height, values: values, isFlat: peak < flatPeak, contrast: peak)
    }

    /// Below this the mask marks nothing: U-2-Netp's background sits under 0.01 and any object it
    /// sees rises well above 0.5, so a peak of 0.1 separates "no object" from a faint one.
    static let flatPeak: Float = 0.1
}

// Hooks for SaliencyBench: the raw network on a caller's input, kept out of the public API.
extension SubjectModel {
    /// The arithmetic the network's convolutions run in, "float32" or "int8" (int8 on CPUs with
    /// AVX-512 VNNI or AVX-VNNI for a model file with a calibration table; SMARTCROP_PRECISION
    /// forces one).
    public var precision: String { network.precision.rawValue }

    /// The range of each int8-eligible convolution input of `model` over square RGB inputs of
    /// `inputSize` (pre-processed as `mask` does), measured in float32: what `make calibration`
    /// writes.
    @_spi(Benchmark) public static func activationRanges(model: [UInt8], name: String, inputSize: Int,
                                                         squareRGBs: [[UInt8]], percentile: Double? = nil) throws
        -> [String: (min: Float, max: Float)] {
        let network = try Network(model: model, source: ModelSource(name: name, remedy: remedy), outputs: .first(1),
                                  precision: .float32)
        let plane = inputSize * inputSize
        let inputs = squareRGBs.map { rgb in
            [Float](unsafeUninitializedCapacity: 3 * plane) { buffer, count in
                normalise(rgb, plane: plane, into: buffer)
                count = 3 * plane
            }
        }
        return try network.activationRanges(inputs, shape: [1, 3, inputSize, inputSize], percentile: percentile)
    }

    /// The masks of square RGB inputs in float32 or int8, for comparing precisions.
    /// `int8Ranges` replaces the calibration table: only the tensors it names are quantised.
    @_spi(Benchmark) public static func masks(model: [UInt8], name: String, inputSize: Int, squareRGBs: [[UInt8]],
                                              int8: Bool, int8Ranges: [String: (min: Float, max: Float)]? = nil) throws -> [[Float]] {
        let network = try Network(model: model, source: ModelSource(name: name, remedy: remedy), outputs: .first(1),
                                  precision: int8 ? .int8 : .float32,
                                  int8Inputs: int8Ranges?.mapValues { ActivationQuantization(min: $0.min, max: $0.max) })
        guard network.precision == (int8 ? .int8 : .float32) else { throw SubjectModelError.invalidImage(reason: "no int8 here") }
        let plane = inputSize * inputSize
        return try squareRGBs.map { rgb in
            try network.run(inputShape: [1, 3, inputSize, inputSize], fill: { normalise(rgb, plane: plane, into: $0) },
                            read: { Array($0[0]) })
        }
    }

    @_spi(Benchmark) public func runNetwork(_ input: [Float], threads: Int = 1) throws {
        let shape = [1, 3, inputSize, inputSize]
        try network.run(inputShape: shape, threads: threads, fill: { buffer in _ = buffer.initialize(from: input) }, read: { _ in })
    }

    @_spi(Benchmark) public func profileNetwork(_ input: [Float], runs: Int) throws -> [(label: String, seconds: Double)] {
        try network.profile(input, shape: [1, 3, inputSize, inputSize], runs: runs)
    }
}
