// Convolutions producing NCHWc8 tensors (see KernelInterface/Layout.swift).
//
// Direct convolution (any kernel size, stride, dilation and padding, group 1; 1×1 is the same
// code on a flattened plane): an output tile is 4 pixels of a row × 16 output channels (two
// blocks), eight ymm accumulators; the AVX-512 build uses 16 pixels × 16 channels, one zmm
// accumulator per pixel. Each step of the reduction loads the 16 weights of one input
// channel and tap as two vectors and broadcasts that channel's value at each of the pixels. The
// input is either blocked (a step per channel of each block, eight lanes apart) or plain NCHW
// (the network input: few channels, one plane each).
//
// Depthwise 3×3 (stride 1): a tile is 4 pixels of one block; each input vector is loaded once
// per kernel row and used by the up to three outputs that see it, and the nine weight vectors
// stay in registers along the row. A following 2×2 max pool is fused: output rows go to two
// scratch rows and only the pooled row is stored.

import KernelInterface

/// An activation as a type, so each kernel is compiled once per activation with no branch in
/// its loops (a switch per store splits the tile's code into blocks the scheduler cannot mix).
protocol VectorActivation {
    static func apply(_ v: SIMD8<Float>, slopes: SIMD8<Float>) -> SIMD8<Float>
    static func apply(_ v: SIMD16<Float>, slopes: SIMD16<Float>) -> SIMD16<Float>
}

enum NoActivation: VectorActivation {
    @inline(__always) static func apply(_ v: SIMD8<Float>, slopes: SIMD8<Float>) -> SIMD8<Float> { v }
    @inline(__always) static func apply(_ v: SIMD16<Float>, slopes: SIMD16<Float>) -> SIMD16<Float> { v }
}

enum ReluActivation: VectorActivation {
    @inline(__always) static func apply(_ v: SIMD8<Float>, slopes: SIMD8<Float>) -> SIMD8<Float> {
        v.replacing(with: 0, where: v .< 0)
    }
    @inline(__always) static func apply(_ v: SIMD16<Float>, slopes: SIMD16<Float>) -> SIMD16<Float> {
        v.replacing(with: 0, where: v .< 0)
    }
}

enum PReluActivation: VectorActivation {
    @inline(__always) static func apply(_ v: SIMD8<Float>, slopes: SIMD8<Float>) -> SIMD8<Float> {
        v.replacing(with: v * slopes, where: v .< 0)
    }
    @inline(__always) static func apply(_ v: SIMD16<Float>, slopes: SIMD16<Float>) -> SIMD16<Float> {
        v.replacing(with: v * slopes, where: v .< 0)
    }
}

@inline(__always)
func activate(_ v: SIMD8<Float>, _ kind: ActivationKind, slopes: SIMD8<Float>) -> SIMD8<Float> {
    switch kind {
    case .none: return v
    case .relu: return ReluActivation.apply(v, slopes: slopes)
    case .prelu: return PReluActivation.apply(v, slopes: slopes)
    }
}

// MARK: - Direct convolution

/// Where the reduction steps of one output pixel read: `blocks` input blocks (or channels)
/// `blockStride` apart, each a kernel window of rows `rowStride` and columns `columnStride`
/// apart, each position holding `lanes` adjacent channels.
struct ConvTaps {
    /// Whole blocks of `lanes` channels.
    package var blocks: Int
    package var blockStride: Int
    package var kernelHeight: Int
    package var kernelWidth: Int
    package var rowStride: Int
    package var columnStride: Int
    /// Channels of a last, partly filled block after `blocks` (0 when there is none): its
    /// padding lanes are skipped rather than multiplied by zero weights.
    package var partialLanes: Int = 0
}

/// Output pixels per row chunk: the chunk's input stays in L1 while every pair of output blocks
/// passes over it.
let directChunkPixels = 48

/// `channelsLast`: a plain-input layer's input is stored NHWC rather than NCHW (the MTCNN
/// networks transpose their NHWC input just before the first convolution; reading it in place
/// saves that pass).
func directConvolution(_ w: DirectConvWeights, geometry g: ConvGeometry, channelsLast: Bool = false,
                       input: FloatPointer, output: MutableFloatPointer) {
    if let taps = w.singleChannelTaps, !channelsLast {
        singleChannelConvolution(w, taps: FloatPointer(taps.base), geometry: g, input: input, output: output)
        return
    }
    var geometry = g
    if runsAsOneRow(w, g) {
        // 1×1: the plane is one long row, and the taps are the input channels.
        geometry.inWidth = g.inHeight * g.inWidth
        geometry.inHeight = 1
        geometry.outWidth = geometry.inWidth
        geometry.outHeight = 1
    }
    directConvolutionRows(w, geometry: geometry, channelsLast: channelsLast, input: input, output: output,
                          rows: 0..<geometry.outHeight)
}

/// A blocked 1×1 stride-1 layer without padding runs over each plane as one long row.
private func runsAsOneRow(_ w: DirectConvWeights, _ g: ConvGeometry) -> Bool {
    w.inputLanes == channelBlock && w.kernelHeight == 1 && w.kernelWidth == 1 && g.strideX == 1 && g.strideY == 1
        && g.padTop == 0 && g.padLeft == 0
}

/// Whether `directConvolutionRows` can compute this layer's output rows apart (for threads):
/// every layer except those run as one long row and single-channel ones.
func directConvolutionSplitsRows(_ w: DirectConvWeights, geometry g: ConvGeometry) -> Bool {
    !runsAsOneRow(w, g) && w.singleChannelTaps == nil && g.outHeight > 1
}

/// Output rows `rows` of every image (of a layer that `directConvolutionSplitsRows`, or of the
/// one-row geometry `directConvolution` makes of a 1×1 layer).
func directConvolutionRows(_ w: DirectConvWeights, geometry g: ConvGeometry, channelsLast: Bool, input: FloatPointer,
                                   output: MutableFloatPointer, rows: Range<Int>) {
    let outPlane = g.outHeight * g.outWidth * channelBlock
    directConvolutionBody(w, g, inputStrides(w, g, channelsLast: channelsLast), input, output,
                          lanes: w.inputLanes, images: 0..<g.batch, rows: rows,
                          outputBlockStride: outPlane, outputImageStride: w.outBlocks * outPlane, outputRowBase: 0)
}

