// Linear (bilinear on the two spatial axes) resizing, as ONNX Resize with mode=linear: each
// output coordinate maps back to a source coordinate by the coordinate transformation mode, is
// clamped into the image, and interpolates the two source samples around it. The taps are
// computed once per plan; the kernels only blend.

import KernelInterface

/// Resizes `planes` planes of `inHeight × inWidth` pixels of `lanes` floats each (8 for an
/// NCHWc8 tensor's channel blocks, 1 for plain NCHW).
func resizeLinear(_ input: FloatPointer, _ output: MutableFloatPointer, planes: Int, inHeight: Int, inWidth: Int,
                          rows: [LinearTap], columns: [LinearTap], lanes: Int) {
    let outHeight = rows.count, outWidth = columns.count
    columns.withUnsafeBufferPointer { columns in
        for plane in 0..<planes {
            let source = input + plane * inHeight * inWidth * lanes
            let destination = output + plane * outHeight * outWidth * lanes
            for (oy, row) in rows.enumerated() {
                let top = source + row.low * inWidth * lanes
                let bottom = source + row.high * inWidth * lanes
                let out = destination + oy * outWidth * lanes
                if lanes == channelBlock {
                    resizeLinearRow(top: top, bottom: bottom, weight: row.weight, columns: columns, out: out)
                } else {
                    for ox in 0..<outWidth {
                        let c = columns[ox]
                        for lane in 0..<lanes {
                            let a0 = top[c.low * lanes + lane], a1 = top[c.high * lanes + lane]
                            let b0 = bottom[c.low * lanes + lane], b1 = bottom[c.high * lanes + lane]
                            let a = a0 + c.weight * (a1 - a0)
                            let b = b0 + c.weight * (b1 - b0)
                            out[ox * lanes + lane] = a + row.weight * (b - a)
                        }
                    }
                }
            }
        }
    }
}

/// One output row of the blocked (8-lane) bilinear resize: source rows `top` and `bottom` mixed
/// by `weight`, each output column from its two source columns. Also what the int8 gathered
/// quantiser makes its resized rows with (Int8Gather.swift).
@inline(__always)
func resizeLinearRow(top: FloatPointer, bottom: FloatPointer, weight: Float, columns: UnsafeBufferPointer<LinearTap>,
                     out: MutableFloatPointer) {
    let wy = SIMD8<Float>(repeating: weight)
    for (ox, c) in columns.enumerated() {
        let wx = SIMD8<Float>(repeating: c.weight)
        let a0 = load8(top + c.low * channelBlock), a1 = load8(top + c.high * channelBlock)
        let b0 = load8(bottom + c.low * channelBlock), b1 = load8(bottom + c.high * channelBlock)
        let a = a0 + wx * (a1 - a0)
        let b = b0 + wx * (b1 - b0)
        store8(a + wy * (b - a), out + ox * channelBlock)
    }
}
