// Small helpers shared by the kernels. Everything is `@inline(__always)` so the kernels compile
// to plain vector instructions with no calls in their inner loops.

typealias FloatPointer = UnsafePointer<Float>
typealias MutableFloatPointer = UnsafeMutablePointer<Float>

@inline(__always)
func load8(_ p: FloatPointer) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func load16(_ p: FloatPointer) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: MutableFloatPointer) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
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
