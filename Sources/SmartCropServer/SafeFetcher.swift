import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import URLSigning
#if canImport(Glibc)
import Glibc
#endif

/// Turns host names into addresses. A seam so tests can give a name that only our resolver
/// knows, proving that the connection goes to the address we checked and not to a second lookup.
public protocol HostResolver: Sendable {
    func resolve(_ host: String, port: Int) async throws -> [IPAddress]
}

/// The system resolver (getaddrinfo), run on NIO's blocking-I/O pool, never on an event loop.
public struct SystemResolver: HostResolver {
    public init() {}

    public func resolve(_ host: String, port: Int) async throws -> [IPAddress] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &result)
            guard status == 0, let first = result else { return [] }
            defer { freeaddrinfo(first) }
            var addresses: [IPAddress] = []
            var node: UnsafeMutablePointer<addrinfo>? = first
            while let entry = node {
                if let sa = entry.pointee.ai_addr {
                    switch Int32(sa.pointee.sa_family) {
                    case AF_INET:
                        let bytes = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                            withUnsafeBytes(of: p.pointee.sin_addr) { Array($0) }
                        }
                        if let a = IPAddress(bytes: bytes), !addresses.contains(a) { addresses.append(a) }
                    case AF_INET6:
                        let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                            withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                        }
                        if let a = IPAddress(bytes: bytes), !addresses.contains(a) { addresses.append(a) }
                    default: break
                    }
                }
                node = entry.pointee.ai_next
            }
            return addresses
        }
    }
}

/// What URL input may reach and how much it may bring back.
public struct FetchPolicy: Sendable {
    public var allow: [IPNetwork]
    public var maxBytes: Int
    public var timeout: Duration
    public var maxRedirects = 3

    public init(allow: [IPNetwork] = [], maxBytes: Int = 50 << 20, timeout: Duration = .seconds(10)) {
        self.allow = allow
        self.maxBytes = maxBytes
        self.timeout = timeout
    }

    /// Nil when URL input may connect to `address`, else why not.
    public func refusal(for address: IPAddress) -> String? {
        if allow.contains(where: { $0.contains(address) }) { return nil }
        return address.restriction
    }
}

/// Downloads URL input without letting it reach inside the network (SSRF):
///
/// - only http and https, no user names or passwords in the URL;
/// - the host is resolved by us and every address it resolves to is checked against the
///   restricted ranges (loopback, RFC 1918, link-local, CGNAT, unique-local, multicast,
///   unspecified…) unless the allow-list covers it;
/// - the connection goes to the address that was checked: AsyncHTTPClient's `dnsOverride`
///   maps the host name to that address, so the client never resolves the name again (no DNS
///   rebinding), while the Host header, TLS SNI and certificate validation still use the name;
/// - redirects are followed by hand, at most three, each hop parsed, resolved and checked again;
/// - the body is streamed with a byte cap, the whole download runs under a time cap, and the
///   type is sniffed from the first bytes (the Content-Type header is not trusted).
public struct SafeFetcher: Sendable {
    public let policy: FetchPolicy
    let resolver: any HostResolver
    let eventLoopGroup: any EventLoopGroup

    public init(policy: FetchPolicy, resolver: any HostResolver = SystemResolver(),
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.policy = policy
        self.resolver = resolver
        self.eventLoopGroup = eventLoopGroup
    }

