import CVips
import CVipsShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import Synchronization

/// When one job's work must stop: its deadline, or a cancel from outside (the client went
/// away, the server is shutting down). Steps check it between them; and libvips work in
/// progress stops within milliseconds, because the moment the signal fires every live image of
/// the job gets its kill flag set, which libvips checks each time it asks an image for pixels.
/// An evaluation that starts later is stopped at its first tile by the progress watch (see
/// `Image.evaluated`).
public final class StopSignal: @unchecked Sendable {
    public let deadline: ContinuousClock.Instant?
    /// The C side that libvips' progress callbacks read; it carries its own copy of the deadline.
    let handle: OpaquePointer
    private let cancelReason = Mutex<String?>(nil)
    /// The job's images, weakly: the ones to kill when the signal fires.
    private let images = Mutex<[WeakImage]>([])

    /// A signal that never fires on its own; `cancel` still stops the work.
    public convenience init() { self.init(deadline: nil) }

    public init(deadline: ContinuousClock.Instant?) {
        self.deadline = deadline
        var seconds = 0.0
        if let deadline {
            let left = deadline - ContinuousClock.now
            // A deadline already passed still has to fire: give it the smallest positive time.
            seconds = max(1e-6, Double(left.components.seconds) + Double(left.components.attoseconds) * 1e-18)
        }
        handle = sc_stop_new(seconds)
        if deadline != nil {
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [weak self] in self?.killImages() }
        }
    }

    deinit { sc_stop_unref(handle) }

    /// Stops the work from now on; `reason` ends up in the error the job fails with.
    public func cancel(reason: String) {
        cancelReason.withLock { if $0 == nil { $0 = reason } }
        sc_stop_cancel(handle)
        killImages()
    }

    /// Notes an image made for this job, so that firing can stop work on it.
    func register(_ image: Image) {
        images.withLock { images in
            if images.count >= 64 { images.removeAll { $0.image == nil } }
            images.append(WeakImage(image: image))
        }
        // Made after the signal fired: stopped at once too.
        if sc_stop_state(handle) != 0 { vips_image_set_kill(image.pointer, 1) }
    }

    private func killImages() {
        let live = images.withLock { $0.compactMap(\.image) }
        for image in live { vips_image_set_kill(image.pointer, 1) }
    }

    public var isCancelled: Bool { sc_stop_state(handle) == 2 }

    /// The error the job must fail with now, if it must stop.
    public var error: SmartCropError? {
        switch sc_stop_state(handle) {
        case 2: .cancelled(cancelReason.withLock { $0 } ?? "the job was cancelled")
        case 1: .deadlineExceeded("the request ran out of time")
        default: nil
        }
    }

    /// Throws when the work must stop; `step` names what would have run next.
    public func check(before step: String) throws {
        switch error {
        case .deadlineExceeded?: throw SmartCropError.deadlineExceeded("the request ran out of time before \(step)")
        case let error?: throw error
        case nil: return
        }
    }
}

private struct WeakImage {
    weak var image: Image?
}
