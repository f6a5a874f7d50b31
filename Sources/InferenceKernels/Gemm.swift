// The matrix product behind every pointwise and general convolution:
//   C[rows × columns] = A[rows × depth] · B[depth × columns]  (+ bias, activation)
// A is the layer's weights, packed once at load time; B is either the input feature map itself
// (1×1 convolution: depth = input channels, columns = pixels) or an im2col tile.
//
// Register blocking: 4 output rows × 16 columns = 8 AVX accumulators, 2 B vectors and 4
// broadcast weights per depth step: 14 of the 16 ymm registers even after LLVM hoists all the
// broadcasts and unrolls by two. A 4×24 or 6×16 tile would use the FMA units better on paper,
// but LLVM then spills accumulators to the stack inside the loop (seen in the disassembly), which
// costs far more than it gains.

import KernelInterface

/// Computes C = A·B with the epilogue of `weights`. `b` has `depth` rows of `ldb` floats of which
/// `columns` are used; `c` has `weights.rows` rows of `ldc` floats. `scratch` holds at least
/// `gemmScratchCount(depth:)` floats.
func gemm(_ weights: PackedWeights, b: FloatPointer, ldb: Int, columns: Int, c: MutableFloatPointer, ldc: Int,
          scratch: MutableFloatPointer) {
    weights.panels.withUnsafeBufferPointer { panels in
        weights.bias.withUnsafeBufferPointer { bias in
            weights.slopes.withUnsafeBufferPointer { slopes in
                gemm(panels: panels.baseAddress!, bias: bias.baseAddress!, slopes: slopes.baseAddress!,
                     activation: weights.activation, rows: weights.rows, depth: weights.depth,
                     b: b, ldb: ldb, columns: columns, c: c, ldc: ldc, scratch: scratch)
            }
        }
    }
}

func gemm(panels: FloatPointer, bias: FloatPointer, slopes: FloatPointer, activation: ActivationKind,
          rows: Int, depth: Int, b: FloatPointer, ldb: Int, columns: Int, c: MutableFloatPointer, ldc: Int,
          scratch: MutableFloatPointer) {
    let panelCount = (rows + gemmPanelRows - 1) / gemmPanelRows
    // Rows past `rows` in the last panel are computed (on zero weights) and stored here.
    let discard = scratch
    do {
        func rowPointers(_ panel: Int, _ column: Int) -> (MutableFloatPointer, MutableFloatPointer, MutableFloatPointer, MutableFloatPointer) {
            let r = panel * gemmPanelRows
            return (c + r * ldc + column,
                    r + 1 < rows ? c + (r + 1) * ldc + column : discard,
                    r + 2 < rows ? c + (r + 2) * ldc + column : discard,
                    r + 3 < rows ? c + (r + 3) * ldc + column : discard)
        }
        // Full 16-column tiles go through a packed copy of B, tile-major ([tile][k][16]): the
        // rows of B are often whole channel planes far apart, and reading 16-64 of them at once
        // defeats the hardware prefetcher, while the packing pass reads each in long runs.
        let packed = scratch + 64 + depth * 8
        let blockColumns = gemmBlockColumns(depth: depth)
        var column = 0
        while column + 16 <= columns {
            let tiles = min(blockColumns, columns - column) / 16
            for k in 0..<depth {
                let source = b + k * ldb + column
                var destination = packed + k * 16
                for t in 0..<tiles {
                    store8(load8(source + t * 16), destination)
                    store8(load8(source + t * 16 + 8), destination + 8)
                    destination += depth * 16
                }
            }
            for panel in 0..<panelCount {
                for t in 0..<tiles {
                    let out = rowPointers(panel, column + t * 16)
                    gemmKernel4x16(depth: depth, a: panels + panel * depth * gemmPanelRows, b: packed + t * depth * 16, ldb: 16,
                                   c0: out.0, c1: out.1, c2: out.2, c3: out.3,
                                   bias: bias + panel * gemmPanelRows, slopes: slopes + panel * gemmPanelRows,
                                   activation: activation)
                }
            }
            column += tiles * 16
        }
        while column + 8 <= columns {
            for panel in 0..<panelCount {
                let out = rowPointers(panel, column)
                gemmKernel4x8(depth: depth, a: panels + panel * depth * gemmPanelRows, b: b + column, ldb: ldb,
                              c0: out.0, c1: out.1, c2: out.2, c3: out.3,
                              bias: bias + panel * gemmPanelRows, slopes: slopes + panel * gemmPanelRows,
                              activation: activation)
            }
            column += 8
        }
        let remaining = columns - column
        guard remaining > 0 else { return }
        // Fewer than 8 columns left: run the 8-wide kernel on a zero-padded copy so it never
        // reads or writes past the caller's buffers.
        do {
            let cTail = scratch + 32
            let bTail = scratch + 64
            for k in 0..<depth {
                for j in 0..<8 { bTail[k * 8 + j] = j < remaining ? b[k * ldb + column + j] : 0 }
            }
            for panel in 0..<panelCount {
                gemmKernel4x8(depth: depth, a: panels + panel * depth * gemmPanelRows, b: bTail, ldb: 8,
                              c0: cTail, c1: cTail + 8, c2: cTail + 16, c3: cTail + 24,
                              bias: bias + panel * gemmPanelRows, slopes: slopes + panel * gemmPanelRows,
                              activation: activation)
                for lane in 0..<gemmPanelRows where panel * gemmPanelRows + lane < rows {
                    let row = c + (panel * gemmPanelRows + lane) * ldc + column
                    for j in 0..<remaining { row[j] = cTail[lane * 8 + j] }
                }
            }
        }
    }
}