/// A convolution with one output channel (a network's side or final mask layer) over a blocked
/// input: each output pixel is a dot product over input blocks and taps, eight input channels
/// per FMA, then a horizontal sum. The output's seven padding lanes are zero.
private func singleChannelConvolution(_ w: DirectConvWeights, taps: FloatPointer, geometry g: ConvGeometry,
                                      input: FloatPointer, output: MutableFloatPointer) {
    let weights = FloatPointer(w.buffer.base)
    let bias = weights[w.biasOffset], slope = weights[w.slopeOffset]
    let plane = g.inHeight * g.inWidth * channelBlock
    let tapStride = w.kernelWidth * channelBlock
    for n in 0..<g.batch {
        let image = input + n * w.inputBlocks * plane
        let out = output + n * g.outHeight * g.outWidth * channelBlock
        for oy in 0..<g.outHeight {
            let y0 = oy * g.strideY - g.padTop
            // Kernel rows that land inside the image.
            let kyStart = y0 >= 0 ? 0 : (-y0 + g.dilationY - 1) / g.dilationY
            let kyEnd = min(w.kernelHeight, (g.inHeight - 1 - y0) / g.dilationY + 1)
            @inline(__always) func finish(_ acc: SIMD8<Float>, _ ox: Int) {
                var v = acc.sum() + bias
                switch w.activation {
                case .none: break
                case .relu: v = max(v, 0)
                case .prelu: v = v >= 0 ? v : v * slope
                }
                var lanes = SIMD8<Float>.zero
                lanes[0] = v
                store8(lanes, out + (oy * g.outWidth + ox) * channelBlock)
            }
            let reachX = (w.kernelWidth - 1) * g.dilationX
            var ox = 0
            while ox < g.outWidth {
                let x0 = ox * g.strideX - g.padLeft
                if x0 >= 0 && ox + 4 <= g.outWidth && x0 + 3 * g.strideX + reachX < g.inWidth && kyStart < kyEnd {
                    // Four pixels with whole windows: four independent sums share each tap load.
                    var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0
                    let step = g.strideX * channelBlock
                    for block in 0..<w.inputBlocks {
                        let source = image + block * plane
                        let blockTaps = taps + block * w.kernelHeight * tapStride
                        for ky in kyStart..<kyEnd {
                            let row = source + ((y0 + ky * g.dilationY) * g.inWidth + x0) * channelBlock
                            let rowTaps = blockTaps + ky * tapStride
                            for kx in 0..<w.kernelWidth {
                                let t = load8(rowTaps + kx * channelBlock)
                                let p = row + kx * g.dilationX * channelBlock
                                a0 = multiplyAdd(a0, load8(p), t)
                                a1 = multiplyAdd(a1, load8(p + step), t)
                                a2 = multiplyAdd(a2, load8(p + 2 * step), t)
                                a3 = multiplyAdd(a3, load8(p + 3 * step), t)
                            }
                        }
                    }
                    finish(a0, ox); finish(a1, ox + 1); finish(a2, ox + 2); finish(a3, ox + 3)
                    ox += 4
                    continue
                }
                let kxStart = x0 >= 0 ? 0 : (-x0 + g.dilationX - 1) / g.dilationX
                let kxEnd = min(w.kernelWidth, (g.inWidth - 1 - x0) / g.dilationX + 1)
                var acc = SIMD8<Float>.zero
                if kyStart < kyEnd && kxStart < kxEnd {
                    for block in 0..<w.inputBlocks {
                        let source = image + block * plane
                        let blockTaps = taps + block * w.kernelHeight * tapStride
                        for ky in kyStart..<kyEnd {
                            let row = source + ((y0 + ky * g.dilationY) * g.inWidth + x0) * channelBlock
                            let rowTaps = blockTaps + ky * tapStride
                            for kx in kxStart..<kxEnd {
                                acc = multiplyAdd(acc, load8(row + kx * g.dilationX * channelBlock), load8(rowTaps + kx * channelBlock))
                            }
                        }
                    }
                }
                finish(acc, ox)
                ox += 1
            }
        }
    }
}

/// Output row `row` of image `image` only, written to `output` with `outputBlockStride` floats
/// between its channel blocks (for kernels that consume a layer row by row).
func directConvolutionRow(_ w: DirectConvWeights, geometry g: ConvGeometry, channelsLast: Bool, input: FloatPointer,
                          image: Int, row: Int, output: MutableFloatPointer, outputBlockStride: Int) {
    directConvolutionBody(w, g, inputStrides(w, g, channelsLast: channelsLast), input, output, lanes: w.inputLanes,
                          images: image..<(image + 1), rows: row..<(row + 1), outputBlockStride: outputBlockStride,
                          outputImageStride: 0, outputRowBase: row)
}

private func inputStrides(_ w: DirectConvWeights, _ g: ConvGeometry, channelsLast: Bool) -> InputStrides {
    if w.inputLanes == channelBlock {
        return InputStrides(block: g.inHeight * g.inWidth * channelBlock, row: g.inWidth * channelBlock,
                            pixel: channelBlock, image: w.inputBlocks * g.inHeight * g.inWidth * channelBlock)
    } else if channelsLast {
        return InputStrides(block: 1, row: g.inWidth * g.inChannels, pixel: g.inChannels,
                            image: g.inChannels * g.inHeight * g.inWidth)
    } else {
        return InputStrides(block: g.inHeight * g.inWidth, row: g.inWidth, pixel: 1,
                            image: g.inChannels * g.inHeight * g.inWidth)
    }
}

/// Floats between an input's channel blocks (or channels, for plain input), rows, pixels and
/// images.
struct InputStrides {
    package var block: Int
    package var row: Int
    package var pixel: Int
    package var image: Int
}

/// What one call of a row-segment kernel needs besides the input and output addresses.
struct DirectSegment {
    /// Floats between the inputs of neighbouring output pixels (stride × lanes).
    package var pixelStride: Int
    package var taps: ConvTaps
    package var weights: FloatPointer
    package var bias: FloatPointer
    package var slopes: FloatPointer
    package var activation: ActivationKind
}

