import Inference

/// Which compiled inference kernels this process runs (picked from the CPU, or forced with
/// SMARTCROP_ISA), so that `--version`, the server's start-up log and bug reports can say why a
/// machine is slower.
public struct KernelReport: Sendable, Equatable {
    /// The kernel set in use ("avx512", "avx2" or "baseline"), nil when SMARTCROP_ISA is wrong.
    public let selected: String?
    /// Every set this CPU runs, widest first.
    public let supported: [String]
    /// The CPU's own name, when it gives one.
    public let cpu: String
    /// Why no set could be chosen (SMARTCROP_ISA names a set this CPU lacks, or none).
    public let error: String?
    /// What calibrated models run in, and why: "int8 for calibrated models (avx512_vnni),
    /// float32 for the others".
    public let precision: String

    public static let current: KernelReport = {
        let supported = KernelSelection.supported.map(\.rawValue)
        switch KernelSelection.current {
        case let .success(set):
            return KernelReport(selected: set.rawValue, supported: supported, cpu: KernelSelection.cpuName, error: nil,
                                precision: precisionSummary(kernels: set.rawValue,
                                                            int8Kernel: PrecisionSelection.int8Kernel(for: set, named: false)?.rawValue))
        case let .failure(error):
            return KernelReport(selected: nil, supported: supported, cpu: KernelSelection.cpuName, error: error.description,
                                precision: "float32")
        }
    }()

    /// The rule Network applies to a model with a calibration table, in words. `int8Kernel` is
    /// what the `set` kernels run int8 on, unasked (PrecisionSelection.int8Kernel).
    static func precisionSummary(kernels set: String, int8Kernel: String?) -> String {
        switch PrecisionSelection.forced {
        case let .failure(error): return "none (\(error.description))"
        case .success(.float32): return "float32, forced by \(PrecisionSelection.environmentVariable)"
        case .success(.int8): return "int8 for calibrated models, forced by \(PrecisionSelection.environmentVariable); float32 for the others"
        case .success(nil):
            guard !PrecisionSelection.int8Kernels.isEmpty else { return "float32 (this CPU has no VNNI)" }
            guard let int8Kernel else { return "float32 (the \(set) kernels stand for CPUs without VNNI)" }
            return "int8 for calibrated models (\(int8Kernel == "vnni" ? "avx512_vnni" : "avx_vnni")), float32 for the others"
        }
    }

    /// Two lines: "kernels: avx512 (this CPU runs avx512, avx2, baseline; AMD EPYC 9R14)" and
    /// "precision: …".
    public var summary: String { "\(kernelSummary)\nprecision: \(precision)" }

    private var kernelSummary: String {
        let runs = supported.isEmpty ? "none" : supported.joined(separator: ", ")
        let machine = cpu.isEmpty ? "" : "; \(cpu)"
        if let selected {
            let forced = selected != supported.first ? ", forced by SMARTCROP_ISA" : ""
            return "kernels: \(selected)\(forced) (this CPU runs \(runs)\(machine))"
        }
        return "kernels: none (\(error ?? "unknown")\(machine))"
    }
}
