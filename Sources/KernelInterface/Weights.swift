// Weights packed once when a model is compiled, in the order the kernels read them.

/// Weights of a group-1 convolution packed for `directConvolution`: for each pair of output
/// blocks, for each reduction step (input block, ky, kx, lane; no steps for the padding lanes
/// of a last partial block), 16 output channels (8 for the last of an odd number of blocks).
/// Then bias and PRelu slopes, padded to whole blocks.
package struct DirectConvWeights: Sendable {
    package let outChannels: Int
    package let inChannels: Int
    package let kernelHeight: Int
    package let kernelWidth: Int
    /// 8 when the input is blocked, 1 when it is plain NCHW.
    package let inputLanes: Int
    /// Input channel blocks (blocked input) or input channels (plain input).
    package let inputBlocks: Int
    /// Blocks whose eight lanes are all channels, and the channels in a last partial block
    /// (blocked input; a plain input has `inputBlocks` whole "blocks" of one channel).
    package let fullInputBlocks: Int
    package let partialLanes: Int
    /// Reduction steps per output: input channels × kernel area (padding lanes are skipped).
    package let steps: Int
    package let outBlocks: Int
    package let activation: ActivationKind
    package let buffer: ConstantBuffer
    /// For a single output channel over a blocked input: its weights per (input block, ky, kx)
    /// as eight lanes, for `singleChannelConvolution`, which vectorises over input channels
    /// instead of wasting fifteen of sixteen output lanes.
    package let singleChannelTaps: ConstantBuffer?

    @inlinable package var pairCount: Int { (outBlocks + 1) / 2 }
    @inlinable package var pairStride: Int { steps * 16 }
    @inlinable package var biasOffset: Int { pairCount * pairStride }
    @inlinable package var slopeOffset: Int { biasOffset + outBlocks * channelBlock }

    /// `weights` is OIHW with I = `inChannels` (group 1).
    package init(outChannels: Int, inChannels: Int, kernelHeight: Int, kernelWidth: Int, blockedInput: Bool,
         weights: [Float], bias: [Float], activation: ActivationKind, slopes: [Float]) {
        self.outChannels = outChannels
        self.inChannels = inChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        inputLanes = blockedInput ? channelBlock : 1
        inputBlocks = blockedInput ? channelBlocks(inChannels) : inChannels
        fullInputBlocks = blockedInput ? inChannels / channelBlock : inChannels
        partialLanes = blockedInput ? inChannels % channelBlock : 0
        let area = kernelHeight * kernelWidth
        steps = inChannels * area
        outBlocks = channelBlocks(outChannels)
        self.activation = activation
        let pairs = (outBlocks + 1) / 2
        buffer = ConstantBuffer(count: pairs * steps * 16 + 2 * outBlocks * channelBlock)
        let base = buffer.base
        for pair in 0..<pairs {
            let width = min(2, outBlocks - 2 * pair) * channelBlock
            var destination = base + pair * steps * 16
            for block in 0..<inputBlocks {
                for ky in 0..<kernelHeight {
                    for kx in 0..<kernelWidth {
                        for lane in 0..<min(inputLanes, inChannels - block * inputLanes) {
                            let ic = block * inputLanes + lane
                            for j in 0..<width {
                                let oc = pair * 16 + j
                                if oc < outChannels {
                                    destination[j] = weights[((oc * inChannels + ic) * kernelHeight + ky) * kernelWidth + kx]
                                }
                            }
                            destination += width
                        }
                    }
                }
            }
        }
        let biasBase = base + pairs * steps * 16
        for oc in 0..<outChannels {
            biasBase[oc] = bias[oc]
            if activation == .prelu { biasBase[outBlocks * channelBlock + oc] = slopes[oc] }
        }
        if outChannels == 1 && blockedInput {
            let taps = ConstantBuffer(count: inputBlocks * kernelHeight * kernelWidth * channelBlock)
            for block in 0..<inputBlocks {
                for ky in 0..<kernelHeight {
                    for kx in 0..<kernelWidth {
                        for lane in 0..<channelBlock {
                            let ic = block * channelBlock + lane
                            taps.base[((block * kernelHeight + ky) * kernelWidth + kx) * channelBlock + lane] =
                                ic < inChannels ? weights[(ic * kernelHeight + ky) * kernelWidth + kx] : 0
                        }
                    }
                }
            }
            singleChannelTaps = taps
        } else {
            singleChannelTaps = nil
        }
    }
}


