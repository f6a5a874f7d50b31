// Dispatch of the int8 convolution, whose kernels are C (CInt8Kernels, CInt8KernelsVNNI,
// CInt8KernelsAVXVNNI): the same in every kernel set, since the int8 kernels do not depend on the
// float set's width (which int8 kernel a network uses is chosen with its precision, in
// Inference/Runtime/PrecisionSelection.swift).

import CInt8Kernels
import CInt8KernelsAVXVNNI
import CInt8KernelsVNNI
import Dispatch
import KernelInterface

/// Quantises the input into `scratch` (as bytes), then convolves. With `threads` above 1 both
/// passes split their rows; the result is the same. With `gathered`, the input is made from
/// those pieces, whose tensors start at `arena + offsets[i]` (see `int8GatherQuantize`), and
/// `input` is not read.
func int8Convolution(_ conv: Int8Convolution, geometry: ConvGeometry, input: FloatPointer, output: MutableFloatPointer,
                     scratch: MutableFloatPointer, threads: Int,
                     gathered: (pieces: [Int8InputPiece], arena: FloatPointer, offsets: [Int])? = nil) {
    var g = geometry.int8Kernel
    let quantizedRows = Int(smartcrop_int8_padded_height(&g))
    let bytes = Int(smartcrop_int8_input_bytes(&g))
    let quantized = UnsafeMutableRawPointer(scratch).bindMemory(to: UInt8.self, capacity: bytes)
    let weights = UnsafeRawPointer(conv.weights.packed.base).assumingMemoryBound(to: Int8.self)
    let multiplier = FloatPointer(conv.epilogue.base)
    let offset = FloatPointer(conv.epilogue.base + conv.offsetStart)
    let relu: Int32 = conv.weights.activation == .relu ? 1 : 0
    let inverseScale = conv.input.inverseScale
    let zeroPoint = conv.input.zeroPoint
    let implementation = conv.implementation
    let addresses = (UInt(bitPattern: input), UInt(bitPattern: quantized), UInt(bitPattern: output),
                     UInt(bitPattern: weights), UInt(bitPattern: multiplier), UInt(bitPattern: offset))
    let geometryCopy = g
    let gather = gathered.map { ($0.pieces, UInt(bitPattern: $0.arena), $0.offsets) }
    @Sendable func quantize(_ rows: Range<Int>) {
        var g = geometryCopy
        let input = FloatPointer(bitPattern: addresses.0)!, quantized = UnsafeMutablePointer<UInt8>(bitPattern: addresses.1)!
        if let (pieces, arena, offsets) = gather {
            int8GatherQuantize(pieces, arena: FloatPointer(bitPattern: arena)!, offsets: offsets, g: g, implementation: implementation,
                               inverseScale: inverseScale, zeroPoint: zeroPoint, quantized: quantized, rows: rows)
            return
        }
        let begin = Int32(rows.lowerBound), end = Int32(rows.upperBound)
        switch implementation {
        case .vnni: smartcrop_int8_quantize_vnni(input, quantized, &g, inverseScale, zeroPoint, begin, end)
        case .avxVNNI: smartcrop_int8_quantize_avxvnni(input, quantized, &g, inverseScale, zeroPoint, begin, end)
        case .reference: smartcrop_int8_quantize_reference(input, quantized, &g, inverseScale, zeroPoint, begin, end)
        }
    }
    @Sendable func convolve(_ rows: Range<Int>) {
        var g = geometryCopy
        let quantized = UnsafePointer<UInt8>(bitPattern: addresses.1)!, output = MutableFloatPointer(bitPattern: addresses.2)!
        let weights = UnsafePointer<Int8>(bitPattern: addresses.3)!
        let multiplier = FloatPointer(bitPattern: addresses.4)!, offset = FloatPointer(bitPattern: addresses.5)!
        let begin = Int32(rows.lowerBound), end = Int32(rows.upperBound)
        switch implementation {
        case .vnni: smartcrop_int8_conv_vnni(quantized, weights, multiplier, offset, relu, output, &g, begin, end)
        case .avxVNNI: smartcrop_int8_conv_avxvnni(quantized, weights, multiplier, offset, relu, output, &g, begin, end)
        case .reference: smartcrop_int8_conv_reference(quantized, weights, multiplier, offset, relu, output, &g, begin, end)
        }
    }
    quantizeThenConvolve(quantizedRows: quantizedRows, outRows: geometry.outHeight, threads: threads,
                         quantize: quantize, convolve: convolve)
}

/// Quantises all of a convolution's input into `quantized` (int8_kernels.h's padded layout) on
/// the calling thread.
func int8Quantize(_ conv: Int8Convolution, geometry: ConvGeometry, input: FloatPointer, quantized: UnsafeMutablePointer<UInt8>) {
    var g = geometry.int8Kernel
    let rows = smartcrop_int8_padded_height(&g)
    switch conv.implementation {
    case .vnni: smartcrop_int8_quantize_vnni(input, quantized, &g, conv.input.inverseScale, conv.input.zeroPoint, 0, rows)
    case .avxVNNI: smartcrop_int8_quantize_avxvnni(input, quantized, &g, conv.input.inverseScale, conv.input.zeroPoint, 0, rows)
    case .reference: smartcrop_int8_quantize_reference(input, quantized, &g, conv.input.inverseScale, conv.input.zeroPoint, 0, rows)
    }
}

