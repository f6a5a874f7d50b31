/// Every failure the library reports. Each case carries a stable machine-readable `code`, a
/// message safe to show to whoever sent the input (no file-system paths, no internals), and for
/// invalid arguments the field that was wrong, e.g. `operations[2].width_in_px`.
public enum SmartCropError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A parameter is missing, malformed or out of range.
    case invalidArgument(field: String, message: String)
    /// The bytes are not an image in a format we accept.
    case unsupportedFormat(String)
    /// The bytes look like a supported format but cannot be decoded (truncated, corrupt).
    case undecodable(String)
    /// The image or the request is over a configured limit.
    case tooLarge(String)
    /// The per-request deadline passed between two pipeline steps.
    case deadlineExceeded(String)
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
        case .io: "io_error"
        case .processing: "processing_failed"
        }
    }

    public var field: String? {
        if case .invalidArgument(let field, _) = self { return field }
        return nil
    }

    public var message: String {
        switch self {
        case .invalidArgument(let field, let message): field.isEmpty ? message : "\(field): \(message)"
        case .unsupportedFormat(let m), .undecodable(let m), .tooLarge(let m),
             .deadlineExceeded(let m), .io(let m):
            m
        case .processing(let operation, let message): "\(operation) failed: \(message)"
        }
    }

    public var description: String { message }
}
