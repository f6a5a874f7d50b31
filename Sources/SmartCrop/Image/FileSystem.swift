#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few file facts the loader needs, straight from the OS.
enum FileSystem {
    /// The first `count` bytes of a regular file, and its size. Anything else (a directory, a
    /// device such as /dev/zero, a FIFO that would block forever) is refused before reading:
    /// the file is opened without blocking and checked on the open descriptor, so it cannot
    /// be swapped for something else in between.
    static func readHead(_ path: String, count: Int) throws -> (head: [UInt8], size: Int) {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errno
            if reason == ENOENT { throw SmartCropError.io("no such file: \(path)") }
            if reason == EACCES { throw SmartCropError.io("cannot read \(path): permission denied") }
            throw SmartCropError.io("cannot open \(path): \(String(cString: strerror(reason)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SmartCropError.io("cannot read \(path)") }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw SmartCropError.io("\(path) is a directory, not an image")
        case S_IFIFO, S_IFSOCK: throw SmartCropError.io("\(path) is a pipe or socket, not an image file")
        default: throw SmartCropError.io("\(path) is a device, not an image file")
        }
        var head = [UInt8](repeating: 0, count: count)
        let got = head.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
        guard got >= 0 else { throw SmartCropError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
        return (Array(head.prefix(got)), Int(info.st_size))
    }
}

extension String {
    /// The string without leading and trailing white space.
    var trimmed: String {
        let scalars = unicodeScalars.drop { $0.properties.isWhitespace }.reversed().drop { $0.properties.isWhitespace }
        return String(String.UnicodeScalarView(scalars.reversed()))
    }
}
