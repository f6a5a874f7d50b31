// Hooks for Sources/FaceBench, kept out of the public API: `@_spi(Benchmark) import
// FaceDetection` sees them. They let the benchmark time the networks alone, which is what
// onnxruntime's figures measure.

import Inference

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Records network invocations (name and input shape) in call order.
final class NetworkCallLog: @unchecked Sendable {
    private var calls: [(String, [Int])] = []
    private let lock = Lock()

    func record(_ network: String, _ shape: [Int]) {
        lock.lock()
        calls.append((network, shape))
        lock.unlock()
    }

    var entries: [(String, [Int])] {
        lock.lock()
        defer { lock.unlock() }
        return calls
    }
}

@_spi(Benchmark)
extension YuNetDetector {
    /// The input tensor `detect` would build for `image`, and its shape.
    public func preparedInput(_ image: RGBImage) -> (values: [Float], shape: [Int]) {
        let paddedWidth = (image.width + 31) / 32 * 32
        let paddedHeight = (image.height + 31) / 32 * 32
        var values = [Float](repeating: 0, count: 3 * paddedWidth * paddedHeight)
        values.withUnsafeMutableBufferPointer { buffer in
            image.pixels.withUnsafeBufferPointer { pixels in
                fillPlanarBGR(pixels, width: image.width, height: image.height, paddedWidth: paddedWidth,
                              paddedHeight: paddedHeight, into: buffer.baseAddress!)
            }
        }
        return (values, [1, 3, paddedHeight, paddedWidth])
    }

    /// One network pass on a prepared input (copied into the arena), no decoding.
    public func runNetwork(_ input: [Float], shape: [Int]) throws {
        try network.run(inputShape: shape, fill: { buffer in
            input.withUnsafeBufferPointer { buffer.baseAddress!.update(from: $0.baseAddress!, count: buffer.count) }
        }, read: { _ in })
    }

    /// Each step of the network's plan for `shape` with its fastest time over `runs` runs.
    public func profileNetwork(_ input: [Float], shape: [Int], runs: Int) throws -> [(label: String, seconds: Double)] {
        try network.profile(input, shape: shape, runs: runs)
    }
}

@_spi(Benchmark)
extension MTCNNDetector {
    /// Detects and returns, besides the faces, every network call the cascade made: ("pnet" |
    /// "rnet" | "onet", NHWC input shape).
    public func detectRecordingNetworkCalls(_ image: RGBImage, options: DetectionOptions = DetectionOptions()) throws
        -> (faces: [Face], calls: [(network: String, shape: [Int])]) {
        let log = NetworkCallLog()
        let faces = try detect(image, options: options, log: log)
        return (faces, log.entries.map { (network: $0.0, shape: $0.1) })
    }

    /// Each step of one network's plan for `shape` with its fastest time over `runs` runs.
    public func profileNetwork(_ name: String, _ input: [Float], shape: [Int], runs: Int) throws -> [(label: String, seconds: Double)] {
        try (name == "pnet" ? pnet : name == "rnet" ? rnet : onet).profile(input, shape: shape, runs: runs)
    }

    /// Runs one of the three networks on `input` of `shape`, no decoding.
    public func runNetwork(_ name: String, _ input: [Float], shape: [Int]) throws {
        let network = name == "pnet" ? pnet : name == "rnet" ? rnet : onet
        try network.run(inputShape: shape, fill: { buffer in
            input.withUnsafeBufferPointer { buffer.baseAddress!.update(from: $0.baseAddress!, count: buffer.count) }
        }, read: { _ in })
    }
}