/// Rows `rows` of images `images`; output row r of image n goes to
/// `output + (n - images.lowerBound) * outputImageStride + (r - outputRowBase) * outWidth * 8`.
private func directConvolutionBody(_ w: DirectConvWeights, _ g: ConvGeometry, _ strides: InputStrides, _ input: FloatPointer,
                                   _ output: MutableFloatPointer, lanes: Int, images: Range<Int>, rows: Range<Int>,
                                   outputBlockStride: Int, outputImageStride: Int, outputRowBase: Int) {
    let taps = ConvTaps(blocks: w.fullInputBlocks, blockStride: strides.block, kernelHeight: w.kernelHeight,
                        kernelWidth: w.kernelWidth, rowStride: g.dilationY * strides.row,
                        columnStride: g.dilationX * strides.pixel, partialLanes: w.partialLanes)
    // Output columns whose whole window lies inside the row.
    let reachX = (w.kernelWidth - 1) * g.dilationX
    let reachY = (w.kernelHeight - 1) * g.dilationY
    let interiorStart = min(g.outWidth, (g.padLeft + g.strideX - 1) / g.strideX)
    let lastInside = g.inWidth - 1 - reachX + g.padLeft
    let interiorEnd = lastInside < 0 ? interiorStart : max(interiorStart, min(g.outWidth, lastInside / g.strideX + 1))
    let weights = FloatPointer(w.buffer.base)
    for n in images {
        let image = input + n * strides.image
        let outImage = output + (n - images.lowerBound) * outputImageStride - outputRowBase * g.outWidth * channelBlock
        for oy in rows {
            let iy = oy * g.strideY - g.padTop
            let rowInside = iy >= 0 && iy + reachY < g.inHeight
            let inRow = image + iy * strides.row
            var chunk = 0
            while chunk < g.outWidth {
                let chunkEnd = min(g.outWidth, chunk + directChunkPixels)
                for pair in 0..<w.pairCount {
                    let segment = DirectSegment(pixelStride: g.strideX * strides.pixel, taps: taps, weights: weights + pair * w.pairStride,
                                                bias: weights + w.biasOffset + pair * 16, slopes: weights + w.slopeOffset + pair * 16,
                                                activation: w.activation)
                    let out0 = outImage + 2 * pair * outputBlockStride + oy * g.outWidth * channelBlock
                    let out1 = out0 + outputBlockStride
                    let fastStart = rowInside ? max(chunk, interiorStart) : chunkEnd
                    let fastEnd = rowInside ? max(fastStart, min(chunkEnd, interiorEnd)) : chunkEnd
                    for ox in chunk..<fastStart {
                        directEdgePixel(w, g, strides, image, oy: oy, ox: ox, pair: pair, lanes: lanes, out0: out0, out1: out1)
                    }
                    if fastEnd > fastStart {
                        let x = inRow + (fastStart * g.strideX - g.padLeft) * strides.pixel
                        let o = fastStart * channelBlock
                        let both = 2 * pair + 1 < w.outBlocks
                        switch w.activation {
                        case .none: directSegment(NoActivation.self, fastEnd - fastStart, x, segment, lanes, both, out0 + o, out1 + o)
                        case .relu: directSegment(ReluActivation.self, fastEnd - fastStart, x, segment, lanes, both, out0 + o, out1 + o)
                        case .prelu: directSegment(PReluActivation.self, fastEnd - fastStart, x, segment, lanes, both, out0 + o, out1 + o)
                        }
                    }
                    for ox in fastEnd..<chunkEnd {
                        directEdgePixel(w, g, strides, image, oy: oy, ox: ox, pair: pair, lanes: lanes, out0: out0, out1: out1)
                    }
                }
                chunk = chunkEnd
            }
        }
    }
}

/// A 1×1 convolution of `count` pixels of a blocked input (`inputBlockStride` floats between its
/// channel blocks) into a blocked output with `outputBlockStride` floats between blocks.
func pointwiseSegment(_ w: DirectConvWeights, count: Int, input: FloatPointer, inputBlockStride: Int,
                      output: MutableFloatPointer, outputBlockStride: Int) {
    let weights = FloatPointer(w.buffer.base)
    let taps = ConvTaps(blocks: w.fullInputBlocks, blockStride: inputBlockStride, kernelHeight: 1, kernelWidth: 1,
                        rowStride: 0, columnStride: 0, partialLanes: w.partialLanes)
    var chunk = 0
    while chunk < count {
        let chunkEnd = min(count, chunk + directChunkPixels)
        for pair in 0..<w.pairCount {
            let segment = DirectSegment(pixelStride: channelBlock, taps: taps, weights: weights + pair * w.pairStride,
                                        bias: weights + w.biasOffset + pair * 16, slopes: weights + w.slopeOffset + pair * 16,
                                        activation: w.activation)
            let out0 = output + 2 * pair * outputBlockStride + chunk * channelBlock
            let out1 = out0 + outputBlockStride
            let x = input + chunk * channelBlock
            let both = 2 * pair + 1 < w.outBlocks
            switch w.activation {
            case .none: directSegment(NoActivation.self, chunkEnd - chunk, x, segment, channelBlock, both, out0, out1)
            case .relu: directSegment(ReluActivation.self, chunkEnd - chunk, x, segment, channelBlock, both, out0, out1)
            case .prelu: directSegment(PReluActivation.self, chunkEnd - chunk, x, segment, channelBlock, both, out0, out1)
            }
        }
        chunk = chunkEnd
    }
}

/// One output pixel whose window crosses the border: taps outside the input are skipped.
private func directEdgePixel(_ w: DirectConvWeights, _ g: ConvGeometry, _ strides: InputStrides, _ image: FloatPointer,
                             oy: Int, ox: Int, pair: Int, lanes: Int, out0: MutableFloatPointer, out1: MutableFloatPointer) {
    let weights = FloatPointer(w.buffer.base)
    let width = min(2, w.outBlocks - 2 * pair) * channelBlock
    var acc0 = load8(weights + w.biasOffset + pair * 16)
    var acc1 = width > channelBlock ? load8(weights + w.biasOffset + pair * 16 + 8) : .zero
    var wp = weights + pair * w.pairStride
    for block in 0..<w.inputBlocks {
        let blockLanes = block < w.fullInputBlocks ? lanes : w.partialLanes
        for ky in 0..<w.kernelHeight {
            let iy = oy * g.strideY - g.padTop + ky * g.dilationY
            for kx in 0..<w.kernelWidth {
                let ix = ox * g.strideX - g.padLeft + kx * g.dilationX
                if iy >= 0 && iy < g.inHeight && ix >= 0 && ix < g.inWidth {
                    let p = image + block * strides.block + iy * strides.row + ix * strides.pixel
                    for lane in 0..<blockLanes {
                        let v = SIMD8<Float>(repeating: p[lane])
                        acc0 = multiplyAdd(acc0, v, load8(wp + lane * width))
                        if width > channelBlock { acc1 = multiplyAdd(acc1, v, load8(wp + lane * width + 8)) }
                    }
                }
                wp += blockLanes * width
            }
        }
    }
    let slopes = weights + w.slopeOffset + pair * 16
    store8(activate(acc0, w.activation, slopes: load8(slopes)), out0 + ox * channelBlock)
    if width > channelBlock { store8(activate(acc1, w.activation, slopes: load8(slopes + 8)), out1 + ox * channelBlock) }
}

