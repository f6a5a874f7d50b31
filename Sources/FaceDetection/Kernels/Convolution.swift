// 2-D convolution over NCHW tensors, in three kernels chosen per layer when the graph is planned:
// pointwise (1×1, a plain GEMM on the feature map), depthwise 3×3 (direct, vectorised along rows)
// and a general one (im2col of a band of output rows, then the same GEMM).

/// Everything about one convolution that depends on the input size, resolved at plan time.
struct ConvGeometry: Sendable, Equatable {
    var batch: Int
    var inChannels: Int
    var inHeight: Int
    var inWidth: Int
    var outChannels: Int
    var outHeight: Int
    var outWidth: Int
    var kernelHeight: Int
    var kernelWidth: Int
    var strideY: Int
    var strideX: Int
    var dilationY: Int
    var dilationX: Int
    var padTop: Int
    var padLeft: Int
    var group: Int

    var inPlane: Int { inHeight * inWidth }
    var outPlane: Int { outHeight * outWidth }
}

// MARK: - Pointwise

func pointwiseConvolution(_ weights: PackedWeights, geometry g: ConvGeometry,
                          input: FloatPointer, output: MutableFloatPointer, scratch: MutableFloatPointer) {
    for n in 0..<g.batch {
        gemm(weights, b: input + n * g.inChannels * g.inPlane, ldb: g.inPlane, columns: g.inPlane,
             c: output + n * g.outChannels * g.outPlane, ldc: g.outPlane, scratch: scratch)
    }
}

// MARK: - General (im2col + GEMM)

/// Floats of im2col buffer per band; sized so a band's columns stay in L2 while the GEMM walks
/// over them once per panel of output channels.
let im2colBudget = 32 * 1024

func im2colBandRows(_ g: ConvGeometry) -> Int {
    let depth = (g.inChannels / g.group) * g.kernelHeight * g.kernelWidth
    return max(1, min(g.outHeight, im2colBudget / max(1, depth * g.outWidth)))
}

func generalConvolutionScratchCount(_ g: ConvGeometry) -> Int {
    let depth = (g.inChannels / g.group) * g.kernelHeight * g.kernelWidth
    return depth * im2colBandRows(g) * g.outWidth + gemmScratchCount(depth: depth)
}

/// `weightsPerGroup[i]` maps group i's input channels to its output channels.
func generalConvolution(_ weightsPerGroup: [PackedWeights], geometry g: ConvGeometry,
                        input: FloatPointer, output: MutableFloatPointer, scratch: MutableFloatPointer) {
    let inPerGroup = g.inChannels / g.group
    let outPerGroup = g.outChannels / g.group
    let depth = inPerGroup * g.kernelHeight * g.kernelWidth
    let bandRows = im2colBandRows(g)
    let columnsBuffer = scratch
    let gemmScratch = scratch + depth * bandRows * g.outWidth
    for n in 0..<g.batch {
        for group in 0..<g.group {
            let groupInput = input + (n * g.inChannels + group * inPerGroup) * g.inPlane
            let groupOutput = output + (n * g.outChannels + group * outPerGroup) * g.outPlane
            var y0 = 0
            while y0 < g.outHeight {
                let rows = min(bandRows, g.outHeight - y0)
                let columns = rows * g.outWidth
                im2col(g, input: groupInput, channels: inPerGroup, firstRow: y0, rows: rows, into: columnsBuffer)
                gemm(weightsPerGroup[group], b: columnsBuffer, ldb: columns, columns: columns,
                     c: groupOutput + y0 * g.outWidth, ldc: g.outPlane, scratch: gemmScratch)
                y0 += rows
            }
        }
    }
}

