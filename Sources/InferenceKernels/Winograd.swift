// 3×3 stride-1 convolutions as Winograd F(2×2, 3×3) (see WinogradWeights in KernelInterface).
//
// The output is computed a band of two rows at a time, a chunk of tiles at a time: each 4×4
// input tile is transformed (V = Bᵀ d B, eight channels
// a vector), each of the 16 positions is multiplied by its transformed weights with the 1×1
// kernel (the tiles play its pixels), and each tile's 16 products are transformed back to 2×2
// outputs (Aᵀ M A), with bias and activation. A chunk's transformed inputs and products stay in
// L2 between the three passes.

import KernelInterface

/// Output rows `2 * tileRows` (of every image) of a Winograd layer; `scratch` holds
/// `winogradScratchCount` floats.
func winogradConvolution(_ w: WinogradWeights, geometry g: ConvGeometry, input: FloatPointer, output: MutableFloatPointer,
                         scratch: MutableFloatPointer, tileRows: Range<Int>) {
    let tilesWide = (g.outWidth + 1) / 2
    // Rows above and below the image read as this zero row.
    let zeroRow = scratch
    zeroRow.update(repeating: 0, count: g.inWidth * channelBlock)
    let transformed = zeroRow + g.inWidth * channelBlock
    let products = transformed + 16 * w.inputBlocks * winogradChunkTiles * channelBlock
    let inPlane = g.inHeight * g.inWidth * channelBlock
    let outPlane = g.outHeight * g.outWidth * channelBlock
    let positionInput = w.inputBlocks * winogradChunkTiles * channelBlock
    let positionOutput = w.pairedOutBlocks * winogradChunkTiles * channelBlock
    for n in 0..<g.batch {
        let image = input + n * w.inputBlocks * inPlane
        let outImage = output + n * w.outBlocks * outPlane
        for tileRow in tileRows {
            let firstRow = 2 * tileRow - g.padTop
            var first = 0
            while first < tilesWide {
                let count = min(winogradChunkTiles, tilesWide - first)
                for block in 0..<w.inputBlocks {
                    func row(_ r: Int) -> FloatPointer {
                        let iy = firstRow + r
                        return iy >= 0 && iy < g.inHeight ? image + block * inPlane + iy * g.inWidth * channelBlock : FloatPointer(zeroRow)
                    }
                    transformInput(row(0), row(1), row(2), row(3), g, firstTile: first, count: count,
                                   into: transformed + block * winogradChunkTiles * channelBlock, positionStride: positionInput)
                }
                for position in 0..<16 {
                    pointwiseSegment(w.positions[position], count: count, input: transformed + position * positionInput,
                                     inputBlockStride: winogradChunkTiles * channelBlock,
                                     output: products + position * positionOutput, outputBlockStride: winogradChunkTiles * channelBlock)
                }
                switch w.activation {
                case .none: transformOutput(NoActivation.self, w, g, products, firstTile: first, count: count, tileRow: tileRow, outImage: outImage)
                case .relu: transformOutput(ReluActivation.self, w, g, products, firstTile: first, count: count, tileRow: tileRow, outImage: outImage)
                case .prelu: transformOutput(PReluActivation.self, w, g, products, firstTile: first, count: count, tileRow: tileRow, outImage: outImage)
                }
                first += count
            }
        }
    }
}

/// V = Bᵀ d B for tiles `firstTile..<firstTile + count` of one block's four input rows, with
/// Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]; position p of tile t goes to
/// `out + p * positionStride + t * 8`. Tiles reaching past the left or right edge read zeros
/// there.
@inline(__always)
private func transformInput(_ r0: FloatPointer, _ r1: FloatPointer, _ r2: FloatPointer, _ r3: FloatPointer, _ g: ConvGeometry,
                            firstTile: Int, count: Int, into out: MutableFloatPointer, positionStride: Int) {
    for t in 0..<count {
        let ix0 = 2 * (firstTile + t) - g.padLeft
        let o = out + t * channelBlock
        // Columns of the window inside the row (all four for an interior tile); the rest read zeros.
        let first = min(4, max(0, -ix0))
        let columns = first..<max(first, min(4, g.inWidth - ix0))
        transformTile(r0 + ix0 * channelBlock, r1 + ix0 * channelBlock, r2 + ix0 * channelBlock, r3 + ix0 * channelBlock,
                      columns: columns, o, positionStride)
    }
}

