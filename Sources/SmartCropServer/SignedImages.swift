import Foundation
import HTTPTypes
import Hummingbird
import NIOPosix
import SmartCrop
import URLSigning

// GET /v1/img/{signature}/{operations}/{source}.{ext}: a transform a CDN can cache. The URL
// names the source and the operations and is signed, so it needs no API key; the answer is the
// image with long-lived cache headers and a strong ETag.

extension Handlers {
    func signedImage(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let signature = context.parameters.get("signature") ?? ""
        let operations = context.parameters.get("operations") ?? ""
        let source = context.parameters.get("source") ?? ""
        let signedPart = operations + "/" + source
        if configuration.urlSigning.isEmpty {
            // Unsigned URLs only where nobody else can reach the server.
            guard configuration.bindsLoopbackOnly else {
                throw APIError.forbidden("URL signing is not configured: set url_signing, or SMARTCROP_URL_SIGNING_KEY and _SALT")
            }
        } else if !URLSigner.isValid(signature, for: signedPart, keys: configuration.urlSigning) {
            throw APIError.forbidden("the URL's signature does not match its operations and source")
        }
        guard let dot = source.lastIndex(of: "."), let format = ImageFormat(name: String(source[source.index(after: dot)...])),
              format.canEncode else {
            throw APIError.invalid(field: "source", "must end in the output's extension: .jpg, .png, .webp, .avif or .gif")
        }
        guard let operationsJSON = Base64URL.decode(operations) else {
            throw APIError.invalid(field: "operations", "is not base64url without padding")
        }
        guard let sourceData = Base64URL.decode(String(source[..<dot])), let url = String(data: sourceData, encoding: .utf8) else {
            throw APIError.invalid(field: "source", "is not a base64url source URL without padding")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(operationsJSON, field: "operations") } catch {
            throw APIError.invalid(field: "operations", "is not JSON")
        }
        var parsed = try pipeline(json, path: "operations")
        if !parsed.operations.contains(where: { if case .convert = $0 { true } else { false } }) {
            parsed.operations.append(.convert(ConvertOperation(format: format)))
        }
        let negotiated = parsed.negotiatesFormat
        let pipeline = parsed.negotiatingFormat(accept: request.headers[.accept])
        let local = url.hasPrefix(SignedSource.localScheme)
        if !local, !configuration.sourcePrefixes.isEmpty, !configuration.sourcePrefixes.contains(where: { url.hasPrefix($0) }) {
            throw APIError.forbidden("the source is not under an allowed prefix (source_prefixes)")
        }
        // Off the request's executor: a file read blocks.
        let relative = String(url.dropFirst(SignedSource.localScheme.count))
        let localBytes = local ? try await NIOThreadPool.singleton.runIfActive { try readLocal(relative) } : nil
        // What the output is written as: the pipeline's convert (resolved above) or the extension.
        let outputFormat = pipeline.operations.lazy.compactMap { if case .convert(let c) = $0 { c.format } else { nil } }.last ?? format
        return try await job(context) { stop in
            let bytes = try await load(FileSpec(name: nil, source: localBytes.map { .bytes($0) } ?? .url(url)), stop: stop)
            // The same signed URL on the same source bytes is the same image (per negotiated format).
            let variant = negotiated ? signedPart + "#" + outputFormat.rawValue : signedPart
            var cacheHeaders = HTTPFields()
            cacheHeaders[.eTag] = "\"\(URLSigner.entityTag(signedPart: variant, source: bytes))\""
            cacheHeaders[.cacheControl] = configuration.cacheControl
            if negotiated { cacheHeaders[.vary] = "Accept" }
            if let match = request.headers[.ifNoneMatch], Self.matches(match, cacheHeaders[.eTag]!) {
                return Response(status: .notModified, headers: cacheHeaders)
            }
            let options = options(stop)
            let metrics = self.metrics
            let encoded = try await pool.run(stop: stop) { () throws -> Encoded in
                let output = try PipelineRunner.run(pipeline, on: .data(Data(bytes)), options: options)
                metrics.phases(output.timings)
                return Encoded.image(output)
            }
            var response = encoded.response()
            response.headers.append(contentsOf: cacheHeaders)
            return response
        }
    }

    /// `local:///a/b.jpg`: `a/b.jpg` under `local_root`, which must hold it after every
    /// symbolic link is resolved; `..` is refused outright.
    func readLocal(_ relative: String) throws -> [UInt8] {
        guard let root = configuration.localRoot else {
            throw APIError.forbidden("local:/// sources are off: set local_root (SMARTCROP_LOCAL_ROOT)")
        }
        do { _ = try SignedSource.localPath(relative) } catch { throw APIError.forbidden(error.message) }
        let rootURL = URL(fileURLWithPath: root).resolvingSymlinksInPath().standardizedFileURL
        let fileURL = rootURL.appendingPathComponent(relative).resolvingSymlinksInPath().standardizedFileURL
        guard fileURL.path.hasPrefix(rootURL.path + "/") else {
            throw APIError.forbidden("the local source leads outside local_root")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: fileURL.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw APIError.notFound("no such local source")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: fileURL.path)[.size] as? Int) ?? 0
        guard size <= configuration.maxBodyBytes else {
            throw APIError.tooLarge("the local source is \(size) bytes; the limit is \(configuration.maxBodyBytes)")
        }
        guard let data = FileManager.default.contents(atPath: fileURL.path) else { throw APIError.notFound("no such local source") }
        return [UInt8](data)
    }

    /// Whether an If-None-Match value names `etag` (weak comparison, as RFC 9110 asks for it).
    static func matches(_ ifNoneMatch: String, _ etag: String) -> Bool {
        ifNoneMatch.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingCharacters(in: .whitespaces)
            return tag == "*" || (tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag) == etag
        }
    }
}

/// Errors of signed GET URLs are not for caches: `Cache-Control: no-store` on every 4xx and 5xx.
struct SignedURLErrorCaching<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if request.uri.path.hasPrefix(URLSigner.routePrefix), response.status.code >= 400 {
            response.headers[.cacheControl] = "no-store"
        }
        return response
    }
}
