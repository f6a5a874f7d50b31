import Hummingbird
import Logging
import SmartCrop
import URLSigning

/// Turns every error into the JSON error shape with its status. Unexpected errors are
/// logged here with their details and reach the client as a bare 500.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let apiError = APIError(error)
            if apiError.isInternal {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            } else if let detail = (error as? SmartCropError)?.detail {
                // What the decoder said stays here: the client gets our own short message.
                context.logger.info("request refused", metadata: ["path": "\(request.uri.path)", "error": "\(apiError.message)",
                                                                   "detail": "\(detail)"])
            }
            return apiError.response()
        }
    }
}

/// Bearer API keys, compared in constant time. Public paths (the page, health, metrics, the
/// OpenAPI document) need none.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: [[UInt8]]
    static var publicPaths: Set<String> { ["/", "/healthz", "/readyz", "/metrics", "/openapi.json"] }

    init(keys: [String]) {
        self.keys = keys.map { Array($0.utf8) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Signed GET URLs carry their own authorisation: a CDN cannot send a key.
        guard !keys.isEmpty, !Self.publicPaths.contains(request.uri.path), !request.uri.path.hasPrefix(URLSigner.routePrefix) else {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], header.count > 7,
              header.prefix(7).lowercased() == "bearer " else {
            throw APIError.unauthorized
        }
        let presented = Array(header.dropFirst(7).utf8)
        // Every key is compared in full whatever matches, so timing tells nothing about
        // which key or how much of it was right.
        var matched: UInt8 = 0
        for key in keys { matched |= constantTimeEqual(presented, key) }
        guard matched == 1 else { throw APIError.unauthorized }
        return try await next(request, context)
    }
}

/// 1 when equal, else 0, in time that depends only on the lengths.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> UInt8 {
    var difference = UInt(a.count ^ b.count)
    let n = max(a.count, b.count)
    for i in 0..<n {
        let x = i < a.count ? a[i] : 0
        let y = i < b.count ? b[i] : 0
        difference |= UInt(x ^ y)
    }
    return difference == 0 ? 1 : 0
}