    public func fetch(_ text: String, deadline: ContinuousClock.Instant? = nil) async throws -> [UInt8] {
        let limit = ContinuousClock.now + policy.timeout
        let end = deadline.map { min($0, limit) } ?? limit
        let timedOutByRequestDeadline = deadline.map { $0 < limit } ?? false
        return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask { try await self.follow(text) }
            group.addTask {
                try await Task.sleep(until: end, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let bytes = first else {
                if timedOutByRequestDeadline { throw APIError.deadline("the request ran out of time while downloading file.url") }
                throw APIError.fetch("the download of file.url took longer than \(seconds(policy.timeout)) s")
            }
            return bytes
        }
    }

    /// A URL we are willing to try, and how to reach it.
    public struct Target: Sendable {
        public let url: URL
        public let host: String
        public let port: Int
        /// The checked address the connection must go to.
        public let address: IPAddress
    }

    /// Parses and checks one hop without connecting anywhere.
    public func check(_ text: String) async throws -> Target {
        let source: WebSource
        do { source = try WebSource(text) } catch {
            throw error.kind == .malformed ? APIError.invalid(field: "file.url", error.message) : APIError.refused(error.message)
        }
        let (url, host, port) = (source.url, source.hostName, source.port)
        let addresses: [IPAddress]
        if let literal = IPAddress(host) {
            addresses = [literal]
        } else {
            addresses = try await resolver.resolve(host, port: port)
            guard !addresses.isEmpty else { throw APIError.fetch("the host \(host) could not be resolved") }
        }
        // Every address must pass, so a name with one public and one private record cannot
        // be steered to the private one.
        for address in addresses {
            if let reason = policy.refusal(for: address) {
                throw APIError.refused("the host \(host) resolves to a \(reason) address, which URL input may not reach")
            }
        }
        return Target(url: url, host: source.host, port: port, address: addresses[0])
    }

    func follow(_ start: String) async throws -> [UInt8] {
        var current = start
        for hop in 0...policy.maxRedirects {
            let target = try await check(current)
            switch try await get(target) {
            case .body(let bytes):
                return bytes
            case .redirect(let location):
                guard hop < policy.maxRedirects else { break }
                guard let next = URL(string: location, relativeTo: target.url)?.absoluteURL else {
                    throw APIError.fetch("a redirect pointed to an invalid URL")
                }
                current = next.absoluteString
            }
        }
        throw APIError.fetch("the URL redirected more than \(policy.maxRedirects) times")
    }

    enum HopResult { case body([UInt8]), redirect(String) }

    func get(_ target: Target) async throws -> HopResult {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.proxy = nil
        configuration.decompression = .disabled
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(30))
        if IPAddress(target.host) == nil {
            // The client looks this exact name up in dnsOverride (it reads URL.host the same
            // way), connects to the checked address, and keeps the name for SNI and the
            // certificate check.
            configuration.dnsOverride = [target.host: target.address.description]
        }
        let client = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration)
        do {
            let result = try await get(target, with: client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func get(_ target: Target, with client: HTTPClient) async throws -> HopResult {
        var request = HTTPClientRequest(url: target.url.absoluteString)
        request.headers.add(name: "User-Agent", value: "smartcrop")
        request.headers.add(name: "Accept", value: "image/*")
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(Int64(seconds(policy.timeout).rounded(.up))))
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.fetch("the download of file.url failed (\(Self.describe(error)))")
        }
        if [301, 302, 303, 307, 308].contains(response.status.code) {
            guard let location = response.headers.first(name: "Location"), !location.isEmpty else {
                throw APIError.fetch("the server answered a redirect without a Location")
            }
            return .redirect(location)
        }
        guard response.status == .ok else {
            throw APIError.fetch("the server answered \(response.status.code) for file.url")
        }
        if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > policy.maxBytes {
            throw APIError.tooLarge("file.url is \(length) bytes; the limit is \(policy.maxBytes)")
        }
        var bytes: [UInt8] = []
        do {
            for try await chunk in response.body {
                guard bytes.count + chunk.readableBytes <= policy.maxBytes else {
                    throw APIError.tooLarge("file.url is larger than the limit of \(policy.maxBytes) bytes")
                }
                bytes.append(contentsOf: chunk.readableBytesView)
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.fetch("the download of file.url failed (\(Self.describe(error)))")
        }
        return .body(bytes)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            return error.shortDescription
        }
        if error is CancellationError { return "cancelled" }
        let text = "\(error)"
        // NIO's connection errors name only addresses the caller gave us; keep them short.
        return text.count > 120 ? String(text.prefix(120)) : text
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
