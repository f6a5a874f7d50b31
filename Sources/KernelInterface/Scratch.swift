// Floats of arena scratch each kernel needs, known at plan time.

/// Scratch floats `depthwiseBlocked3x3` needs: a zero row for the rows above and below the
/// image, and two output rows when pooling is fused.
package func depthwiseBlockedScratchCount(_ g: ConvGeometry) -> Int {
    (g.inWidth + 2) * channelBlock + 2 * g.outWidth * channelBlock
}

/// Rows of the 1×1 layer kept by `pointwiseDepthwise`: enough for the four input rows a pooled
/// pair of depthwise rows reads.
package let pointwiseDepthwiseRingRows = 4

package func pointwiseDepthwiseScratchCount(_ g: ConvGeometry, blocks: Int, stemBlocks: Int = 0) -> Int {
    pointwiseDepthwiseRingRows * blocks * g.inWidth * channelBlock + (g.inWidth + 2) * channelBlock
        + 2 * blocks * g.outWidth * channelBlock + stemBlocks * g.inWidth * channelBlock
}

/// Floats of im2col buffer per band; sized so a band's columns stay in L2 while the GEMM walks
/// over them once per panel of output channels.
package let im2colBudget = 32 * 1024

package func im2colBandRows(_ g: ConvGeometry) -> Int {
    let depth = (g.inChannels / g.group) * g.kernelHeight * g.kernelWidth
    return max(1, min(g.outHeight, im2colBudget / max(1, depth * g.outWidth)))
}

package func generalConvolutionScratchCount(_ g: ConvGeometry) -> Int {
    let depth = (g.inChannels / g.group) * g.kernelHeight * g.kernelWidth
    return depth * im2colBandRows(g) * g.outWidth + gemmScratchCount(depth: depth)
}

/// Floats of packed B per column block: about L1-sized, so a block packed once serves every
/// panel of output rows from L1.
package let gemmPackBudget = 8 * 1024

/// Columns per packed block for a given depth: a multiple of 16, at least one tile.
package func gemmBlockColumns(depth: Int) -> Int { max(16, (gemmPackBudget / max(depth, 1)) / 16 * 16) }

/// Floats of scratch that `gemm` needs for a given depth (packed block, column tail, discarded
/// rows).
package func gemmScratchCount(depth: Int) -> Int { 64 + depth * 8 + depth * gemmBlockColumns(depth: depth) }

/// Tiles of a Winograd row band transformed and multiplied together: as many as the 1×1
/// kernel's row chunk, so each position's product is one call of it.
@inlinable package var winogradChunkTiles: Int { 48 }

/// Floats of scratch one thread of `winogradConvolution` needs: a zero row (the padding above
/// and below the image), then the chunk's transformed inputs and products at 16 positions.
package func winogradScratchCount(_ w: WinogradWeights, _ g: ConvGeometry) -> Int {
    g.inWidth * channelBlock + 16 * (w.inputBlocks + w.pairedOutBlocks) * winogradChunkTiles * channelBlock
}