/// Weights of a depthwise 3×3 convolution: per channel block, nine taps of eight lanes, then
/// bias and slopes per block.
package struct DepthwiseConvWeights: Sendable {
    package let channels: Int
    package let blocks: Int
    package let activation: ActivationKind
    package let buffer: ConstantBuffer

    @inlinable package var biasOffset: Int { blocks * 9 * channelBlock }
    @inlinable package var slopeOffset: Int { biasOffset + blocks * channelBlock }

    /// `weights` is [channel][1][3][3].
    package init(channels: Int, weights: [Float], bias: [Float], activation: ActivationKind, slopes: [Float]) {
        self.channels = channels
        blocks = channelBlocks(channels)
        self.activation = activation
        buffer = ConstantBuffer(count: blocks * 11 * channelBlock)
        let base = buffer.base
        for c in 0..<channels {
            let block = c / channelBlock, lane = c % channelBlock
            for tap in 0..<9 { base[(block * 9 + tap) * channelBlock + lane] = weights[c * 9 + tap] }
            base[blocks * 9 * channelBlock + c] = bias[c]
            if activation == .prelu { base[blocks * 10 * channelBlock + c] = slopes[c] }
        }
    }
}

/// A convolution computed a row at a time in front of `pointwiseDepthwise`'s 1×1 layer.
package struct StemConvolution: Sendable {
    package var weights: DirectConvWeights
    package var geometry: ConvGeometry
    package var channelsLast: Bool

    package init(weights: DirectConvWeights, geometry: ConvGeometry, channelsLast: Bool) {
        self.weights = weights
        self.geometry = geometry
        self.channelsLast = channelsLast
    }
}

// The GEMM's register tile is four output rows (see Gemm.swift in InferenceKernels).
@inlinable
package var gemmPanelRows: Int { 4 }

/// Weights of one matrix, packed as panels of four rows: panel p holds, for each k, the four
/// values A[4p...4p+3][k] side by side. Rows past the end are zero so the kernel needs no row
/// tail. Bias and PRelu slopes are padded the same way.
package struct PackedWeights: Sendable {
    package let rows: Int
    package let depth: Int
    package let panels: [Float]
    package let bias: [Float]
    package let slopes: [Float]
    package let activation: ActivationKind

    /// `weight(row, k)` reads the original matrix.
    package init(rows: Int, depth: Int, bias: [Float]?, activation: ActivationKind, slopes: [Float]?, weight: (Int, Int) -> Float) {
        self.rows = rows
        self.depth = depth
        let panelCount = (rows + gemmPanelRows - 1) / gemmPanelRows
        var panels = [Float](repeating: 0, count: panelCount * depth * gemmPanelRows)
        for row in 0..<rows {
            let panel = row / gemmPanelRows
            let lane = row % gemmPanelRows
            for k in 0..<depth {
                panels[(panel * depth + k) * gemmPanelRows + lane] = weight(row, k)
            }
        }
        self.panels = panels
        let padded = panelCount * gemmPanelRows
        self.bias = (bias ?? []) + [Float](repeating: 0, count: padded - (bias?.count ?? 0))
        self.slopes = (slopes ?? []) + [Float](repeating: 0, count: padded - (slopes?.count ?? 0))
        self.activation = activation
    }

    @inlinable package var panelCount: Int { (rows + gemmPanelRows - 1) / gemmPanelRows }
}