/// Writes the receptive fields of output rows `firstRow..<firstRow+rows` as a matrix with one row
/// per (channel, ky, kx) and one column per output pixel, zero where the kernel hangs over the
/// padding.
func im2col(_ g: ConvGeometry, input: FloatPointer, channels: Int, firstRow: Int, rows: Int, into columns: MutableFloatPointer) {
    let ldb = rows * g.outWidth
    var k = 0
    for c in 0..<channels {
        let plane = input + c * g.inPlane
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                let offsetX = kx * g.dilationX - g.padLeft
                // Output columns whose input column ox*stride+offsetX lies inside the row.
                let first = offsetX >= 0 ? 0 : (-offsetX + g.strideX - 1) / g.strideX
                let lastInside = g.inWidth - 1 - offsetX
                let end = lastInside < 0 ? 0 : min(g.outWidth, lastInside / g.strideX + 1)
                for r in 0..<rows {
                    let destination = columns + k * ldb + r * g.outWidth
                    let iy = (firstRow + r) * g.strideY + ky * g.dilationY - g.padTop
                    if iy < 0 || iy >= g.inHeight || first >= end {
                        destination.update(repeating: 0, count: g.outWidth)
                        continue
                    }
                    if first > 0 { destination.update(repeating: 0, count: first) }
                    if end < g.outWidth { (destination + end).update(repeating: 0, count: g.outWidth - end) }
                    let source = plane + iy * g.inWidth + offsetX
                    copyStrided(from: source, stride: g.strideX, to: destination, range: first..<end, sourceLimit: plane + (iy + 1) * g.inWidth)
                }
                k += 1
            }
        }
    }
}

/// destination[i] = source[i * stride] for i in range; `sourceLimit` bounds wide vector loads.
@inline(__always)
private func copyStrided(from source: FloatPointer, stride: Int, to destination: MutableFloatPointer, range: Range<Int>, sourceLimit: FloatPointer) {
    var i = range.lowerBound
    if stride == 1 {
        (destination + i).update(from: source + i, count: range.count)
        return
    }
    if stride == 2 {
        // Loading 16 and keeping the even lanes replaces eight scalar gathers.
        while i + 8 <= range.upperBound && source + 2 * i + 16 <= sourceLimit {
            store8(load16(source + 2 * i).evenHalf, destination + i)
            i += 8
        }
    }
    while i < range.upperBound {
        destination[i] = source[i * stride]
        i += 1
    }
}

// MARK: - Depthwise 3×3, stride 1

/// Weights `[channel][9]`, bias `[channel]`, slopes `[channel]` (PRelu) or empty.
struct DepthwiseWeights: Sendable {
    let weights: [Float]
    let bias: [Float]
    let slopes: [Float]
    let activation: ActivationKind
}

func depthwiseScratchCount(_ g: ConvGeometry) -> Int { g.inWidth + 16 }