// The four segment kernels are one body each, specialised by the number of lanes per tap (a
// constant, so the lane loop unrolls) and the output width. Tiles are 4 pixels × 16 channels
// (8 accumulators + 2 weight vectors + 4 broadcasts = 14 ymm registers: a 6-pixel tile would
// need 20 once LLVM schedules all broadcasts before the second weight vector's FMAs, and then
// spills) or 8 pixels × 8 channels.

@inline(__always)
private func directSegment<A: VectorActivation>(_ a: A.Type, _ count: Int, _ x: FloatPointer, _ s: DirectSegment, _ lanes: Int,
                                                _ both: Bool, _ out0: MutableFloatPointer, _ out1: MutableFloatPointer) {
    switch (lanes == channelBlock, both) {
    case (true, true): directSegment16Blocked(a, count, x, s, out0, out1)
    case (true, false): directSegment8Blocked(a, count, x, s, out0)
    case (false, true): directSegment16Plain(a, count, x, s, out0, out1)
    case (false, false): directSegment8Plain(a, count, x, s, out0)
    }
}

// Each segment kernel is compiled for the common window sizes as constants (1×1: the
// pointwise layers; 3×3: most others), so the window loops unroll.

@inline(never)
private func directSegment16Blocked<A: VectorActivation>(_ a: A.Type, _ count: Int, _ x: FloatPointer, _ s: DirectSegment,
                                                         _ out0: MutableFloatPointer, _ out1: MutableFloatPointer) {
    switch s.window {
    case .oneByOne: directSegment16(a, count, x, s.window(1, 1), lanes: channelBlock, out0, out1)
    case .threeByThree: directSegment16(a, count, x, s.window(3, 3), lanes: channelBlock, out0, out1)
    case .other: directSegment16(a, count, x, s, lanes: channelBlock, out0, out1)
    }
}

@inline(never)
private func directSegment16Plain<A: VectorActivation>(_ a: A.Type, _ count: Int, _ x: FloatPointer, _ s: DirectSegment,
                                                       _ out0: MutableFloatPointer, _ out1: MutableFloatPointer) {
    switch s.window {
    case .oneByOne: directSegment16(a, count, x, s.window(1, 1), lanes: 1, out0, out1)
    case .threeByThree: directSegment16(a, count, x, s.window(3, 3), lanes: 1, out0, out1)
    case .other: directSegment16(a, count, x, s, lanes: 1, out0, out1)
    }
}

@inline(never)
private func directSegment8Blocked<A: VectorActivation>(_ a: A.Type, _ count: Int, _ x: FloatPointer, _ s: DirectSegment,
                                                        _ out: MutableFloatPointer) {
    switch s.window {
    case .oneByOne: directSegment8(a, count, x, s.window(1, 1), lanes: channelBlock, out)
    case .threeByThree: directSegment8(a, count, x, s.window(3, 3), lanes: channelBlock, out)
    case .other: directSegment8(a, count, x, s, lanes: channelBlock, out)
    }
}

@inline(never)
private func directSegment8Plain<A: VectorActivation>(_ a: A.Type, _ count: Int, _ x: FloatPointer, _ s: DirectSegment,
                                                      _ out: MutableFloatPointer) {
    switch s.window {
    case .oneByOne: directSegment8(a, count, x, s.window(1, 1), lanes: 1, out)
    case .threeByThree: directSegment8(a, count, x, s.window(3, 3), lanes: 1, out)
    case .other: directSegment8(a, count, x, s, lanes: 1, out)
    }
}

// Each segment kernel is compiled for the common window sizes as constants (1×1: the
// pointwise layers; 3×3: most others), so the window loops unroll.
extension DirectSegment {
    package enum Window { case oneByOne, threeByThree, other }

    package var window: Window {
        switch (taps.kernelHeight, taps.kernelWidth) {
        case (1, 1): return .oneByOne
        case (3, 3): return .threeByThree
        default: return .other
        }
    }

    @inline(__always)
    package func window(_ height: Int, _ width: Int) -> DirectSegment {
        var fixed = self
        fixed.taps.kernelHeight = height
        fixed.taps.kernelWidth = width
        return fixed
    }
}

/// Calls `step` with the input address of each reduction step of the output pixel whose window
/// starts at `xi`, in the order the packed weights follow: each whole block's window positions
/// and lanes, then the last partial block's (its padding lanes have no steps).
@_transparent
private func forEachReductionStep(_ xi: FloatPointer, _ t: ConvTaps, lanes: Int, _ step: (FloatPointer) -> Void) {
    for block in 0..<t.blocks {
        for ky in 0..<t.kernelHeight {
            for kx in 0..<t.kernelWidth {
                let p = xi + (block &* t.blockStride &+ ky &* t.rowStride &+ kx &* t.columnStride)
                for lane in 0..<lanes { step(p + lane) }
            }
        }
    }
    if t.partialLanes > 0 {
        let last = xi + t.blocks &* t.blockStride
        for ky in 0..<t.kernelHeight {
            for kx in 0..<t.kernelWidth {
                let p = last + (ky &* t.rowStride &+ kx &* t.columnStride)
                for lane in 0..<t.partialLanes { step(p + lane) }
            }
        }
    }
}

