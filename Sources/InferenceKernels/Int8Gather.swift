// The quantiser of an int8 convolution whose input is a concatenation of tensors, some of them
// resized or max-pooled (StepKernel.convInt8Gathered). U-2-Netp's decoder reads
// concat(upsample(deeper), skip) at every level and its encoder reads maxpool(previous): as float
// tensors those are the largest in the network (the top level's concatenation is 128 channels at
// the input's size, and it lives as long as the skip tensor inside it), and all the int8 layer
// wants of them is bytes. So each byte is made where it lands: a resized value is interpolated
// and a pooled one maxed in float32 exactly as the float kernels do (resizeLinear,
// maxPoolBlocked), then quantised with int8_kernels.h's arithmetic. The bytes equal those of
// quantising the materialised tensor, and max commutes with the (monotone) quantisation anyway.

import CInt8Kernels
import CInt8KernelsAVXVNNI
import CInt8KernelsVNNI
import KernelInterface

/// Rows [rows) of the padded u8 buffer (int8_kernels.h's layout for geometry `g`) from the
/// pieces, whose blocked float tensors start at `arena + offsets[i]`. Each 8-channel row of a
/// piece goes through the int8 kernel's own quantiser, as a one-row image: a stored piece's row
/// straight from its tensor, a resized or pooled one's from a row buffer it is made in first.
func int8GatherQuantize(_ pieces: [Int8InputPiece], arena: FloatPointer, offsets: [Int], g: smartcrop_int8_conv_geometry,
                        implementation: Int8Implementation, inverseScale: Float, zeroPoint: Int32,
                        quantized: UnsafeMutablePointer<UInt8>, rows: Range<Int>) {
    var g = g
    let groupBytes = Int(smartcrop_int8_padded_width(&g)) * 4
    let inHeight = Int(g.in_height), inWidth = Int(g.in_width)
    var one = g
    one.in_channels = Int32(channelBlock)
    one.in_height = 1
    one.pad_top = 0
    withUnsafeTemporaryAllocation(of: Float.self, capacity: inWidth * channelBlock) { buffer in
        let made = buffer.baseAddress!
        for row in rows {
            guard let out = smartcrop_int8_start_row(quantized, &g, Int32(row), zeroPoint) else { continue }
            let y = row - Int(g.pad_top)
            var firstBlock = 0
            for (index, piece) in pieces.enumerated() {
                let source = arena + offsets[index]
                let blocks = channelBlocks(piece.channels)
                for block in 0..<blocks {
                    let line: FloatPointer
                    switch piece.source {
                    case .tensor:
                        line = source + ((block * inHeight + y) * inWidth) * channelBlock
                    case let .resizedLinear(sourceHeight, sourceWidth, taps, columns):
                        resizedRow(source + block * sourceHeight * sourceWidth * channelBlock, sourceWidth: sourceWidth,
                                   tap: taps[y], columns: columns, into: made)
                        line = FloatPointer(made)
                    case let .maxPooled(pool):
                        pooledRow(source + block * pool.inHeight * pool.inWidth * channelBlock, pool, y: y, into: made)
                        line = FloatPointer(made)
                    }
                    let destination = out + 2 * (firstBlock + block) * groupBytes
                    switch implementation {
                    case .vnni: smartcrop_int8_quantize_vnni(line, destination, &one, inverseScale, zeroPoint, 0, 1)
                    case .avxVNNI: smartcrop_int8_quantize_avxvnni(line, destination, &one, inverseScale, zeroPoint, 0, 1)
                    case .reference: smartcrop_int8_quantize_reference(line, destination, &one, inverseScale, zeroPoint, 0, 1)
                    }
                }
                firstBlock += blocks
            }
        }
    }
}

/// One output row of `resizeLinear` (8 lanes) over one plane.
@inline(__always)
private func resizedRow(_ plane: FloatPointer, sourceWidth: Int, tap: LinearTap, columns: [LinearTap], into out: MutableFloatPointer) {
    columns.withUnsafeBufferPointer {
        resizeLinearRow(top: plane + tap.low * sourceWidth * channelBlock, bottom: plane + tap.high * sourceWidth * channelBlock,
                        weight: tap.weight, columns: $0, out: out)
    }
}

/// Output row `y` of `maxPoolBlocked` over one plane: the pool of a one-row output whose window
/// starts where row `y`'s does.
@inline(__always)
private func pooledRow(_ plane: FloatPointer, _ p: PoolGeometry, y: Int, into out: MutableFloatPointer) {
    var row = p
    row.planes = 1
    row.outHeight = 1
    row.padTop = p.padTop - y * p.strideY
    maxPoolBlocked(row, input: plane, output: out)
}
