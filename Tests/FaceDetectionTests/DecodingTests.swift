import Foundation
import Testing
@testable import FaceDetection

@Suite struct DecodingTests {
    // MARK: YuNet

    @Test func yunetDecodesAnchorsAsOpenCV() {
        // Stride 8, 2 columns × 2 rows; only cell (row 1, column 0) scores.
        var cls: [Float] = [0, 0, 0.81, 0]
        let obj: [Float] = [1, 1, 1, 1.5]   // obj above 1 clamps to 1
        var bbox = [Float](repeating: 0, count: 16)
        bbox[8..<12] = [0.5, -0.25, Float(log(2.0)), 0]   // centre (0+.5)*8, (1-.25)*8; size 16 × 8
        var kps = [Float](repeating: 0, count: 40)
        for n in 0..<5 { kps[20 + 2 * n] = Float(n); kps[20 + 2 * n + 1] = 0.5 }
        cls[3] = 0.2  // sqrt(0.2) ≈ 0.447 is below the threshold
        var faces: [Face] = []
        cls.withUnsafeBufferPointer { c in obj.withUnsafeBufferPointer { o in bbox.withUnsafeBufferPointer { b in
            kps.withUnsafeBufferPointer { k in
                decodeYuNetLevel(stride: 8, columns: 2, rows: 2, cls: c, obj: o, bbox: b, kps: k, threshold: 0.5, into: &faces)
            }
        } } }
        #expect(faces.count == 1)
        let face = faces[0]
        #expect(abs(face.score - 0.9) < 1e-6)
        #expect(abs(face.x - (4 - 8)) < 1e-4)
        #expect(abs(face.y - (6 - 4)) < 1e-4)
        #expect(abs(face.width - 16) < 1e-4)
        #expect(abs(face.height - 8) < 1e-4)
        #expect(face.landmarks.map(\.x) == [0, 8, 16, 24, 32])
        #expect(face.landmarks.map(\.y) == [12, 12, 12, 12, 12])
    }

    @Test func planarBGRInputIsPaddedWithZeros() {
        // 1×1 image (R=10, G=20, B=30) padded to 2×2.
        var tensor = [Float](repeating: -1, count: 12)
        [UInt8]([10, 20, 30]).withUnsafeBufferPointer { pixels in
            tensor.withUnsafeMutableBufferPointer {
                fillPlanarBGR(pixels, width: 1, height: 1, paddedWidth: 2, paddedHeight: 2, into: $0.baseAddress!)
            }
        }
        #expect(tensor == [30, 0, 0, 0, 20, 0, 0, 0, 10, 0, 0, 0])
    }

    // MARK: NMS

    @Test func nmsKeepsBestOfOverlappingBoxes() {
        let boxes = [BoxCorners(minX: 0, minY: 0, maxX: 10, maxY: 10),
                     BoxCorners(minX: 1, minY: 1, maxX: 11, maxY: 11),     // IoU with #0 = 81/119 = 0.68
                     BoxCorners(minX: 20, minY: 20, maxX: 30, maxY: 30),
                     BoxCorners(minX: 5, minY: 0, maxX: 15, maxY: 10)]     // IoU with #0 = 50/150 = 0.33
        #expect(nonMaximumSuppression(boxes, scores: [0.9, 0.95, 0.5, 0.8], threshold: 0.5) == [1, 3, 2])
        #expect(nonMaximumSuppression(boxes, scores: [0.9, 0.95, 0.5, 0.8], threshold: 0.3) == [1, 2])
        #expect(nonMaximumSuppression(boxes, scores: [0.9, 0.95, 0.5, 0.8], threshold: 0.5, limit: 2) == [1, 3])
    }

    @Test func nmsMinimumMeasureDropsNestedBoxes() {
        let outer = BoxCorners(minX: 0, minY: 0, maxX: 20, maxY: 20)
        let inner = BoxCorners(minX: 5, minY: 5, maxX: 10, maxY: 10)        // IoU 0.0625, IoMin 1
        #expect(nonMaximumSuppression([outer, inner], scores: [0.9, 0.8], threshold: 0.5) == [0, 1])
        #expect(nonMaximumSuppression([outer, inner], scores: [0.9, 0.8], threshold: 0.5, measure: .intersectionOverMinimum) == [0])
    }

    @Test func nmsInclusivePixelsCountsEdges() {
        // [0,1]×[0,1] and [1,2]×[0,1] touch: no overlap as areas, one shared pixel column inclusive
        // (IoU 2/6 = 0.33).
        let a = BoxCorners(minX: 0, minY: 0, maxX: 1, maxY: 1), b = BoxCorners(minX: 1, minY: 0, maxX: 2, maxY: 1)
        #expect(nonMaximumSuppression([a, b], scores: [1, 0.5], threshold: 0.3) == [0, 1])
        #expect(nonMaximumSuppression([a, b], scores: [1, 0.5], threshold: 0.3, inclusivePixels: true) == [0])
    }

    @Test func nmsTiesKeepInputOrder() {
        let box = BoxCorners(minX: 0, minY: 0, maxX: 1, maxY: 1)
        #expect(nonMaximumSuppression([box, box], scores: [0.5, 0.5], threshold: 0.5) == [0])
    }

    // MARK: MTCNN geometry

