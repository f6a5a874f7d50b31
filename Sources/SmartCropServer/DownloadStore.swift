import Foundation
import Logging
import NIOPosix
import ServiceLifecycle

/// Results of the smart-crop tool, kept as `<directory>/<jobId>/<name>` for `ttl` and served
/// at `/api/v1/download/<jobId>/<name>`. Nothing is kept in memory, so replicas that share the
/// directory (a shared volume) serve each other's results. Ids are random UUIDs; names are made by us from a
/// sanitised stem. Anything that does not look exactly like one of ours is not found, so a
/// request can never name a path outside the directory.
public struct DownloadStore: Sendable {
    public let directory: String
    public let ttl: Duration

    public init(directory: String, ttl: Duration) throws {
        self.directory = directory
        self.ttl = ttl
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConfigurationError("cannot create the download directory \(directory)")
        }
    }

    /// The file name a result gets: `<stem>_smartcrop.<ext>`, the stem taken from the upload's
    /// name with anything but letters, digits, `-` and `_` replaced.
    public static func fileName(upload: String?, fileExtension: String) -> String {
        var stem = upload.map { name -> String in
            let base = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
            return base.contains(".") ? String(base[..<base.lastIndex(of: ".")!]) : base
        } ?? ""
        stem = String(stem.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "-" || scalar == "_") ? Character(scalar) : "_"
        }.prefix(64))
        if stem.isEmpty || stem.allSatisfy({ $0 == "_" }) { stem = "image" }
        return "\(stem)_smartcrop.\(fileExtension)"
    }

    public func save(_ bytes: Data, name: String) async throws -> String {
        let jobId = UUID().uuidString.lowercased()
        let folder = (directory as NSString).appendingPathComponent(jobId)
        try await NIOThreadPool.singleton.runIfActive {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
            try bytes.write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent(name)), options: .atomic)
        }
        return jobId
    }

    static func isJobId(_ text: String) -> Bool {
        text.count == 36 && UUID(uuidString: text) != nil && text == text.lowercased()
    }

    static func isFileName(_ text: String) -> Bool {
        guard (1...128).contains(text.count), let first = text.unicodeScalars.first, first != "." , !text.contains("..") else { return false }
        return text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    /// The bytes of a stored result, or nil when the id or name is unknown, malformed or expired.
    public func load(jobId: String, name: String) async throws -> Data? {
        guard Self.isJobId(jobId), Self.isFileName(name) else { return nil }
        let folder = (directory as NSString).appendingPathComponent(jobId)
        let path = (folder as NSString).appendingPathComponent(name)
        let ttl = self.ttl
        return try await NIOThreadPool.singleton.runIfActive {
            var info = stat()
            // lstat: a symbolic link is never ours, so it is never followed.
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
            let modified = Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec) + TimeInterval(info.st_mtim.tv_nsec) / 1e9)
            if Date().timeIntervalSince(modified) >= seconds(ttl) {
                Self.remove(folder, in: (folder as NSString).deletingLastPathComponent)
                return nil
            }
            return FileManager.default.contents(atPath: path)
        }
    }

    /// Deletes every job folder older than the time to live. Several replicas may share the
    /// directory and sweep it at once: a folder is first renamed away (one rename wins, and a
    /// reader then finds nothing rather than half a folder), then deleted.
    public func sweep() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let now = Date()
        for entry in entries {
            let folder = (directory as NSString).appendingPathComponent(entry)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: folder),
                  let modified = attributes[.modificationDate] as? Date else { continue }
            if Self.isJobId(entry), now.timeIntervalSince(modified) >= seconds(ttl) {
                Self.remove(folder, in: directory)
            } else if entry.hasPrefix(Self.expiredPrefix), now.timeIntervalSince(modified) >= 60 {
                // Left by a sweeper that stopped between its rename and its delete.
                try? FileManager.default.removeItem(atPath: folder)
            }
        }
    }

    static let expiredPrefix = ".expired-"

    /// Renames `folder` to a name of its own in `directory`, then deletes it; when another
    /// sweeper renamed it first, there is nothing left to do.
    static func remove(_ folder: String, in directory: String) {
        let doomed = (directory as NSString).appendingPathComponent(expiredPrefix + UUID().uuidString.lowercased())
        guard rename(folder, doomed) == 0 else { return }
        try? FileManager.default.removeItem(atPath: doomed)
    }
}

/// Sweeps expired downloads in the background until shutdown.
struct DownloadSweeper: Service {
    let store: DownloadStore

    func run() async throws {
        let interval = min(max(seconds(store.ttl) / 2, 1), 60)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let store = self.store
            try? await NIOThreadPool.singleton.runIfActive { store.sweep() }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(interval)) }
        }
    }
}
