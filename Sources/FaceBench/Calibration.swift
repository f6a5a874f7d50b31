// `face-bench --calibrate`: the activation ranges YuNet's int8 path quantises with
// (tools/calibration/calibrate.sh runs it for `make calibration`).
//
//   face-bench --calibrate MODEL OUTPUT.json SIDE PERCENTILE THRESHOLD RGB...
//
// Each RGB file is SIDE×SIDE interleaved 8-bit RGB: a photo scaled to fit, at the top left, the
// rest black, which is what the detector's padding to a multiple of 32 makes of a photo of that
// size. The float32 network's convolution inputs are measured over all of them (each range's top
// at PERCENTILE of its positive values, 1 for the largest). Then the rule that keeps layers in
// float32: each measured input is quantised alone, and if that moves some cell's face score
// (sqrt(cls · obj), what the detector thresholds) by more than THRESHOLD, averaged over every
// 3rd photo of the largest such move per photo, it is left out of the table.

import Foundation
import Inference

func calibrateYuNet(_ args: [String]) throws {
    guard args.count >= 6, let side = Int(args[2]), side > 0, side % 32 == 0, let percentile = Double(args[3]),
          let threshold = Double(args[4]) else {
        fail("--calibrate MODEL OUTPUT.json SIDE PERCENTILE THRESHOLD RGB... (SIDE a multiple of 32)")
    }
    let path = args[0], output = args[1]
    let bytes = readFile(path)
    let shape = [1, 3, side, side]
    let plane = side * side
    let inputs = args[5...].map { file -> [Float] in
        let rgb = readFile(file)
        guard rgb.count == plane * 3 else { fail("\(file): \(rgb.count) bytes, expected \(side)x\(side)x3") }
        // Planar BGR, 0...255, as YuNetDetector feeds it.
        var input = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            input[i] = Float(rgb[3 * i + 2])
            input[plane + i] = Float(rgb[3 * i + 1])
            input[2 * plane + i] = Float(rgb[3 * i])
        }
        return input
    }
    let source = ModelSource(name: path, remedy: "")
    let float = try Network(model: bytes, source: source, precision: .float32)
    var ranges = try float.activationRanges(inputs, shape: shape, percentile: percentile < 1 ? percentile : nil)

    let probe = stride(from: 0, to: inputs.count, by: 3).map { inputs[$0] }
    /// Each probe photo's face score per cell, all strides in turn.
    func scores(_ network: Network) throws -> [[Float]] {
        try probe.map { input in
            let outputs = try network.run(input, shape: shape)
            var scores: [Float] = []
            for stride in [8, 16, 32] {
                guard let cls = network.outputNames.firstIndex(of: "cls_\(stride)"),
                      let obj = network.outputNames.firstIndex(of: "obj_\(stride)") else { fail("\(path) is not YuNet") }
                for (c, o) in zip(outputs[cls].values, outputs[obj].values) {
                    scores.append((min(max(c, 0), 1) * min(max(o, 0), 1)).squareRoot())
                }
            }
            return scores
        }
    }
    let reference = try scores(float)
    let implementation: Int8Implementation = PrecisionSelection.hasVNNI ? .vnni : .reference
    /// Mean over the probe photos of the largest change of any cell's score.
    func scoreError(_ subset: [String: (min: Float, max: Float)]) throws -> Double {
        let network = try Network(model: bytes, source: source, precision: .int8, int8Implementation: implementation,
                                  int8Inputs: subset.mapValues { ActivationQuantization(min: $0.min, max: $0.max) })
        var total = 0.0
        for (a, b) in zip(reference, try scores(network)) {
            total += Double(zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) })
        }
        return total / Double(reference.count)
    }
    var keptFloat: [(String, Double)] = []
    for name in ranges.keys.sorted() {
        let error = try scoreError([name: ranges[name]!])
        print("alone in int8: \(name) moves the largest score change by \(error)")
        if error > threshold { keptFloat.append((name, error)) }
    }
    for (name, _) in keptFloat { ranges[name] = nil }
    let combined = try scoreError(ranges)
    let name = path.split(separator: "/").last.map(String.init) ?? path
    let statistic = percentile < 1 ? "its min and the \(percentile) quantile of its positive values" : "its min and max"
    let method = "float32 run at \(side)x\(side) over \(inputs.count) photos; each tensor's \(statistic). "
        + "Left in float32: the tensors that alone move some cell's face score sqrt(cls*obj) by more than \(threshold) "
        + "(the largest move per photo, averaged over every 3rd photo); with the rest in int8 that figure is "
        + "\((combined * 1e5).rounded() / 1e5)"
    // Whether int8 may run unasked is the crop and detection measurements' call, not this
    // table's (calibrate.sh says why YuNet's is false).
    let table = CalibratedModel(model: name, sha256: sha256Hex(bytes), bytes: bytes.count, method: method,
                                automatic: ProcessInfo.processInfo.environment["AUTOMATIC"] == "false" ? false : nil,
                                tensors: ranges.mapValues { CalibratedModel.TensorRange(min: $0.min, max: $0.max) },
                                float: Dictionary(uniqueKeysWithValues: keptFloat))
    let json = CalibrationTable.document(of: table, model: try OnnxModel(serialized: bytes))
    guard FileManager.default.createFile(atPath: output, contents: Data(json.utf8)) else { fail("can't write \(output)") }
    print("calibrated \(ranges.count) tensors of \(name) over \(inputs.count) photos into \(output); left in float32: "
          + "\(keptFloat.map(\.0)); largest score change \(combined) on average")
}
