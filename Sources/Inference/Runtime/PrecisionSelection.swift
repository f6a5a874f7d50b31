// Which arithmetic a network's convolutions run in, and on which int8 kernels: int8 on CPUs with
// AVX-512 VNNI or AVX-VNNI, for models with calibrated activation ranges (Inference/Calibration),
// float32 otherwise, unless SMARTCROP_PRECISION names one.

import CCPUFeatures
import KernelInterface

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

package enum Precision: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32
    /// The eligible convolutions in int8 (u8 × s8, int32 sums); everything else float32.
    case int8

    package var description: String { rawValue }
}

/// SMARTCROP_PRECISION named no precision, or int8 on a CPU without VNNI.
package struct PrecisionError: Error, Equatable, Sendable, CustomStringConvertible {
    package var description: String
}

package enum PrecisionSelection {
    package static let environmentVariable = "SMARTCROP_PRECISION"

    /// Whether this CPU runs the AVX-512 VNNI int8 kernels.
    package static let hasVNNI: Bool = cpuHas(UInt32(SMARTCROP_CPU_AVX512_VNNI))

    /// Whether this CPU runs the AVX-VNNI (256-bit) int8 kernels.
    package static let hasAVXVNNI: Bool = cpuHas(UInt32(SMARTCROP_CPU_AVX_VNNI))

    /// The int8 kernels this CPU runs, widest first (the portable reference, which runs anywhere,
    /// is for tests and is not listed).
    package static let int8Kernels: [Int8Implementation] = (hasVNNI ? [.vnni] : []) + (hasAVXVNNI ? [.avxVNNI] : [])

    private static func cpuHas(_ feature: UInt32) -> Bool {
        #if arch(x86_64)
        return smartcrop_cpu_features() & feature != 0
        #else
        return false
        #endif
    }

    /// The precision forced by SMARTCROP_PRECISION (nil: each model's own choice, see
    /// `int8Kernel`), or why the setting can't be honoured.
    package static let forced: Result<Precision?, PrecisionError> = choose(
        forced: getenv(environmentVariable).map { String(cString: $0) }, runsInt8: !int8Kernels.isEmpty)

    /// The rule behind `forced`, apart from the process's environment and CPU.
    package static func choose(forced: String?, runsInt8: Bool) -> Result<Precision?, PrecisionError> {
        guard let forced, !forced.isEmpty else { return .success(nil) }
        guard let wanted = Precision(rawValue: forced.lowercased()) else {
            let names = Precision.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure(PrecisionError(description: "\(environmentVariable)=\(forced) is not a precision; use one of \(names)"))
        }
        if wanted == .int8 && !runsInt8 {
            return .failure(PrecisionError(description: "\(environmentVariable)=int8 \(int8Requirement), which this one lacks; use float32"))
        }
        return .success(wanted)
    }

    /// What int8 needs, for error messages.
    package static let int8Requirement = "needs a CPU with AVX-512 VNNI (avx512_vnni) or AVX-VNNI (avx_vnni)"

    /// The int8 kernels a network on the `set` kernels runs, nil for float32. Each float kernel
    /// set stands for the CPUs it is the widest on, and without SMARTCROP_PRECISION (`named`
    /// false) a network runs the int8 kernels those CPUs would: on avx512 this CPU's widest (AVX-512
    /// VNNI); on avx2, which stands for AVX2 CPUs without AVX-512, AVX-VNNI where this CPU has it
    /// (an Alder Lake's choice) and float32 where it has not (a Haswell's, or a Zen 4's forced to
    /// avx2); on baseline float32. Asked for int8 by name, a set without its own int8 kernels on
    /// this CPU takes the widest the CPU runs, and nil is then an error. `available` is this CPU's
    /// `int8Kernels` outside tests.
    package static func int8Kernel(for set: InstructionSet, named: Bool,
                                   available: [Int8Implementation] = int8Kernels) -> Int8Implementation? {
        let own: Int8Implementation?
        switch set {
        case .avx512: own = available.first
        case .avx2: own = available.contains(.avxVNNI) ? .avxVNNI : nil
        case .baseline: own = nil
        }
        return own ?? (named ? available.first : nil)
    }
}
