import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SmartCrop

/// The endpoints. Each one validates everything it can before it touches the image (JSON,
/// operations, settings), then fetches or decodes the input, then hands the CPU work to the
/// worker pool; responses (base64 included) are built on the worker too. Every request has a
/// `StopSignal`: its deadline, cancelled when its client goes away.
struct Handlers: Sendable {
    let configuration: ServerConfiguration
    let pool: WorkerPool
    let fetcher: SafeFetcher
    let faceModels: FaceModels
    let subjectModels: SubjectModels
    let metrics: ServerMetrics
    let store: DownloadStore
    /// Which models run, for `/v1/info` (file names, not paths).
    let models: [ModelReport]
    /// URL sources already fetched (see `source_cache_mb`).
    var sourceCache = SourceCache(capacityBytes: 0)

    var decodeLimits: DecodeLimits { configuration.decodeLimits }

    func options(_ stop: StopSignal) -> PipelineOptions {
        var options = PipelineOptions(limits: decodeLimits, stop: stop, faceModels: faceModels)
        options.subjectModels = subjectModels
        return options
    }

    /// Runs one request's handling under its stop signal: the deadline starts now, and the
    /// signal is cancelled if the client closes its connection before the answer.
    func job(_ context: ServerRequestContext, _ body: (StopSignal) async throws -> Response) async throws -> Response {
        let stop = StopSignal(deadline: ContinuousClock.now + configuration.deadline)
        let watch = try? await ConnectionGuard.watch(of: context.channel)
        watch?.attach(stop)
        defer { watch?.detach() }
        return try await body(stop)
    }

    func pipeline(_ json: JSONValue, path: String) throws -> Pipeline {
        try Pipeline.parse(json, path: path, maxOperations: configuration.maxOperations, maxPixels: decodeLimits.maxOutputPixels)
    }

    // MARK: POST /v1/transform

    func transform(_ request: Request, context: ServerRequestContext) async throws -> Response {
        try await job(context) { stop in try await transform(request, stop: stop) }
    }

    private func transform(_ request: Request, stop: StopSignal) async throws -> Response {
        let form = try await RequestForm.read(request, maxBytes: configuration.maxBodyBytes)
        try form.refuseUnknown(except: ["file", "operations"])
        guard let operations = form.fields["operations"] else {
            throw APIError.invalid(field: "operations", "is required: a list of operations")
        }
        let parsed = try pipeline(operations, path: "operations")
        let pipeline = parsed.negotiatingFormat(accept: request.headers[.accept])
        let file = try form.fileSpec()
        let bytes = try await load(file, stop: stop)
        let raw = Self.prefersImage(request.headers[.accept])
        let options = options(stop)
        let metrics = self.metrics
        let result = try await pool.run(stop: stop) { () throws -> Encoded in
            let output = try PipelineRunner.run(pipeline, on: .data(Data(bytes)), options: options)
            metrics.phases(output.timings)
            return raw ? Encoded.image(output) : try Encoded.json(ResultBody(data: ResultJSON(output, name: nil, includeBuffer: true)))
        }
        var response = result.response()
        if parsed.negotiatesFormat { response.headers[.vary] = "Accept" }
        return response
    }

    // MARK: POST /v1/transform/variants

    func variants(_ request: Request, context: ServerRequestContext) async throws -> Response {
        try await job(context) { stop in try await variants(request, stop: stop) }
    }