#if INFERENCE_AVX512
/// `count` output pixels × 16 channels from input pixel `x` on, with 16-float vectors: the pair's
/// 16 weights of a reduction step are one vector, and each pixel's accumulator holds both output
/// blocks. Tiles are 16 pixels (16 accumulators and one weight vector of the 32 zmm registers; the
/// pixel values are broadcast from memory inside the FMAs; 12-pixel tiles were 3 % slower on
/// U-2-Netp, and 64-pixel row chunks no faster than 48). A row's last partial tile is computed
/// as the full tile ending at its last pixel, overlapping the one before: the overlap is written
/// twice with the same values, which costs less than a narrower tile.
@_transparent
private func directSegment16<A: VectorActivation>(_: A.Type, _ count: Int, _ x: FloatPointer, _ s: DirectSegment, lanes: Int,
                                                  _ out0: MutableFloatPointer, _ out1: MutableFloatPointer) {
    let t = s.taps
    let ps = s.pixelStride
    let bias = load16(s.bias)
    let slopes = load16(s.slopes)
    let tile = 16
    var i = 0
    while i < count {
        if count &- i < tile {
            guard count >= tile else { break }
            i = count &- tile
        }
        var c0 = bias, c1 = bias, c2 = bias, c3 = bias, c4 = bias, c5 = bias
        var c6 = bias, c7 = bias, c8 = bias, c9 = bias, c10 = bias, c11 = bias
        var c12 = bias, c13 = bias, c14 = bias, c15 = bias
        var wp = s.weights
        @inline(__always) func step(_ q: FloatPointer) {
            let w = load16(wp)
            wp += 16
            c0 = multiplyAdd(c0, SIMD16(repeating: q[0]), w)
            c1 = multiplyAdd(c1, SIMD16(repeating: q[ps]), w)
            c2 = multiplyAdd(c2, SIMD16(repeating: q[2 &* ps]), w)
            c3 = multiplyAdd(c3, SIMD16(repeating: q[3 &* ps]), w)
            c4 = multiplyAdd(c4, SIMD16(repeating: q[4 &* ps]), w)
            c5 = multiplyAdd(c5, SIMD16(repeating: q[5 &* ps]), w)
            c6 = multiplyAdd(c6, SIMD16(repeating: q[6 &* ps]), w)
            c7 = multiplyAdd(c7, SIMD16(repeating: q[7 &* ps]), w)
            c8 = multiplyAdd(c8, SIMD16(repeating: q[8 &* ps]), w)
            c9 = multiplyAdd(c9, SIMD16(repeating: q[9 &* ps]), w)
            c10 = multiplyAdd(c10, SIMD16(repeating: q[10 &* ps]), w)
            c11 = multiplyAdd(c11, SIMD16(repeating: q[11 &* ps]), w)
            c12 = multiplyAdd(c12, SIMD16(repeating: q[12 &* ps]), w)
            c13 = multiplyAdd(c13, SIMD16(repeating: q[13 &* ps]), w)
            c14 = multiplyAdd(c14, SIMD16(repeating: q[14 &* ps]), w)
            c15 = multiplyAdd(c15, SIMD16(repeating: q[15 &* ps]), w)
        }
        forEachReductionStep(x + i &* ps, t, lanes: lanes, step)
        let o0 = out0 + i &* channelBlock, o1 = out1 + i &* channelBlock
        store16(A.apply(c0, slopes: slopes), o0, o1)
        store16(A.apply(c1, slopes: slopes), o0 + 8, o1 + 8)
        store16(A.apply(c2, slopes: slopes), o0 + 16, o1 + 16)
        store16(A.apply(c3, slopes: slopes), o0 + 24, o1 + 24)
        store16(A.apply(c4, slopes: slopes), o0 + 32, o1 + 32)
        store16(A.apply(c5, slopes: slopes), o0 + 40, o1 + 40)
        store16(A.apply(c6, slopes: slopes), o0 + 48, o1 + 48)
        store16(A.apply(c7, slopes: slopes), o0 + 56, o1 + 56)
        store16(A.apply(c8, slopes: slopes), o0 + 64, o1 + 64)
        store16(A.apply(c9, slopes: slopes), o0 + 72, o1 + 72)
        store16(A.apply(c10, slopes: slopes), o0 + 80, o1 + 80)
        store16(A.apply(c11, slopes: slopes), o0 + 88, o1 + 88)
        store16(A.apply(c12, slopes: slopes), o0 + 96, o1 + 96)
        store16(A.apply(c13, slopes: slopes), o0 + 104, o1 + 104)
        store16(A.apply(c14, slopes: slopes), o0 + 112, o1 + 112)
        store16(A.apply(c15, slopes: slopes), o0 + 120, o1 + 120)
        i &+= tile
    }
    // Segments shorter than a tile (small networks' rows): 4-pixel tiles, the last one again
    // overlapping, then single pixels when fewer than four remain.
    while i < count && count >= 4 {
        if count &- i < 4 { i = count &- 4 }
        var c0 = bias, c1 = bias, c2 = bias, c3 = bias
        var wp = s.weights
        @inline(__always) func step(_ q: FloatPointer) {
            let w = load16(wp)
            wp += 16
            c0 = multiplyAdd(c0, SIMD16(repeating: q[0]), w)
            c1 = multiplyAdd(c1, SIMD16(repeating: q[ps]), w)
            c2 = multiplyAdd(c2, SIMD16(repeating: q[2 &* ps]), w)
            c3 = multiplyAdd(c3, SIMD16(repeating: q[3 &* ps]), w)
        }
        forEachReductionStep(x + i &* ps, t, lanes: lanes, step)
        let o0 = out0 + i &* channelBlock, o1 = out1 + i &* channelBlock
        store16(A.apply(c0, slopes: slopes), o0, o1)
        store16(A.apply(c1, slopes: slopes), o0 + 8, o1 + 8)
        store16(A.apply(c2, slopes: slopes), o0 + 16, o1 + 16)
        store16(A.apply(c3, slopes: slopes), o0 + 24, o1 + 24)
        i &+= 4
    }
    while i < count {
        var c = bias
        var wp = s.weights
        @inline(__always) func step(_ q: FloatPointer) {
            c = multiplyAdd(c, SIMD16(repeating: q[0]), load16(wp))
            wp += 16
        }
        forEachReductionStep(x + i &* ps, t, lanes: lanes, step)
        store16(A.apply(c, slopes: slopes), out0 + i &* channelBlock, out1 + i &* channelBlock)
        i &+= 1
    }
}
#else
/// `count` output pixels × 16 channels from input pixel `x` on.
// `@_transparent` rather than `@inline(__always)`: these bodies are large and appear three
// times per caller (one per window size), and the optimiser's inliner stops honouring
// `@inline(__always)` at that size, leaving the window and lane counts as runtime values.
@_transparent
private func directSegment16<A: VectorActivation>(_: A.Type, _ count: Int, _ x: FloatPointer, _ s: DirectSegment, lanes: Int,
                                                  _ out0: MutableFloatPointer, _ out1: MutableFloatPointer) {
    let t = s.taps
    let ps = s.pixelStride
    let b0 = load8(s.bias), b1 = load8(s.bias + 8)
    let s0 = load8(s.slopes), s1 = load8(s.slopes + 8)
    var i = 0
    while i &+ 4 <= count {
        var c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1
        var wp = s.weights
        @inline(__always) func step(_ q: FloatPointer) {
                let w0 = load8(wp), w1 = load8(wp + 8)
                wp += 16
                var v = SIMD8<Float>(repeating: q[0])
                c00 = multiplyAdd(c00, v, w0); c01 = multiplyAdd(c01, v, w1)
                v = SIMD8<Float>(repeating: q[ps])
                c10 = multiplyAdd(c10, v, w0); c11 = multiplyAdd(c11, v, w1)
                v = SIMD8<Float>(repeating: q[2 &* ps])
                c20 = multiplyAdd(c20, v, w0); c21 = multiplyAdd(c21, v, w1)
                v = SIMD8<Float>(repeating: q[3 &* ps])
                c30 = multiplyAdd(c30, v, w0); c31 = multiplyAdd(c31, v, w1)
        }
        forEachReductionStep(x + i &* ps, t, lanes: lanes, step)
        let o0 = out0 + i &* channelBlock, o1 = out1 + i &* channelBlock
        store8(A.apply(c00, slopes: s0), o0); store8(A.apply(c01, slopes: s1), o1)
        store8(A.apply(c10, slopes: s0), o0 + 8); store8(A.apply(c11, slopes: s1), o1 + 8)
        store8(A.apply(c20, slopes: s0), o0 + 16); store8(A.apply(c21, slopes: s1), o1 + 16)
        store8(A.apply(c30, slopes: s0), o0 + 24); store8(A.apply(c31, slopes: s1), o1 + 24)
        i &+= 4
    }
    while i < count {
        var c0 = b0, c1 = b1
        var wp = s.weights
        @inline(__always) func step(_ q: FloatPointer) {
                let v = SIMD8<Float>(repeating: q[0])
                c0 = multiplyAdd(c0, v, load8(wp)); c1 = multiplyAdd(c1, v, load8(wp + 8))
                wp += 16
        }
        forEachReductionStep(x + i &* ps, t, lanes: lanes, step)
        store8(A.apply(c0, slopes: s0), out0 + i &* channelBlock)
        store8(A.apply(c1, slopes: s1), out1 + i &* channelBlock)
        i &+= 1
    }
}

