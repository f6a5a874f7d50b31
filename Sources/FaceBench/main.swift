// Single-threaded timing of the face detectors, the Swift half of `bench/face-bench.sh`.
// Prints one `RESULT <key> <median ms> min=<fastest ms>` line per measurement;
// bench/ort_bench.py prints the same keys for onnxruntime so the script can pair them.
//
//   face-bench [--yunet FILE] [--mtcnn DIR] [--rgb FILE --width W --height H]
//              [--runs N] [--warmup N] [--calls-out FILE] [--only yunet|mtcnn]
//              [--sizes 640x640,640x480] [--network-only] [--profile]
//
// `--depthwise` times YuNet's depthwise layers alone in float32 and int8 (DepthwiseBench.swift).
// `--calibrate ...` measures YuNet's int8 calibration table instead (see Calibration.swift).
//
// --profile prints each plan step's fastest time instead (YuNet at each size; MTCNN per
// distinct network call). --network-only skips the detect/full-cascade timings.
//
// YuNet runs at 640x640 and 640x480 on a deterministic synthetic image (or the --rgb image,
// cropped or padded). MTCNN runs its full cascade on the --rgb image (synthetic 640x640 when
// none is given); --calls-out writes the cascade's network calls so onnxruntime can replay
// exactly the same work.

@_spi(Benchmark) import FaceDetection
// Full Foundation (FileHandle, String(format:), JSONSerialization): this is a benchmark tool, not
// part of the product, so the FoundationEssentials-only rule does not apply.
import Foundation
import Inference

struct Arguments {
    var yunet = ProcessInfo.processInfo.environment["SMARTCROP_YUNET_MODEL"] ?? "../shared/models/face_detection_yunet_2023mar.onnx"
    var mtcnn = (ProcessInfo.processInfo.environment["SMARTCROP_ASSETS"] ?? ".assets") + "/models/mtcnn"
    var rgb: String?
    var width = 0
    var height = 0
    var runs = 30
    var warmup = 5
    var callsOut: String?
    var only: String?
    var sizes = [(640, 640), (640, 480)]
    var networkOnly = false
    var profile = false

    init() {
        var args = CommandLine.arguments.dropFirst().makeIterator()
        func value(_ flag: String) -> String {
            guard let v = args.next() else { fail("\(flag) needs a value") }
            return v
        }
        while let arg = args.next() {
            switch arg {
            case "--yunet": yunet = value(arg)
            case "--mtcnn": mtcnn = value(arg)
            case "--rgb": rgb = value(arg)
            case "--width": width = Int(value(arg)) ?? 0
            case "--height": height = Int(value(arg)) ?? 0
            case "--runs": runs = max(1, Int(value(arg)) ?? 30)
            case "--warmup": warmup = max(0, Int(value(arg)) ?? 5)
            case "--calls-out": callsOut = value(arg)
            case "--only": only = value(arg)
            case "--sizes":
                sizes = value(arg).split(separator: ",").map { size in
                    let parts = size.split(separator: "x").compactMap { Int($0) }
                    guard parts.count == 2, parts.allSatisfy({ $0 > 0 }) else { fail("--sizes wants WxH[,WxH...]") }
                    return (parts[0], parts[1])
                }
            case "--network-only": networkOnly = true
            case "--profile": profile = true
            case "--depthwise":
                depthwiseBench(runs: runs, warmup: warmup)
                exit(0)
            case "--precisions":
                // The precisions this CPU runs YuNet in (int8 where it has AVX-512 VNNI).
                print(PrecisionSelection.hasVNNI ? "float32 int8" : "float32")
                exit(0)
            case "--kernel-sets":
                // The kernel sets this CPU runs, for scripts that bench each (SMARTCROP_ISA picks one).
                print(KernelSelection.supported.map(\.rawValue).joined(separator: " "))
                exit(0)
            default: fail("unknown argument \(arg)")
            }
        }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("face-bench: \(message)\n".utf8))
    exit(2)
}

func readFile(_ path: String) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
    return [UInt8](data)
}

/// Median and fastest wall time in milliseconds of `runs` calls after `warmup` unmeasured ones.
func timeMilliseconds(runs: Int, warmup: Int, _ body: () throws -> Void) rethrows -> (median: Double, min: Double) {
    for _ in 0..<warmup { try body() }
    let clock = ContinuousClock()
    var samples: [Double] = []
    for _ in 0..<runs {
        let elapsed = try clock.measure(body)
        samples.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }
    samples.sort()
    let median = samples.count % 2 == 1 ? samples[samples.count / 2] : (samples[samples.count / 2 - 1] + samples[samples.count / 2]) / 2
    return (median, samples[0])
}

func report(_ key: String, _ time: (median: Double, min: Double), _ note: String = "") {
    print("RESULT \(key) \(String(format: "%.3f", time.median)) min=\(String(format: "%.3f", time.min))\(note.isEmpty ? "" : " " + note)")
}

