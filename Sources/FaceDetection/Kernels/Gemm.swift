// The matrix product behind every pointwise and general convolution:
//   C[rows × columns] = A[rows × depth] · B[depth × columns]  (+ bias, activation)
// A is the layer's weights, packed once at load time; B is either the input feature map itself
// (1×1 convolution: depth = input channels, columns = pixels) or an im2col tile.
//
// Register blocking: 4 output rows × 24 columns = 12 AVX accumulators, plus 3 B vectors and one
// broadcast weight, which is exactly the 16 ymm registers. Per depth step that is 3 loads and 4
// broadcasts for 12 FMAs, so the FMA units and not the load ports set the pace.

let gemmPanelRows = 4

/// Weights of one matrix, packed as panels of four rows: panel p holds, for each k, the four
/// values A[4p...4p+3][k] side by side. Rows past the end are zero so the kernel needs no row
/// tail. Bias and PRelu slopes are padded the same way.
struct PackedWeights: Sendable {
    let rows: Int
    let depth: Int
    let panels: [Float]
    let bias: [Float]
    let slopes: [Float]
    let activation: ActivationKind

    /// `weight(row, k)` reads the original matrix.
    init(rows: Int, depth: Int, bias: [Float]?, activation: ActivationKind, slopes: [Float]?, weight: (Int, Int) -> Float) {
        self.rows = rows
        self.depth = depth
        let panelCount = (rows + gemmPanelRows - 1) / gemmPanelRows
        var panels = [Float](repeating: 0, count: panelCount * depth * gemmPanelRows)
        for row in 0..<rows {
            let panel = row / gemmPanelRows
            let lane = row % gemmPanelRows
            for k in 0..<depth {
                panels[(panel * depth + k) * gemmPanelRows + lane] = weight(row, k)
            }
        }
        self.panels = panels
        let padded = panelCount * gemmPanelRows
        self.bias = (bias ?? []) + [Float](repeating: 0, count: padded - (bias?.count ?? 0))
        self.slopes = (slopes ?? []) + [Float](repeating: 0, count: padded - (slopes?.count ?? 0))
        self.activation = activation
    }

    var panelCount: Int { (rows + gemmPanelRows - 1) / gemmPanelRows }
}

/// Floats of scratch that `gemm` needs for a given depth (column tail and discarded rows).
func gemmScratchCount(depth: Int) -> Int { depth * 8 + 64 }

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
        var column = 0
        while column + 24 <= columns {
            for panel in 0..<panelCount {
                let out = rowPointers(panel, column)
                gemmKernel4x24(depth: depth, a: panels + panel * depth * gemmPanelRows, b: b + column, ldb: ldb,
                               c0: out.0, c1: out.1, c2: out.2, c3: out.3,
                               bias: bias + panel * gemmPanelRows, slopes: slopes + panel * gemmPanelRows,
                               activation: activation)
            }
            column += 24
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
func gemmKernel4x24(depth: Int, a: FloatPointer, b: FloatPointer, ldb: Int,
                    c0: MutableFloatPointer, c1: MutableFloatPointer, c2: MutableFloatPointer, c3: MutableFloatPointer,
                    bias: FloatPointer, slopes: FloatPointer, activation: ActivationKind) {
    var r00 = SIMD8<Float>(repeating: bias[0]), r01 = r00, r02 = r00
    var r10 = SIMD8<Float>(repeating: bias[1]), r11 = r10, r12 = r10
    var r20 = SIMD8<Float>(repeating: bias[2]), r21 = r20, r22 = r20
    var r30 = SIMD8<Float>(repeating: bias[3]), r31 = r30, r32 = r30
    var ap = a
    var bp = b
    for _ in 0..<depth {
        let b0 = load8(bp), b1 = load8(bp + 8), b2 = load8(bp + 16)
        let a0 = SIMD8<Float>(repeating: ap[0])
        r00 = multiplyAdd(r00, a0, b0); r01 = multiplyAdd(r01, a0, b1); r02 = multiplyAdd(r02, a0, b2)
        let a1 = SIMD8<Float>(repeating: ap[1])
        r10 = multiplyAdd(r10, a1, b0); r11 = multiplyAdd(r11, a1, b1); r12 = multiplyAdd(r12, a1, b2)
        let a2 = SIMD8<Float>(repeating: ap[2])
        r20 = multiplyAdd(r20, a2, b0); r21 = multiplyAdd(r21, a2, b1); r22 = multiplyAdd(r22, a2, b2)
        let a3 = SIMD8<Float>(repeating: ap[3])
        r30 = multiplyAdd(r30, a3, b0); r31 = multiplyAdd(r31, a3, b1); r32 = multiplyAdd(r32, a3, b2)
        ap += 4
        bp += ldb
    }
    let s0 = slopes[0], s1 = slopes[1], s2 = slopes[2], s3 = slopes[3]
    store8(activate(r00, activation, slope: s0), c0); store8(activate(r01, activation, slope: s0), c0 + 8); store8(activate(r02, activation, slope: s0), c0 + 16)
    store8(activate(r10, activation, slope: s1), c1); store8(activate(r11, activation, slope: s1), c1 + 8); store8(activate(r12, activation, slope: s1), c1 + 16)
    store8(activate(r20, activation, slope: s2), c2); store8(activate(r21, activation, slope: s2), c2 + 8); store8(activate(r22, activation, slope: s2), c2 + 16)
    store8(activate(r30, activation, slope: s3), c3); store8(activate(r31, activation, slope: s3), c3 + 8); store8(activate(r32, activation, slope: s3), c3 + 16)
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
