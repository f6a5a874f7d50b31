// The cheap operators: activations, broadcasting arithmetic, softmax, layout changes and nearest
// resizing. None of them is hot in the supported models, so they favour generality over speed
// except where a contiguous fast path is free.

import KernelInterface

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

func relu(_ input: FloatPointer, _ output: MutableFloatPointer, count: Int) {
    var i = 0
    while i + 8 <= count {
        let v = load8(input + i)
        store8(v.replacing(with: 0, where: v .< 0), output + i)
        i += 8
    }
    while i < count {
        output[i] = input[i] < 0 ? 0 : input[i]
        i += 1
    }
}

func sigmoid(_ input: FloatPointer, _ output: MutableFloatPointer, count: Int) {
    var i = 0
    while i + 8 <= count {
        store8(1 / (1 + exp8(-load8(input + i))), output + i)
        i += 8
    }
    while i < count {
        output[i] = 1 / (1 + expf(-input[i]))
        i += 1
    }
}

/// out = op(a, b) over the broadcast `outShape`; `aStrides`/`bStrides` come from
/// `broadcastStrides`.
func broadcastBinary(_ op: BinaryOperator, a: FloatPointer, aStrides: [Int], b: FloatPointer, bStrides: [Int],
                     output: MutableFloatPointer, outShape: [Int]) {
    let count = outShape.reduce(1, *)
    guard count > 0 else { return }
    let rank = outShape.count
    let contiguous = { (strides: [Int]) -> Bool in
        var expected = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            if outShape[axis] != 1 && strides[axis] != expected { return false }
            expected *= outShape[axis]
        }
        return true
    }
    if contiguous(aStrides) && contiguous(bStrides) {
        var i = 0
        while i + 8 <= count {
            let x = load8(a + i), y = load8(b + i)
            switch op {
            case .add: store8(x + y, output + i)
            case .prelu: store8(x.replacing(with: x * y, where: x .< 0), output + i)
            }
            i += 8
        }
        while i < count {
            output[i] = apply(op, a[i], b[i])
            i += 1
        }
        return
    }
    let inner = rank == 0 ? 1 : outShape[rank - 1]
    let aInner = rank == 0 ? 0 : aStrides[rank - 1]
    let bInner = rank == 0 ? 0 : bStrides[rank - 1]
    var index = [Int](repeating: 0, count: max(rank - 1, 0))
    var outOffset = 0
    while outOffset < count {
        var aOffset = 0, bOffset = 0
        for axis in 0..<index.count {
            aOffset += index[axis] * aStrides[axis]
            bOffset += index[axis] * bStrides[axis]
        }
        for j in 0..<inner {
            output[outOffset + j] = apply(op, a[aOffset + j * aInner], b[bOffset + j * bInner])
        }
        outOffset += inner
        var axis = index.count - 1
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < outShape[axis] { break }
            index[axis] = 0
            axis -= 1
        }
    }
}

@inline(__always)
private func apply(_ op: BinaryOperator, _ x: Float, _ y: Float) -> Float {
    switch op {
    case .add: return x + y
    case .prelu: return x < 0 ? x * y : x
    }
}

/// Softmax over `axisLength` values spaced `innerCount` apart, for each of `outerCount` blocks:
/// the maxima are subtracted first, then every exponential is taken eight at a time over the
/// whole output, then each group is scaled by its sum.
func softmax(_ input: FloatPointer, _ output: MutableFloatPointer, outerCount: Int, axisLength: Int, innerCount: Int) {
    if axisLength == 2 && innerCount == 1 {
        softmaxPairs(input, output, count: outerCount)
        return
    }
    for outer in 0..<outerCount {
        for inner in 0..<innerCount {
            let base = outer * axisLength * innerCount + inner
            var largest = -Float.infinity
            for i in 0..<axisLength { largest = max(largest, input[base + i * innerCount]) }
            for i in 0..<axisLength { output[base + i * innerCount] = input[base + i * innerCount] - largest }
        }
    }
    let count = outerCount * axisLength * innerCount
    var i = 0
    while i + 8 <= count {
        store8(exp8(load8(output + i)), output + i)
        i += 8
    }
    while i < count {
        output[i] = expf(output[i])
        i += 1
    }
    for outer in 0..<outerCount {
        for inner in 0..<innerCount {
            let base = outer * axisLength * innerCount + inner
            var sum: Float = 0
            for i in 0..<axisLength { sum += output[base + i * innerCount] }
            let scale = 1 / sum
            for i in 0..<axisLength { output[base + i * innerCount] *= scale }
        }
    }
}

/// Softmax of `count` adjacent pairs (two-class scores), eight pairs per step, with the same
/// arithmetic as the general case.
private func softmaxPairs(_ input: FloatPointer, _ output: MutableFloatPointer, count: Int) {
    var i = 0
    while i + 8 <= count {
        let v = load16(input + 2 * i)
        let a = v.evenHalf, b = v.oddHalf
        let m = vectorMax(a, b)
        let ea = exp8(a - m), eb = exp8(b - m)
        let scale = 1 / (ea + eb)
        let pa = ea * scale, pb = eb * scale
        let o = output + 2 * i
        for j in 0..<8 {
            o[2 * j] = pa[j]
            o[2 * j + 1] = pb[j]
        }
        i += 8
    }
    while i < count {
        let a = input[2 * i], b = input[2 * i + 1]
        let m = max(a, b)
        let ea = expf(a - m), eb = expf(b - m)
        let scale = 1 / (ea + eb)
        output[2 * i] = ea * scale
        output[2 * i + 1] = eb * scale
        i += 1
    }
}

/// out[i0, i1, ...] = in[j...] with out axis k = in axis perm[k].
func transpose(_ input: FloatPointer, inShape: [Int], perm: [Int], _ output: MutableFloatPointer) {
    let rank = inShape.count
    var inStrides = [Int](repeating: 1, count: rank)
    for axis in stride(from: rank - 2, through: 0, by: -1) { inStrides[axis] = inStrides[axis + 1] * inShape[axis + 1] }
    let outShape = perm.map { inShape[$0] }
    let strides = perm.map { inStrides[$0] }
    let count = outShape.reduce(1, *)
    guard count > 0 else { return }
    let inner = outShape[rank - 1]
    let innerStride = strides[rank - 1]
    var index = [Int](repeating: 0, count: rank - 1)
    var outOffset = 0
    while outOffset < count {
        var inOffset = 0
        for axis in 0..<(rank - 1) { inOffset += index[axis] * strides[axis] }
        for j in 0..<inner { output[outOffset + j] = input[inOffset + j * innerStride] }
        outOffset += inner
        var axis = rank - 2
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < outShape[axis] { break }
            index[axis] = 0
            axis -= 1
        }
    }
}

/// Nearest-neighbour resize of the last two axes, with per-axis source index tables computed at
/// plan time (so the coordinate mode only matters there).
func resizeNearest(_ input: FloatPointer, _ output: MutableFloatPointer, planes: Int, inHeight: Int, inWidth: Int,
                   sourceRows: [Int], sourceColumns: [Int]) {
    let outHeight = sourceRows.count, outWidth = sourceColumns.count
    sourceColumns.withUnsafeBufferPointer { columns in
        for plane in 0..<planes {
            let source = input + plane * inHeight * inWidth
            let destination = output + plane * outHeight * outWidth
            for oy in 0..<outHeight {
                let row = source + sourceRows[oy] * inWidth
                let out = destination + oy * outWidth
                for ox in 0..<outWidth { out[ox] = row[columns[ox]] }
            }
        }
    }
}