    private func variants(_ request: Request, stop: StopSignal) async throws -> Response {
        let form = try await RequestForm.read(request, maxBytes: configuration.maxBodyBytes)
        try form.refuseUnknown(except: ["file", "variants"])
        guard case .array(let items)? = form.fields["variants"] else {
            throw APIError.invalid(field: "variants", form.fields["variants"] == nil
                                   ? "is required: a list of {\"name\", \"operations\"}" : "must be a list of {\"name\", \"operations\"}")
        }
        guard !items.isEmpty, items.count <= configuration.maxVariants else {
            throw APIError.invalid(field: "variants", "must hold 1 to \(configuration.maxVariants) variants, got \(items.count)")
        }
        var pipelines: [(String, Pipeline)] = []
        for (index, item) in items.enumerated() {
            let path = "variants[\(index)]"
            guard case .object(let object) = item else { throw APIError.invalid(field: path, "must be an object") }
            if let unknown = object.keys.filter({ $0 != "name" && $0 != "operations" }).sorted().first {
                throw APIError.invalid(field: "\(path).\(unknown)", "is not a known field")
            }
            guard case .string(let name)? = object["name"], (1...64).contains(name.count),
                  name.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_") }) else {
                throw APIError.invalid(field: "\(path).name", "is required: 1-64 letters, digits, - or _")
            }
            guard !pipelines.contains(where: { $0.0 == name }) else {
                throw APIError.invalid(field: "\(path).name", "repeats the name \"\(name)\"")
            }
            guard let operations = object["operations"] else { throw APIError.invalid(field: "\(path).operations", "is required") }
            pipelines.append((name, try pipeline(operations, path: "\(path).operations")))
        }
        let file = try form.fileSpec()
        let bytes = try await load(file, stop: stop)
        let options = options(stop)
        let limits = decodeLimits
        let variantPipelines = pipelines
        let metrics = self.metrics
        let result = try await pool.run(stop: stop) { () throws -> Encoded in
            let source = try OpenedSource(.data(Data(bytes)), limits: limits)
            let outputs = try PipelineRunner.variants(variantPipelines, on: source, options: options)
            for (index, (_, output)) in outputs.enumerated() {
                // The decode is shared: count it once.
                var timings = output.timings
                if index > 0 { timings["decode"] = nil }
                metrics.phases(timings)
            }
            let entries = outputs.map { ResultJSON($0.1, name: $0.0, includeBuffer: true) }
            return try Encoded.json(VariantsBody(data: .init(source: SourceJSON(source.info), variants: entries)))
        }
        return result.response()
    }

    // MARK: POST /v1/detect

    func detect(_ request: Request, context: ServerRequestContext) async throws -> Response {
        try await job(context) { stop in try await detect(request, stop: stop) }
    }

    private func detect(_ request: Request, stop: StopSignal) async throws -> Response {
        let form = try await RequestForm.read(request, maxBytes: configuration.maxBodyBytes)
        try form.refuseUnknown(except: ["file", "settings"])
        var search = FaceSearch()
        if let settings = form.fields["settings"] {
            guard case .object(let object) = settings else { throw APIError.invalid(field: "settings", "must be an object") }
            for (key, value) in object {
                let field = "settings.\(key)"
                switch (key, value) {
                case ("detector", .string(let name)):
                    guard let choice = DetectorChoice(rawValue: name) else { throw APIError.invalid(field: field, "must be auto, yunet or mtcnn") }
                    search.detector = choice
                case ("sensitivity", .number(let n)):
                    guard (0...1).contains(n) else { throw APIError.invalid(field: field, "must be between 0 and 1") }
                    search.sensitivity = n
                case ("min_face_size", .number(let n)):
                    guard n > 0, n <= 100_000 else { throw APIError.invalid(field: field, "must be a positive number of pixels") }
                    search.minFaceSize = n
                case ("detector", _), ("sensitivity", _), ("min_face_size", _):
                    throw APIError.invalid(field: field, key == "detector" ? "must be auto, yunet or mtcnn" : "must be a number")
                default:
                    throw APIError.invalid(field: field, "is not a known field")
                }
            }
        }
        if search.detector == .yunet, !faceModels.hasYuNet {
            throw APIError.invalid(field: "settings.detector", "YuNet is not configured on this server; use auto or mtcnn")
        }
        let file = try form.fileSpec()
        let bytes = try await load(file, stop: stop)
        let limits = decodeLimits
        let models = faceModels
        let faceSearch = search
        let metrics = self.metrics
        let result = try await pool.run(stop: stop) { () throws -> Encoded in
            let source = try OpenedSource(.data(Data(bytes)), limits: limits)
            let start = ContinuousClock.now
            let report = try FaceFinder.detect(source, models: models, search: faceSearch, stop: stop)
            metrics.phase("detect", ContinuousClock.now - start)
            return try Encoded.json(DetectBody(data: .init(width: source.info.width, height: source.info.height, detector: report.detector,
                                                           threshold: (report.threshold * 1000).rounded() / 1000,
                                                           faces: report.faces.map(FaceJSON.init))))
        }
        return result.response()
    }

    // MARK: POST /api/v1/tools/smart-crop

    func smartCropTool(_ request: Request, context: ServerRequestContext) async throws -> Response {
        try await job(context) { stop in try await smartCropTool(request, stop: stop) }
    }

    private func smartCropTool(_ request: Request, stop: StopSignal) async throws -> Response {
        let form = try await RequestForm.read(request, maxBytes: configuration.maxBodyBytes)
        try form.refuseUnknown(except: ["file", "settings"])
        let settings = try SmartCropSettings.parse(form.fields["settings"] ?? .object([:]), path: "settings")
        if settings.mode != .trim, let size = settings.outputSize,
           let problem = DecodeLimits.sizeProblem(size, maxPixels: decodeLimits.maxOutputPixels) {
            throw APIError.invalid(field: "settings.width", problem)
        }
        let file = try form.fileSpec()
        let bytes = try await load(file, stop: stop)
        let options = options(stop)
        let metrics = self.metrics
        // No convert step: the output keeps the input's format when we can write it (JPEG,
        // PNG, WebP, AVIF, GIF; an animated GIF or WebP stays animated), else PNG for images
        // with alpha and JPEG for the rest; the settings' quality applies.
        let output = try await pool.run(stop: stop) { () throws -> PipelineOutput in
            let output = try PipelineRunner.run(Pipeline([.smartCrop(settings)]), on: .data(Data(bytes)), options: options)
            metrics.phases(output.timings)
            return output
        }
        let uploadName: String? = switch file.source {
        case .bytes: file.name
        case .url(let url): file.name ?? URL(string: url)?.lastPathComponent
        }
        let name = DownloadStore.fileName(upload: uploadName, fileExtension: output.format.fileExtension)
        let jobId = try await store.save(output.data, name: name)
        var answer = ToolAnswer(jobId: jobId, downloadUrl: "/api/v1/download/\(jobId)/\(name)", originalSize: bytes.count,
                                processedSize: output.data.count)
        answer.mimeType = output.format.mimeType
        answer.width = output.width
        answer.height = output.height
        answer.crop = output.decision?.crop
        answer.strategy = output.decision?.strategy
        answer.faces = output.decision?.faces.map(FaceJSON.init) ?? []
        answer.subjectSource = output.decision?.subjectSource?.rawValue
        answer.detector = output.decision?.detector
        answer.frames = output.frames > 1 ? output.frames : nil
        answer.analysedFrames = output.decision?.analysedFrames
        answer.warnings = output.warnings.isEmpty ? nil : output.warnings
        var response = try JSON.response(answer)
        for (name, value) in Encoded.decisionHeaders(output) {
            if let name = HTTPField.Name(name) { response.headers[name] = value }
        }
        return response
    }

    // MARK: GET /api/v1/download/{jobId}/{name}

    func download(jobId: String, name: String) async throws -> Response {
        guard let data = try await store.load(jobId: jobId, name: name) else {
            throw APIError.notFound("no such download (unknown, expired or malformed id or name)")
        }
        let ext = name.split(separator: ".").last.map(String.init) ?? ""
        let type = ImageFormat(name: ext)?.mimeType ?? "application/octet-stream"
        return Response(status: .ok, headers: [.contentType: type, .contentDisposition: "inline; filename=\"\(name)\"",
                                               .cacheControl: "private, max-age=\(Int(seconds(store.ttl)))"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: Inputs

    /// The file's bytes, refused (415) unless they start like an image we read.
    func load(_ file: FileSpec, stop: StopSignal) async throws -> [UInt8] {
        let bytes: [UInt8]
        switch file.source {
        case .bytes(let b): bytes = b
        case .url(let url):
            if let cached = sourceCache.bytes(for: url) {
                bytes = cached
            } else {
                bytes = try await fetcher.fetch(url, deadline: stop.deadline)
                sourceCache.store(bytes, for: url)
            }
        }
        guard bytes.count <= configuration.maxBodyBytes else {
            throw APIError.tooLarge("the file is \(bytes.count) bytes; the limit is \(configuration.maxBodyBytes)")
        }
        if case .refused(let why) = FormatSniffer.sniff(bytes) {
            throw SmartCropError.unsupportedFormat("\(why); use JPEG, PNG, WebP, AVIF, HEIC, GIF or TIFF")
        }
        return bytes
    }

    /// Whether the client asked for the image itself (`Accept: image/*`) rather than JSON.
    static func prefersImage(_ accept: String?) -> Bool {
        let accepted = AcceptHeader(accept)
        let image = accepted.quality(ofTypesStartingWith: "image/")
        return image > 0 && image >= accepted.quality(of: "application/json")
    }
}

/// A response built on a worker: bytes and headers, so the event loop only writes.
struct Encoded: Sendable {
    var body: Data
    var contentType: String
    var headers: [(String, String)] = []

    static func json<T: Encodable>(_ value: T) throws -> Encoded {
        Encoded(body: try JSON.encoder.encode(value), contentType: "application/json")
    }

    /// The image itself, with the decision in headers.
    static func image(_ output: PipelineOutput) -> Encoded {
        Encoded(body: output.data, contentType: output.format.mimeType, headers: decisionHeaders(output))
    }

    /// The decision as `X-Smartcrop-*` headers: what the JSON answers say, for answers whose
    /// body is the image (or, for the smart-crop tool, the shape of the API it replaces).
    static func decisionHeaders(_ output: PipelineOutput) -> [(String, String)] {
        var headers = [("X-Smartcrop-Width", String(output.width)), ("X-Smartcrop-Height", String(output.height)),
                       ("X-Smartcrop-Source", "\(output.source.width)x\(output.source.height)")]
        if output.frames > 1 { headers.append(("X-Smartcrop-Frames", String(output.frames))) }
        if let decision = output.decision {
            let c = decision.crop
            headers.append(("X-Smartcrop-Crop", "\(c.x),\(c.y),\(c.width),\(c.height)"))
            headers.append(("X-Smartcrop-Strategy", decision.strategy))
            let faces = (try? JSON.encoder.encode(decision.faces.map(FaceJSON.init))).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
            headers.append(("X-Smartcrop-Faces", faces))
            if let fallback = decision.fallback { headers.append(("X-Smartcrop-Fallback", fallback.filter { $0.isASCII && $0 != "\n" })) }
            if let detector = decision.detector { headers.append(("X-Smartcrop-Detector", detector)) }
            if let subject = decision.subjectSource { headers.append(("X-Smartcrop-Subject-Source", subject.rawValue)) }
        }
        if !output.warnings.isEmpty {
            headers.append(("X-Smartcrop-Warning", output.warnings.joined(separator: "; ").filter { $0.isASCII && $0 != "\n" }))
        }
        return headers
    }

    func response() -> Response {
        var fields = HTTPFields()
        fields[.contentType] = contentType
        for (name, value) in headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

// MARK: Answer shapes (snake_case as the API spells them)

struct SourceJSON: Encodable, Sendable {
    let width: Int
    let height: Int
    let format: String
    let bytes: Int
    /// Frames of an animated source; absent for a still.
    let frames: Int?
    init(_ info: SourceInfo) {
        width = info.width
        height = info.height
        format = info.format.rawValue
        bytes = info.byteCount
        frames = info.isAnimated ? info.frames : nil
    }
}

struct ResultJSON: Encodable, Sendable {
    var name: String?
    var buffer: String?
    var mime_type: String
    var format: String
    var width: Int
    var height: Int
    var bytes: Int
    var crop: PixelRect?
    var strategy: String?
    var focal_point: Point?
    var fallback: String?
    var faces: [FaceJSON]
    var used_faces: [Int]?
    var left_out_faces: [LeftOutFace]?
    var subject_source: String?
    var detector: String?
    var frames: Int?
    var analysed_frames: [Int]?
    var source: SourceJSON
    var warnings: [String]?
    var timings_ms: [String: Double]

    init(_ output: PipelineOutput, name: String?, includeBuffer: Bool) {
        self.name = name
        buffer = includeBuffer ? output.data.base64EncodedString() : nil
        mime_type = output.format.mimeType
        format = output.format.rawValue
        width = output.width
        height = output.height
        bytes = output.data.count
        crop = output.decision?.crop
        strategy = output.decision?.strategy
        focal_point = output.decision?.focalPoint
        fallback = output.decision?.fallback
        faces = output.decision?.faces.map(FaceJSON.init) ?? []
        used_faces = output.decision?.usedFaces.isEmpty == false ? output.decision?.usedFaces : nil
        left_out_faces = output.decision?.leftOutFaces.isEmpty == false ? output.decision?.leftOutFaces : nil
        subject_source = output.decision?.subjectSource?.rawValue
        detector = output.decision?.detector
        frames = output.frames > 1 ? output.frames : nil
        analysed_frames = output.decision?.analysedFrames
        source = SourceJSON(output.source)
        warnings = output.warnings.isEmpty ? nil : output.warnings
        timings_ms = output.timings.mapValues { (seconds($0) * 10_000).rounded() / 10 }
    }
}

struct ResultBody: Encodable { let data: ResultJSON }

struct VariantsBody: Encodable {
    struct Inner: Encodable {
        let source: SourceJSON
        let variants: [ResultJSON]
    }
    let data: Inner
}

struct DetectBody: Encodable {
    struct Inner: Encodable {
        let width: Int
        let height: Int
        let detector: String
        let threshold: Double
        let faces: [FaceJSON]
    }
    let data: Inner
}

struct ToolAnswer: Encodable {
    let jobId: String
    let downloadUrl: String
    let originalSize: Int
    let processedSize: Int
    var mimeType: String?
    var width: Int?
    var height: Int?
    var crop: PixelRect?
    var strategy: String?
    var faces: [FaceJSON] = []
    var subjectSource: String?
    var detector: String?
    var frames: Int?
    var analysedFrames: [Int]?
    var warnings: [String]?
}

struct InfoBody: Encodable {
    struct Inner: Encodable {
        let version: String
        let kernels: String
        let models: [ModelReport]
    }
    let data: Inner
}
