import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SmartCrop

/// An error as clients see it: `{"error": {"code", "message", "field"}}` with its status.
/// Messages are written for the client: no file paths, no internals.
public struct APIError: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?
    /// Extra response headers (Retry-After, WWW-Authenticate).
    public var headers: [String: String] = [:]

    public init(status: HTTPResponse.Status, code: String, message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    static func invalid(field: String?, _ message: String) -> APIError {
        APIError(status: .badRequest, code: "invalid_argument", message: field.map { "\($0): \(message)" } ?? message, field: field)
    }
    static func refused(_ message: String) -> APIError {
        APIError(status: .badRequest, code: "url_not_allowed", message: message, field: "file.url")
    }
    static func fetch(_ message: String) -> APIError {
        APIError(status: .badRequest, code: "fetch_failed", message: message, field: "file.url")
    }
    static func tooLarge(_ message: String) -> APIError {
        APIError(status: .contentTooLarge, code: "too_large", message: message)
    }
    static func deadline(_ message: String) -> APIError {
        APIError(status: .gatewayTimeout, code: "deadline_exceeded", message: message)
    }
    static func forbidden(_ message: String) -> APIError {
        APIError(status: .forbidden, code: "forbidden", message: message)
    }
    static func notFound(_ message: String = "not found") -> APIError {
        APIError(status: .notFound, code: "not_found", message: message)
    }
    static func overloaded(retryAfter: Int) -> APIError {
        var error = APIError(status: .serviceUnavailable, code: "overloaded",
                             message: "the server is busy; retry after \(retryAfter) s")
        error.headers["Retry-After"] = String(retryAfter)
        return error
    }
    static let unauthorized: APIError = {
        var error = APIError(status: .unauthorized, code: "unauthorized",
                             message: "a valid API key is required: send Authorization: Bearer <key>")
        error.headers["WWW-Authenticate"] = "Bearer"
        return error
    }()
    static func unsupportedMediaType(_ message: String) -> APIError {
        APIError(status: .unsupportedMediaType, code: "unsupported_media_type", message: message)
    }
    static let internalError = APIError(status: .internalServerError, code: "internal_error",
                                        message: "the server failed to process the request")

    /// The client-facing form of any error. Library errors keep their codes and fields;
    /// anything unexpected becomes a bare 500 (and is logged by the caller, not shown).
    public init(_ error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as SmartCropError:
            let status: HTTPResponse.Status = switch error {
            case .invalidArgument: .badRequest
            case .unsupportedFormat: .unsupportedMediaType
            case .undecodable: .unprocessableContent
            case .tooLarge: .contentTooLarge
            case .deadlineExceeded: .gatewayTimeout
            case .cancelled: .serviceUnavailable
            case .io, .processing: .internalServerError
            }
            if status == .internalServerError {
                self = .internalError
            } else {
                self.init(status: status, code: error.code, message: error.message, field: error.field)
                if status == .serviceUnavailable { headers["Retry-After"] = "1" }
            }
        case is NIOTooManyBytesError:
            self = .tooLarge("the request body is over the limit")
        case let error as HTTPError:
            switch error.status {
            case .notFound: self = .notFound()
            case .contentTooLarge: self = .tooLarge("the request body is over the limit")
            case .methodNotAllowed:
                self.init(status: .methodNotAllowed, code: "method_not_allowed", message: "this method is not allowed here")
            case let status where status.code < 500:
                self.init(status: status, code: "bad_request", message: error.body ?? status.reasonPhrase)
            default:
                self = .internalError
            }
        default:
            self = .internalError
        }
    }

    var isInternal: Bool { status.code >= 500 && status != .serviceUnavailable && status != .gatewayTimeout }

    struct Body: Encodable {
        struct Inner: Encodable {
            let code: String
            let message: String
            let field: String?
        }
        let error: Inner
    }

    func response() -> Response {
        let data = (try? JSON.encoder.encode(Body(error: .init(code: code, message: message, field: field)))) ?? Data()
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

enum JSON {
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }

    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
