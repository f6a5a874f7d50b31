// Changes between plain tensors and the channel-blocked NCHWc8 layout (described in
// KernelInterface/Layout.swift), and the cheap blocked operators: max pooling and nearest
// resizing.

import KernelInterface

// MARK: - Layout changes

/// NCHW → NCHWc8 for `batch` images of `channels` × `plane` floats.
func reorderToBlocked(_ input: FloatPointer, _ output: MutableFloatPointer, batch: Int, channels: Int, plane: Int) {
    let blocks = channelBlocks(channels)
    for n in 0..<batch {
        for b in 0..<blocks {
            let destination = output + (n * blocks + b) * plane * channelBlock
            let lanes = min(channelBlock, channels - b * channelBlock)
            if lanes < channelBlock { destination.update(repeating: 0, count: plane * channelBlock) }
            for lane in 0..<lanes {
                let source = input + (n * channels + b * channelBlock + lane) * plane
                for p in 0..<plane { destination[p * channelBlock + lane] = source[p] }
            }
        }
    }
}

/// NCHWc8 → NCHW.
func reorderToPlain(_ input: FloatPointer, _ output: MutableFloatPointer, batch: Int, channels: Int, plane: Int) {
    let blocks = channelBlocks(channels)
    for n in 0..<batch {
        for b in 0..<blocks {
            let source = input + (n * blocks + b) * plane * channelBlock
            let lanes = min(channelBlock, channels - b * channelBlock)
            for lane in 0..<lanes {
                let destination = output + (n * channels + b * channelBlock + lane) * plane
                for p in 0..<plane { destination[p] = source[p * channelBlock + lane] }
            }
        }
    }
}

/// NCHWc8 → NHWC: Transpose(perm 0,2,3,1) of a blocked tensor in one pass.
func reorderBlockedToNHWC(_ input: FloatPointer, _ output: MutableFloatPointer, batch: Int, channels: Int, plane: Int) {
    let blocks = channelBlocks(channels)
    for n in 0..<batch {
        let image = output + n * plane * channels
        for b in 0..<blocks {
            let source = input + (n * blocks + b) * plane * channelBlock
            let lanes = min(channelBlock, channels - b * channelBlock)
            for p in 0..<plane {
                let destination = image + p * channels + b * channelBlock
                for lane in 0..<lanes { destination[lane] = source[p * channelBlock + lane] }
            }
        }
    }
}

/// Channels `start..<start + count` of a blocked tensor of `channels` channels, written as a
/// tensor of `count` channels in `layout` (padding lanes zero when blocked).
func copyBlockedChannels(_ input: FloatPointer, _ output: MutableFloatPointer, batch: Int, channels: Int, start: Int, count: Int,
                         plane: Int, layout: ChannelCopyLayout) {
    let inBlocks = channelBlocks(channels), outBlocks = channelBlocks(count)
    if layout == .blocked && count % channelBlock != 0 {
        output.update(repeating: 0, count: batch * outBlocks * plane * channelBlock)
    }
    if layout == .nhwc {
        // Pixel by pixel: each output row of `count` values is written once, in order.
        for n in 0..<batch {
            var c = 0
            while c < count {
                // The part of the slice inside one source block.
                let sc = start + c
                let lanes = min(count - c, channelBlock - sc % channelBlock)
                let source = input + (n * inBlocks + sc / channelBlock) * plane * channelBlock + sc % channelBlock
                let destination = output + n * plane * count + c
                for p in 0..<plane {
                    for lane in 0..<lanes { destination[p * count + lane] = source[p * channelBlock + lane] }
                }
                c += lanes
            }
        }
        return
    }
    for n in 0..<batch {
        for c in 0..<count {
            let sc = start + c
            let source = input + (n * inBlocks + sc / channelBlock) * plane * channelBlock + sc % channelBlock
            switch layout {
            case .plain:
                let destination = output + (n * count + c) * plane
                for p in 0..<plane { destination[p] = source[p * channelBlock] }
            case .nhwc:
                break  // copied row by row above
            case .blocked:
                let destination = output + (n * outBlocks + c / channelBlock) * plane * channelBlock + c % channelBlock
                for p in 0..<plane { destination[p * channelBlock] = source[p * channelBlock] }
            }
        }
    }
}

// MARK: - Max pooling

