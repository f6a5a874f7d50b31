import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import Prometheus
import SmartCrop

/// The server's metrics, through swift-metrics into a Prometheus registry of its own (so
/// several servers in one process, as in the tests, keep separate counts).
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    let inFlight: CoreMetrics.Meter
    let jobsRunning: CoreMetrics.Meter
    let queueDepth: CoreMetrics.Meter
    let rejected: CoreMetrics.Counter
    let mallocArenas: CoreMetrics.Meter

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let phaseBuckets: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                        .milliseconds(2500), .seconds(5)]
        for phase in ["decode", "detect", "encode"] {
            factory.durationHistogramBuckets["smartcrop_\(phase)_duration_seconds"] = phaseBuckets
        }
        factory.defaultDurationHistogramBuckets = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                                   .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                                   .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30)]
        self.factory = factory
        inFlight = CoreMetrics.Meter(label: "smartcrop_http_requests_in_flight", factory: factory)
        jobsRunning = CoreMetrics.Meter(label: "smartcrop_jobs_running", factory: factory)
        queueDepth = CoreMetrics.Meter(label: "smartcrop_queue_depth", factory: factory)
        rejected = CoreMetrics.Counter(label: "smartcrop_rejected_total", factory: factory)
        mallocArenas = CoreMetrics.Meter(label: "smartcrop_malloc_arenas", factory: factory)
        inFlight.set(0)
        jobsRunning.set(0)
        queueDepth.set(0)
    }

    func poolChanged(running: Int, queued: Int) {
        jobsRunning.set(running)
        queueDepth.set(queued)
    }

    func request(route: String, method: String, status: Int, duration: Duration, bytesIn: Int, bytesOut: Int) {
        let labels = [("route", route), ("method", method), ("status", String(status))]
        CoreMetrics.Counter(label: "smartcrop_http_requests_total", dimensions: labels, factory: factory).increment()
        CoreMetrics.Timer(label: "smartcrop_http_request_duration_seconds", dimensions: labels, factory: factory).recordNanoseconds(nanoseconds(duration))
        CoreMetrics.Counter(label: "smartcrop_http_request_bytes_total", dimensions: [("route", route)], factory: factory).increment(by: bytesIn)
        CoreMetrics.Counter(label: "smartcrop_http_response_bytes_total", dimensions: [("route", route)], factory: factory).increment(by: bytesOut)
    }

    /// Image phases: decode, detect (the analysis that places a crop, faces included) and encode.
    func phases(_ timings: [String: Duration]) {
        let mapping = ["decode": "decode", "analyse": "detect", "encode": "encode"]
        for (key, name) in mapping {
            if let duration = timings[key] { phase(name, duration) }
        }
    }

    func phase(_ name: String, _ duration: Duration) {
        CoreMetrics.Timer(label: "smartcrop_\(name)_duration_seconds", factory: factory).recordNanoseconds(nanoseconds(duration))
    }

    public func exposition() -> String {
        // Read when scraped: malloc_info walks every arena, which is not worth doing per job.
        if let arenas = ImageEngine.mallocArenaCount { mallocArenas.set(arenas) }
        return registry.emitToString()
    }

    private func nanoseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }
}

/// Counts, times and sizes every request by route pattern and status. It sits outside the
/// error middleware so it sees the statuses clients get.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        metrics.inFlight.increment()
        let bytesIn = request.headers[.contentLength].flatMap(Int.init) ?? 0
        func record(_ status: Int, _ bytesOut: Int) {
            metrics.inFlight.decrement()
            // Unknown paths share one label, so scanners cannot blow up the series count.
            let route = context.endpointPath.flatMap { $0 == "NotFound" ? nil : $0 } ?? "unmatched"
            metrics.request(route: route, method: request.method.rawValue, status: status, duration: ContinuousClock.now - start,
                            bytesIn: bytesIn, bytesOut: bytesOut)
        }
        do {
            let response = try await next(request, context)
            record(response.status.code, response.body.contentLength ?? 0)
            return response
        } catch {
            record(APIError(error).status.code, 0)
            throw error
        }
    }
}
