// The convolution geometry, and the fallback convolution over plain NCHW tensors for groupings
// the blocked kernels (BlockedConvolution.swift) do not cover: im2col of a band of output rows,
// then the GEMM, per group.

import KernelInterface

// MARK: - General (im2col + GEMM)

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