/// One tile's V = Bᵀ d B from four row pointers at its first column; columns outside
/// `columns` read as zero.
@inline(__always)
private func transformTile(_ r0: FloatPointer, _ r1: FloatPointer, _ r2: FloatPointer, _ r3: FloatPointer, columns: Range<Int>,
                           _ o: MutableFloatPointer, _ positionStride: Int) {
    // Down the four rows first, per column: (Bᵀ d) = [d0 - d2, d1 + d2, d2 - d1, d1 - d3].
    @inline(__always) func rowsCombined(_ column: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        guard columns.contains(column) else { return (.zero, .zero, .zero, .zero) }
        let x = column * channelBlock
        let d0 = load8(r0 + x), d1 = load8(r1 + x), d2 = load8(r2 + x), d3 = load8(r3 + x)
        return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    }
    let k0 = rowsCombined(0), k1 = rowsCombined(1), k2 = rowsCombined(2), k3 = rowsCombined(3)
    // Then along each combined row: V[i] = [r0 - r2, r1 + r2, r2 - r1, r1 - r3].
    @inline(__always) func store(_ i: Int, _ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>) {
        store8(a - c, o + (4 * i) * positionStride)
        store8(b + c, o + (4 * i + 1) * positionStride)
        store8(c - b, o + (4 * i + 2) * positionStride)
        store8(b - d, o + (4 * i + 3) * positionStride)
    }
    store(0, k0.0, k1.0, k2.0, k3.0)
    store(1, k0.1, k1.1, k2.1, k3.1)
    store(2, k0.2, k1.2, k2.2, k3.2)
    store(3, k0.3, k1.3, k2.3, k3.3)
}

/// Y = Aᵀ M A (Aᵀ = [1 1 1 0; 0 1 -1 -1]) for each tile of the chunk, plus bias, activated,
/// into the band's two output rows (the last row or column is dropped at an odd size).
@inline(never)
private func transformOutput<A: VectorActivation>(_: A.Type, _ w: WinogradWeights, _ g: ConvGeometry, _ products: FloatPointer, firstTile: Int, count: Int,
                             tileRow: Int, outImage: MutableFloatPointer) {
    let positionStride = w.pairedOutBlocks * winogradChunkTiles * channelBlock
    let outPlane = g.outHeight * g.outWidth * channelBlock
    let oy = 2 * tileRow
    let secondRow = oy + 1 < g.outHeight
    for block in 0..<w.outBlocks {
        let bias = load8(w.epilogue.base + block * channelBlock)
        let slopes = load8(w.epilogue.base + (w.outBlocks + block) * channelBlock)
        let m = products + block * winogradChunkTiles * channelBlock
        let row0 = outImage + block * outPlane + oy * g.outWidth * channelBlock
        let row1 = row0 + g.outWidth * channelBlock
        for t in 0..<count {
            @inline(__always) func at(_ i: Int, _ j: Int) -> SIMD8<Float> { load8(m + (4 * i + j) * positionStride + t * channelBlock) }
            // Down the rows: s0 = M0 + M1 + M2, s1 = M1 - M2 - M3, per column j.
            @inline(__always) func column(_ j: Int) -> (SIMD8<Float>, SIMD8<Float>) {
                let m0 = at(0, j), m1 = at(1, j), m2 = at(2, j), m3 = at(3, j)
                return (m0 + m1 + m2, m1 - m2 - m3)
            }
            let k0 = column(0), k1 = column(1), k2 = column(2), k3 = column(3)
            let ox = 2 * (firstTile + t)
            let y00 = k0.0 + k1.0 + k2.0 + bias, y01 = k1.0 - k2.0 - k3.0 + bias
            let y10 = k0.1 + k1.1 + k2.1 + bias, y11 = k1.1 - k2.1 - k3.1 + bias
            store8(A.apply(y00, slopes: slopes), row0 + ox * channelBlock)
            if secondRow { store8(A.apply(y10, slopes: slopes), row1 + ox * channelBlock) }
            if ox + 1 < g.outWidth {
                store8(A.apply(y01, slopes: slopes), row0 + (ox + 1) * channelBlock)
                if secondRow { store8(A.apply(y11, slopes: slopes), row1 + (ox + 1) * channelBlock) }
            }
        }
    }
}
