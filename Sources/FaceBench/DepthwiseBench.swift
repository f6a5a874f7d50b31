// `face-bench --depthwise`: YuNet's depthwise 3×3 layers alone, float32 against int8 (quantising
// the input included, as a layer of its own must), at the shapes of its 640×640 pass. It is the
// measurement behind keeping them float: see README, "Int8 on CPUs with VNNI".

import Foundation
import Inference

func depthwiseBench(runs: Int, warmup: Int) {
    let kernels = KernelSelection.kernels(KernelSelection.supported.contains(.avx512) ? .avx512 : KernelSelection.supported[0])
    for (channels, side) in [(16, 320), (32, 160), (64, 160), (64, 80), (64, 40)] {
        let geometry = ConvGeometry(batch: 1, inChannels: channels, inHeight: side, inWidth: side, outChannels: channels,
                                    outHeight: side, outWidth: side, kernelHeight: 3, kernelWidth: 3, strideY: 1, strideX: 1,
                                    dilationY: 1, dilationX: 1, padTop: 1, padLeft: 1, group: channels)
        let weights = (0..<(channels * 9)).map { Float(($0 * 37) % 17) / 17 - 0.5 }
        let bias = (0..<channels).map { Float($0 % 5) / 10 }
        let float = StepKernel.convDepthwise(DepthwiseConvWeights(channels: channels, weights: weights, bias: bias, activation: .relu,
                                                                  slopes: []), geometry, pool: nil)
        var steps: [(String, StepKernel, Int)] = [("float32", float, depthwiseBlockedScratchCount(geometry))]
        if PrecisionSelection.hasVNNI {
            let int8 = Int8DepthwiseConvolution(weights: Int8DepthwiseWeights(channels: channels, weights: weights, bias: bias,
                                                                              activation: .relu),
                                                input: ActivationQuantization(min: -2, max: 4), implementation: .vnni)
            steps.append(("int8", .convDepthwiseInt8(int8, geometry), geometry.int8DepthwiseScratchCount))
        }
        let count = blockedCount([1, channels, side, side])
        let arena = MutableFloatPointer.allocate(capacity: 2 * count + steps.map(\.2).max()!)
        defer { arena.deallocate() }
        for i in 0..<(2 * count + steps.map(\.2).max()!) { arena[i] = Float((i * 31) % 97) / 16 - 1 }
        var line = "DEPTHWISE \(channels)x\(side)x\(side):"
        for (name, step, _) in steps {
            let time = timeMilliseconds(runs: runs, warmup: warmup) {
                kernels.run(step, inputOffsets: [0], outputOffset: count, arena: arena, scratch: arena + 2 * count, threads: 1)
            }
            line += String(format: " %@ %.3f ms (min %.3f)", name, time.median, time.min)
        }
        print(line)
    }
}
