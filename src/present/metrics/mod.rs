//! A collection as metric samples: the one mapping that the exposition and every metric sink share.

mod access;
mod build;
mod jvm;
mod kernel;
mod storage_net;
mod system;

use crate::model::jvm::JvmMetricNames;
use crate::model::{Collection, MetricSet};

/// The samples of `c`, JVM figures under client_java 1.x names.
pub fn from_collection(c: &Collection) -> MetricSet {
    from_collection_named(c, JvmMetricNames::ClientJava)
}

/// The samples of `c`, JVM figures under the names `jvm_names` chooses (`[jvm] metric_names`).
pub fn from_collection_named(c: &Collection, jvm_names: JvmMetricNames) -> MetricSet {
    let mut m = MetricSet::new(c.timestamp_ms);
    system::add(c, &mut m);
    kernel::add(c, &mut m);
    storage_net::add(c, &mut m);
    jvm::add(c, &mut m, jvm_names);
    build::add(&mut m);
    access::add(c, &mut m);
    m.gauge(
        "wasp_collector_errors",
        "Collectors that failed in the last collection (1 per failing collector).",
    );
    for e in &c.errors {
        m.gauge("wasp_collector_errors", "")
            .push([("collector", e.collector.clone())], 1.0);
    }
    let t = m.gauge(
        "wasp_collector_duration_seconds",
        "How long each collector took in the last collection.",
    );
    for (name, secs) in &c.timings {
        t.push([("collector", name.clone())], *secs);
    }
    m
}
