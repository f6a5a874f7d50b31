#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

import Inference

/// YuNet (OpenCV Zoo, face_detection_yunet_2023mar.onnx): one network pass over the image padded
/// to a multiple of 32, decoded the way OpenCV's `FaceDetectorYN` does.
public final class YuNetDetector: FaceDetector {
    public let name = "yunet"
    let network: Network
    /// What its convolutions compute in: "float32", or "int8" (its calibrated 1×1 layers, on CPUs
    /// with VNNI) when SMARTCROP_PRECISION=int8 asks, since its table is not automatic.
    public var precision: String { network.precision.rawValue }
    /// Output index of cls/obj/bbox/kps for strides 8, 16, 32, looked up by name once.
    private let headIndices: [(stride: Int, cls: Int, obj: Int, bbox: Int, kps: Int)]

    static let strides = [8, 16, 32]
    static let defaultNMSThreshold: Float = 0.3
    /// OpenCV's default top_k: candidates kept (by score) before NMS.
    static let candidateLimit = 5000
    static let remedy = "Download face_detection_yunet_2023mar.onnx (232,589 bytes) from the OpenCV Zoo "
        + "(opencv_zoo/models/face_detection_yunet) and pass it with --face-model or SMARTCROP_FACE_MODEL."

    public convenience init(model: [UInt8], name displayName: String) throws {
        try self.init(model: model, name: displayName, precision: nil)
    }

    /// `precision` nil: the process's choice (see PrecisionSelection); tests compare both.
    package init(model: [UInt8], name displayName: String, precision: Precision?) throws {
        let source = ModelSource(name: displayName, remedy: Self.remedy)
        let network = try faceModel { () throws(ModelError) in try Network(model: model, source: source, precision: precision) }
        self.network = network
        var indices: [(stride: Int, cls: Int, obj: Int, bbox: Int, kps: Int)] = []
        for stride in Self.strides {
            func index(_ head: String) throws -> Int {
                guard let i = network.outputNames.firstIndex(of: "\(head)_\(stride)") else {
                    throw FaceDetectionError(source.error("it has no output named \(head)_\(stride), so it is not YuNet (outputs: \(network.outputNames.joined(separator: ", ")))"))
                }
                return i
            }
            indices.append((stride, try index("cls"), try index("obj"), try index("bbox"), try index("kps")))
        }
        headIndices = indices
        // A trial plan at the smallest legal size checks every head's shape now rather than on
        // the first photo.
        let plan = try faceModel { () throws(ModelError) in try network.plan(for: [1, 3, 32, 32]) }
        for head in headIndices {
            let cells = (32 / head.stride) * (32 / head.stride)
            for (index, width) in [(head.cls, 1), (head.obj, 1), (head.bbox, 4), (head.kps, 10)] {
                guard plan.outputShapes[index] == [1, cells, width] else {
                    throw FaceDetectionError(source.error("output \(network.outputNames[index]) has shape \(plan.outputShapes[index]) for a 32x32 input, expected [1, \(cells), \(width)]"))
                }
            }
        }
    }

    public convenience init(model: Data, name displayName: String) throws {
        try self.init(model: [UInt8](model), name: displayName)
    }

    /// Sensitivity 0...1 maps linearly onto score thresholds 0.9...0.3:
    /// `threshold = 0.9 - 0.6 * sensitivity`, so the default 0.5 gives OpenCV's usual 0.6.
    public func scoreThreshold(forSensitivity sensitivity: Float) -> Float {
        let s = min(max(sensitivity, 0), 1)
        return 0.9 - 0.6 * s
    }

