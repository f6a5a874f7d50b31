// Max pooling over NCHW planes. Padding never wins a max (it acts as -infinity), as in ONNX.

import KernelInterface

func maxPool(_ g: PoolGeometry, input: FloatPointer, output: MutableFloatPointer) {
    if g.kernelHeight == 2, g.kernelWidth == 2, g.strideY == 2, g.strideX == 2, g.padTop == 0, g.padLeft == 0,
       2 * g.outHeight <= g.inHeight, 2 * g.outWidth <= g.inWidth {
        maxPool2x2(g, input: input, output: output)
        return
    }
    for plane in 0..<g.planes {
        let source = input + plane * g.inHeight * g.inWidth
        let destination = output + plane * g.outHeight * g.outWidth
        for oy in 0..<g.outHeight {
            let y0 = oy * g.strideY - g.padTop
            let yStart = max(0, y0), yEnd = min(g.inHeight, y0 + g.kernelHeight)
            for ox in 0..<g.outWidth {
                let x0 = ox * g.strideX - g.padLeft
                let xStart = max(0, x0), xEnd = min(g.inWidth, x0 + g.kernelWidth)
                var best = -Float.infinity
                if yStart < yEnd && xStart < xEnd {
                    for y in yStart..<yEnd {
                        let row = source + y * g.inWidth
                        for x in xStart..<xEnd where row[x] > best { best = row[x] }
                    }
                }
                destination[oy * g.outWidth + ox] = best
            }
        }
    }
}

private func maxPool2x2(_ g: PoolGeometry, input: FloatPointer, output: MutableFloatPointer) {
    for plane in 0..<g.planes {
        let source = input + plane * g.inHeight * g.inWidth
        let destination = output + plane * g.outHeight * g.outWidth
        for oy in 0..<g.outHeight {
            let top = source + 2 * oy * g.inWidth
            let bottom = top + g.inWidth
            let out = destination + oy * g.outWidth
            var ox = 0
            // Sixteen inputs from each row give eight outputs: max the rows, then the even and odd
            // lanes.
            while ox + 8 <= g.outWidth && 2 * ox + 16 <= g.inWidth {
                let rows = vectorMax(load16(top + 2 * ox), load16(bottom + 2 * ox))
                store8(vectorMax(rows.evenHalf, rows.oddHalf), out + ox)
                ox += 8
            }
            while ox < g.outWidth {
                out[ox] = max(max(top[2 * ox], top[2 * ox + 1]), max(bottom[2 * ox], bottom[2 * ox + 1]))
                ox += 1
            }
        }
    }
}
