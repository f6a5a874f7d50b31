import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SmartCrop
@testable import SmartCropServer
import Synchronization
import Testing

/// A real smartcrop server on a loopback port, stopped gracefully at the end of `body`.
struct TestServer {
    let port: Int
    let configuration: ServerConfiguration
    var base: String { "http://127.0.0.1:\(port)" }

    static func with<T>(_ configure: (inout ServerConfiguration) -> Void = { _ in }, resolver: any HostResolver = SystemResolver(),
                        _ body: (TestServer) async throws -> T) async throws -> T {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.workers = 2
        configuration.downloadDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("smartcrop-server-tests-\(UUID().uuidString)").path
        configure(&configuration)
        var logger = Logger(label: "test.server")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = try SmartCropServer.makeApplication(configuration: configuration, logger: logger, resolver: resolver) { port in
            continuation.yield(port)
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("the server did not start") }
        let server = TestServer(port: port, configuration: configuration)
        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            try? FileManager.default.removeItem(atPath: configuration.downloadDirectory)
        }
        do {
            let result = try await body(server)
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A response as the tests look at it.
struct Reply {
    let status: Int
    let headers: HTTPHeaders
    let body: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var data: [String: Any] { json["data"] as? [String: Any] ?? [:] }
    var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }
}

enum HTTP {
    static func send(_ method: HTTPMethod, _ url: String, body: Data? = nil, headers: [(String, String)] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let bytes = try await response.body.collect(upTo: 200 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Data(bytes.readableBytesView))
    }

    static func get(_ url: String, headers: [(String, String)] = []) async throws -> Reply {
        try await send(.GET, url, headers: headers)
    }

    static func postJSON(_ url: String, _ object: Any, headers: [(String, String)] = []) async throws -> Reply {
        let body = try JSONSerialization.data(withJSONObject: object)
        return try await send(.POST, url, body: body, headers: [("Content-Type", "application/json")] + headers)
    }

    /// multipart/form-data with a `file` part and JSON text parts.
    static func postMultipart(_ url: String, file: Data?, filename: String = "photo.jpg", fields: [String: Any] = [:],
                              headers: [(String, String)] = []) async throws -> Reply {
        let boundary = "----smartcrop-test-\(UUID().uuidString)"
        var body = Data()
        func add(_ text: String) { body.append(contentsOf: Array(text.utf8)) }
        if let file {
            add("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            body.append(file)
            add("\r\n")
        }
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            let json = try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])
            add("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n")
            body.append(json)
            add("\r\n")
        }
        add("--\(boundary)--\r\n")
        return try await send(.POST, url, body: body, headers: [("Content-Type", "multipart/form-data; boundary=\(boundary)")] + headers)
    }
}

enum Images {
    /// A deterministic textured RGB image, encoded.
    static func make(width: Int, height: Int, format: ImageFormat = .jpeg) throws -> Data {
        var state: UInt32 = 2024
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                state = state &* 1_664_525 &+ 1_013_904_223
                let i = 3 * (y * width + x)
                let noise = Int(state >> 27)
                pixels[i] = UInt8(clamping: x * 255 / max(width, 1) / 2 + noise)
                pixels[i + 1] = UInt8(clamping: y * 255 / max(height, 1) / 2 + noise)
                pixels[i + 2] = UInt8(clamping: 90 + noise * 3)
            }
        }
        return try Image.fromPixels(pixels, width: width, height: height, bands: 3).encoded(EncodeOptions(format: format))
    }

    static let small: Data = try! make(width: 320, height: 240)

    static func fileJSON(_ data: Data, name: String = "photo.jpg") -> [String: Any] {
        ["type": "base64", "name": name, "base64": data.base64EncodedString()]
    }

    /// `.assets/` of the checkout (or SMARTCROP_ASSETS), where `make samples` puts the photos.
    static var assets: URL {
        if let explicit = ProcessInfo.processInfo.environment["SMARTCROP_ASSETS"] { return URL(fileURLWithPath: explicit) }
        return packageRoot.appendingPathComponent(".assets")
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func sample(_ name: String) throws -> Data {
        let url = assets.appendingPathComponent("samples").appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TestFailure("missing sample photo \(url.path): run `make samples` (make test does)")
        }
        return data
    }
}

/// A fixed name-to-address table: lets a test use a host name that only our resolver knows.
struct StaticResolver: HostResolver {
    let table: [String: [IPAddress]]
    func resolve(_ host: String, port: Int) async throws -> [IPAddress] { table[host] ?? [] }
}

/// An origin server for URL input: serves a photo, redirects, oversized and non-image bodies.
struct OriginServer {
    let port: Int
    /// How many times /photo.jpg was fetched.
    let photoRequests: RequestCounter

