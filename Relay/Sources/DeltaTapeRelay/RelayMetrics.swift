// The relay's metrics go through swift-metrics' API onto a Prometheus registry of the relay's own (not the
// process-wide MetricsSystem, which can be bootstrapped once: a process may run several relays, tests do).
import CoreMetrics
import Prometheus
import Synchronization

/// Counters and gauges of one relay, served as Prometheus text on `GET /metrics`.
final class RelayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let connectionsActive: CoreMetrics.Gauge
    let connectionsTotal: CoreMetrics.Counter
    let framesToUpstream: CoreMetrics.Counter
    let framesToClient: CoreMetrics.Counter
    let bytesToUpstream: CoreMetrics.Counter
    let bytesToClient: CoreMetrics.Counter
    let recordingsFinished: CoreMetrics.Counter
    let recordingsAbandoned: CoreMetrics.Counter
    let recordingLag: CoreMetrics.Gauge
    let recordingMemory: CoreMetrics.Gauge
    /// 1 once a drain began (the relay takes no more sessions; `connections_active` are the sessions left).
    let draining: CoreMetrics.Gauge
    private let factory: PrometheusMetricsFactory
    private let active = Atomic<Int>(0)

    init() {
        let factory = PrometheusMetricsFactory(registry: registry)
        self.factory = factory
        connectionsActive = CoreMetrics.Gauge(label: "deltatape_relay_connections_active", factory: factory)
        connectionsTotal = CoreMetrics.Counter(label: "deltatape_relay_connections_total", factory: factory)
        framesToUpstream = CoreMetrics.Counter(label: "deltatape_relay_frames_total", dimensions: [("direction", "client_to_upstream")], factory: factory)
        framesToClient = CoreMetrics.Counter(label: "deltatape_relay_frames_total", dimensions: [("direction", "upstream_to_client")], factory: factory)
        bytesToUpstream = CoreMetrics.Counter(label: "deltatape_relay_bytes_total", dimensions: [("direction", "client_to_upstream")], factory: factory)
        bytesToClient = CoreMetrics.Counter(label: "deltatape_relay_bytes_total", dimensions: [("direction", "upstream_to_client")], factory: factory)
        recordingsFinished = CoreMetrics.Counter(label: "deltatape_relay_recordings_finished_total", factory: factory)
        recordingsAbandoned = CoreMetrics.Counter(label: "deltatape_relay_recordings_abandoned_total", factory: factory)
        recordingLag = CoreMetrics.Gauge(label: "deltatape_relay_recording_lag_bytes", factory: factory)
        recordingMemory = CoreMetrics.Gauge(label: "deltatape_relay_recording_memory_bytes", factory: factory)
        draining = CoreMetrics.Gauge(label: "deltatape_relay_draining", factory: factory)
        connectionsActive.record(0)
        draining.record(0)
        recordingLag.record(0)
    }

    /// A connection was answered and closed before its request head was taken (`reason`: the answer's
    /// ``HeadRefusal/metricReason``).
    func refused(_ refusal: HeadRefusal) {
        CoreMetrics.Counter(label: "deltatape_relay_requests_refused_total", dimensions: [("reason", refusal.metricReason)],
                            factory: factory).increment()
    }

    /// A recording failed (`reason`: `cannot_create`, `folder_missing`, `disk_full`, `names_taken`, `write_failed`).
    func recordingFailed(reason: String) {
        CoreMetrics.Counter(label: "deltatape_relay_recordings_failed_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// A message was forwarded but not recorded.
    func messageUnrecorded(reason: UnrecordedMessage) {
        CoreMetrics.Counter(label: "deltatape_relay_messages_unrecorded_total", dimensions: [("reason", reason.metricReason)],
                            factory: factory).increment()
    }

    /// A connection began.
    func connectionOpened() {
        connectionsTotal.increment()
        connectionsActive.record(active.add(1, ordering: .relaxed).newValue)
    }

    /// A connection ended.
    func connectionClosed() {
        connectionsActive.record(active.subtract(1, ordering: .relaxed).newValue)
    }

    /// Connections open now.
    var openConnections: Int { active.load(ordering: .relaxed) }

    /// The Prometheus text exposition, with the recordings' lag and the bytes they hold of their memory budget now.
    func exposition(recordingLagBytes: Int, recordingMemoryBytes: Int) -> String {
        recordingLag.record(recordingLagBytes)
        recordingMemory.record(recordingMemoryBytes)
        return registry.emitToString()
    }
}

/// Why a message was forwarded but not recorded.
enum UnrecordedMessage: CaseIterable, Hashable, Sendable {
    /// Larger than `--max-message-bytes`.
    case tooLarge
    /// The relay's recordings held all of `--recording-memory`.
    case memoryBudget

    /// The `reason` label of `deltatape_relay_messages_unrecorded_total`.
    var metricReason: String {
        switch self {
        case .tooLarge: "too_large"
        case .memoryBudget: "memory_budget"
        }
    }

    /// How the summary line says it.
    var phrase: String {
        switch self {
        case .tooLarge: "larger than --max-message-bytes"
        case .memoryBudget: "over --recording-memory"
        }
    }
}
