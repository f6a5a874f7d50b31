// Speed of the subject step on one core: importance map + window search for the five crop
// aspects, on a 256-px proxy. Proxy decoding is not included (libvips does that).
//
//   SaliencyBench [--iterations N] [--rgb FILE WIDTH HEIGHT]
//   SaliencyBench --u2netp FILE [--size S] [--runs N] [--warmup N] [--threads N] [--profile]
//
// With --u2netp it times the U-2-Netp network alone at S×S (default 224) on the synthetic
// input shared with bench/u2netp_ort_bench.py, and prints `RESULT u2netp-SxS <median ms>
// min=<fastest ms>`, the line bench/subject-bench.sh pairs with onnxruntime's; --profile
// prints each plan step's fastest time instead.
//
// Without --rgb it uses a synthetic 256x171 scene (textured background, two objects). With
// --rgb it reads raw interleaved 8-bit RGB (e.g. `vips thumbnail in.jpg out.v 256` then
// `vips rawsave out.v out.rgb`).

@_spi(Benchmark) import Saliency
import Inference

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The mean absolute difference of two sets of masks (0...1), value by value.
func meanAbsoluteDifference(_ a: [[Float]], _ b: [[Float]]) -> Double {
    var total = 0.0
    for (x, y) in zip(a, b) { for (u, v) in zip(x, y) { total += Double(abs(u - v)) } }
    return total / Double(a.count * a[0].count)
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6
}

func syntheticScene(width: Int, height: Int) -> [UInt8] {
    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    var seed: UInt64 = 0x9E3779B97F4A7C15
    func noise() -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int(seed >> 59) - 16 }
    for y in 0..<height {
        for x in 0..<width {
            var r = 90 + noise(), g = 120 + noise() + (x / 7 % 2) * 12, b = 70 + noise()   // grass-like texture
            let dx = Double(x - width * 2 / 3), dy = Double(y - height / 2)
            if dx * dx / 900 + dy * dy / 1600 < 1 { r = 200; g = 60; b = 50 }            // main object
            if abs(x - width / 5) < 8 && abs(y - height / 3) < 8 { r = 230; g = 220; b = 40 }  // small object
            let i = (y * width + x) * 3
            rgb[i] = UInt8(clamping: r); rgb[i + 1] = UInt8(clamping: g); rgb[i + 2] = UInt8(clamping: b)
        }
    }
    return rgb
}

func readFile(_ path: String) -> [UInt8] {
    guard let file = fopen(path, "rb") else { fatalError("can't open \(path)") }
    fseek(file, 0, SEEK_END)
    let count = ftell(file)
    fseek(file, 0, SEEK_SET)
    var bytes = [UInt8](repeating: 0, count: count)
    _ = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, count, file) }
    fclose(file)
    return bytes
}

