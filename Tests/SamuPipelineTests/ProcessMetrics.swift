import Metrics
import MetricsTestKit

/// swift-metrics for the whole test process: bootstrapped once, with MetricsTestKit's recorder,
/// before any in-process worker or server makes a metric (``PipelineHarness`` touches it first).
/// The executables bootstrap Prometheus instead (`SamuMetrics.bootstrap()`).
enum ProcessMetrics {
    static let recorder: TestMetrics = {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()
}
