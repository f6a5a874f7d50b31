// Linear (bilinear on the two spatial axes) resizing, as ONNX Resize with mode=linear: each
// output coordinate maps back to a source coordinate by the coordinate transformation mode, is
// clamped into the image, and interpolates the two source samples around it. The taps are
// computed once per plan; the kernels only blend.

/// The two source samples an output row or column reads, and the weight of the second.
package struct LinearTap: Sendable, Equatable {
    package var low: Int
    package var high: Int
    package var weight: Float

    package init(low: Int, high: Int, weight: Float) {
        self.low = low
        self.high = high
        self.weight = weight
    }
}

/// Taps of one axis, with ONNX's (and onnxruntime's) arithmetic: the source coordinate in float,
/// clamped to [0, inSize - 1].
package func linearSourceTaps(inSize: Int, outSize: Int, scale: Float, coordinateMode: String) -> [LinearTap] {
    (0..<outSize).map { o -> LinearTap in
        let x = min(max(sourceCoordinate(o, inSize: inSize, outSize: outSize, scale: scale, coordinateMode: coordinateMode), 0),
                    Float(inSize - 1))
        let low = min(Int(x), inSize - 1)
        let high = min(low + 1, inSize - 1)
        return LinearTap(low: low, high: high, weight: x - Float(low))
    }
}

/// Resizes `planes` planes of `inHeight × inWidth` pixels of `lanes` floats each (8 for an
/// NCHWc8 tensor's channel blocks, 1 for plain NCHW).
package func resizeLinear(_ input: FloatPointer, _ output: MutableFloatPointer, planes: Int, inHeight: Int, inWidth: Int,
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
                    let wy = SIMD8<Float>(repeating: row.weight)
                    for ox in 0..<outWidth {
                        let c = columns[ox]
                        let wx = SIMD8<Float>(repeating: c.weight)
                        let a0 = load8(top + c.low * channelBlock), a1 = load8(top + c.high * channelBlock)
                        let b0 = load8(bottom + c.low * channelBlock), b1 = load8(bottom + c.high * channelBlock)
                        let a = a0 + wx * (a1 - a0)
                        let b = b0 + wx * (b1 - b0)
                        store8(a + wy * (b - a), out + ox * channelBlock)
                    }
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
