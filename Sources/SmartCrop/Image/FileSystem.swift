#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few file facts the loader needs, straight from the OS.
enum FileSystem {
    static func status(_ path: String) -> stat? {
        var info = stat()
        return stat(path, &info) == 0 ? info : nil
    }

    static func isDirectory(_ path: String) -> Bool {
        guard let info = status(path) else { return false }
        return (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool { status(path) != nil }
    static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }
    static func size(_ path: String) -> Int { status(path).map { Int($0.st_size) } ?? 0 }
}

extension String {
    /// The string without leading and trailing white space.
    var trimmed: String {
        let scalars = unicodeScalars.drop { $0.properties.isWhitespace }.reversed().drop { $0.properties.isWhitespace }
        return String(String.UnicodeScalarView(scalars.reversed()))
    }
}
