#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A source a signed URL may name, checked as the server reads it. The server and `smartcrop
/// sign` both parse sources here, so `sign` writes every form the server serves and refuses the
/// rest in the server's own words. What depends on the server's settings (`local_root` being
/// set, `source_prefixes`, where a host name resolves) is for the server alone to check.
public enum SignedSource: Equatable, Sendable {
    /// `http://` or `https://`: fetched by the server under its fetch policy.
    case web(WebSource)
    /// `local:///a/b.jpg`: the path `a/b.jpg` under the server's `local_root`.
    case local(relativePath: String)

    public static let localScheme = "local:///"

    public static func parse(_ text: String) throws(SourceRefusal) -> SignedSource {
        if text.hasPrefix(localScheme) {
            return .local(relativePath: try localPath(String(text.dropFirst(localScheme.count))))
        }
        return .web(try WebSource(text))
    }

    /// The part of a `local:///` source after the scheme, when it stays inside `local_root` by
    /// its form alone: no `..`, no empty parts (which `//` or a trailing `/` would make), no NUL.
    /// Symbolic links are the server's to resolve.
    public static func localPath(_ relative: String) throws(SourceRefusal) -> String {
        let components = relative.split(separator: "/", omittingEmptySubsequences: false)
        guard !relative.isEmpty, !relative.contains("\0"), !components.contains(where: { $0 == ".." || $0.isEmpty }) else {
            throw SourceRefusal(.forbidden, "local:/// paths are relative to local_root, without .. or empty parts")
        }
        return relative
    }
}

/// An http or https URL the server is willing to try, before any name is resolved.
public struct WebSource: Equatable, Sendable {
    public let url: URL
    /// The host as the URL spells it (an IPv6 literal keeps its brackets).
    public let host: String
    /// The host to resolve or to read as an address literal (IPv6 without brackets).
    public let hostName: String
    public let port: Int

    public init(_ text: String) throws(SourceRefusal) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
            throw SourceRefusal(.malformed, "is not a valid URL")
        }
        guard scheme == "http" || scheme == "https" else {
            throw SourceRefusal(.notAllowed, "only http and https URLs are accepted, got \(scheme)")
        }
        guard url.user == nil, url.password == nil else {
            throw SourceRefusal(.notAllowed, "URLs with a user name or password are not accepted")
        }
        guard let host = url.host, !host.isEmpty else { throw SourceRefusal(.malformed, "has no host") }
        let hostName = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard hostName.unicodeScalars.allSatisfy({ $0.isASCII }) else {
            throw SourceRefusal(.malformed, "host names must be ASCII (use the punycode form)")
        }
        self.url = url
        self.host = host
        self.hostName = hostName
        self.port = url.port ?? (scheme == "https" ? 443 : 80)
    }
}

/// Why a source is refused. `message` is the server's wording; a `.malformed` one reads after
/// the name of the field that held the source ("file.url: is not a valid URL").
public struct SourceRefusal: Error, Equatable, Sendable {
    public enum Kind: Sendable {
        /// Not a URL we can read at all (the server: 400 invalid_argument).
        case malformed
        /// A URL of a kind URL input may not use (the server: 400 url_not_allowed).
        case notAllowed
        /// A `local:///` path that could leave `local_root` (the server: 403).
        case forbidden
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
