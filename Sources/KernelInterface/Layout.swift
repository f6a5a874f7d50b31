// What the runtime and every kernel set share: the channel-blocked layout, constant buffers and
// the activations kernels fuse. The kernels themselves are in Sources/InferenceKernels, compiled
// once per instruction set (see Package.swift); everything here is compiled for the default
// target, so the runtime runs on any CPU of its architecture.
//
// The layout the convolution kernels work in is NCHWc8: channels are grouped in blocks of
// eight, and within a block the eight channels of one pixel are adjacent, so a pixel's block is
// one SIMD8 vector. A tensor of logical shape [N, C, H, W] is stored as [N][ceil(C/8)][H][W][8];
// the lanes of the last block past C are zero (every producer keeps them so: zero weights and
// zero bias give zero, and max, add and copies preserve zero).

package typealias FloatPointer = UnsafePointer<Float>
package typealias MutableFloatPointer = UnsafeMutablePointer<Float>

// Computed and inlinable rather than a global `let`: kernels in other modules multiply by it in
// their inner loops, where a global would be a load through an addressor.
@inlinable
package var channelBlock: Int { 8 }

@inlinable
package func channelBlocks(_ channels: Int) -> Int { (channels + channelBlock - 1) / channelBlock }

/// Floats a blocked tensor of logical NCHW `shape` occupies.
package func blockedCount(_ shape: [Int]) -> Int {
    shape[0] * channelBlocks(shape[1]) * shape[2] * shape[3] * channelBlock
}

/// Constants packed for a kernel: 64-byte aligned, written once when a model is compiled and
/// only read afterwards (hence `@unchecked Sendable`). Kernels take its raw pointer, so running
/// a layer touches no reference counts.
package final class ConstantBuffer: @unchecked Sendable {
    package let base: UnsafeMutablePointer<Float>
    package let count: Int

    package init(count: Int) {
        self.count = max(count, 1)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: self.count)
        base.initialize(repeating: 0, count: self.count)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}

/// Where `copyBlockedChannels` writes.
package enum ChannelCopyLayout: Sendable {
    case plain
    case blocked
    case nhwc
}

/// What a producing kernel applies to each value before storing it, so an activation that
/// follows a Conv or MatMul costs no extra pass over memory.
package enum ActivationKind: Sendable, Equatable {
    case none
    case relu
    /// Per-output-channel slopes for negative inputs (PRelu).
    case prelu
}

package enum BinaryOperator: Sendable, Equatable {
    case add
    /// PRelu: a where a >= 0, else a · b.
    case prelu
}

