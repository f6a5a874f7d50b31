import CServerAssets
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SmartCrop

/// `smartcrop serve`: the library behind an HTTP API.
public enum SmartCropServer {
    /// Builds the application: routes, middleware (metrics, errors, auth) and the services it
    /// owns (the worker pool, the download sweeper). Run it with `runService()` for signal
    /// handling, or inside a `ServiceGroup`.
    ///
    /// - Parameter onServerRunning: called with the bound port once the server listens.
    public static func makeApplication(
        configuration: ServerConfiguration,
        logger: Logger = Logger(label: "smartcrop.server"),
        resolver: any HostResolver = SystemResolver(),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        var configuration = configuration
        let kernels = KernelReport.current
        if let error = kernels.error { throw ConfigurationError(error) }
        logger.info("smartcrop \(smartcropVersion), \(kernels.summary)")
        if configuration.apiKeys.isEmpty {
            if !configuration.bindsLoopbackOnly {
                logger.warning("no API key configured (SMARTCROP_API_KEYS or api_keys): listening on 127.0.0.1 only, not \(configuration.host)")
                configuration.host = configuration.listenHost
            } else {
                logger.warning("no API key configured: the API is open to every local client")
            }
        }
        // One request per core already keeps the cores busy; libvips threads inside a request
        // would only make requests fight.
        try ImageEngine.setThreadsPerOperation(1)
        let faceModels = try FaceModels(yunetModel: configuration.faceModel)
        _ = try faceModels.detector(.auto)  // load the detector now, not on the first request
        // The subject model is read and checked now: a wrong file stops the start, with its name.
        let subjectModels = try SubjectModels(modelPath: configuration.subjectModel, inputSize: configuration.subjectSize)
        let models = ModelReport.describe(face: faceModels, subject: subjectModels)
        for report in models {
            let file = report.path.map { " from \($0) (\(report.origin ?? ""))" + (report.pinned.map { ", the pinned \($0)" } ?? "") } ?? ""
            let input = report.inputSize.map { ", input \($0)x\($0)" + (report.fixedInputSize == true ? " (fixed by the file)" : "") } ?? ""
            logger.info("\(report.slot) model: \(report.runs)\(file)\(input)")
            for note in report.notes { logger.warning("\(note)") }
        }

        let metrics = ServerMetrics()
        let pool = WorkerPool(workers: configuration.workers, queueSize: configuration.queueSize) { running, queued in
            metrics.poolChanged(running: running, queued: queued)
        } onReject: {
            metrics.rejected.increment()
        }
        let store = try DownloadStore(directory: configuration.downloadDirectory, ttl: configuration.downloadTTL)
        let fetcher = SafeFetcher(policy: FetchPolicy(allow: configuration.fetchAllow, maxBytes: configuration.fetchMaxBytes,
                                                      timeout: configuration.fetchTimeout), resolver: resolver)
        let handlers = Handlers(configuration: configuration, pool: pool, fetcher: fetcher, faceModels: faceModels,
                                subjectModels: subjectModels, metrics: metrics, store: store, models: models.map(\.withoutPaths),
                                sourceCache: SourceCache(capacityBytes: configuration.sourceCacheMegabytes << 20))
        let router = makeRouter(handlers)
        let boundPort = configuration.port
        let (idle, read) = (configuration.idleTimeout, configuration.requestReadTimeout)
        return Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionGuard(idleTimeout: idle, readTimeout: read)])),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "smartcrop"),
            services: [pool, DownloadSweeper(store: store)],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? boundPort) },
            logger: logger
        )
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully: the listener closes, requests
    /// in flight get `drainTimeout` to finish, then what is left is cancelled (its image work
    /// stops part-way) and the worker pool stops.
    ///
    /// - Parameter startupNotes: what `applyProcessSettings` did, logged first.
    public static func serve(configuration: ServerConfiguration, startupNotes: [String] = []) async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "smartcrop.server")
        logger.logLevel = .info
        for note in startupNotes { logger.info("\(note)") }
        let app = try makeApplication(configuration: configuration, logger: logger) { [logger] port in
            logger.info("smartcrop listening", metadata: ["port": "\(port)"])
        }
        try await serviceGroup(running: app, configuration: configuration, logger: logger).run()
    }

    /// Process-wide settings, applied by the server's entry point on the main thread before
    /// any other thread exists: glibc's arena cap binds only arenas made after it, and each
    /// thread that allocates before it gets an arena of its own. Returns what was done, for
    /// the start-up log.
    public static func applyProcessSettings(_ configuration: ServerConfiguration) -> [String] {
        guard let arenas = configuration.mallocArenaCap() else { return [] }
        guard ImageEngine.capMallocArenas(arenas) else {
            return ["malloc arenas: this allocator has no arena setting; malloc_arena_max is ignored"]
        }
        return ["malloc arenas: at most \(arenas == 0 ? "glibc's default (8 per core)" : String(arenas))"]
    }

    /// The service group `serve` runs: SIGTERM and SIGINT start a graceful shutdown that lasts
    /// at most the drain timeout. Cancelled work stops within a tile, so the last resort (a
    /// crash after 10 more seconds, so the process does exit) is for bugs only.
    public static func serviceGroup(running app: some Service, configuration: ServerConfiguration, logger: Logger) -> ServiceGroup {
        var group = ServiceGroupConfiguration(services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = configuration.drainTimeout
        group.maximumCancellationDuration = ServerConfiguration.cancellationGrace
        return ServiceGroup(configuration: group)
    }

    static func makeRouter(_ h: Handlers) -> Router<ServerRequestContext> {
        let router = Router(context: ServerRequestContext.self)
        router.add(middleware: MetricsMiddleware(metrics: h.metrics))
        router.add(middleware: SignedURLErrorCaching())
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: AuthMiddleware(keys: h.configuration.apiKeys))
        router.get("/") { _, _ in Assets.page(sc_playground_page, contentType: "text/html; charset=utf-8") }
        router.get("/openapi.json") { _, _ in Assets.page(sc_openapi_document, contentType: "application/json") }
        router.get("/healthz") { _, _ in try JSON.response(["status": "ok"]) }
        router.get("/v1/info") { _, _ in try JSON.response(InfoBody(data: .init(version: smartcropVersion, kernels: KernelReport.current.selected ?? "",
                                                                               models: h.models))) }
        router.get("/readyz") { _, _ in
            h.pool.isFull ? try JSON.response(["status": "overloaded"], status: .serviceUnavailable) : try JSON.response(["status": "ready"])
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: h.metrics.exposition())))
        }
        router.post("/v1/transform") { request, context in try await h.transform(request, context: context) }
        router.post("/v1/transform/variants") { request, context in try await h.variants(request, context: context) }
        router.post("/v1/detect") { request, context in try await h.detect(request, context: context) }
        router.post("/api/v1/tools/smart-crop") { request, context in try await h.smartCropTool(request, context: context) }
        router.get("/v1/img/{signature}/{operations}/{source}") { request, context in try await h.signedImage(request, context: context) }
        router.get("/api/v1/download/{jobId}/{name}") { _, context in
            try await h.download(jobId: context.parameters.get("jobId") ?? "", name: context.parameters.get("name") ?? "")
        }
        return router
    }

    /// The routes the server answers, for the OpenAPI completeness test.
    public static func routes(configuration: ServerConfiguration = ServerConfiguration()) throws -> [(method: String, path: String)] {
        let store = try DownloadStore(directory: configuration.downloadDirectory, ttl: configuration.downloadTTL)
        let handlers = Handlers(configuration: configuration, pool: WorkerPool(workers: 1, queueSize: 0), fetcher: SafeFetcher(policy: FetchPolicy()),
                                faceModels: try FaceModels(yunetModel: nil), subjectModels: try SubjectModels(modelPath: nil),
                                metrics: ServerMetrics(), store: store, models: [])
        return makeRouter(handlers).routes.map { ($0.method.rawValue, $0.path.description) }
    }
}

enum Assets {
    static func page(_ getter: (UnsafeMutablePointer<Int>?) -> UnsafePointer<UInt8>?, contentType: String) -> Response {
        var size = 0
        let pointer = getter(&size)
        let buffer = pointer.map { ByteBuffer(bytes: UnsafeBufferPointer(start: $0, count: size)) } ?? ByteBuffer()
        return Response(status: .ok, headers: [.contentType: contentType, .cacheControl: "no-cache"], body: .init(byteBuffer: buffer))
    }
}
