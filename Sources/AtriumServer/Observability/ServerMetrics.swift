import AtriumML
import Hummingbird
import Prometheus
import Synchronization

/// The Prometheus series Atrium exposes on `/metrics`.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
        .milliseconds(500), .seconds(1), .seconds(5), .seconds(30), .seconds(120),
    ]

    private struct RequestSeries: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    /// The registry looks series up by name and labels under a lock and builds strings to do it; the
    /// request path keeps its own handles instead.
    private let requestSeries = Mutex<[RequestSeries: (Counter, DurationHistogram)]>([:])

    /// Requests the fast lane answered itself (the rest of `/v1` went through the router).
    let fastLaneAnswers: Counter
    /// Usage records the group commits have written to the ledger.
    let usageRecordsCommitted: Counter

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.fastLaneAnswers = registry.makeCounter(
            name: "atrium_fast_lane_answers_total", help: "Model API requests answered on the event loop's fast lane.")
        self.usageRecordsCommitted = registry.makeCounter(
            name: "atrium_usage_records_committed_total", help: "Usage records written to the ledger by group commits.")
    }

    func recordRequest(route: String, method: String, status: Int, duration: Duration) {
        let series = Self.series(in: requestSeries, for: RequestSeries(route: route, method: method, status: status)) {
            (
                registry.makeCounter(
                    name: "atrium_http_requests_total",
                    labels: [("route", route), ("method", method), ("status", String(status))],
                    help: "HTTP requests by route, method and status."),
                registry.makeDurationHistogram(
                    name: "atrium_http_request_duration_seconds", labels: [("route", route)], buckets: Self.latencyBuckets,
                    help: "Time to the response head.")
            )
        }
        series.0.increment()
        series.1.record(duration)
    }

    /// The handles kept in `cache` for `key`, made by `make` the first time.
    private static func series<Key: Hashable & Sendable, Handles: Sendable>(
        in cache: borrowing Mutex<[Key: Handles]>, for key: Key, make: () -> Handles
    ) -> Handles {
        cache.withLock { cache in
            if let series = cache[key] { return series }
            let series = make()
            cache[key] = series
            return series
        }
    }

    private struct UpstreamSeries: Hashable {
        var provider: String
        var operation: String
        var outcome: String
    }

    private let upstreamSeries = Mutex<[UpstreamSeries: (Counter, DurationHistogram)]>([:])

    func recordUpstream(provider: String, operation: String, outcome: String, duration: Duration) {
        let key = UpstreamSeries(provider: provider, operation: operation, outcome: outcome)
        let series = Self.series(in: upstreamSeries, for: key) {
            (
                registry.makeCounter(
                    name: "atrium_upstream_requests_total", labels: [("provider", provider), ("operation", operation), ("outcome", outcome)],
                    help: "Requests sent to providers, by outcome."),
                registry.makeDurationHistogram(
                    name: "atrium_upstream_latency_seconds", labels: [("provider", provider)], buckets: Self.latencyBuckets,
                    help: "Time until a provider's answer (its first chunk for streams).")
            )
        }
        series.0.increment()
        series.1.record(duration)
    }

    private let tokenSeries = Mutex<[String: (prompt: Counter, completion: Counter)]>([:])

    /// The embedded generation engine of `model` as it stands (read when `/metrics` is rendered).
    func recordEngine(model: String, statistics: GenerationEngine.Statistics) {
        func gauge(_ name: String, _ help: String, _ value: Int) {
            registry.makeGauge(name: name, labels: [("model", model)], help: help).set(Int64(value))
        }
        gauge("atrium_engine_running_sequences", "Sequences the generation engine is decoding.", statistics.running)
        gauge("atrium_engine_queued_requests", "Requests waiting for a seat in the generation engine.", statistics.queued)
        gauge("atrium_engine_kv_positions_in_use", "Key/value cache positions held by running sequences and kept prefixes.", statistics.positionsInUse)
        gauge("atrium_engine_generated_tokens", "Tokens the generation engine has generated since it started.", statistics.generatedTokens)
        gauge("atrium_engine_cached_prompt_tokens", "Prompt tokens taken from kept prefixes instead of computed.", statistics.cachedPromptTokens)
        gauge("atrium_engine_preemptions", "Sequences set back to free key/value memory.", statistics.preemptions)
    }

    func recordTokens(model: String, prompt: Int, completion: Int) {
        let series = Self.series(in: tokenSeries, for: model) {
            (
                prompt: registry.makeCounter(name: "atrium_tokens_total", labels: [("model", model), ("kind", "prompt")], help: "Tokens processed."),
                completion: registry.makeCounter(name: "atrium_tokens_total", labels: [("model", model), ("kind", "completion")], help: "Tokens processed.")
            )
        }
        if prompt > 0 { series.prompt.increment(by: Int64(prompt)) }
        if completion > 0 { series.completion.increment(by: Int64(completion)) }
    }

    func render() -> ByteBuffer {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return ByteBuffer(bytes: bytes)
    }
}

/// Counts every request by its route pattern (not its raw path, which would explode the label set).
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = AtriumRequestContext
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        metrics.recordRequest(
            route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code,
            duration: .now - start)
        return response
    }
}
