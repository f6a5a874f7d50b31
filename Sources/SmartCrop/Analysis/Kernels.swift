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

    public static let current: KernelReport = {
        let supported = KernelSelection.supported.map(\.rawValue)
        switch KernelSelection.current {
        case let .success(set):
            return KernelReport(selected: set.rawValue, supported: supported, cpu: KernelSelection.cpuName, error: nil)
        case let .failure(error):
            return KernelReport(selected: nil, supported: supported, cpu: KernelSelection.cpuName, error: error.description)
        }
    }()

    /// One line: "kernels: avx512 (this CPU runs avx512, avx2, baseline; AMD EPYC 9R14)".
    public var summary: String {
        let runs = supported.isEmpty ? "none" : supported.joined(separator: ", ")
        let machine = cpu.isEmpty ? "" : "; \(cpu)"
        if let selected {
            let forced = selected != supported.first ? ", forced by SMARTCROP_ISA" : ""
            return "kernels: \(selected)\(forced) (this CPU runs \(runs)\(machine))"
        }
        return "kernels: none (\(error ?? "unknown")\(machine))"
    }
}