/// Max pooling of a blocked tensor; `g.planes` counts channel blocks (batch × blocks). Windows
/// inside the input run with the window size as a constant when it is 2×2 or 3×3; windows that
/// cross the border skip the outside positions (padding never wins a max).
func maxPoolBlocked(_ g: PoolGeometry, input: FloatPointer, output: MutableFloatPointer) {
    switch (g.kernelHeight, g.kernelWidth) {
    case (2, 2): maxPoolBlocked2x2(g, input, output)
    case (3, 3): maxPoolBlocked3x3(g, input, output)
    default: maxPoolBlockedBody(g, input, output, kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth)
    }
}

@inline(never)
private func maxPoolBlocked2x2(_ g: PoolGeometry, _ input: FloatPointer, _ output: MutableFloatPointer) {
    maxPoolBlockedBody(g, input, output, kernelHeight: 2, kernelWidth: 2)
}

@inline(never)
private func maxPoolBlocked3x3(_ g: PoolGeometry, _ input: FloatPointer, _ output: MutableFloatPointer) {
    maxPoolBlockedBody(g, input, output, kernelHeight: 3, kernelWidth: 3)
}

@inline(__always)
private func maxPoolBlockedBody(_ g: PoolGeometry, _ input: FloatPointer, _ output: MutableFloatPointer,
                                kernelHeight: Int, kernelWidth: Int) {
    let inRow = g.inWidth * channelBlock
    let inPlane = g.inHeight * inRow
    let outPlane = g.outHeight * g.outWidth * channelBlock
    // Output columns whose window lies inside the row.
    let interiorStart = min(g.outWidth, (g.padLeft + g.strideX - 1) / g.strideX)
    let lastInside = g.inWidth - kernelWidth + g.padLeft
    let interiorEnd = lastInside < 0 ? interiorStart : max(interiorStart, min(g.outWidth, lastInside / g.strideX + 1))
    for plane in 0..<g.planes {
        let source = input + plane * inPlane
        let destination = output + plane * outPlane
        for oy in 0..<g.outHeight {
            let y0 = oy * g.strideY - g.padTop
            let out = destination + oy * g.outWidth * channelBlock
            let rowInside = y0 >= 0 && y0 + kernelHeight <= g.inHeight
            @inline(__always) func border(_ ox: Int) {
                let yStart = max(0, y0), yEnd = min(g.inHeight, y0 + kernelHeight)
                let x0 = ox * g.strideX - g.padLeft
                let xStart = max(0, x0), xEnd = min(g.inWidth, x0 + kernelWidth)
                var best = SIMD8<Float>(repeating: -.infinity)
                if yStart < yEnd && xStart < xEnd {
                    for y in yStart..<yEnd {
                        for x in xStart..<xEnd { best = vectorMax(best, load8(source + y * inRow + x * channelBlock)) }
                    }
                }
                store8(best, out + ox * channelBlock)
            }
            guard rowInside else {
                for ox in 0..<g.outWidth { border(ox) }
                continue
            }
            for ox in 0..<interiorStart { border(ox) }
            let top = source + y0 * inRow
            for ox in interiorStart..<interiorEnd {
                let p = top + (ox &* g.strideX &- g.padLeft) &* channelBlock
                var best = load8(p)
                for ky in 0..<kernelHeight {
                    for kx in 0..<kernelWidth where ky > 0 || kx > 0 {
                        best = vectorMax(best, load8(p + (ky &* inRow &+ kx &* channelBlock)))
                    }
                }
                store8(best, out + ox * channelBlock)
            }
            for ox in interiorEnd..<g.outWidth { border(ox) }
        }
    }
}

// MARK: - Nearest resize

/// Nearest-neighbour resize of a blocked tensor's spatial axes; `planes` counts channel blocks.
func resizeNearestBlocked(_ input: FloatPointer, _ output: MutableFloatPointer, planes: Int, inHeight: Int, inWidth: Int,
                          sourceRows: [Int], sourceColumns: [Int]) {
    let outHeight = sourceRows.count, outWidth = sourceColumns.count
    sourceColumns.withUnsafeBufferPointer { columns in
        sourceRows.withUnsafeBufferPointer { rows in
            for plane in 0..<planes {
                let source = input + plane * inHeight * inWidth * channelBlock
                let destination = output + plane * outHeight * outWidth * channelBlock
                for oy in 0..<outHeight {
                    let row = source + rows[oy] * inWidth * channelBlock
                    let out = destination + oy * outWidth * channelBlock
                    for ox in 0..<outWidth { store8(load8(row + columns[ox] * channelBlock), out + ox * channelBlock) }
                }
            }
        }
    }
}
