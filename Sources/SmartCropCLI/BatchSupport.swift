import Glibc
import SmartCrop
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `--shard I/N`: the files of share I out of N, by a hash of the name that every machine and
/// every version computes alike (FNV-1a, not Swift's per-process seeded `Hasher`), so N runs
/// that see the same folder take disjoint shares that together cover it.
struct BatchShard: Sendable, Equatable {
    let index: Int
    let count: Int

    static func parse(_ text: String) throws -> BatchShard {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (0..<count).contains(index) else {
            throw ValidationErrorLike("--shard must be I/N with 0 <= I < N, e.g. 0/4, got \"\(text)\"")
        }
        return BatchShard(index: index, count: count)
    }

    func contains(_ name: String) -> Bool { Int(Self.hash(name) % UInt64(count)) == index }

    /// 64-bit FNV-1a of the name's UTF-8 bytes.
    static func hash(_ name: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}

enum BatchOutputCheck {
    /// Whether `path` is a whole image of `width` × `height`: it decodes to the end without a
    /// truncation error (outputs are written by rename, so a partial file means something else
    /// wrote it).
    static func isComplete(_ path: String, width: Int, height: Int) -> Bool {
        guard let source = try? OpenedSource(.file(path)), source.info.width == width, source.info.height == height else {
            return false
        }
        return (try? source.decode(width: width, height: height)) != nil
    }
}

/// One line of `--report`: the input (its name in the input folder), "ok", "skipped" or
/// "failed", then for "ok" what `crop --json` says of several sizes, for "skipped" the outputs
/// found, for "failed" the error.
struct BatchReportLine: Encodable {
    let input: String
    let status: String
    var outputs: [String]? = nil
    var error: String? = nil
    var decision: VariantsReport? = nil

    init(input: String, status: String, outputs: [String]) {
        self.input = input
        self.status = status
        self.outputs = outputs
    }

    init(input: String, error: String) {
        self.input = input
        status = "failed"
        self.error = error
    }

    init(input: String, results: [PipelineOutput], paths: [String]) {
        self.input = input
        status = "ok"
        decision = VariantsReport(results, paths: paths)
    }

    enum CodingKeys: String, CodingKey { case input, status, outputs, error }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(input, forKey: .input)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(outputs, forKey: .outputs)
        try container.encodeIfPresent(error, forKey: .error)
        // An "ok" line carries the crop report's own fields beside these.
        try decision?.encode(to: encoder)
    }
}

/// The `--report` file: whole JSON lines appended as images finish, from any thread. A
/// resumed run appends to it; a new run starts it afresh.
final class ReportFile: Sendable {
    private let descriptor: Mutex<Int32>

    init(path: String, appending: Bool) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (appending ? O_APPEND : O_TRUNC), 0o644)
        guard fd >= 0 else { throw CLIError(message: "cannot write the report \(path): \(String(cString: strerror(errno)))") }
        descriptor = Mutex(fd)
    }

    deinit { descriptor.withLock { _ = close($0) } }

    func append(_ line: BatchReportLine) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(line) else { return }
        let bytes = data + Data("\n".utf8)
        descriptor.withLock { fd in
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if written <= 0 { return }
                    offset += written
                }
            }
        }
    }
}