#endif

/// `count` output pixels × 8 channels (the last block of an odd number) from input pixel `x` on.
@_transparent
private func directSegment8<A: VectorActivation>(_: A.Type, _ count: Int, _ x: FloatPointer, _ s: DirectSegment, lanes: Int,
                                                 _ out: MutableFloatPointer) {
    let t = s.taps
    let ps = s.pixelStride
    let b = load8(s.bias)
    let sl = load8(s.slopes)
    var i = 0
    while i &+ 8 <= count {
        var c0 = b, c1 = b, c2 = b, c3 = b, c4 = b, c5 = b, c6 = b, c7 = b
        var wp = s.weights
        @inline(__always) func step(_ q: FloatPointer) {
                let w0 = load8(wp)
                wp += 8
                c0 = multiplyAdd(c0, SIMD8<Float>(repeating: q[0]), w0)
                c1 = multiplyAdd(c1, SIMD8<Float>(repeating: q[ps]), w0)
                c2 = multiplyAdd(c2, SIMD8<Float>(repeating: q[2 &* ps]), w0)
                c3 = multiplyAdd(c3, SIMD8<Float>(repeating: q[3 &* ps]), w0)
                c4 = multiplyAdd(c4, SIMD8<Float>(repeating: q[4 &* ps]), w0)
                c5 = multiplyAdd(c5, SIMD8<Float>(repeating: q[5 &* ps]), w0)
                c6 = multiplyAdd(c6, SIMD8<Float>(repeating: q[6 &* ps]), w0)
                c7 = multiplyAdd(c7, SIMD8<Float>(repeating: q[7 &* ps]), w0)
        }
        forEachReductionStep(x + i &* ps, t, lanes: lanes, step)
        let o = out + i &* channelBlock
        store8(A.apply(c0, slopes: sl), o); store8(A.apply(c1, slopes: sl), o + 8)
        store8(A.apply(c2, slopes: sl), o + 16); store8(A.apply(c3, slopes: sl), o + 24)
        store8(A.apply(c4, slopes: sl), o + 32); store8(A.apply(c5, slopes: sl), o + 40)
        store8(A.apply(c6, slopes: sl), o + 48); store8(A.apply(c7, slopes: sl), o + 56)
        i &+= 8
    }
    while i < count {
        var c = b
        var wp = s.weights
        @inline(__always) func step(_ q: FloatPointer) {
                c = multiplyAdd(c, SIMD8<Float>(repeating: q[0]), load8(wp))
                wp += 8
        }
        forEachReductionStep(x + i &* ps, t, lanes: lanes, step)
        store8(A.apply(c, slopes: sl), out + i &* channelBlock)
        i &+= 1
    }
}

// MARK: - Depthwise 3×3

/// Depthwise 3×3 stride 1 (any padding up to the kernel size) with bias and activation, then,
/// when `pool` is given, a 2×2 stride-2 max pool without padding (`pool` has the pooled sizes;
/// a last odd row or column forms a window of its own in ceil mode).
func depthwiseBlocked3x3(_ w: DepthwiseConvWeights, geometry g: ConvGeometry, pool: PoolGeometry?,
                         input: FloatPointer, output: MutableFloatPointer, scratch: MutableFloatPointer) {
    let zeroRow = FloatPointer(scratch)
    scratch.update(repeating: 0, count: (g.inWidth + 2) * channelBlock)
    let rowA = scratch + (g.inWidth + 2) * channelBlock
    let rowB = rowA + g.outWidth * channelBlock
    let inPlane = g.inHeight * g.inWidth * channelBlock
    let outPlane = pool.map { $0.outHeight * $0.outWidth * channelBlock } ?? g.outHeight * g.outWidth * channelBlock
    let interiorStart = min(g.outWidth, g.padLeft)
    let interiorEnd = max(interiorStart, min(g.outWidth, g.inWidth - 2 + g.padLeft))
    let base = FloatPointer(w.buffer.base)
    for n in 0..<g.batch {
        for block in 0..<w.blocks {
            let taps = base + block * 9 * channelBlock
            let bias = load8(base + w.biasOffset + block * channelBlock)
            let slopes = load8(base + w.slopeOffset + block * channelBlock)
            let source = input + (n * w.blocks + block) * inPlane
            let destination = output + (n * w.blocks + block) * outPlane
            let activation = w.activation
            func row(_ iy: Int) -> FloatPointer {
                iy >= 0 && iy < g.inHeight ? source + iy * g.inWidth * channelBlock : zeroRow
            }
            @inline(__always) func computeRow(_ oy: Int, _ out: MutableFloatPointer) {
                let iy = oy - g.padTop
                let r0 = row(iy), r1 = row(iy + 1), r2 = row(iy + 2)
                switch activation {
                case .none: depthwiseRow(NoActivation.self, taps, bias, slopes, r0, r1, r2, g, interiorStart, interiorEnd, out)
                case .relu: depthwiseRow(ReluActivation.self, taps, bias, slopes, r0, r1, r2, g, interiorStart, interiorEnd, out)
                case .prelu: depthwiseRow(PReluActivation.self, taps, bias, slopes, r0, r1, r2, g, interiorStart, interiorEnd, out)
                }
            }
            guard let pool else {
                for oy in 0..<g.outHeight { computeRow(oy, destination + oy * g.outWidth * channelBlock) }
                continue
            }
            for py in 0..<pool.outHeight {
                computeRow(2 * py, rowA)
                let second = 2 * py + 1 < g.outHeight
                if second { computeRow(2 * py + 1, rowB) }
                let bottom = second ? FloatPointer(rowB) : FloatPointer(rowA)
                maxPoolRowPair(rowA, bottom, outWidth: g.outWidth, pooledWidth: pool.outWidth,
                               out: destination + py * pool.outWidth * channelBlock)
            }
        }
    }
}

