// Which compiled kernel set runs: the widest this CPU supports, unless SMARTCROP_ISA names one.

import CCPUFeatures
import InferenceKernelsAVX2
import InferenceKernelsAVX512
import InferenceKernelsBaseline
import KernelInterface

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SMARTCROP_ISA asked for kernels this CPU cannot run, or named none.
package struct InstructionSetError: Error, Equatable, Sendable, CustomStringConvertible {
    package var description: String
}

package enum KernelSelection {
    /// The environment variable that forces a kernel set (for tests and benchmarks).
    package static let environmentVariable = "SMARTCROP_ISA"

    /// The kernel sets this CPU can run, widest first.
    package static let supported: [InstructionSet] = {
        #if arch(x86_64)
        let features = smartcrop_cpu_features()
        var sets: [InstructionSet] = []
        if features & UInt32(SMARTCROP_CPU_AVX512) != 0 { sets.append(.avx512) }
        if features & UInt32(SMARTCROP_CPU_AVX2_FMA) != 0 { sets.append(.avx2) }
        if features & UInt32(SMARTCROP_CPU_X86_64_V2) != 0 { sets.append(.baseline) }
        return sets
        #else
        return [.baseline]
        #endif
    }()

    /// The kernel set every network runs unless told otherwise: SMARTCROP_ISA's, or the widest
    /// supported. An error when SMARTCROP_ISA names a set this CPU lacks, or no set.
    package static let current: Result<InstructionSet, InstructionSetError> = choose(
        forced: getenv(environmentVariable).map { String(cString: $0) }, supported: supported)

    /// The rule behind `current`, apart from the process's environment and CPU.
    package static func choose(forced: String?, supported: [InstructionSet]) -> Result<InstructionSet, InstructionSetError> {
        guard let forced, !forced.isEmpty else {
            guard let widest = supported.first else {
                return .failure(InstructionSetError(description: "this CPU lacks SSE4.2/POPCNT (x86-64-v2), the least the inference kernels need"))
            }
            return .success(widest)
        }
        guard let wanted = InstructionSet(rawValue: forced.lowercased()) else {
            let names = InstructionSet.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure(InstructionSetError(description: "\(environmentVariable)=\(forced) is not a kernel set; use one of \(names)"))
        }
        guard supported.contains(wanted) else {
            let available = supported.isEmpty ? "none" : supported.map(\.rawValue).joined(separator: ", ")
            return .failure(InstructionSetError(
                description: "\(environmentVariable)=\(forced) asks for kernels this CPU cannot run (it runs: \(available))"))
        }
        return .success(wanted)
    }

    /// The compiled kernels for `set`.
    package static func kernels(_ set: InstructionSet) -> any KernelSet.Type {
        switch set {
        case .avx512: return InferenceKernelsAVX512.Kernels.self
        case .avx2: return InferenceKernelsAVX2.Kernels.self
        case .baseline: return InferenceKernelsBaseline.Kernels.self
        }
    }

    /// The CPU's name as it reports it (empty when it does not).
    package static var cpuName: String {
        var buffer = [CChar](repeating: 0, count: 64)
        smartcrop_cpu_brand(&buffer)
        let name = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return name.split(separator: " ").joined(separator: " ")
    }
}
