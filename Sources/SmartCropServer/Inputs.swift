import Foundation
import Hummingbird
import MultipartKit
import NIOCore
import SmartCrop

/// A request body, read in full under the size limit, as JSON fields or multipart parts.
struct RequestForm {
    /// Operations, settings and variants are small; a text part beyond this is not one of them.
    static let maxFieldBytes = 1 << 20

    /// Top-level JSON fields, or the multipart text parts parsed as JSON.
    var fields: [String: JSONValue] = [:]
    /// The `file` part of a multipart upload.
    var upload: (name: String?, bytes: ByteBuffer)?
    var isMultipart = false

    static func read(_ request: Request, maxBytes: Int) async throws -> RequestForm {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBytes {
            throw APIError.tooLarge("the request body is \(length) bytes; the limit is \(maxBytes)")
        }
        let contentType = request.headers[.contentType] ?? "application/json"
        let media = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard media == "application/json" || media == "multipart/form-data" else {
            throw APIError.unsupportedMediaType("send application/json or multipart/form-data, not \(media)")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maxBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.tooLarge("the request body is over the limit of \(maxBytes) bytes")
        } catch is NIOTooManyBytesError {
            // A chunked body has no Content-Length to refuse up front: it is counted as it comes.
            throw APIError.tooLarge("the request body is over the limit of \(maxBytes) bytes")
        }
        if media == "application/json" {
            guard body.readableBytes > 0 else { throw APIError.invalid(field: nil, "the request body is empty; send a JSON object") }
            let json = try JSONValue.parse(Data(body.readableBytesView), field: "body")
            guard case .object(let object) = json else { throw APIError.invalid(field: "body", "must be a JSON object") }
            return RequestForm(fields: object)
        }
        return try multipart(body, contentType: contentType)
    }

    static func multipart(_ body: ByteBuffer, contentType: String) throws -> RequestForm {
        guard let boundary = parameter("boundary", in: contentType), !boundary.isEmpty, boundary.count <= 200 else {
            throw APIError.invalid(field: nil, "multipart/form-data needs a boundary parameter")
        }
        var parts: [MultipartPart] = []
        var headers = HTTPHeaders()
        var partBody = ByteBuffer()
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { name, value in headers.add(name: name, value: value) }
        parser.onBody = { chunk in partBody.writeBuffer(&chunk) }
        parser.onPartComplete = {
            parts.append(MultipartPart(headers: headers, body: partBody))
            headers = HTTPHeaders()
            partBody = ByteBuffer()
        }
        do {
            try parser.execute(body)
        } catch {
            throw APIError.invalid(field: nil, "the multipart body is malformed")
        }
        var form = RequestForm(isMultipart: true)
        for part in parts {
            guard let name = part.name else { continue }
            if name == "file" {
                guard form.upload == nil else { throw APIError.invalid(field: "file", "give only one file part") }
                let disposition = part.headers.first(name: "Content-Disposition") ?? ""
                form.upload = (parameter("filename", in: disposition), part.body)
            } else {
                guard form.fields[name] == nil else { throw APIError.invalid(field: name, "is given twice") }
                guard part.body.readableBytes <= maxFieldBytes else {
                    throw APIError.tooLarge("the \(name) part is \(part.body.readableBytes) bytes; the limit is \(maxFieldBytes)")
                }
                form.fields[name] = try JSONValue.parse(Data(part.body.readableBytesView), field: name)
            }
        }
        return form
    }

    /// A parameter of a header value such as `multipart/form-data; boundary="x"`.
    static func parameter(_ key: String, in header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == key else { continue }
            var value = pair[1].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }

    /// Refuses fields nobody reads (usually misspelt).
    func refuseUnknown(except known: Set<String>) throws {
        if let unknown = fields.keys.filter({ !known.contains($0) }).sorted().first {
            throw APIError.invalid(field: unknown, "is not a known field")
        }
    }

    /// Where the image comes from: the multipart `file` part, or the JSON `file` object.
    func fileSpec() throws -> FileSpec {
        if let upload {
            if fields["file"] != nil { throw APIError.invalid(field: "file", "give the file once") }
            return FileSpec(name: upload.name, source: .bytes(Array(upload.bytes.readableBytesView)))
        }
        guard let value = fields["file"] else {
            throw APIError.invalid(field: "file", isMultipart ? "is required: a part named file" : "is required")
        }
        guard case .object(let object) = value else { throw APIError.invalid(field: "file", "must be an object") }
        let known: Set = ["type", "name", "url", "base64"]
        if let unknown = object.keys.filter({ !known.contains($0) }).sorted().first {
            throw APIError.invalid(field: "file.\(unknown)", "is not a known field")
        }
        func string(_ key: String) throws -> String? {
            guard let v = object[key], v != .null else { return nil }
            guard case .string(let s) = v else { throw APIError.invalid(field: "file.\(key)", "must be a string") }
            return s
        }
        let name = try string("name")
        switch try string("type") {
        case "url":
            guard let url = try string("url"), !url.isEmpty else { throw APIError.invalid(field: "file.url", "is required for type url") }
            if object["base64"] != nil { throw APIError.invalid(field: "file.base64", "is not used with type url") }
            return FileSpec(name: name, source: .url(url))
        case "base64":
            guard var text = try string("base64"), !text.isEmpty else {
                throw APIError.invalid(field: "file.base64", "is required for type base64")
            }
            if object["url"] != nil { throw APIError.invalid(field: "file.url", "is not used with type base64") }
            // Data URLs (what a browser's FileReader gives) are accepted as they are.
            if text.hasPrefix("data:"), let comma = text.firstIndex(of: ",") { text = String(text[text.index(after: comma)...]) }
            guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                throw APIError.invalid(field: "file.base64", "is not valid base64")
            }
            return FileSpec(name: name, source: .bytes(Array(data)))
        case nil:
            throw APIError.invalid(field: "file.type", "is required: url or base64")
        case let other?:
            throw APIError.invalid(field: "file.type", "must be url or base64, got \"\(other)\"")
        }
    }
}

struct FileSpec {
    enum Source {
        case bytes([UInt8])
        case url(String)
    }
    var name: String?
    var source: Source
}