/// A 1×1 convolution (`pw`) feeding a depthwise 3×3 one (`dw`, geometry `g`, optionally pooled)
/// without storing the 1×1 layer's output: its rows are computed into a ring of four as the
/// depthwise rows need them, so the intermediate tensor stays in L1/L2. With a `stem`, the 1×1
/// layer's input rows are themselves computed one at a time from `input` by that convolution.
/// With `int8` (one image, no stem) the 1×1 layer is that int8 convolution instead of `pw`.
func pointwiseDepthwise(_ pw: DirectConvWeights?, _ dw: DepthwiseConvWeights, geometry g: ConvGeometry, pool: PoolGeometry?,
                        stem: StemConvolution? = nil, int8: (Int8Convolution, ConvGeometry)? = nil, input: FloatPointer,
                        output: MutableFloatPointer, scratch: MutableFloatPointer) {
    let width = g.inWidth, height = g.inHeight
    let blocks = dw.blocks
    let slot = blocks * width * channelBlock
    let ring = scratch
    let zeroRow = FloatPointer(ring + pointwiseDepthwiseRingRows * slot)
    (ring + pointwiseDepthwiseRingRows * slot).update(repeating: 0, count: (width + 2) * channelBlock)
    let pooledRows = ring + pointwiseDepthwiseRingRows * slot + (width + 2) * channelBlock
    let stemRow = pooledRows + 2 * blocks * g.outWidth * channelBlock
    let inPlane = height * width * channelBlock
    let outPlane = pool.map { $0.outHeight * $0.outWidth * channelBlock } ?? g.outHeight * g.outWidth * channelBlock
    let interiorStart = min(g.outWidth, g.padLeft)
    let interiorEnd = max(interiorStart, min(g.outWidth, width - 2 + g.padLeft))
    let base = FloatPointer(dw.buffer.base)
    // The quantised input lives after the float scratch, whole: quantising it in one pass is
    // cheaper than a row at a time, and each of its rows is read once.
    let quantized = UnsafeMutableRawPointer(stemRow).bindMemory(to: UInt8.self, capacity: int8.map { $0.1.int8ScratchCount * 4 } ?? 0)
    if let (conv, pointwise) = int8 { int8Quantize(conv, geometry: pointwise, input: input, quantized: quantized) }
    for n in 0..<g.batch {
        let image = input + n * (pw?.inputBlocks ?? 0) * inPlane
        let outImage = output + n * blocks * outPlane
        var computed = 0
        func row(_ iy: Int, _ block: Int) -> FloatPointer {
            guard iy >= 0 && iy < height else { return zeroRow }
            while computed <= iy {
                let destination = ring + (computed % pointwiseDepthwiseRingRows) * slot
                if let (conv, pointwise) = int8 {
                    int8PointwiseRow(conv, geometry: pointwise, quantized: quantized, row: computed, output: destination)
                } else if let stem {
                    directConvolutionRow(stem.weights, geometry: stem.geometry, channelsLast: stem.channelsLast, input: input,
                                         image: n, row: computed, output: stemRow, outputBlockStride: width * channelBlock)
                    pointwiseSegment(pw!, count: width, input: stemRow, inputBlockStride: width * channelBlock,
                                     output: destination, outputBlockStride: width * channelBlock)
                } else {
                    pointwiseSegment(pw!, count: width, input: image + computed * width * channelBlock, inputBlockStride: inPlane,
                                     output: destination, outputBlockStride: width * channelBlock)
                }
                computed += 1
            }
            return FloatPointer(ring + (iy % pointwiseDepthwiseRingRows) * slot + block * width * channelBlock)
        }
        /// Depthwise output row `oy` of every block, block b at `out + b * blockStride`.
        func depthwiseRows(_ oy: Int, _ out: MutableFloatPointer, blockStride: Int) {
            let iy = oy - g.padTop
            _ = row(min(iy + 2, height - 1), 0)
            for block in 0..<blocks {
                let taps = base + block * 9 * channelBlock
                let bias = load8(base + dw.biasOffset + block * channelBlock)
                let slopes = load8(base + dw.slopeOffset + block * channelBlock)
                let r0 = row(iy, block), r1 = row(iy + 1, block), r2 = row(iy + 2, block)
                let o = out + block * blockStride
                switch dw.activation {
                case .none: depthwiseRow(NoActivation.self, taps, bias, slopes, r0, r1, r2, g, interiorStart, interiorEnd, o)
                case .relu: depthwiseRow(ReluActivation.self, taps, bias, slopes, r0, r1, r2, g, interiorStart, interiorEnd, o)
                case .prelu: depthwiseRow(PReluActivation.self, taps, bias, slopes, r0, r1, r2, g, interiorStart, interiorEnd, o)
                }
            }
        }
        guard let pool else {
            for oy in 0..<g.outHeight { depthwiseRows(oy, outImage + oy * g.outWidth * channelBlock, blockStride: outPlane) }
            continue
        }
        let pairStride = 2 * g.outWidth * channelBlock
        for py in 0..<pool.outHeight {
            let rowA = pooledRows, rowB = pooledRows + g.outWidth * channelBlock
            depthwiseRows(2 * py, rowA, blockStride: pairStride)
            let second = 2 * py + 1 < g.outHeight
            if second { depthwiseRows(2 * py + 1, rowB, blockStride: pairStride) }
            for block in 0..<blocks {
                let top = FloatPointer(rowA + block * pairStride)
                let bottom = second ? FloatPointer(rowB + block * pairStride) : top
                maxPoolRowPair(top, bottom, outWidth: g.outWidth, pooledWidth: pool.outWidth,
                               out: outImage + block * outPlane + py * pool.outWidth * channelBlock)
            }
        }
    }
}

/// One row of a 2×2 stride-2 max pool from two rows of `outWidth` blocked pixels (a last odd
/// column forms a window of its own).
@inline(__always)
func maxPoolRowPair(_ top: FloatPointer, _ bottom: FloatPointer, outWidth: Int, pooledWidth: Int, out: MutableFloatPointer) {
    for px in 0..<pooledWidth {
        let x0 = 2 * px * channelBlock
        let x1 = 2 * px + 1 < outWidth ? x0 + channelBlock : x0
        let m = vectorMax(vectorMax(load8(top + x0), load8(top + x1)), vectorMax(load8(bottom + x0), load8(bottom + x1)))
        store8(m, out + px * channelBlock)
    }
}

