import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One signing secret: the HMAC key and the salt put before what is signed. Several may be
/// accepted at once, so a key can be rotated without breaking URLs already out there.
public struct URLSigningKey: Sendable, Equatable {
    public var key: String
    public var salt: String

    public init(key: String, salt: String) {
        self.key = key
        self.salt = salt
    }
}

/// Signed GET URLs, `/v1/img/{signature}/{operations}/{source}.{ext}`: `operations` is the
/// pipeline JSON and `source` the source URL, each base64url without padding, and `signature`
/// is base64url(HMAC-SHA256(key, salt + "/" + operations + "/" + source.ext)).
public enum URLSigner {
    public static let routePrefix = "/v1/img/"

    /// The part of the path after the signature, which the signature covers.
    public static func signedPart(operations: String, source: String, ext: String) -> String {
        "\(Base64URL.encode(Data(operations.utf8)))/\(Base64URL.encode(Data(source.utf8))).\(ext)"
    }

    public static func signature(of signedPart: String, with key: URLSigningKey) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data((key.salt + "/" + signedPart).utf8),
                                                  using: SymmetricKey(data: Data(key.key.utf8)))
        return Base64URL.encode(Data(mac))
    }

    /// The whole path for `operations` (pipeline JSON) on `source`, written as `ext`.
    public static func path(operations: String, source: String, ext: String, key: URLSigningKey) -> String {
        let part = signedPart(operations: operations, source: source, ext: ext)
        return routePrefix + signature(of: part, with: key) + "/" + part
    }

    /// A strong entity tag for the image a signed URL makes from `source`: hex of
    /// SHA-256(signed part, SHA-256(source)), 32 characters.
    public static func entityTag(signedPart: String, source: [UInt8]) -> String {
        var hash = SHA256()
        hash.update(data: Data(signedPart.utf8))
        hash.update(data: Data([0]))
        hash.update(data: Data(SHA256.hash(data: source)))
        let digits = Array("0123456789abcdef")
        return String(hash.finalize().prefix(16).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xf)]] })
    }

    /// Whether `signature` is what one of `keys` gives for `signedPart`. Each key's check runs
    /// in constant time, and every key is checked, so timing tells nothing about which matched.
    public static func isValid(_ signature: String, for signedPart: String, keys: [URLSigningKey]) -> Bool {
        guard let presented = Base64URL.decode(signature), presented.count == SHA256.byteCount else { return false }
        var valid = false
        for key in keys {
            let message = Data((key.salt + "/" + signedPart).utf8)
            if HMAC<SHA256>.isValidAuthenticationCode(presented, authenticating: message, using: SymmetricKey(data: Data(key.key.utf8))) {
                valid = true
            }
        }
        return valid
    }
}

/// Base64 with the URL-safe alphabet (- and _) and no padding (RFC 4648 §5).
public enum Base64URL {
    public static func encode(_ data: Data) -> String {
        data.base64EncodedString().replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
    }

    /// nil for text outside the alphabet (or with padding).
    public static func decode(_ text: String) -> Data? {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        guard text.utf8.allSatisfy(alphabet.contains) else { return nil }
        var standard = text.replacing("-", with: "+").replacing("_", with: "/")
        if standard.count % 4 == 1 { return nil }
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard)
    }
}