    final class RequestCounter: Sendable {
        private let count = Mutex(0)
        func increment() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }

    static func with<T>(_ body: (OriginServer) async throws -> T) async throws -> T {
        let photo = Images.small
        let photoRequests = RequestCounter()
        let router = Router()
        router.get("/photo.jpg") { _, _ in
            photoRequests.increment()
            return Response(status: .ok, headers: [.contentType: "image/jpeg"], body: .init(byteBuffer: ByteBuffer(bytes: photo)))
        }
        router.get("/text") { _, _ in "this is not an image" }
        router.get("/big") { _, _ in
            // Streamed without a Content-Length, so only the byte cap while reading can stop it.
            Response(status: .ok, headers: [.contentType: "image/jpeg"], body: .init { writer in
                var first = ByteBuffer(bytes: [0xFF, 0xD8, 0xFF, 0xE0])
                try await writer.write(first)
                first.clear()
                for _ in 0..<64 { try await writer.write(ByteBuffer(repeating: 0x41, count: 64 * 1024)) }
                try await writer.finish(nil)
            })
        }
        router.get("/redirect/{n}") { _, context in
            let n = Int(context.parameters.get("n") ?? "0") ?? 0
            return Response(status: .found, headers: [.location: n <= 1 ? "/photo.jpg" : "/redirect/\(n - 1)"])
        }
        router.get("/away") { request, _ in
            // Same server, but on 127.0.0.2: loopback, so harmless, and not on the allow-list.
            let port = request.head.authority?.split(separator: ":").last.map(String.init) ?? "80"
            return Response(status: .found, headers: [.location: "http://127.0.0.2:\(port)/photo.jpg"])
        }
        return try await serveOnLoopback(router, label: "origin") { port in
            try await body(OriginServer(port: port, photoRequests: photoRequests))
        }
    }
}

/// `router` on a free loopback port for the length of `body`, which gets the port; stopped
/// gracefully after it, whether it returns or throws.
func serveOnLoopback<T>(_ router: Router<BasicRequestContext>, label: String, _ body: (Int) async throws -> T) async throws -> T {
    var logger = Logger(label: "test.\(label)")
    logger.logLevel = .critical
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
    let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
    let task = Task { try await group.run() }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { throw TestFailure("the \(label) server did not start") }
    defer { task.cancel() }
    do {
        let result = try await body(port)
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        return result
    } catch {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        throw error
    }
}

/// All server tests, one at a time: several of them reason about a worker being busy or a
/// file being young, which a machine running twenty servers at once would make flaky.
@Suite(.serialized) enum ServerSuite {}

/// Whether anything accepts TCP connections on a loopback port (no HTTP client retries).
func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// A plain TCP connection to a loopback port, for clients no HTTP library would be: slow,
/// half-finished, or gone before the answer.
final class RawConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard fd >= 0, connected else { throw TestFailure("cannot connect to port \(port)") }
    }

    deinit { close(fd) }

    func send(_ data: Data) {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                offset += n
            }
        }
    }

    func send(_ text: String) { send(Data(text.utf8)) }

    /// Everything the server sends until it closes the connection or `timeout` passes; and
    /// whether it closed.
    func readUntilClosed(timeout: Duration) -> (data: Data, closed: Bool) {
        var received = Data()
        let end = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < end {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = end - ContinuousClock.now
            let ms = Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            guard poll(&poller, 1, ms) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return (received, true) }
            received.append(contentsOf: buffer[0..<n])
        }
        return (received, false)
    }
}

/// An error answer as the API promises it: status, JSON shape, code, and nothing internal.
func expectError(_ reply: Reply, _ status: Int, _ code: String, field: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(reply.status == status, "\(reply.text)", sourceLocation: sourceLocation)
    #expect(reply.headers.first(name: "Content-Type") == "application/json", sourceLocation: sourceLocation)
    #expect(reply.error["code"] as? String == code, "\(reply.text)", sourceLocation: sourceLocation)
    #expect(reply.error["message"] is String, sourceLocation: sourceLocation)
    if let field { #expect(reply.error["field"] as? String == field, sourceLocation: sourceLocation) }
    #expect(!reply.text.contains("/tmp") && !reply.text.contains("/work") && !reply.text.contains(".swift"),
            "no paths or internals: \(reply.text)", sourceLocation: sourceLocation)
}

/// Waits until readyz answers 503, which it does exactly while every worker is taken and the
/// queue is full; false if that never happens.
func waitUntilBusy(_ base: String) async throws -> Bool {
    for _ in 0..<2000 {
        if try await HTTP.get(base + "/readyz").status == 503 { return true }
        try await Task.sleep(for: .milliseconds(5))
    }
    return false
}