/// One output row of one block from its three input rows.
@inline(never)
private func depthwiseRow<A: VectorActivation>(_ a: A.Type, _ taps: FloatPointer, _ bias: SIMD8<Float>, _ slopes: SIMD8<Float>,
                                               _ r0: FloatPointer, _ r1: FloatPointer, _ r2: FloatPointer, _ g: ConvGeometry,
                          _ interiorStart: Int, _ interiorEnd: Int, _ out: MutableFloatPointer) {
    for ox in 0..<interiorStart { depthwiseEdgePixel(a, taps, bias, slopes, r0, r1, r2, ox: ox, g, out) }
    let w0 = load8(taps), w1 = load8(taps + 8), w2 = load8(taps + 16)
    let w3 = load8(taps + 24), w4 = load8(taps + 32), w5 = load8(taps + 40)
    let w6 = load8(taps + 48), w7 = load8(taps + 56), w8 = load8(taps + 64)
    var ox = interiorStart
    #if INFERENCE_AVX512
    // Two neighbouring pixels of a block are 16 adjacent floats: eight pixels are four zmm
    // accumulators, with each weight vector repeated in both halves. Half the FMA instructions
    // of the 8-lane tile below, which finishes the row.
    @inline(__always) func twice(_ v: SIMD8<Float>) -> SIMD16<Float> { SIMD16(lowHalf: v, highHalf: v) }
    let bias16 = twice(bias), slopes16 = twice(slopes)
    let v0 = twice(w0), v1 = twice(w1), v2 = twice(w2), v3 = twice(w3), v4 = twice(w4)
    let v5 = twice(w5), v6 = twice(w6), v7 = twice(w7), v8 = twice(w8)
    while ox &+ 8 <= interiorEnd {
        let x = (ox &- g.padLeft) &* channelBlock
        var a0 = bias16, a1 = bias16, a2 = bias16, a3 = bias16
        @inline(__always) func kernelRow(_ row: FloatPointer, _ wa: SIMD16<Float>, _ wb: SIMD16<Float>, _ wc: SIMD16<Float>) {
            let p = row + x
            var v = load16(p)
            a0 = multiplyAdd(a0, v, wa)
            v = load16(p + 8)
            a0 = multiplyAdd(a0, v, wb)
            v = load16(p + 16)
            a0 = multiplyAdd(a0, v, wc); a1 = multiplyAdd(a1, v, wa)
            v = load16(p + 24)
            a1 = multiplyAdd(a1, v, wb)
            v = load16(p + 32)
            a1 = multiplyAdd(a1, v, wc); a2 = multiplyAdd(a2, v, wa)
            v = load16(p + 40)
            a2 = multiplyAdd(a2, v, wb)
            v = load16(p + 48)
            a2 = multiplyAdd(a2, v, wc); a3 = multiplyAdd(a3, v, wa)
            v = load16(p + 56)
            a3 = multiplyAdd(a3, v, wb)
            v = load16(p + 64)
            a3 = multiplyAdd(a3, v, wc)
        }
        kernelRow(r0, v0, v1, v2)
        kernelRow(r1, v3, v4, v5)
        kernelRow(r2, v6, v7, v8)
        let o = out + ox &* channelBlock
        store16(A.apply(a0, slopes: slopes16), o, o + 8)
        store16(A.apply(a1, slopes: slopes16), o + 16, o + 24)
        store16(A.apply(a2, slopes: slopes16), o + 32, o + 40)
        store16(A.apply(a3, slopes: slopes16), o + 48, o + 56)
        ox &+= 8
    }
    #endif
    while ox &+ 4 <= interiorEnd {
        let x = (ox &- g.padLeft) &* channelBlock
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias
        @inline(__always) func kernelRow(_ row: FloatPointer, _ wa: SIMD8<Float>, _ wb: SIMD8<Float>, _ wc: SIMD8<Float>) {
            let p = row + x
            var v = load8(p)
            a0 = multiplyAdd(a0, v, wa)
            v = load8(p + 8)
            a0 = multiplyAdd(a0, v, wb); a1 = multiplyAdd(a1, v, wa)
            v = load8(p + 16)
            a0 = multiplyAdd(a0, v, wc); a1 = multiplyAdd(a1, v, wb); a2 = multiplyAdd(a2, v, wa)
            v = load8(p + 24)
            a1 = multiplyAdd(a1, v, wc); a2 = multiplyAdd(a2, v, wb); a3 = multiplyAdd(a3, v, wa)
            v = load8(p + 32)
            a2 = multiplyAdd(a2, v, wc); a3 = multiplyAdd(a3, v, wb)
            v = load8(p + 40)
            a3 = multiplyAdd(a3, v, wc)
        }
        kernelRow(r0, w0, w1, w2)
        kernelRow(r1, w3, w4, w5)
        kernelRow(r2, w6, w7, w8)
        let o = out + ox &* channelBlock
        store8(A.apply(a0, slopes: slopes), o)
        store8(A.apply(a1, slopes: slopes), o + 8)
        store8(A.apply(a2, slopes: slopes), o + 16)
        store8(A.apply(a3, slopes: slopes), o + 24)
        ox &+= 4
    }
    while ox < g.outWidth {
        depthwiseEdgePixel(a, taps, bias, slopes, r0, r1, r2, ox: ox, g, out)
        ox &+= 1
    }
}

/// One output pixel, skipping taps left or right of the row (rows above and below are the zero
/// row already).
@inline(__always)
private func depthwiseEdgePixel<A: VectorActivation>(_: A.Type, _ taps: FloatPointer, _ bias: SIMD8<Float>, _ slopes: SIMD8<Float>,
                                _ r0: FloatPointer, _ r1: FloatPointer, _ r2: FloatPointer, ox: Int, _ g: ConvGeometry,
                                _ out: MutableFloatPointer) {
    var acc = bias
    for kx in 0..<3 {
        let ix = ox - g.padLeft + kx
        guard ix >= 0 && ix < g.inWidth else { continue }
        let x = ix * channelBlock
        acc = multiplyAdd(acc, load8(r0 + x), load8(taps + kx * channelBlock))
        acc = multiplyAdd(acc, load8(r1 + x), load8(taps + (3 + kx) * channelBlock))
        acc = multiplyAdd(acc, load8(r2 + x), load8(taps + (6 + kx) * channelBlock))
    }
    store8(A.apply(acc, slopes: slopes), out + ox * channelBlock)
}
