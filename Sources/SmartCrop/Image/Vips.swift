import CVips
import CVipsShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Process-wide libvips state. libvips must be started once before any image call; every
/// entry point of the library goes through `Vips.ensureStarted()`.
enum Vips {
    private static let started: Result<Void, SmartCropError> = {
        if sc_init("smartcrop") != 0 {
            return .failure(.processing(operation: "vips_init", message: takeError()))
        }
        return .success(())
    }()

    static func ensureStarted() throws {
        try started.get()
    }

    /// Takes (and clears) libvips' error buffer. The buffer is process-global, so a message
    /// may belong to another thread's failure; callers only use it as explanation text.
    static func takeError() -> String {
        guard let raw = vips_error_buffer_copy() else { return "unknown libvips error" }
        defer { g_free(raw) }
        let text = String(cString: raw).trimmed
        return text.isEmpty ? "unknown libvips error" : redactPaths(text)
    }

    /// libvips names files in its messages; those names must not reach API clients.
    private static func redactPaths(_ text: String) -> String {
        text.split(separator: "\n").map { line -> String in
            line.split(separator: " ", omittingEmptySubsequences: false).map { word in
                word.contains("/") && word.count > 1 ? "<file>" : String(word)
            }.joined(separator: " ")
        }.joined(separator: "; ")
    }
}

/// Process-wide settings of the image engine.
public enum ImageEngine {
    /// How many threads libvips may use inside one operation. A server that already runs one
    /// request per core sets 1, so requests don't fight over cores; the CLI keeps the default
    /// (one per core).
    public static func setThreadsPerOperation(_ threads: Int) throws {
        try Vips.ensureStarted()
        sc_set_threads(Int32(max(1, threads)))
    }

    /// Returns memory the process freed to the system (glibc `malloc_trim`; nothing elsewhere).
    /// A long-running server calls it between jobs: the allocator otherwise keeps what each
    /// worker thread freed, and the process stays at its busiest size.
    public static func releaseFreedMemory() { sc_release_freed_memory() }

    /// Caps glibc's malloc arenas (0: glibc's default of 8 per core). glibc gives a thread that
    /// allocates while another holds the lock a heap of its own, and every heap keeps the peak
    /// of what its threads freed; a server whose jobs allocate hundreds of megabytes on a few
    /// workers, beside event-loop and libvips threads, ends up holding several such peaks.
    /// Only arenas made later obey it, so call it before the server starts its threads.
    /// False where the allocator has no such setting.
    @discardableResult
    public static func capMallocArenas(_ arenas: Int) -> Bool { sc_malloc_arena_max(Int32(max(0, arenas))) == 0 }

    /// The malloc arenas the process has, or nil where the allocator does not say.
    public static var mallocArenaCount: Int? {
        let count = sc_malloc_arena_count()
        return count >= 0 ? Int(count) : nil
    }
}