var iterations = 200
var width = 256, height = 171
var rgb: [UInt8]? = nil
var u2netp: String?
var u2netpSize = SubjectModel.defaultInputSize
var runs = 20, warmup = 3
var profile = false
var threads = 1
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--u2netp": u2netp = args.popFirst()
    case "--size": u2netpSize = Int(args.popFirst() ?? "") ?? u2netpSize
    case "--runs": runs = max(1, Int(args.popFirst() ?? "") ?? runs)
    case "--warmup": warmup = max(0, Int(args.popFirst() ?? "") ?? warmup)
    case "--profile": profile = true
    case "--kernel-sets":
        // The kernel sets this CPU runs, for scripts that bench each (SMARTCROP_ISA picks one).
        print(KernelSelection.supported.map(\.rawValue).joined(separator: " "))
        exit(0)
    case "--precisions":
        // The precisions this CPU runs, for the same scripts; when SMARTCROP_PRECISION asks for
        // one it cannot run, the error and exit status 2 (scripts/portability-check.sh checks
        // that forcing int8 on a CPU without VNNI says so rather than faulting).
        if case let .failure(error) = PrecisionSelection.forced {
            print("SaliencyBench: \(error.description)")
            exit(2)
        }
        print(PrecisionSelection.int8Kernels.isEmpty ? "float32" : "float32 int8")
        exit(0)
    case "--int8-kernels":
        // The int8 kernels this CPU runs, widest first ("vnni" for AVX-512 VNNI, "avx-vnni"), or nothing.
        print(PrecisionSelection.int8Kernels.map(\.rawValue).joined(separator: " "))
        exit(0)
    case "--int8-parity":
        // --int8-parity MODEL: a calibrated U-2-Netp in int8 on the int8 kernels this CPU picks by
        // itself, against the same plan on the portable reference kernels, bit for bit. For
        // scripts/portability-check.sh, which runs it on emulated CPUs. Exit 0 and the kernels
        // when equal, 1 when not, 3 when this CPU picks float32.
        let path = args.popFirst() ?? ""
        guard let file = fopen(path, "rb") else { fatalError("can't open \(path)") }
        fseek(file, 0, SEEK_END); let count = ftell(file); fseek(file, 0, SEEK_SET)
        var bytes = [UInt8](repeating: 0, count: count)
        _ = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, count, file) }
        fclose(file)
        let source = ModelSource(name: path, remedy: "")
        let automatic = try Network(model: bytes, source: source, outputs: .first(1))
        guard let kernel = automatic.int8Kernel else {
            print("float32 on the \(automatic.kernels.instructionSet) kernels")
            exit(3)
        }
        let reference = try Network(model: bytes, source: source, outputs: .first(1), instructionSet: automatic.kernels.instructionSet,
                                    precision: .int8, int8Implementation: .reference)
        // A small input, as the reference kernels are scalar loops and emulation is slow; rows
        // and columns that are not whole tiles, so the kernels' edges are in it.
        let shape = [1, 3, 40, 58]
        let input = (0..<shape.reduce(1, *)).map { i in Float((i * 37) % 251) / 125 - 1 }
        let equal = try automatic.run(input, shape: shape)[0].values == reference.run(input, shape: shape)[0].values
        print("int8 on the \(kernel.rawValue) kernels (\(automatic.kernels.instructionSet) float kernels): "
              + (equal ? "mask equals the reference kernels'" : "mask DIFFERS from the reference kernels'"))
        exit(equal ? 0 : 1)
    case "--threads": threads = max(1, Int(args.popFirst() ?? "") ?? 1)
    case "--network":
        // Any one-input model at a given shape, profiled per step (for kernel work).
        let path = args.popFirst() ?? ""
        let shape = (args.popFirst() ?? "").split(separator: ",").compactMap { Int($0) }
        guard let file = fopen(path, "rb") else { fatalError("can't open \(path)") }
        fseek(file, 0, SEEK_END); let count = ftell(file); fseek(file, 0, SEEK_SET)
        var bytes = [UInt8](repeating: 0, count: count)
        _ = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, count, file) }
        fclose(file)
        let network = try Network(model: bytes, source: ModelSource(name: path, remedy: ""))
        let input = (0..<shape.reduce(1, *)).map { i in Float((i * 37) % 251) / 250 - 0.5 }
        for (label, seconds) in try network.profile(input, shape: shape, runs: 10) { print("\(Int((seconds * 1e6).rounded())) us  \(label)") }
        let arenaMB = Double(try network.plan(for: shape).arenaCount * MemoryLayout<Float>.size) / 1e6
        print("arena \((arenaMB * 10).rounded() / 10) MB (activations and scratch of one run)")
        exit(0)
    case "--calibrate":
        // --calibrate MODEL OUTPUT.json SIZE PERCENTILE THRESHOLD RGB... : each RGB file is
        // SIZE×SIZE interleaved 8-bit RGB (tools/calibration/calibrate.sh makes them); writes the
        // model's calibration table, each range's top at PERCENTILE of its values (1: the
        // largest), without the tensors that alone move the mask by more than THRESHOLD.
        let path = args.popFirst() ?? "", output = args.popFirst() ?? "", side = Int(args.popFirst() ?? "") ?? 0
        let percentile = Double(args.popFirst() ?? "") ?? 1
        let floatThreshold = Double(args.popFirst() ?? "") ?? 0.005
        let files = Array(args)
        args.removeAll()
        guard side > 0, !files.isEmpty else { fatalError("--calibrate MODEL OUTPUT.json SIZE RGB...") }
        let bytes = readFile(path)
        let images = files.map { file -> [UInt8] in
            let rgb = readFile(file)
            guard rgb.count == side * side * 3 else { fatalError("\(file): \(rgb.count) bytes, expected \(side * side * 3)") }
            return rgb
        }
        var ranges = try SubjectModel.activationRanges(model: bytes, name: path, inputSize: side, squareRGBs: images,
                                                       percentile: percentile < 1 ? percentile : nil)
        // Which layers stay float: each tensor quantised alone, on every 5th photo, against the
        // float32 mask; those that alone move the mask by more than the threshold (mean absolute
        // difference) are left out of the table. (In U-2-Netp one decoder input carries a few
        // channels a hundred times larger than the rest, which one u8 grid cannot hold.)
        let probe = stride(from: 0, to: images.count, by: 5).map { images[$0] }
        let reference = try SubjectModel.masks(model: bytes, name: path, inputSize: side, squareRGBs: probe, int8: false)
        func maskError(_ subset: [String: (min: Float, max: Float)]) throws -> Double {
            meanAbsoluteDifference(reference, try SubjectModel.masks(model: bytes, name: path, inputSize: side, squareRGBs: probe,
                                                                     int8: true, int8Ranges: subset))
        }
        var keptFloat: [(String, Double)] = []
        for name in ranges.keys.sorted() {
            let error = try maskError([name: ranges[name]!])
            if error > floatThreshold { keptFloat.append((name, error)) }
        }
        for (name, _) in keptFloat { ranges[name] = nil }
        let combined = try maskError(ranges)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let statistic = percentile < 1 ? "its min and the \(percentile) quantile of its positive values" : "its min and max"
        let method = "float32 run at \(side)x\(side) over \(images.count) photos; each tensor's \(statistic). "
            + "Left in float32: the tensors that alone move the mask by more than \(floatThreshold) on average (every 5th photo); "
            + "with the rest in int8 the mask moves by \((combined * 1e5).rounded() / 1e5) on average"
        let table = CalibratedModel(model: name, sha256: sha256Hex(bytes), bytes: bytes.count, method: method,
                                    tensors: ranges.mapValues { CalibratedModel.TensorRange(min: $0.min, max: $0.max) },
                                    float: Dictionary(uniqueKeysWithValues: keptFloat))
        let json = CalibrationTable.document(of: table, model: try OnnxModel(serialized: bytes))
        guard let file = fopen(output, "wb") else { fatalError("can't write \(output)") }
        _ = json.utf8CString.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count - 1, file) }
        fclose(file)
        print("calibrated \(ranges.count) tensors of \(name) over \(images.count) photos into \(output); left in float32: "
              + "\(keptFloat.map(\.0)); mask moves by \(combined) on average")
        exit(0)

    case "--readers":
        // --readers MODEL TABLE.json : (re)writes the table's "convolutions" and "readers" from
        // the model it was measured on, leaving its ranges as they are; for tables measured
        // before tables carried them.
        let path = args.popFirst() ?? "", output = args.popFirst() ?? ""
        let bytes = readFile(path)
        let text = String(decoding: readFile(output), as: UTF8.self)
        guard let table = try? CalibrationTable.decode(text), table.sha256 == sha256Hex(bytes) else {
            fatalError("\(output) is not the calibration table of \(path)")
        }
        // The table written again as --calibrate writes it: its ranges as they are, the readers new.
        let document = CalibrationTable.document(of: table, model: try OnnxModel(serialized: bytes))
        guard let file = fopen(output, "wb") else { fatalError("can't write \(output)") }
        _ = document.utf8CString.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count - 1, file) }
        fclose(file)
        print("wrote the readers of \(table.tensors.count) tensors into \(output)")
        exit(0)
    case "--sensitivity":
        // --sensitivity MODEL SIZE RGB... : each calibrated tensor quantised alone, the mean
        // absolute difference of the mask from float32's, over the photos.
        let path = args.popFirst() ?? "", side = Int(args.popFirst() ?? "") ?? 0
        let images = args.map { readFile($0) }
        args.removeAll()
        let bytes = readFile(path)
        guard let table = CalibrationTable.model(for: bytes) else { fatalError("no calibration table for \(path)") }
        let ranges = table.tensors.mapValues { (min: $0.min, max: $0.max) }
        let float = try SubjectModel.masks(model: bytes, name: path, inputSize: side, squareRGBs: images, int8: false)
        func error(_ subset: [String: (min: Float, max: Float)]) throws -> Double {
            meanAbsoluteDifference(float, try SubjectModel.masks(model: bytes, name: path, inputSize: side, squareRGBs: images,
                                                                 int8: true, int8Ranges: subset))
        }
        for name in ranges.keys.sorted() {
            print("\(try error([name: ranges[name]!]))\t\(name)")
        }
        print("all\t\(try error(ranges))")
        exit(0)
    case "--compare-precisions":
        // --compare-precisions MODEL SIZE RGB... : the int8 mask against the float32 one per photo
        // (correlation, mean and largest absolute difference), for tuning the calibration.
        let path = args.popFirst() ?? "", side = Int(args.popFirst() ?? "") ?? 0
        let images = args.map { readFile($0) }
        args.removeAll()
        let bytes = readFile(path)
        let float = try SubjectModel.masks(model: bytes, name: path, inputSize: side, squareRGBs: images, int8: false)
        let int8 = try SubjectModel.masks(model: bytes, name: path, inputSize: side, squareRGBs: images, int8: true)
        var correlations: [Double] = [], means: [Double] = []
        for (a, b) in zip(float, int8) {
            let n = Double(a.count)
            let meanA = a.reduce(0.0) { $0 + Double($1) } / n, meanB = b.reduce(0.0) { $0 + Double($1) } / n
            var covariance = 0.0, varianceA = 0.0, varianceB = 0.0, total = 0.0
            for (x, y) in zip(a, b) {
                covariance += (Double(x) - meanA) * (Double(y) - meanB)
                varianceA += (Double(x) - meanA) * (Double(x) - meanA)
                varianceB += (Double(y) - meanB) * (Double(y) - meanB)
                total += abs(Double(x - y))
            }
            correlations.append(covariance / max((varianceA * varianceB).squareRoot(), 1e-12))
            means.append(total / n)
        }
        let sorted = correlations.sorted()
        print("\(images.count) photos: correlation median \(sorted[sorted.count / 2]), worst \(sorted[0]), "
              + "below 0.95: \(sorted.filter { $0 < 0.95 }.count); mean |Δ| \(means.reduce(0, +) / Double(means.count))")
        exit(0)
    case "--iterations": iterations = Int(args.popFirst() ?? "") ?? iterations
    case "--rgb":
        guard let path = args.popFirst(), let w = Int(args.popFirst() ?? ""), let h = Int(args.popFirst() ?? ""),
              let file = fopen(path, "rb") else { fatalError("--rgb FILE WIDTH HEIGHT") }
        var data = [UInt8](repeating: 0, count: w * h * 3)
        let read = data.withUnsafeMutableBytes { fread($0.baseAddress, 1, w * h * 3, file) }
        fclose(file)
        guard read == w * h * 3 else { fatalError("\(path): expected \(w * h * 3) bytes, read \(read)") }
        rgb = data; width = w; height = h
    default: fatalError("unknown argument \(a)")
    }
}
if let u2netp {
    guard let file = fopen(u2netp, "rb") else { fatalError("can't open \(u2netp)") }
    fseek(file, 0, SEEK_END)
    let count = ftell(file)
    fseek(file, 0, SEEK_SET)
    var bytes = [UInt8](repeating: 0, count: count)
    _ = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, count, file) }
    fclose(file)
    let model = try SubjectModel(model: bytes, name: u2netp, inputSize: u2netpSize)
    // The parity tests' texture, (v / 255 - 0.5) * 4: the network's speed does not depend on it.
    var input = (0..<(3 * u2netpSize * u2netpSize)).map { i in (Float((i * 37) % 251) / 250 - 0.5) * 4 }
    if let rgb, width == u2netpSize, height == u2netpSize {
        let plane = width * height
        for c in 0..<3 { for i in 0..<plane { input[c * plane + i] = (Float(rgb[i * 3 + c]) / 255 - 0.45) / 0.225 } }
    }
    if profile {
        for (label, seconds) in try model.profileNetwork(input, runs: runs) { print("\(Int((seconds * 1e6).rounded())) us  \(label)") }
        exit(0)
    }
    var times: [Double] = []
    for i in 0..<(runs + warmup) {
        let t0 = now()
        try model.runNetwork(input, threads: threads)
        if i >= warmup { times.append(now() - t0) }
    }
    let sorted = times.sorted()
    let suffix = threads > 1 ? "-threads\(threads)" : ""
    print("RESULT u2netp-\(u2netpSize)x\(u2netpSize)\(suffix) \(sorted[sorted.count / 2]) min=\(sorted[0])")
    exit(0)
}