    public func detect(_ image: RGBImage, options: DetectionOptions) throws -> [Face] {
        try image.validate()
        let threshold = options.scoreThreshold ?? scoreThreshold(forSensitivity: 0.5)
        let paddedWidth = (image.width + 31) / 32 * 32
        let paddedHeight = (image.height + 31) / 32 * 32
        let candidates = try network.run(inputShape: [1, 3, paddedHeight, paddedWidth], fill: { input in
            image.pixels.withUnsafeBufferPointer { pixels in
                fillPlanarBGR(pixels, width: image.width, height: image.height,
                              paddedWidth: paddedWidth, paddedHeight: paddedHeight, into: input.baseAddress!)
            }
        }, read: { outputs in
            var faces: [Face] = []
            for head in headIndices {
                decodeYuNetLevel(stride: head.stride, columns: paddedWidth / head.stride, rows: paddedHeight / head.stride,
                                 cls: outputs[head.cls], obj: outputs[head.obj], bbox: outputs[head.bbox],
                                 kps: outputs[head.kps], threshold: threshold, into: &faces)
            }
            return faces
        })
        let kept = nonMaximumSuppression(candidates.map(\.corners), scores: candidates.map(\.score),
                                         threshold: options.nmsThreshold ?? Self.defaultNMSThreshold,
                                         limit: Self.candidateLimit)
        return finalizeFaces(kept.map { candidates[$0] }, width: image.width, height: image.height, options: options)
    }
}

/// Writes interleaved RGB bytes as the planar BGR 0...255 floats YuNet was trained on, with the
/// padding to the right and bottom set to zero (OpenCV pads with a constant 0 border).
func fillPlanarBGR(_ pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, paddedWidth: Int, paddedHeight: Int,
                   into destination: MutableFloatPointer) {
    let plane = paddedWidth * paddedHeight
    let blue = destination, green = destination + plane, red = destination + 2 * plane
    for y in 0..<height {
        let row = pixels.baseAddress! + y * width * 3
        let offset = y * paddedWidth
        for x in 0..<width {
            red[offset + x] = Float(row[3 * x])
            green[offset + x] = Float(row[3 * x + 1])
            blue[offset + x] = Float(row[3 * x + 2])
        }
        if paddedWidth > width {
            for channel in [blue, green, red] { (channel + offset + width).update(repeating: 0, count: paddedWidth - width) }
        }
    }
    if paddedHeight > height {
        for channel in [blue, green, red] {
            (channel + height * paddedWidth).update(repeating: 0, count: (paddedHeight - height) * paddedWidth)
        }
    }
}

/// Decodes one stride level of YuNet's heads as OpenCV's FaceDetectorYNImpl::postProcess:
/// score = sqrt(clamp(cls) · clamp(obj)); the box centre is (cell + offset) · stride and its size
/// exp(log-size) · stride; landmarks are (cell + offset) · stride. Cells are row-major.
func decodeYuNetLevel(stride: Int, columns: Int, rows: Int, cls: UnsafeBufferPointer<Float>, obj: UnsafeBufferPointer<Float>,
                      bbox: UnsafeBufferPointer<Float>, kps: UnsafeBufferPointer<Float>, threshold: Float,
                      into faces: inout [Face]) {
    let s = Float(stride)
    for r in 0..<rows {
        for c in 0..<columns {
            let index = r * columns + c
            let clsScore = min(max(cls[index], 0), 1)
            let objScore = min(max(obj[index], 0), 1)
            let score = (clsScore * objScore).squareRoot()
            guard score >= threshold else { continue }
            let centerX = (Float(c) + bbox[index * 4]) * s
            let centerY = (Float(r) + bbox[index * 4 + 1]) * s
            let width = expf(bbox[index * 4 + 2]) * s
            let height = expf(bbox[index * 4 + 3]) * s
            var landmarks: [Point2] = []
            landmarks.reserveCapacity(5)
            for n in 0..<5 {
                landmarks.append(Point2(x: (kps[index * 10 + 2 * n] + Float(c)) * s,
                                        y: (kps[index * 10 + 2 * n + 1] + Float(r)) * s))
            }
            faces.append(Face(x: centerX - width / 2, y: centerY - height / 2, width: width, height: height,
                              score: score, landmarks: landmarks))
        }
    }
}
