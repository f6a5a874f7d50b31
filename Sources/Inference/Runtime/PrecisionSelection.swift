// Which arithmetic a network's convolutions run in: int8 on CPUs with AVX-512 VNNI, for models
// with calibrated activation ranges (Inference/Calibration), float32 otherwise, unless
// SMARTCROP_PRECISION names one.

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

    /// Whether this CPU runs the VNNI int8 kernels.
    package static let hasVNNI: Bool = {
        #if arch(x86_64)
        return smartcrop_cpu_features() & UInt32(SMARTCROP_CPU_AVX512_VNNI) != 0
        #else
        return false
        #endif
    }()

    /// The precision forced by SMARTCROP_PRECISION (nil: each model's own choice, int8 where it
    /// is calibrated and the CPU has VNNI), or why the setting can't be honoured.
    package static let forced: Result<Precision?, PrecisionError> = choose(
        forced: getenv(environmentVariable).map { String(cString: $0) }, hasVNNI: hasVNNI)

    /// The rule behind `forced`, apart from the process's environment and CPU.
    package static func choose(forced: String?, hasVNNI: Bool) -> Result<Precision?, PrecisionError> {
        guard let forced, !forced.isEmpty else { return .success(nil) }
        guard let wanted = Precision(rawValue: forced.lowercased()) else {
            let names = Precision.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure(PrecisionError(description: "\(environmentVariable)=\(forced) is not a precision; use one of \(names)"))
        }
        if wanted == .int8 && !hasVNNI {
            return .failure(PrecisionError(
                description: "\(environmentVariable)=int8 needs a CPU with AVX-512 VNNI (avx512_vnni), which this one lacks; use float32"))
        }
        return .success(wanted)
    }
}