    @Test func mtcnnCalibrationUsesExclusiveThenInclusiveSizes() {
        var box = CascadeBox(x1: 10, y1: 20, x2: 30, y2: 60, score: 1)
        box.regression = (0.1, -0.1, 0.5, 0)
        // Stage 1: width 20, height 40.
        let first = box.calibrated(inclusive: false)
        #expect(first.x1 == 12 && first.y1 == 16 && first.x2 == 40 && first.y2 == 60)
        // Later stages: width 21, height 41.
        let later = box.calibrated(inclusive: true)
        #expect(abs(later.x1 - 12.1) < 1e-9 && abs(later.y1 - 15.9) < 1e-9 && later.x2 == 40.5 && later.y2 == 60)
    }

    @Test func mtcnnSquaringKeepsTheCentre() {
        let square = CascadeBox(x1: 10, y1: 20, x2: 30, y2: 60, score: 1).squared()
        #expect(square.x1 == 0 && square.x2 == 40 && square.y1 == 20 && square.y2 == 60)
        let truncated = CascadeBox(x1: -1.7, y1: 2.9, x2: 3.5, y2: -0.2, score: 1).truncated()
        #expect(truncated.x1 == -1 && truncated.y1 == 2 && truncated.x2 == 3 && truncated.y2 == 0)
    }

    @Test func mtcnnProposalsMapCellsBackThroughTheScale() {
        // A 2 (x) × 3 (y) map at scale 0.5; only cell x=1, y=2 passes.
        var probability = [Float](repeating: 0, count: 12)
        probability[(1 * 3 + 2) * 2 + 1] = 0.9
        var regression = [Float](repeating: 0, count: 24)
        regression[(1 * 3 + 2) * 4 ..< (1 * 3 + 2) * 4 + 4] = [0.1, 0.2, 0.3, 0.4]
        let boxes = probability.withUnsafeBufferPointer { p in
            regression.withUnsafeBufferPointer { r in
                proposalBoxes(probability: p, regression: r, mapWidth: 2, mapHeight: 3, scale: 0.5, threshold: 0.6)
            }
        }
        #expect(boxes.count == 1)
        // x1 = fix((2·1 + 1) / 0.5) = 6, y1 = fix((2·2 + 1) / 0.5) = 10, x2 = (2 + 12) / 0.5 = 28, y2 = 32.
        #expect(boxes.first.map { [$0.x1, $0.y1, $0.x2, $0.y2] } == [6, 10, 28, 32])
        #expect(boxes.first?.score == 0.9)
        #expect(boxes.first.map { [$0.regression.0, $0.regression.2] } == [Double(Float(0.1)), Double(Float(0.3))])
    }

    @Test func mtcnnPyramidStartsAtMinFaceSize() {
        let scales = MTCNNDetector.pyramidScales(width: 100, height: 50, minFaceSize: 20)
        // 12/20 = 0.6; shorter side 50·0.6 = 30 → 21.3 → 15.1 → 10.7 (< 12, stops): three scales.
        #expect(scales.count == 3)
        #expect(abs(scales[0] - 0.6) < 1e-12 && abs(scales[2] - 0.6 * 0.709 * 0.709) < 1e-12)
    }

    @Test func areaResamplingAveragesAndBilinearInterpolates() {
        // Shrinking 4 → 2 averages pairs; enlarging 2 → 4 puts 1/4 and 3/4 mixes between centres.
        let down = resampleTaps(sourceSize: 4, outputSize: 2)
        #expect(down.ranges.map { Array(down.indices[$0]) } == [[0, 1], [2, 3]])
        #expect(down.weights == [0.5, 0.5, 0.5, 0.5])
        let up = resampleTaps(sourceSize: 2, outputSize: 4)
        let values: [Float] = [0, 8]
        let out = up.ranges.map { r in r.reduce(Float(0)) { $0 + up.weights[$1] * values[up.indices[$1]] } }
        #expect(out == [0, 2, 6, 8])
    }

    @Test func regionOutsideTheImageIsBlack() {
        // A 2×1 region starting one pixel left of a 1×1 white image, resampled to 2×1.
        var stored: [Float] = []
        var rowBuffer: [Float] = []
        [UInt8]([255, 255, 255]).withUnsafeBufferPointer { pixels in
            resampleRegion(pixels, width: 1, height: 1, originX: -1, originY: 0, regionWidth: 2, regionHeight: 1,
                           outputWidth: 2, outputHeight: 1, rowBuffer: &rowBuffer) { _, _, r, _, _ in stored.append(r) }
        }
        #expect(stored == [0, 255])
    }

    // MARK: Output mapping

    @Test func facesAreClampedFilteredSortedAndCapped() {
        let faces = [Face(x: -10, y: 5, width: 40, height: 30, score: 0.7, landmarks: [Point2(x: -3, y: 200)]),
                     Face(x: 50, y: 50, width: 5, height: 5, score: 0.99),              // too small
                     Face(x: 80, y: 60, width: 40, height: 60, score: 0.9)]
        var options = DetectionOptions()
        let result = finalizeFaces(faces, width: 100, height: 100, options: options)
        #expect(result.map(\.score) == [0.9, 0.7])
        #expect(result[0] == Face(x: 80, y: 60, width: 20, height: 40, score: 0.9))
        #expect(result[1].x == 0 && result[1].width == 30 && result[1].landmarks == [Point2(x: 0, y: 100)])
        options.maxFaces = 1
        #expect(finalizeFaces(faces, width: 100, height: 100, options: options).count == 1)
    }
}
