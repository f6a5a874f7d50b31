// Geometry resolved at plan time, and the index arithmetic of broadcasting and resizing.

/// Everything about one convolution that depends on the input size, resolved at plan time.
package struct ConvGeometry: Sendable, Equatable {
    package var batch: Int
    package var inChannels: Int
    package var inHeight: Int
    package var inWidth: Int
    package var outChannels: Int
    package var outHeight: Int
    package var outWidth: Int
    package var kernelHeight: Int
    package var kernelWidth: Int
    package var strideY: Int
    package var strideX: Int
    package var dilationY: Int
    package var dilationX: Int
    package var padTop: Int
    package var padLeft: Int
    package var group: Int

    @inlinable package var inPlane: Int { inHeight * inWidth }
    @inlinable package var outPlane: Int { outHeight * outWidth }

    package init(batch: Int, inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int, outHeight: Int, outWidth: Int,
                 kernelHeight: Int, kernelWidth: Int, strideY: Int, strideX: Int, dilationY: Int, dilationX: Int, padTop: Int,
                 padLeft: Int, group: Int) {
        self.batch = batch
        self.inChannels = inChannels
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outChannels = outChannels
        self.outHeight = outHeight
        self.outWidth = outWidth
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideY = strideY
        self.strideX = strideX
        self.dilationY = dilationY
        self.dilationX = dilationX
        self.padTop = padTop
        self.padLeft = padLeft
        self.group = group
    }
}

package struct PoolGeometry: Sendable, Equatable {
    /// batch × channels: pooling treats every plane alike.
    package var planes: Int
    package var inHeight: Int
    package var inWidth: Int
    package var outHeight: Int
    package var outWidth: Int
    package var kernelHeight: Int
    package var kernelWidth: Int
    package var strideY: Int
    package var strideX: Int
    package var padTop: Int
    package var padLeft: Int

    package init(planes: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int, kernelHeight: Int, kernelWidth: Int,
                 strideY: Int, strideX: Int, padTop: Int, padLeft: Int) {
        self.planes = planes
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outHeight = outHeight
        self.outWidth = outWidth
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideY = strideY
        self.strideX = strideX
        self.padTop = padTop
        self.padLeft = padLeft
    }
}

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

/// Strides of `shape` right-aligned against an output of rank `rank`, zero along broadcast axes
/// (numpy rules: a missing or size-1 axis repeats).
package func broadcastStrides(_ shape: [Int], toRank rank: Int) -> [Int] {
    var strides = [Int](repeating: 0, count: rank)
    var step = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
        let outAxis = rank - shape.count + axis
        strides[outAxis] = shape[axis] == 1 ? 0 : step
        step *= shape[axis]
    }
    return strides
}

/// Output shape of numpy-style broadcasting, or nil when the shapes are incompatible.
package func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        guard da == db || da == 1 || db == 1 else { return nil }
        result[i] = da == 1 ? db : da
    }
    return result
}

/// ONNX Resize's coordinate transformation: where output index `o` falls in the input, in
/// input pixels (not yet clamped or rounded).
package func sourceCoordinate(_ o: Int, inSize: Int, outSize: Int, scale: Float, coordinateMode: String) -> Float {
    let of = Float(o)
    switch coordinateMode {
    case "half_pixel": return (of + 0.5) / scale - 0.5
    case "pytorch_half_pixel": return outSize > 1 ? (of + 0.5) / scale - 0.5 : 0
    case "align_corners": return outSize > 1 ? of * Float(inSize - 1) / Float(outSize - 1) : 0
    case "tf_half_pixel_for_nearest": return (of + 0.5) / scale
    default: return of / scale // asymmetric
    }
}

package func nearestSourceIndices(inSize: Int, outSize: Int, scale: Float, coordinateMode: String, nearestMode: String) -> [Int] {
    (0..<outSize).map { o -> Int in
        let x = sourceCoordinate(o, inSize: inSize, outSize: outSize, scale: scale, coordinateMode: coordinateMode)
        let index: Float
        switch nearestMode {
        case "floor": index = x.rounded(.down)
        case "ceil": index = x.rounded(.up)
        case "round_prefer_ceil": index = x.rounded(.toNearestOrAwayFromZero)
        default: // round_prefer_floor
            index = x - x.rounded(.down) == 0.5 ? x.rounded(.down) : x.rounded(.toNearestOrAwayFromZero)
        }
        return min(max(Int(index), 0), inSize - 1)
    }
}
