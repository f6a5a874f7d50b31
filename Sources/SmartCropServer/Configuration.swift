import Foundation
import SmartCrop
import URLSigning

/// Everything `smartcrop serve` can be told. Sources, later ones winning: the defaults, the
/// JSON config file, `SMARTCROP_*` environment variables, then command-line options.
public struct ServerConfiguration: Sendable, Equatable {
    public var host = "0.0.0.0"
    public var port = 8080
    /// Bearer tokens; empty means no authentication, and the server then binds to loopback only.
    public var apiKeys: [String] = []
    public var maxBodyBytes = 50 * 1024 * 1024
    public var maxPixels = 100_000_000
    /// The largest output, and the largest image any step may make (all frames of an animation
    /// together); nil means `maxPixels`.
    public var maxOutputPixels: Int?
    /// The most frames an animation may have to be processed as one (413 past it).
    public var maxFrames = DecodeLimits.defaultMaxFrames
    /// How much damage a decode tolerates (libvips' `fail_on`): `truncated` refuses truncated
    /// files with 422; `none` decodes what it can and answers with a warning.
    public var failOn: DecodeFailurePolicy = .truncated
    public var maxOperations = Pipeline.defaultMaxOperations
    public var maxVariants = 10
    /// Per request, from its first byte read to its answer; work in progress stops at it (504).
    public var deadline: Duration = .seconds(30)
    /// After SIGTERM: how long requests in flight may take to finish before they are cancelled.
    public var drainTimeout: Duration = .seconds(30)
    /// After the drain: how long cancelled work may take to stop before the process crashes on
    /// purpose (work stops within a tile, so only a bug needs it). A deployment's grace period
    /// must cover the drain and this.
    public static let cancellationGrace: Duration = .seconds(10)
    /// How long a client may take to send a request's body once its headers are in.
    public var requestReadTimeout: Duration = .seconds(30)
    /// How long a connection may wait for its next request's headers (idle keep-alive, or
    /// headers sent too slowly) before it is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Image work runs on this many threads; one per core by default.
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    /// Requests that may wait for a worker; past it requests get 503 with Retry-After.
    public var queueSize = 64
    public var downloadDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("smartcrop-downloads").path
    public var downloadTTL: Duration = .seconds(3600)
    /// Networks URL input may reach although they are private (CIDR or single addresses).
    public var fetchAllow: [IPNetwork] = []
    public var fetchMaxBytes = 50 * 1024 * 1024
    public var fetchTimeout: Duration = .seconds(10)
    /// YuNet model file; nil reads `SMARTCROP_FACE_MODEL` (and uses the embedded MTCNN without one).
    public var faceModel: String?
    /// U-2-Netp model file; nil reads `SMARTCROP_SUBJECT_MODEL` (and uses the heuristic subject
    /// map without one). Checked when the server starts, not per request.
    public var subjectModel: String?
    /// The subject model's square input side; nil reads `SMARTCROP_SUBJECT_SIZE`, else 224.
    public var subjectSize: Int?
    /// Keys that sign GET URLs (all accepted, for rotation). Without one, signed URLs are
    /// refused, unless the server listens on loopback only (then any signature goes).
    public var urlSigning: [URLSigningKey] = []
    /// Cache-Control of a signed GET URL's image.
    public var cacheControl = "public, max-age=31536000, immutable"
    /// URL prefixes a signed GET URL's source must start with; empty allows any public URL.
    public var sourcePrefixes: [String] = []
    /// Directory `local:///` sources are read from; nil refuses that scheme.
    public var localRoot: String?
    /// Memory for fetched source bytes, kept for the next request of another size (0: none).
    public var sourceCacheMegabytes = 64
    /// glibc malloc arenas (see `ImageEngine.capMallocArenas`); nil: one per worker, at least
    /// 2; 0: glibc's own default (8 per core).
    public var mallocArenaMax: Int?

    public init() {}

