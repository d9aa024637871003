//! Build-info series: wasp's own, and the node_exporter_build_info that the node-mixin's USE dashboard
//! (node-rsrc-use) takes its `$instance` dropdown from: without it that dashboard is empty on a wasp target.
//! The compatibility series carries node_exporter's label names with wasp's version, so nobody mistakes it
//! for a node_exporter release (docs/host-metrics.md).

use crate::model::MetricSet;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Go's name for the architecture, as node_exporter's goarch label gives it.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

pub(super) fn add(m: &mut MetricSet) {
    m.gauge(
        "wasp_build_info",
        "A metric with a constant '1' value labeled by wasp's version and target.",
    )
    .push(
        [
            ("version", VERSION.to_string()),
            ("arch", std::env::consts::ARCH.to_string()),
            ("os", std::env::consts::OS.to_string()),
        ],
        1.0,
    );
    m.gauge(
        "node_exporter_build_info",
        "Served by wasp for dashboards that list hosts by it (node-mixin); version is wasp's.",
    )
    .push(
        [
            ("branch", String::new()),
            ("goarch", goarch().to_string()),
            ("goos", std::env::consts::OS.to_string()),
            ("goversion", String::new()),
            ("revision", String::new()),
            ("tags", "wasp".to_string()),
            ("version", format!("wasp-{VERSION}")),
        ],
        1.0,
    );
}