func depthwiseConvolution3x3(_ layer: DepthwiseWeights, geometry g: ConvGeometry,
                             input: FloatPointer, output: MutableFloatPointer, scratch: MutableFloatPointer) {
    // Rows above and below the image read from this zero row, so the inner loop always has three.
    let zeroRow = scratch
    zeroRow.update(repeating: 0, count: g.inWidth + 16)
    let width = g.inWidth
    let outWidth = g.outWidth
    // Output columns whose three taps are all inside the row.
    let interiorStart = min(outWidth, max(0, g.padLeft))
    let interiorEnd = max(interiorStart, min(outWidth, width - 2 + g.padLeft))
    layer.weights.withUnsafeBufferPointer { weightBuffer in
    layer.bias.withUnsafeBufferPointer { biasBuffer in
    layer.slopes.withUnsafeBufferPointer { slopeBuffer in
        for n in 0..<g.batch {
            for c in 0..<g.inChannels {
                let w = weightBuffer.baseAddress! + c * 9
                let bias = biasBuffer[c]
                let slope = layer.activation == .prelu ? slopeBuffer[c] : 0
                let inPlane = input + (n * g.inChannels + c) * g.inPlane
                let outPlane = output + (n * g.outChannels + c) * g.outPlane
                let w0 = SIMD8<Float>(repeating: w[0]), w1 = SIMD8<Float>(repeating: w[1]), w2 = SIMD8<Float>(repeating: w[2])
                let w3 = SIMD8<Float>(repeating: w[3]), w4 = SIMD8<Float>(repeating: w[4]), w5 = SIMD8<Float>(repeating: w[5])
                let w6 = SIMD8<Float>(repeating: w[6]), w7 = SIMD8<Float>(repeating: w[7]), w8 = SIMD8<Float>(repeating: w[8])
                let biasVector = SIMD8<Float>(repeating: bias)
                func row(_ iy: Int) -> FloatPointer {
                    iy >= 0 && iy < g.inHeight ? inPlane + iy * width : FloatPointer(zeroRow)
                }
                @inline(__always) func edge(_ ox: Int, _ row0: FloatPointer, _ row1: FloatPointer, _ row2: FloatPointer, _ out: MutableFloatPointer) {
                    var sum = bias
                    for kx in 0..<3 {
                        let ix = ox - g.padLeft + kx
                        guard ix >= 0 && ix < width else { continue }
                        sum = multiplyAdd(sum, w[kx], row0[ix])
                        sum = multiplyAdd(sum, w[3 + kx], row1[ix])
                        sum = multiplyAdd(sum, w[6 + kx], row2[ix])
                    }
                    out[ox] = activate(sum, layer.activation, slope: slope)
                }
                let shift = -g.padLeft
                var oy = 0
                // Two output rows per pass share the two middle input rows: 12 vector loads for
                // 18 FMAs instead of 18.
                while oy + 2 <= g.outHeight {
                    let iy = oy - g.padTop
                    let row0 = row(iy), row1 = row(iy + 1), row2 = row(iy + 2), row3 = row(iy + 3)
                    let outA = outPlane + oy * outWidth, outB = outA + outWidth
                    for ox in 0..<interiorStart { edge(ox, row0, row1, row2, outA); edge(ox, row1, row2, row3, outB) }
                    var ox = interiorStart
                    while ox + 8 <= interiorEnd {
                        let x = ox + shift
                        let a0 = load8(row0 + x), a1 = load8(row0 + x + 1), a2 = load8(row0 + x + 2)
                        let b0 = load8(row1 + x), b1 = load8(row1 + x + 1), b2 = load8(row1 + x + 2)
                        var accA = multiplyAdd(biasVector, w0, a0)
                        accA = multiplyAdd(accA, w1, a1)
                        accA = multiplyAdd(accA, w2, a2)
                        accA = multiplyAdd(accA, w3, b0)
                        accA = multiplyAdd(accA, w4, b1)
                        accA = multiplyAdd(accA, w5, b2)
                        var accB = multiplyAdd(biasVector, w0, b0)
                        accB = multiplyAdd(accB, w1, b1)
                        accB = multiplyAdd(accB, w2, b2)
                        let c0 = load8(row2 + x), c1 = load8(row2 + x + 1), c2 = load8(row2 + x + 2)
                        accA = multiplyAdd(accA, w6, c0)
                        accA = multiplyAdd(accA, w7, c1)
                        accA = multiplyAdd(accA, w8, c2)
                        accB = multiplyAdd(accB, w3, c0)
                        accB = multiplyAdd(accB, w4, c1)
                        accB = multiplyAdd(accB, w5, c2)
                        let d0 = load8(row3 + x), d1 = load8(row3 + x + 1), d2 = load8(row3 + x + 2)
                        accB = multiplyAdd(accB, w6, d0)
                        accB = multiplyAdd(accB, w7, d1)
                        accB = multiplyAdd(accB, w8, d2)
                        store8(activate(accA, layer.activation, slope: slope), outA + ox)
                        store8(activate(accB, layer.activation, slope: slope), outB + ox)
                        ox += 8
                    }
                    while ox < outWidth { edge(ox, row0, row1, row2, outA); edge(ox, row1, row2, row3, outB); ox += 1 }
                    oy += 2
                }
                if oy < g.outHeight {
                    let iy = oy - g.padTop
                    let row0 = row(iy), row1 = row(iy + 1), row2 = row(iy + 2)
                    let out = outPlane + oy * outWidth
                    for ox in 0..<interiorStart { edge(ox, row0, row1, row2, out) }
                    var ox = interiorStart
                    while ox + 8 <= interiorEnd {
                        let x = ox + shift
                        var acc = multiplyAdd(biasVector, w0, load8(row0 + x))
                        acc = multiplyAdd(acc, w1, load8(row0 + x + 1))
                        acc = multiplyAdd(acc, w2, load8(row0 + x + 2))
                        acc = multiplyAdd(acc, w3, load8(row1 + x))
                        acc = multiplyAdd(acc, w4, load8(row1 + x + 1))
                        acc = multiplyAdd(acc, w5, load8(row1 + x + 2))
                        acc = multiplyAdd(acc, w6, load8(row2 + x))
                        acc = multiplyAdd(acc, w7, load8(row2 + x + 1))
                        acc = multiplyAdd(acc, w8, load8(row2 + x + 2))
                        store8(activate(acc, layer.activation, slope: slope), out + ox)
                        ox += 8
                    }
                    while ox < outWidth { edge(ox, row0, row1, row2, out); ox += 1 }
                }
            }
        }
    }
    }
    }
}
