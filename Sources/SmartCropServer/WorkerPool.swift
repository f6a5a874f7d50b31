#if canImport(Glibc)
import Glibc
#endif
import NIOPosix
import ServiceLifecycle
import SmartCrop
import Synchronization

/// Where image work runs: `workers` threads of our own (one per core by default) behind a
/// queue of at most `queueSize` waiting jobs. Decoding, analysis and encoding are synchronous
/// and CPU-bound, so they must stay off NIO's event loops and Swift's cooperative pool; a
/// request that finds the workers busy and the queue full is refused at once (503 with
/// Retry-After) rather than piling up memory and latency.
///
/// As a `Service`, the pool is shut down after the HTTP server has drained (services stop in
/// reverse order), so in-flight jobs finish during a graceful shutdown.
public final class WorkerPool: Service, Sendable {
    public let workers: Int
    public let queueSize: Int
    private let threads: NIOThreadPool
    /// Jobs running or waiting.
    private let admitted = Atomic<Int>(0)
    private let trimmer = MemoryTrimmer()
    private let onChange: @Sendable (_ running: Int, _ queued: Int) -> Void
    private let onReject: @Sendable () -> Void

    public init(workers: Int, queueSize: Int, onChange: @escaping @Sendable (_ running: Int, _ queued: Int) -> Void = { _, _ in },
                onReject: @escaping @Sendable () -> Void = {}) {
        self.workers = max(1, workers)
        self.queueSize = max(0, queueSize)
        self.onChange = onChange
        self.onReject = onReject
        threads = NIOThreadPool(numberOfThreads: self.workers)
        threads.start()
    }

    public var running: Int { min(admitted.load(ordering: .relaxed), workers) }
    public var queued: Int { max(0, admitted.load(ordering: .relaxed) - workers) }
    public var isFull: Bool { admitted.load(ordering: .relaxed) >= workers + queueSize }

    /// Runs `body` on a worker, or throws `APIError.overloaded` when the queue is full. A job
    /// whose `stop` fired while it waited (deadline, client gone) does not start; and if the
    /// waiting task is cancelled (the server shutting down past its drain timeout), `stop` is
    /// cancelled so the job's image work ends part-way and frees its worker.
    public func run<T: Sendable>(stop: StopSignal? = nil, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        let now = admitted.add(1, ordering: .relaxed).newValue
        guard now <= workers + queueSize else {
            admitted.subtract(1, ordering: .relaxed)
            onReject()
            throw APIError.overloaded(retryAfter: 1)
        }
        report()
        defer {
            admitted.subtract(1, ordering: .relaxed)
            report()
        }
        do {
            return try await withTaskCancellationHandler {
                try await threads.runIfActive {
                    defer { self.trimmer.afterJob() }
                    try stop?.check(before: "the job started")
                    return try body()
                }
            } onCancel: {
                stop?.cancel(reason: "the server is shutting down")
            }
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw APIError.overloaded(retryAfter: 5)
        }
    }

    private func report() {
        let n = admitted.load(ordering: .relaxed)
        onChange(min(n, workers), max(0, n - workers))
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await threads.shutdownGracefully()
    }
}

/// Gives memory that jobs freed back to the system. glibc keeps what a thread frees in that
/// thread's arena for reuse; after image jobs of every size on several workers, that held the
/// server at 900 MiB when idle (80 % above its warmed-up size in `make soak`), and
/// `malloc_trim` from a debugger took a loaded server from 535 to 275 MiB. Trimming walks the
/// arenas, so it runs at most once a second, on the worker that just finished a job.
final class MemoryTrimmer: Sendable {
    private let last = Atomic<Int64>(0)
    static let interval: Int64 = 1_000_000_000

    func afterJob() {
        #if canImport(Glibc)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let ns = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        let previous = last.load(ordering: .relaxed)
        guard ns - previous >= Self.interval,
              last.compareExchange(expected: previous, desired: ns, ordering: .relaxed).exchanged else { return }
        ImageEngine.releaseFreedMemory()
        #endif
    }
}