/// Output row `row` of a 1×1, stride-1, unpadded convolution from its quantised input, into
/// `output`: one NCHWc8 row, its blocks `geometry.outWidth` pixels apart (a ring row of
/// `pointwiseDepthwise`). The kernels see a one-row image starting at that row, whose output
/// plane is exactly one row.
func int8PointwiseRow(_ conv: Int8Convolution, geometry: ConvGeometry, quantized: UnsafePointer<UInt8>, row: Int,
                      output: MutableFloatPointer) {
    var g = geometry.int8Kernel
    let rowBytes = Int(smartcrop_int8_padded_width(&g)) * Int(smartcrop_int8_channels(&g))
    g.in_height = 1
    g.out_height = 1
    let source = quantized + row * rowBytes
    let weights = UnsafeRawPointer(conv.weights.packed.base).assumingMemoryBound(to: Int8.self)
    let multiplier = FloatPointer(conv.epilogue.base), offset = FloatPointer(conv.epilogue.base + conv.offsetStart)
    let relu: Int32 = conv.weights.activation == .relu ? 1 : 0
    switch conv.implementation {
    case .vnni: smartcrop_int8_conv_vnni(source, weights, multiplier, offset, relu, output, &g, 0, 1)
    case .avxVNNI: smartcrop_int8_conv_avxvnni(source, weights, multiplier, offset, relu, output, &g, 0, 1)
    case .reference: smartcrop_int8_conv_reference(source, weights, multiplier, offset, relu, output, &g, 0, 1)
    }
}

/// The depthwise 3×3 counterpart of `int8Convolution`: quantises the input into `scratch` in the
/// depthwise layout, then convolves; `threads` above 1 split both passes' rows. There is no
/// AVX-VNNI depthwise kernel (the planner uses none: float is faster at YuNet's shapes), so that
/// implementation runs the reference here.
func int8Depthwise(_ conv: Int8DepthwiseConvolution, geometry: ConvGeometry, input: FloatPointer, output: MutableFloatPointer,
                   scratch: MutableFloatPointer, threads: Int) {
    var g = geometry.int8Kernel
    let quantizedRows = Int(smartcrop_int8_padded_height(&g))
    let quantized = UnsafeMutableRawPointer(scratch).bindMemory(to: UInt8.self, capacity: Int(smartcrop_int8_dw_input_bytes(&g)))
    let weights = UnsafeRawPointer(conv.weights.packed.base).assumingMemoryBound(to: Int32.self)
    let multiplier = FloatPointer(conv.epilogue.base), offset = FloatPointer(conv.epilogue.base + conv.offsetStart)
    let relu: Int32 = conv.weights.activation == .relu ? 1 : 0
    let inverseScale = conv.input.inverseScale, zeroPoint = conv.input.zeroPoint
    let vnni = conv.implementation == .vnni
    let addresses = (UInt(bitPattern: input), UInt(bitPattern: quantized), UInt(bitPattern: output),
                     UInt(bitPattern: weights), UInt(bitPattern: multiplier), UInt(bitPattern: offset))
    let geometryCopy = g
    @Sendable func quantize(_ rows: Range<Int>) {
        var g = geometryCopy
        let input = FloatPointer(bitPattern: addresses.0)!, quantized = UnsafeMutablePointer<UInt8>(bitPattern: addresses.1)!
        if vnni {
            smartcrop_int8_dw_quantize_vnni(input, quantized, &g, inverseScale, zeroPoint, Int32(rows.lowerBound), Int32(rows.upperBound))
        } else {
            smartcrop_int8_dw_quantize_reference(input, quantized, &g, inverseScale, zeroPoint, Int32(rows.lowerBound), Int32(rows.upperBound))
        }
    }
    @Sendable func convolve(_ rows: Range<Int>) {
        var g = geometryCopy
        let quantized = UnsafePointer<UInt8>(bitPattern: addresses.1)!, output = MutableFloatPointer(bitPattern: addresses.2)!
        let weights = UnsafePointer<Int32>(bitPattern: addresses.3)!
        let multiplier = FloatPointer(bitPattern: addresses.4)!, offset = FloatPointer(bitPattern: addresses.5)!
        if vnni {
            smartcrop_int8_dw_vnni(quantized, weights, multiplier, offset, relu, output, &g, Int32(rows.lowerBound), Int32(rows.upperBound))
        } else {
            smartcrop_int8_dw_reference(quantized, weights, multiplier, offset, relu, output, &g, Int32(rows.lowerBound), Int32(rows.upperBound))
        }
    }
    quantizeThenConvolve(quantizedRows: quantizedRows, outRows: geometry.outHeight, threads: threads,
                         quantize: quantize, convolve: convolve)
}

/// The two passes of an int8 layer: every quantised input row, then every output row, each split
/// into up to `threads` bands (none thinner than two output rows) that run at once.
private func quantizeThenConvolve(quantizedRows: Int, outRows: Int, threads: Int,
                                  quantize: @Sendable (Range<Int>) -> Void, convolve: @Sendable (Range<Int>) -> Void) {
    let bands = max(1, min(threads, outRows / 2))
    if bands == 1 {
        quantize(0..<quantizedRows)
        convolve(0..<outRows)
        return
    }
    DispatchQueue.concurrentPerform(iterations: bands) { band in
        quantize((quantizedRows * band / bands)..<(quantizedRows * (band + 1) / bands))
    }
    DispatchQueue.concurrentPerform(iterations: bands) { band in
        convolve((outRows * band / bands)..<(outRows * (band + 1) / bands))
    }
}