    /// The names of the settings, as the config file spells them; the environment variable is
    /// `SMARTCROP_` and the upper-cased name.
    public static let keys = ["host", "port", "api_keys", "max_body_bytes", "max_pixels", "max_output_pixels", "max_frames", "max_operations",
                              "max_variants", "deadline_seconds", "drain_timeout_seconds", "request_read_timeout_seconds",
                              "idle_timeout_seconds", "fail_on", "workers", "queue_size", "download_dir", "download_ttl_seconds",
                              "fetch_allow", "fetch_max_bytes", "fetch_timeout_seconds", "face_model", "subject_model",
                              "subject_size", "url_signing", "cache_control", "source_prefixes", "local_root",
                              "source_cache_mb", "malloc_arena_max"]

    public static func environmentName(_ key: String) -> String { "SMARTCROP_" + key.uppercased() }

    /// Every environment variable `load` reads: one per setting (`url_signing` comes as a
    /// key and salt pair), and the config file's path.
    public static var environmentNames: [String] {
        ["SMARTCROP_CONFIG"] + keys.filter { $0 != "url_signing" }.map(environmentName)
            + ["SMARTCROP_URL_SIGNING_KEY", "SMARTCROP_URL_SIGNING_SALT"]
    }

    /// Reads the config file (when given, or named by `SMARTCROP_CONFIG`) and the environment.
    public static func load(file: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if let path = file ?? environment["SMARTCROP_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError("cannot read the config file \(path)")
            }
            let json: JSONValue
            do { json = try JSONValue.parse(data, field: "config") } catch {
                throw ConfigurationError("\(path) is not valid JSON")
            }
            guard case .object(let object) = json else { throw ConfigurationError("\(path) must hold a JSON object") }
            for (key, value) in object {
                guard keys.contains(key) else {
                    throw ConfigurationError("\(path): unknown setting \"\(key)\"; known: \(keys.joined(separator: ", "))")
                }
                try configuration.set(key, json: value)
            }
        }
        for key in keys where key != "url_signing" {
            if let text = environment[environmentName(key)], !text.isEmpty {
                try configuration.set(key, text: text)
            }
        }
        // One signing pair from the environment, taken as UTF-8 text, beside the file's.
        if let key = environment["SMARTCROP_URL_SIGNING_KEY"], !key.isEmpty {
            configuration.urlSigning.append(URLSigningKey(key: key, salt: environment["SMARTCROP_URL_SIGNING_SALT"] ?? ""))
        }
        return configuration
    }

    /// Sets one setting from its text form (environment variable or command-line option).
    public mutating func set(_ key: String, text: String) throws {
        let listKeys: Set = ["api_keys", "fetch_allow", "source_prefixes"]
        if listKeys.contains(key) {
            let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            try set(key, json: .array(items.map { .string($0) }))
        } else if key == "url_signing" {
            throw ConfigurationError("url_signing is a list of {\"key\", \"salt\"} in the config file; in the environment use SMARTCROP_URL_SIGNING_KEY and SMARTCROP_URL_SIGNING_SALT")
        } else if let number = Double(text), !["host", "download_dir", "face_model", "subject_model", "fail_on", "cache_control", "local_root"].contains(key) {
            try set(key, json: .number(number))
        } else {
            try set(key, json: .string(text))
        }
    }

    mutating func set(_ key: String, json: JSONValue) throws {
        func int(_ range: ClosedRange<Int>) throws -> Int {
            guard case .number(let n) = json, n.rounded() == n, n >= Double(range.lowerBound), n <= Double(range.upperBound) else {
                throw ConfigurationError("\(key) must be an integer between \(range.lowerBound) and \(range.upperBound)")
            }
            return Int(n)
        }
        func seconds(_ range: ClosedRange<Double>) throws -> Duration {
            guard case .number(let n) = json, n >= range.lowerBound, n <= range.upperBound else {
                throw ConfigurationError("\(key) must be a number of seconds between \(range.lowerBound) and \(range.upperBound)")
            }
            return .milliseconds(Int64((n * 1000).rounded()))
        }
        func string() throws -> String {
            guard case .string(let s) = json, !s.isEmpty else { throw ConfigurationError("\(key) must be a non-empty string") }
            return s
        }
        func strings() throws -> [String] {
            switch json {
            case .array(let items):
                return try items.map {
                    guard case .string(let s) = $0, !s.isEmpty else { throw ConfigurationError("\(key) must be a list of strings") }
                    return s
                }
            case .string(let s): return s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            default: throw ConfigurationError("\(key) must be a list of strings")
            }
        }
        switch key {
        case "host": host = try string()
        case "port": port = try int(0...65535)
        case "api_keys": apiKeys = try strings()
        case "max_body_bytes": maxBodyBytes = try int(1024...(1 << 34))
        case "max_pixels": maxPixels = try int(1...1_000_000_000)
        case "max_output_pixels": maxOutputPixels = try int(1...1_000_000_000)
        case "max_frames": maxFrames = try int(1...100_000)
        case "fail_on":
            guard let policy = DecodeFailurePolicy(rawValue: try string()) else {
                throw ConfigurationError("fail_on must be one of \(DecodeFailurePolicy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            failOn = policy
        case "max_operations": maxOperations = try int(1...1000)
        case "max_variants": maxVariants = try int(1...100)
        case "deadline_seconds": deadline = try seconds(0.001...3600)
        case "drain_timeout_seconds": drainTimeout = try seconds(0...3600)
        case "request_read_timeout_seconds": requestReadTimeout = try seconds(0.001...3600)
        case "idle_timeout_seconds": idleTimeout = try seconds(0.001...86_400)
        case "workers": workers = try int(1...1024)
        case "queue_size": queueSize = try int(0...100_000)
        case "download_dir": downloadDirectory = try string()
        case "download_ttl_seconds": downloadTTL = try seconds(0.001...(86_400 * 365))
        case "fetch_allow":
            fetchAllow = try strings().map { text in
                guard let network = IPNetwork(text) else { throw ConfigurationError("fetch_allow: \"\(text)\" is not an address or CIDR network") }
                return network
            }
        case "fetch_max_bytes": fetchMaxBytes = try int(1...(1 << 34))
        case "fetch_timeout_seconds": fetchTimeout = try seconds(0.001...3600)
        case "face_model": faceModel = try string()
        case "subject_model": subjectModel = try string()
        case "subject_size": subjectSize = try int(64...1024)
        case "url_signing":
            guard case .array(let items) = json else { throw ConfigurationError("url_signing must be a list of {\"key\", \"salt\"}") }
            urlSigning = try items.map { item in
                guard case .object(let pair) = item, case .string(let key)? = pair["key"], !key.isEmpty,
                      Set(pair.keys).isSubset(of: ["key", "salt"]) else {
                    throw ConfigurationError("url_signing: each entry must be {\"key\": \"...\", \"salt\": \"...\"} with a non-empty key")
                }
                guard case .string(let salt)? = pair["salt"] ?? .string("") else { throw ConfigurationError("url_signing: salt must be a string") }
                return URLSigningKey(key: key, salt: salt)
            }
        case "cache_control": cacheControl = try string()
        case "local_root": localRoot = try string()
        case "source_cache_mb": sourceCacheMegabytes = try int(0...65536)
        case "malloc_arena_max": mallocArenaMax = try int(0...1024)
        case "source_prefixes":
            sourcePrefixes = try strings()
            if let bad = sourcePrefixes.first(where: { !($0.hasPrefix("https://") || $0.hasPrefix("http://")) }) {
                throw ConfigurationError("source_prefixes: \"\(bad)\" must start with https:// or http://")
            }
        default: throw ConfigurationError("unknown setting \"\(key)\"")
        }
    }

    /// The settings in effect, as the config file spells them, for `smartcrop-server
    /// --print-config`: what a deployment's files add up to, without starting the server.
    /// Secrets are replaced by "<redacted>" (one per key), so the answer is safe to log.
    /// `listen_host` is where the server will really listen (loopback without an API key),
    /// `exit_after_sigterm_at_most_seconds` the longest a shutdown takes, and `environment` the
    /// variables it reads.
    public var effectiveSettings: [String: JSONValue] {
        func number(_ n: Int) -> JSONValue { .number(Double(n)) }
        func duration(_ d: Duration) -> JSONValue { .number(seconds(d)) }
        func optional(_ text: String?) -> JSONValue { text.map { .string($0) } ?? .null }
        func strings(_ items: [String]) -> JSONValue { .array(items.map { .string($0) }) }
        let redacted = JSONValue.string("<redacted>")
        return [
            "host": .string(host), "port": number(port), "api_keys": .array(apiKeys.map { _ in redacted }),
            "max_body_bytes": number(maxBodyBytes), "max_pixels": number(maxPixels),
            "max_output_pixels": maxOutputPixels.map(number) ?? .null, "max_frames": number(maxFrames), "max_operations": number(maxOperations),
            "max_variants": number(maxVariants), "deadline_seconds": duration(deadline), "drain_timeout_seconds": duration(drainTimeout),
            "request_read_timeout_seconds": duration(requestReadTimeout), "idle_timeout_seconds": duration(idleTimeout),
            "fail_on": .string(failOn.rawValue), "workers": number(workers), "queue_size": number(queueSize),
            "download_dir": .string(downloadDirectory), "download_ttl_seconds": duration(downloadTTL),
            "fetch_allow": strings(fetchAllow.map(\.description)), "fetch_max_bytes": number(fetchMaxBytes),
            "fetch_timeout_seconds": duration(fetchTimeout), "face_model": optional(faceModel), "subject_model": optional(subjectModel),
            "subject_size": subjectSize.map(number) ?? .null,
            "url_signing": .array(urlSigning.map { _ in .object(["key": redacted, "salt": redacted]) }),
            "cache_control": .string(cacheControl), "source_prefixes": strings(sourcePrefixes), "local_root": optional(localRoot),
            "source_cache_mb": number(sourceCacheMegabytes), "malloc_arena_max": mallocArenaMax.map(number) ?? .null,
            "listen_host": .string(listenHost),
            "exit_after_sigterm_at_most_seconds": duration(drainTimeout + Self.cancellationGrace),
            "environment": strings(Self.environmentNames),
        ]
    }

    /// What the library checks on every image: header limits, output limits, damage policy.
    public var decodeLimits: DecodeLimits {
        DecodeLimits(maxPixels: maxPixels, maxOutputPixels: maxOutputPixels, failOn: failOn, maxFrames: maxFrames)
    }

    /// The malloc arena cap to set at start, or nil to leave the allocator as it is: when the
    /// setting is not given and glibc's own `MALLOC_ARENA_MAX` (or an `arena_max` tunable) is,
    /// that was the operator's choice and glibc has applied it already.
    public func mallocArenaCap(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        if let mallocArenaMax { return mallocArenaMax }
        if environment["MALLOC_ARENA_MAX"] != nil || environment["GLIBC_TUNABLES"]?.contains("arena_max") == true { return nil }
        return max(2, workers)
    }

    /// Where the server listens: `host`, except that without an API key it is loopback only.
    public var listenHost: String { apiKeys.isEmpty && !bindsLoopbackOnly ? "127.0.0.1" : host }

    /// Whether `host` only accepts connections from this machine.
    public var bindsLoopbackOnly: Bool {
        let h = host.lowercased()
        if h == "localhost" { return true }
        guard let address = IPAddress(h) else { return false }
        return address.isLoopback
    }
}

public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
