import Synchronization

/// Fetched source bytes by URL, least recently used dropped first, at most `capacity` bytes in
/// all: several sizes of one upload (an avatar's 48, 128 and 400 px URLs) fetch it once.
final class SourceCache: Sendable {
    private struct Entry {
        var bytes: [UInt8]
        var lastUse: UInt64
    }
    private struct State {
        var entries: [String: Entry] = [:]
        var total = 0
        var clock: UInt64 = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacityBytes: Int) {
        capacity = max(0, capacityBytes)
    }

    func bytes(for url: String) -> [UInt8]? {
        state.withLock { state in
            guard var entry = state.entries[url] else { return nil }
            state.clock += 1
            entry.lastUse = state.clock
            state.entries[url] = entry
            return entry.bytes
        }
    }

    /// Keeps `bytes` unless they alone exceed a quarter of the capacity (one huge source would
    /// otherwise push out every other).
    func store(_ bytes: [UInt8], for url: String) {
        guard bytes.count <= capacity / 4 else { return }
        state.withLock { state in
            state.clock += 1
            if let old = state.entries[url] { state.total -= old.bytes.count }
            state.entries[url] = Entry(bytes: bytes, lastUse: state.clock)
            state.total += bytes.count
            while state.total > capacity, let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                state.total -= oldest.value.bytes.count
                state.entries[oldest.key] = nil
            }
        }
    }

}
