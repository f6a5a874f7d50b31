// The one entry point of a compiled kernel set: runs a planned step. This file, like every file
// in this folder, is compiled once per instruction set (see Package.swift); the runtime
// (Inference) picks which copy runs.

import Dispatch
import KernelInterface

package enum Kernels: KernelSet {
    #if INFERENCE_AVX512
    package static var instructionSet: InstructionSet { .avx512 }
    #elseif INFERENCE_AVX2
    package static var instructionSet: InstructionSet { .avx2 }
    #else
    package static var instructionSet: InstructionSet { .baseline }
    #endif

    package static func run(_ kernel: StepKernel, inputOffsets: [Int], outputOffset: Int, arena: MutableFloatPointer,
                            scratch: MutableFloatPointer, threads: Int) {
        let input = FloatPointer(arena + (inputOffsets.first ?? 0))
        let output = arena + outputOffset
        switch kernel {
        case let .convDirect(weights, geometry, channelsLast)
                where threads > 1 && geometry.outHeight >= 2 * threads && directConvolutionSplitsRows(weights, geometry: geometry):
            // Each band reads its own input rows (and the kernel's reach around them) and writes
            // only its own output rows.
            inBands(geometry.outHeight, threads, input, output) { _, rows, input, output, _ in
                directConvolutionRows(weights, geometry: geometry, channelsLast: channelsLast, input: input, output: output, rows: rows)
            }
        case let .convWinograd(weights, geometry):
            // Bands of tile rows, each with its own scratch slot (the plan reserves one per thread).
            let tileRows = (geometry.outHeight + 1) / 2
            let slot = winogradScratchCount(weights, geometry)
            inBands(tileRows, max(1, min(threads, tileRows)), input, output, scratch) { band, rows, input, output, scratch in
                winogradConvolution(weights, geometry: geometry, input: input, output: output, scratch: scratch + band * slot, tileRows: rows)
            }
        case let .convDirect(weights, geometry, channelsLast):
            directConvolution(weights, geometry: geometry, channelsLast: channelsLast, input: input, output: output)
        case let .convDepthwise(weights, geometry, pool):
            depthwiseBlocked3x3(weights, geometry: geometry, pool: pool, input: input, output: output, scratch: scratch)
        case let .convPointwiseDepthwise(pointwise, depthwise, geometry, pool, stem):
            pointwiseDepthwise(pointwise, depthwise, geometry: geometry, pool: pool, stem: stem, input: input, output: output,
                               scratch: scratch)
        case let .convPointwiseInt8Depthwise(convolution, pointwiseGeometry, depthwise, geometry, pool):
            pointwiseDepthwise(nil, depthwise, geometry: geometry, pool: pool, int8: (convolution, pointwiseGeometry), input: input,
                               output: output, scratch: scratch)
        case let .convDepthwiseInt8(convolution, geometry):
            int8Depthwise(convolution, geometry: geometry, input: input, output: output, scratch: scratch, threads: threads)
        case let .convInt8(convolution, geometry):
            int8Convolution(convolution, geometry: geometry, input: input, output: output, scratch: scratch, threads: threads)
        case let .convInt8Gathered(convolution, geometry, pieces):
            int8Convolution(convolution, geometry: geometry, input: input, output: output, scratch: scratch, threads: threads,
                            gathered: (pieces, FloatPointer(arena), inputOffsets))
        case let .convGeneral(weights, geometry):
            generalConvolution(weights, geometry: geometry, input: input, output: output, scratch: scratch)
        case let .maxPool(geometry):
            maxPool(geometry, input: input, output: output)
        case let .maxPoolBlocked(geometry):
            maxPoolBlocked(geometry, input: input, output: output)
        case let .relu(count):
            relu(input, output, count: count)
        case let .sigmoid(count):
            sigmoid(input, output, count: count)
        case let .binarySameShape(op, count, constant):
            let shape = [count]
            if let constant {
                constant.withUnsafeBufferPointer {
                    broadcastBinary(op, a: input, aStrides: [1], b: $0.baseAddress!, bStrides: [1], output: output, outShape: shape)
                }
            } else {
                broadcastBinary(op, a: input, aStrides: [1], b: arena + inputOffsets[1], bStrides: [1], output: output, outShape: shape)
            }
        case let .binaryBroadcast(op, outShape, aStrides, bStrides, constant):
            if let constant {
                constant.withUnsafeBufferPointer {
                    broadcastBinary(op, a: input, aStrides: aStrides, b: $0.baseAddress!, bStrides: bStrides, output: output, outShape: outShape)
                }
            } else {
                broadcastBinary(op, a: input, aStrides: aStrides, b: arena + inputOffsets[1], bStrides: bStrides, output: output, outShape: outShape)
            }
        case let .softmax(outer, axisLength, inner):
            softmax(input, output, outerCount: outer, axisLength: axisLength, innerCount: inner)
        case let .transpose(inShape, perm):
            transpose(input, inShape: inShape, perm: perm, output)
        case let .dense(weights, rows):
            runDense(weights, rows: rows, input: input, output: output, scratch: scratch)
        case let .resizeNearest(planes, inHeight, inWidth, rows, columns):
            resizeNearest(input, output, planes: planes, inHeight: inHeight, inWidth: inWidth, sourceRows: rows, sourceColumns: columns)
        case let .resizeLinear(planes, inHeight, inWidth, rows, columns, lanes):
            resizeLinear(input, output, planes: planes, inHeight: inHeight, inWidth: inWidth, rows: rows, columns: columns, lanes: lanes)
        case let .concatPlain(outer, pieces):
            let total = pieces.reduce(0, +)
            var start = 0
            for (index, piece) in pieces.enumerated() {
                let source = arena + inputOffsets[index]
                for o in 0..<outer { (output + o * total + start).update(from: source + o * piece, count: piece) }
                start += piece
            }
        case let .copy(count):
            output.update(from: input, count: count)
        case let .resizeNearestBlocked(planes, inHeight, inWidth, rows, columns):
            resizeNearestBlocked(input, output, planes: planes, inHeight: inHeight, inWidth: inWidth, sourceRows: rows, sourceColumns: columns)
        case let .toBlocked(batch, channels, plane):
            reorderToBlocked(input, output, batch: batch, channels: channels, plane: plane)
        case let .toPlain(batch, channels, plane):
            reorderToPlain(input, output, batch: batch, channels: channels, plane: plane)
        case let .blockedToNHWC(batch, channels, plane):
            reorderBlockedToNHWC(input, output, batch: batch, channels: channels, plane: plane)
        case let .copyChannels(batch, channels, start, count, plane, layout):
            copyBlockedChannels(input, output, batch: batch, channels: channels, start: start, count: count, plane: plane, layout: layout)
        case let .sliceChannels(batch, channels, start, count, plane):
            for n in 0..<batch {
                (output + n * count * plane).update(from: input + (n * channels + start) * plane, count: count * plane)
            }
        case .alias:
            break
        }
    }

    /// [rows × K] · W[K × N]: transpose the activations so features run along GEMM rows, multiply
    /// by the packed Wᵀ, transpose back.
    private static func runDense(_ weights: PackedWeights, rows: Int, input: FloatPointer, output: MutableFloatPointer, scratch: MutableFloatPointer) {
        let depth = weights.depth, features = weights.rows
        let inputT = scratch
        let outputT = scratch + depth * rows
        let gemmScratch = outputT + features * rows
        for r in 0..<rows { for k in 0..<depth { inputT[k * rows + r] = input[r * depth + k] } }
        gemm(weights, b: inputT, ldb: rows, columns: rows, c: outputT, ldc: rows, scratch: gemmScratch)
        for r in 0..<rows { for n in 0..<features { output[r * features + n] = outputT[n * rows + r] } }
    }

    /// Runs `body` on `bands` contiguous shares of `0..<count` at once (on the caller's thread
    /// when there is one band). The arena pointers cross threads as addresses: bands read shared
    /// input and write disjoint rows (and scratch slots).
    private static func inBands(_ count: Int, _ bands: Int, _ input: FloatPointer, _ output: MutableFloatPointer,
                                _ scratch: MutableFloatPointer? = nil,
                                _ body: @Sendable (_ band: Int, _ rows: Range<Int>, FloatPointer, MutableFloatPointer, MutableFloatPointer) -> Void) {
        let scratchBase = scratch ?? output
        guard bands > 1 else { return body(0, 0..<count, input, output, scratchBase) }
        let addresses = (UInt(bitPattern: input), UInt(bitPattern: output), UInt(bitPattern: scratchBase))
        DispatchQueue.concurrentPerform(iterations: bands) { band in
            body(band, (count * band / bands)..<(count * (band + 1) / bands), FloatPointer(bitPattern: addresses.0)!,
                 MutableFloatPointer(bitPattern: addresses.1)!, MutableFloatPointer(bitPattern: addresses.2)!)
        }
    }
}