func printProfile(_ title: String, _ steps: [(label: String, seconds: Double)]) {
    let total = steps.reduce(0) { $0 + $1.seconds }
    print("PROFILE \(title): \(String(format: "%.3f", total * 1000)) ms (sum of per-step minima)")
    for step in steps where step.seconds * 1000 >= 0.005 {
        print(String(format: "  %7.3f ms %5.1f%%  ", step.seconds * 1000, 100 * step.seconds / total) + step.label)
    }
}

/// The same formula as the parity fixtures, as RGB bytes.
func syntheticImage(width: Int, height: Int) -> RGBImage {
    RGBImage(width: width, height: height, pixels: (0..<(width * height * 3)).map { UInt8(($0 * 37) % 251) })
}

/// `source` cropped or zero-padded to `width`×`height`.
func fitted(_ source: RGBImage, width: Int, height: Int) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<min(height, source.height) {
        for x in 0..<min(width, source.width) {
            for c in 0..<3 { pixels[(y * width + x) * 3 + c] = source.pixels[(y * source.width + x) * 3 + c] }
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

if CommandLine.arguments.dropFirst().first == "--calibrate" {
    do {
        try calibrateYuNet(Array(CommandLine.arguments.dropFirst(2)))
    } catch {
        fail("\(error)")
    }
    exit(0)
}
let arguments = Arguments()
var photo: RGBImage?
if let path = arguments.rgb {
    guard arguments.width > 0, arguments.height > 0 else { fail("--rgb needs --width and --height") }
    let bytes = readFile(path)
    guard bytes.count == arguments.width * arguments.height * 3 else {
        fail("\(path) has \(bytes.count) bytes, expected \(arguments.width)x\(arguments.height)x3")
    }
    photo = RGBImage(width: arguments.width, height: arguments.height, pixels: bytes)
}

do {
    if arguments.only == nil || arguments.only == "yunet" {
        let detector = try YuNetDetector(model: readFile(arguments.yunet), name: arguments.yunet)
        for (width, height) in arguments.sizes {
            let image = photo.map { fitted($0, width: width, height: height) } ?? syntheticImage(width: width, height: height)
            let (input, shape) = detector.preparedInput(image)
            if arguments.profile {
                printProfile("yunet \(width)x\(height)", try detector.profileNetwork(input, shape: shape, runs: max(arguments.runs, 1)))
                continue
            }
            let network = try timeMilliseconds(runs: arguments.runs, warmup: arguments.warmup) {
                try detector.runNetwork(input, shape: shape)
            }
            report("yunet_net_\(width)x\(height)", network)
            if arguments.networkOnly { continue }
            var faces = 0
            let full = try timeMilliseconds(runs: arguments.runs, warmup: arguments.warmup) {
                faces = try detector.detect(image).count
            }
            report("yunet_detect_\(width)x\(height)", full, "faces=\(faces)")
        }
    }
    if arguments.only == nil || arguments.only == "mtcnn" {
        let detector = try MTCNNDetector(pnet: readFile(arguments.mtcnn + "/pnet.onnx"), rnet: readFile(arguments.mtcnn + "/rnet.onnx"),
                                         onet: readFile(arguments.mtcnn + "/onet.onnx"), name: arguments.mtcnn)
        let image = photo ?? syntheticImage(width: 640, height: 640)
        let key = "\(image.width)x\(image.height)"
        let (faces, calls) = try detector.detectRecordingNetworkCalls(image)
        // The same network calls with synthetic inputs: comparable with onnxruntime replaying them.
        func replayInput(_ count: Int) -> [Float] {
            (0..<count).map { i -> Float in Float((i * 37) % 251) / 250 * 2 - 1 }
        }
        let inputs: [(String, [Float], [Int])] = calls.map { call in
            (call.network, replayInput(call.shape.reduce(1, *)), call.shape)
        }
        if arguments.profile {
            var seen = Set<String>()
            for (name, input, shape) in inputs where seen.insert("\(name)\(shape)").inserted {
                let count = inputs.filter { $0.0 == name && $0.2 == shape }.count
                printProfile("\(name) \(shape) x\(count)", try detector.profileNetwork(name, input, shape: shape, runs: max(arguments.runs, 1)))
            }
            exit(0)
        }
        if !arguments.networkOnly {
            let full = try timeMilliseconds(runs: arguments.runs, warmup: arguments.warmup) {
                _ = try detector.detect(image)
            }
            report("mtcnn_detect_\(key)", full, "faces=\(faces.count)")
        }
        let networks = try timeMilliseconds(runs: arguments.runs, warmup: arguments.warmup) {
            for (name, input, shape) in inputs { try detector.runNetwork(name, input, shape: shape) }
        }
        report("mtcnn_nets_\(key)", networks, "calls=\(calls.count)")
        if let path = arguments.callsOut {
            let json = calls.map { ["network": $0.network, "shape": $0.shape] as [String: Any] }
            let data = try JSONSerialization.data(withJSONObject: json)
            try data.write(to: URL(fileURLWithPath: path))
        }
        for face in faces {
            print(String(format: "face x=%.1f y=%.1f w=%.1f h=%.1f score=%.4f", face.x, face.y, face.width, face.height, face.score))
        }
    }
} catch {
    fail("\(error)")
}