@inline(__always)
func gemmKernel4x16(depth: Int, a: FloatPointer, b: FloatPointer, ldb: Int,
                    c0: MutableFloatPointer, c1: MutableFloatPointer, c2: MutableFloatPointer, c3: MutableFloatPointer,
                    bias: FloatPointer, slopes: FloatPointer, activation: ActivationKind) {
    var r00 = SIMD8<Float>(repeating: bias[0]), r01 = r00
    var r10 = SIMD8<Float>(repeating: bias[1]), r11 = r10
    var r20 = SIMD8<Float>(repeating: bias[2]), r21 = r20
    var r30 = SIMD8<Float>(repeating: bias[3]), r31 = r30
    var ap = a
    var bp = b
    for _ in 0..<depth {
        let b0 = load8(bp), b1 = load8(bp + 8)
        let a0 = SIMD8<Float>(repeating: ap[0])
        r00 = multiplyAdd(r00, a0, b0); r01 = multiplyAdd(r01, a0, b1)
        let a1 = SIMD8<Float>(repeating: ap[1])
        r10 = multiplyAdd(r10, a1, b0); r11 = multiplyAdd(r11, a1, b1)
        let a2 = SIMD8<Float>(repeating: ap[2])
        r20 = multiplyAdd(r20, a2, b0); r21 = multiplyAdd(r21, a2, b1)
        let a3 = SIMD8<Float>(repeating: ap[3])
        r30 = multiplyAdd(r30, a3, b0); r31 = multiplyAdd(r31, a3, b1)
        ap += 4
        bp += ldb
    }
    let s0 = slopes[0], s1 = slopes[1], s2 = slopes[2], s3 = slopes[3]
    store8(activate(r00, activation, slope: s0), c0); store8(activate(r01, activation, slope: s0), c0 + 8)
    store8(activate(r10, activation, slope: s1), c1); store8(activate(r11, activation, slope: s1), c1 + 8)
    store8(activate(r20, activation, slope: s2), c2); store8(activate(r21, activation, slope: s2), c2 + 8)
    store8(activate(r30, activation, slope: s3), c3); store8(activate(r31, activation, slope: s3), c3 + 8)
}

@inline(__always)
func gemmKernel4x8(depth: Int, a: FloatPointer, b: FloatPointer, ldb: Int,
                   c0: MutableFloatPointer, c1: MutableFloatPointer, c2: MutableFloatPointer, c3: MutableFloatPointer,
                   bias: FloatPointer, slopes: FloatPointer, activation: ActivationKind) {
    var r0 = SIMD8<Float>(repeating: bias[0])
    var r1 = SIMD8<Float>(repeating: bias[1])
    var r2 = SIMD8<Float>(repeating: bias[2])
    var r3 = SIMD8<Float>(repeating: bias[3])
    var ap = a
    var bp = b
    for _ in 0..<depth {
        let b0 = load8(bp)
        r0 = multiplyAdd(r0, SIMD8(repeating: ap[0]), b0)
        r1 = multiplyAdd(r1, SIMD8(repeating: ap[1]), b0)
        r2 = multiplyAdd(r2, SIMD8(repeating: ap[2]), b0)
        r3 = multiplyAdd(r3, SIMD8(repeating: ap[3]), b0)
        ap += 4
        bp += ldb
    }
    store8(activate(r0, activation, slope: slopes[0]), c0)
    store8(activate(r1, activation, slope: slopes[1]), c1)
    store8(activate(r2, activation, slope: slopes[2]), c2)
    store8(activate(r3, activation, slope: slopes[3]), c3)
}
