import Foundation
import Testing

/// `--version` and `detect --json` say which inference kernels run, and SMARTCROP_ISA forces them.
@Suite struct KernelCLITests {
    /// The sets `--version` says this CPU runs, widest first.
    static func supportedSets() throws -> (selected: String, supported: [String]) {
        let r = try CLI.run(["--version"], without: ["SMARTCROP_ISA"])
        #expect(r.status == 0, "\(r.stderr)")
        let line = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("kernels: ") }, "\(r.stdout)")
        let selected = String(line.dropFirst("kernels: ".count).prefix { $0 != " " && $0 != "," })
        let runs = try #require(line.range(of: "this CPU runs "), "\(line)")
        let list = line[runs.upperBound...].prefix { $0 != ";" && $0 != ")" }
        return (selected, list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    @Test func versionNamesTheWidestSetByDefault() throws {
        let (selected, supported) = try Self.supportedSets()
        #expect(supported.contains("baseline"), "every x86-64-v2 or arm64 CPU runs the baseline: \(supported)")
        #expect(selected == supported.first)
    }

    @Test(.enabled(if: CLISamples.exists("astronaut.png"), "needs .assets/samples from `make samples`"))
    func everySupportedSetCanBeForcedAndFindsTheSameFaces() throws {
        let (_, supported) = try Self.supportedSets()
        let photo = CLISamples.path("astronaut.png")
        var boxes: [String: [[Int]]] = [:]
        for set in supported {
            let version = try CLI.run(["--version"], setting: ["SMARTCROP_ISA": set])
            #expect(version.stdout.contains("kernels: \(set)"), "\(version.stdout)")
            let r = try CLI.run(["detect", photo, "--json", "--detector", "mtcnn"], setting: ["SMARTCROP_ISA": set])
            #expect(r.status == 0, "\(r.stderr)")
            let answer = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            #expect(answer?["kernels"] as? String == set)
            let faces = answer?["faces"] as? [[String: Any]] ?? []
            boxes[set] = faces.map { face in ["x", "y", "width", "height"].map { Int((face[$0] as? Double ?? -1).rounded()) } }
        }
        #expect(Set(boxes.values.map { $0.description }).count == 1, "faces differ between kernel sets: \(boxes)")
        #expect(boxes.values.first?.isEmpty == false)
    }

    @Test func anUnknownOrMissingSetIsAUsageError() throws {
        let (_, supported) = try Self.supportedSets()
        var refused = ["sse9"]
        refused += ["avx512", "avx2", "baseline"].filter { !supported.contains($0) }
        let w = try Workspace()
        for name in refused {
            let r = try CLI.run(["crop", w.path("in.png"), "--size", "32x32", "-o", w.path("out-\(name).png")],
                                setting: ["SMARTCROP_ISA": name])
            #expect(r.status == 2, "SMARTCROP_ISA=\(name): \(r.stderr)")
            #expect(r.stderr.contains("SMARTCROP_ISA=\(name)"))
            #expect(!w.files.contains("out-\(name).png"))
        }
    }

    /// The precision line of `--version` with SMARTCROP_PRECISION and SMARTCROP_ISA as given.
    static func precisionLine(_ settings: [String: String]) throws -> String {
        let r = try CLI.run(["--version"], without: ["SMARTCROP_PRECISION", "SMARTCROP_ISA"].filter { settings[$0] == nil }, setting: settings)
        #expect(r.status == 0, "\(r.stderr)")
        let line = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("precision: ") }, "\(r.stdout)")
        return String(line.dropFirst("precision: ".count))
    }

    @Test func versionSaysWhatCalibratedModelsRunIn() throws {
        let automatic = try Self.precisionLine([:])
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let hasAVX512VNNI = cpuinfo.contains(" avx512_vnni"), hasAVXVNNI = cpuinfo.contains(" avx_vnni")
        let cpuHasVNNI = hasAVX512VNNI || hasAVXVNNI
        let (selected, _) = try Self.supportedSets()
        // Unasked, int8 runs on a CPU with VNNI, on the kernel set that stands for it: avx512, or
        // avx2 with AVX-VNNI.
        #expect(automatic.hasPrefix("int8") == ((selected == "avx512" && cpuHasVNNI) || (selected == "avx2" && hasAVXVNNI)),
                "\(automatic)")
        #expect(try Self.precisionLine(["SMARTCROP_PRECISION": "float32"]) == "float32, forced by SMARTCROP_PRECISION")
        #expect(try Self.precisionLine(["SMARTCROP_ISA": "baseline"]).hasPrefix("float32 ("))
        #expect(try Self.precisionLine(["SMARTCROP_PRECISION": "fp8"]).contains("SMARTCROP_PRECISION=fp8 is not a precision"))
        if cpuHasVNNI {
            #expect(try Self.precisionLine(["SMARTCROP_PRECISION": "int8", "SMARTCROP_ISA": "baseline"]).hasPrefix("int8 for calibrated models, forced"))
        }
    }
}
