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
