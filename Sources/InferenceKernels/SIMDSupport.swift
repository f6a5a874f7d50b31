// Small helpers shared by the kernels. Everything is `@inline(__always)` so the kernels compile
// to plain vector instructions with no calls in their inner loops.

import KernelInterface

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
/// The two channel blocks of a 16-lane vector, to their own places.
@inline(__always)
func store16(_ v: SIMD16<Float>, _ low: MutableFloatPointer, _ high: MutableFloatPointer) {
    store8(v.lowHalf, low)
    store8(v.highHalf, high)
}

@inline(__always)
func multiplyAdd(_ acc: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    #if INFERENCE_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

@inline(__always)
func multiplyAdd(_ acc: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    #if INFERENCE_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

@inline(__always)
func multiplyAdd(_ acc: Float, _ a: Float, _ b: Float) -> Float {
    #if INFERENCE_FMA
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

/// e^x on eight lanes (Cephes' single-precision expf: x = n·ln 2 + r, a degree-6 polynomial
/// for e^r, 2^n built in the exponent bits), within 2 ulp of `expf` for x ≤ 88. Inputs above
/// 88.02 give e^88.02 rather than infinity, inputs below -87.34 give 2^-126 ≈ 1.2e-38 rather
/// than a subnormal or zero; NaN stays NaN.
@inline(__always)
func exp8(_ value: SIMD8<Float>) -> SIMD8<Float> {
    var x = value.replacing(with: 88.02, where: value .> 88.02)
    x = x.replacing(with: -87.33654, where: x .< -87.33654)
    // Adding 1.5·2^23 rounds x·log2(e) to an integer n held in the low mantissa bits.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let t = multiplyAdd(magic, x, SIMD8(repeating: 1.442_695_04))
    let n = t - magic
    var r = multiplyAdd(x, n, SIMD8(repeating: -0.693_359_375))
    r = multiplyAdd(r, n, SIMD8(repeating: 2.121_944_4e-4))
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = multiplyAdd(SIMD8(repeating: 1.398_199_950_7e-3), p, r)
    p = multiplyAdd(SIMD8(repeating: 8.333_451_907_3e-3), p, r)
    p = multiplyAdd(SIMD8(repeating: 4.166_579_589_4e-2), p, r)
    p = multiplyAdd(SIMD8(repeating: 1.666_666_545_9e-1), p, r)
    p = multiplyAdd(SIMD8(repeating: 5.000_000_120_1e-1), p, r)
    let y = multiplyAdd(r + 1, p, r * r)
    let bits = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127
    return y * unsafeBitCast(bits &<< SIMD8(repeating: 23), to: SIMD8<Float>.self)
}