let pixels = rgb ?? syntheticScene(width: width, height: height)
let aspects: [Double] = [1, 4.0 / 5, 9.0 / 16, 16.0 / 9, 1.91]

var mapTimes: [Double] = [], searchTimes: [Double] = [], totals: [Double] = []
var sink = 0.0
for i in 0..<(iterations + 10) {
    let t0 = now()
    let map = ImportanceMapBuilder.build(rgb: pixels, width: width, height: height)
    let t1 = now()
    for a in aspects {
        let w = SubjectLocator.bestWindow(in: map, aspect: a, imageAspect: Double(width) / Double(height))
        sink += w.x + w.y
    }
    let t2 = now()
    if i >= 10 { mapTimes.append(t1 - t0); searchTimes.append((t2 - t1) / Double(aspects.count)); totals.append(t2 - t0) }
}
func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }
func ms(_ v: Double) -> String { let t = Int((v * 1000).rounded()); return "\(t / 1000).\(String(repeating: "0", count: 3 - String(t % 1000).count))\(t % 1000) ms" }
print("proxy \(width)x\(height), \(iterations) runs on one thread: median (fastest)")
print("  importance map        \(ms(median(mapTimes))) (\(ms(mapTimes.min()!)))")
print("  window search/aspect  \(ms(median(searchTimes))) (\(ms(searchTimes.min()!)))")
print("  map + 5 aspects       \(ms(median(totals))) (\(ms(totals.min()!)))")
if sink.isNaN { print(sink) }
