/// Every failure the library reports. Each case carries a stable machine-readable `code`, a
/// message safe to show to whoever sent the input (no file-system paths, no internals), and for
/// invalid arguments the field that was wrong, e.g. `operations[2].width_in_px`.
public enum SmartCropError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A parameter is missing, malformed or out of range.
    case invalidArgument(field: String, message: String)
    /// The bytes are not an image in a format we accept.
    case unsupportedFormat(String)
    /// The bytes look like a supported format but cannot be decoded (truncated, corrupt).
    /// `detail` is what the decoder said, for logs: it is never shown to whoever sent the file.
    case undecodable(String, detail: String? = nil)
    /// The image or the request is over a configured limit.
    case tooLarge(String)
    /// The per-request deadline passed, between two steps or during one.
    case deadlineExceeded(String)
    /// The job was stopped from outside: its client went away, or the server is shutting down.
    case cancelled(String)
    /// A file could not be read or written.
    case io(String)
    /// libvips failed on an operation that valid input should not break.
    case processing(operation: String, message: String)

    public var code: String {
        switch self {
        case .invalidArgument: "invalid_argument"
        case .unsupportedFormat: "unsupported_format"
        case .undecodable: "undecodable_image"
        case .tooLarge: "too_large"
        case .deadlineExceeded: "deadline_exceeded"
        case .cancelled: "cancelled"
        case .io: "io_error"
        case .processing: "processing_failed"
        }
    }

    public var field: String? {
        if case .invalidArgument(let field, _) = self, !field.isEmpty { return field }
        return nil
    }

    /// At most `maxMessageLength` characters, so a decoder's repeated warnings can never
    /// become a 10 KB error line.
    public var message: String {
        let text = switch self {
        case .invalidArgument(let field, let message): field.isEmpty ? message : "\(field): \(message)"
        case .unsupportedFormat(let m), .undecodable(let m, _), .tooLarge(let m),
             .deadlineExceeded(let m), .cancelled(let m), .io(let m):
            m
        case .processing(let operation, let message): "\(operation) failed: \(message)"
        }
        return text.count <= Self.maxMessageLength ? text : String(text.prefix(Self.maxMessageLength - 1)) + "…"
    }

    public static let maxMessageLength = 300

    /// What libvips said, for a log; nil when the message says it all.
    public var detail: String? {
        switch self {
        case .undecodable(_, let detail): detail.map { String($0.prefix(2000)) }
        case .processing(_, let message): String(message.prefix(2000))
        default: nil
        }
    }

    public var description: String { message }
}
