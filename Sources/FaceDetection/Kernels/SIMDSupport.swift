// Small helpers shared by the kernels. Everything is `@inline(__always)` so the kernels compile
// to plain vector instructions with no calls in their inner loops.

typealias FloatPointer = UnsafePointer<Float>
typealias MutableFloatPointer = UnsafeMutablePointer<Float>

// Vector loads and stores are spelled as eight scalar accesses, which LLVM merges into one
// unaligned vmovups. `UnsafeRawPointer.loadUnaligned(as:)` says the same more directly, but it is
// a generic whose specialisation the inliner leaves out of large kernels, turning every vector
// load into a call (seen in perf as a fifth of YuNet's time).
@inline(__always)
func load8(_ p: FloatPointer) -> SIMD8<Float> {
    SIMD8(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7])
}

@inline(__always)
func load16(_ p: FloatPointer) -> SIMD16<Float> {
    SIMD16(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15])
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: MutableFloatPointer) {
    p[0] = v[0]; p[1] = v[1]; p[2] = v[2]; p[3] = v[3]
    p[4] = v[4]; p[5] = v[5]; p[6] = v[6]; p[7] = v[7]
}

/// acc + a * b. With FMA hardware enabled at compile time (see Package.swift) this is one
/// vfmadd; without it `addingProduct` would become a libm `fmaf` call per lane, so fall back to
/// a separate multiply and add.
@inline(__always)
func multiplyAdd(_ acc: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    #if FACE_DETECTION_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

@inline(__always)
func multiplyAdd(_ acc: Float, _ a: Float, _ b: Float) -> Float {
    #if FACE_DETECTION_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

/// Lane-wise maximum. The standard library's `pointwiseMax` is a generic that compiles to a
/// scalar loop behind a call; this form becomes one vmaxps.
@inline(__always)
func vectorMax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    a.replacing(with: b, where: a .< b)
}

@inline(__always)
func vectorMax(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    a.replacing(with: b, where: a .< b)
}

/// What a producing kernel applies to each value before storing it, so an activation that
/// follows a Conv or MatMul costs no extra pass over memory.
enum ActivationKind: Sendable, Equatable {
    case none
    case relu
    /// Per-output-channel slopes for negative inputs (PRelu).
    case prelu
}

@inline(__always)
func activate(_ v: SIMD8<Float>, _ kind: ActivationKind, slope: Float) -> SIMD8<Float> {
    switch kind {
    case .none: return v
    case .relu: return v.replacing(with: 0, where: v .< 0)
    case .prelu: return v.replacing(with: v * slope, where: v .< 0)
    }
}

@inline(__always)
func activate(_ v: Float, _ kind: ActivationKind, slope: Float) -> Float {
    switch kind {
    case .none: return v
    case .relu: return v < 0 ? 0 : v
    case .prelu: return v < 0 ? v * slope : v
    }
}