/// A 3×3 stride-1 convolution (group 1, blocked input) in Winograd's F(2×2, 3×3) form. Each
/// 2×2 tile of outputs is Aᵀ[U ⊙ V]A, where V = Bᵀ d B is the 4×4 input tile d transformed and
/// U = G g Gᵀ the 3×3 kernel g transformed: the sum over input channels becomes 16 independent
/// 1×1 convolutions, one per position of the 4×4 tile, and a tile costs 16 multiplies per pair
/// of channels where the direct kernel spends 36. The transforms only add and subtract (and
/// halve, in G), which keeps float32 rounding close to the direct kernel's.
package struct WinogradWeights: Sendable {
    package let outChannels: Int
    package let inChannels: Int
    package let activation: ActivationKind
    /// U at each of the 16 positions (row-major in the 4×4 tile), packed as a 1×1 layer over a
    /// blocked input, with zero bias and no activation (both are applied after the transform back).
    package let positions: [DirectConvWeights]
    /// Bias, then PRelu slopes, each padded to whole blocks.
    package let epilogue: ConstantBuffer

    @inlinable package var inputBlocks: Int { channelBlocks(inChannels) }
    @inlinable package var outBlocks: Int { channelBlocks(outChannels) }
    /// Output blocks rounded up to the pairs the 1×1 kernel writes.
    @inlinable package var pairedOutBlocks: Int { (outBlocks + 1) / 2 * 2 }

    /// Whether a layer can run as Winograd F(2×2, 3×3).
    package static func applies(outChannels: Int, inChannels: Int, kernelHeight: Int, kernelWidth: Int, strides: (Int, Int),
                                dilations: (Int, Int), group: Int, blockedInput: Bool) -> Bool {
        // One output channel has its own kernel (vectorised over input channels); a plain input
        // (a network's first layer, three channels) has too little reduction to pay for the
        // transforms. The input transform costs in proportion to the input channels and saves
        // in proportion to input × output channels, so few outputs from many inputs do not
        // pay: U-2-Netp's 64→16 layers at 112² and 224² took 1.05× the direct kernel's time,
        // every layer with at least half as many outputs as inputs 0.48-0.95×.
        group == 1 && kernelHeight == 3 && kernelWidth == 3 && strides == (1, 1) && dilations == (1, 1)
            && blockedInput && outChannels > 1 && 2 * outChannels >= inChannels
    }

    /// `weights` is OIHW (3×3 kernels).
    package init(outChannels: Int, inChannels: Int, weights: [Float], bias: [Float], activation: ActivationKind, slopes: [Float]) {
        self.outChannels = outChannels
        self.inChannels = inChannels
        self.activation = activation
        // U = G g Gᵀ in double precision, G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]: applied to a
        // three-vector (a, b, c), G gives (a, (a + b + c)/2, (a - b + c)/2, c); first down the
        // kernel's columns, then along the four rows that gives.
        @inline(__always) func expand(_ a: Double, _ b: Double, _ c: Double) -> (Double, Double, Double, Double) {
            (a, (a + b + c) / 2, (a - b + c) / 2, c)
        }
        var transformed = [[Float]](repeating: [Float](repeating: 0, count: outChannels * inChannels), count: 16)
        for oc in 0..<outChannels {
            for ic in 0..<inChannels {
                let base = (oc * inChannels + ic) * 9
                func g(_ row: Int, _ column: Int) -> Double { Double(weights[base + row * 3 + column]) }
                let c0 = expand(g(0, 0), g(1, 0), g(2, 0))
                let c1 = expand(g(0, 1), g(1, 1), g(2, 1))
                let c2 = expand(g(0, 2), g(1, 2), g(2, 2))
                let rows = [(c0.0, c1.0, c2.0), (c0.1, c1.1, c2.1), (c0.2, c1.2, c2.2), (c0.3, c1.3, c2.3)]
                for (i, row) in rows.enumerated() {
                    let u = expand(row.0, row.1, row.2)
                    let index = oc * inChannels + ic
                    transformed[4 * i][index] = Float(u.0)
                    transformed[4 * i + 1][index] = Float(u.1)
                    transformed[4 * i + 2][index] = Float(u.2)
                    transformed[4 * i + 3][index] = Float(u.3)
                }
            }
        }
        positions = transformed.map { u in
            DirectConvWeights(outChannels: outChannels, inChannels: inChannels, kernelHeight: 1, kernelWidth: 1, blockedInput: true,
                              weights: u, bias: [Float](repeating: 0, count: outChannels), activation: .none, slopes: [])
        }
        let blocks = channelBlocks(outChannels)
        epilogue = ConstantBuffer(count: 2 * blocks * channelBlock)
        for oc in 0..<outChannels {
            epilogue.base[oc] = bias[oc]
            if activation == .prelu { epilogue.base[blocks * channelBlock + oc] = slopes[oc] }
        }
    }
}
