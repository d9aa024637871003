//! JVM figures under the Prometheus Java client's names, labelled with pid and app so existing JVM dashboards
//! work: client_java 1.x (prometheus-metrics-instrumentation-jvm) by default, its 0.x names
//! (simpleclient_hotspot) with `metric_names = "client_java_legacy"`; the rest `wasp_jvm_`.

use crate::model::jvm::{Jvm, JvmFigures, JvmMetricNames};
use crate::model::{Collection, MetricSet};

type Labels = Vec<(&'static str, String)>;

/// The names that differ between the two clients; everything else is the same in both.
struct Names {
    area: [&'static str; 4],
    pool: [&'static str; 4],
}

const CURRENT: Names = Names {
    area: [
        "jvm_memory_used_bytes",
        "jvm_memory_committed_bytes",
        "jvm_memory_max_bytes",
        "jvm_memory_init_bytes",
    ],
    pool: [
        "jvm_memory_pool_used_bytes",
        "jvm_memory_pool_committed_bytes",
        "jvm_memory_pool_max_bytes",
        "jvm_memory_pool_init_bytes",
    ],
};

const LEGACY: Names = Names {
    area: [
        "jvm_memory_bytes_used",
        "jvm_memory_bytes_committed",
        "jvm_memory_bytes_max",
        "jvm_memory_bytes_init",
    ],
    pool: [
        "jvm_memory_pool_bytes_used",
        "jvm_memory_pool_bytes_committed",
        "jvm_memory_pool_bytes_max",
        "jvm_memory_pool_bytes_init",
    ],
};

const AREA_HELP: [&str; 4] = [
    "Used bytes of a given JVM memory area.",
    "Committed (bytes) of a given JVM memory area.",
    "Max (bytes) of a given JVM memory area.",
    "Initial bytes of a given JVM memory area.",
];

const POOL_HELP: [&str; 4] = [
    "Used bytes of a given JVM memory pool.",
    "Committed bytes of a given JVM memory pool.",
    "Max bytes of a given JVM memory pool.",
    "Initial bytes of a given JVM memory pool.",
];

/// -1 where the JVM says undefined, as MemoryUsage.getMax() does.
fn or_undefined(v: Option<u64>) -> f64 {
    v.map(|v| v as f64).unwrap_or(-1.0)
}

pub(super) fn add(c: &Collection, m: &mut MetricSet, names: JvmMetricNames) {
    for j in &c.jvms {
        let id: Labels = vec![("pid", j.pid.to_string()), ("app", j.app.clone())];
        let with = |k: &'static str, v: &str| {
            let mut l = id.clone();
            l.push((k, v.to_string()));
            l
        };
        let mut info = id.clone();
        info.push(("version", j.version.clone().unwrap_or_default()));
        info.push(("vendor", j.vendor.clone().unwrap_or_default()));
        info.push(("gc", j.gc.clone().unwrap_or_default()));
        info.push(("user", j.user.clone()));
        m.gauge("wasp_jvm_info", "A JVM found on the host (value 1).")
            .push(info, 1.0);
        m.gauge(
            "wasp_jvm_up",
            "1 when the JVM's hsperfdata counters could be read.",
        )
        .push(id.clone(), if j.measurable { 1.0 } else { 0.0 });
        if j.measurable {
            runtime_info(j, &id, m, names);
        }
        process(j, &id, m);
        let Some(f) = &j.figures else { continue };
        let n = match names {
            JvmMetricNames::ClientJava => &CURRENT,
            JvmMetricNames::ClientJavaLegacy => &LEGACY,
        };
        // Non-heap is left out: the JVM counts the code heap pools in it, and hsperfdata has no code cache
        // counters, so any figure would be short (docs/jvm-metrics.md). Its Metaspace pools are below.
        let (l, area) = (with("area", "heap"), &f.heap);
        m.gauge(n.area[0], AREA_HELP[0])
            .push(l.clone(), area.used as f64);
        m.gauge(n.area[1], AREA_HELP[1])
            .push(l.clone(), area.committed as f64);
        m.gauge(n.area[2], AREA_HELP[2])
            .push(l.clone(), or_undefined(area.max));
        if let Some(init) = area.init {
            m.gauge(n.area[3], AREA_HELP[3]).push(l, init as f64);
        }
        for p in &f.pools {
            let l = with("pool", &p.name);
            m.gauge(n.pool[0], POOL_HELP[0])
                .push(l.clone(), p.used as f64);
            m.gauge(n.pool[1], POOL_HELP[1])
                .push(l.clone(), p.committed as f64);
            m.gauge(n.pool[2], POOL_HELP[2])
                .push(l.clone(), or_undefined(p.max));
            if let Some(init) = p.init {
                m.gauge(n.pool[3], POOL_HELP[3]).push(l, init as f64);
            }
        }
        for g in &f.collectors {
            m.summary(
                "jvm_gc_collection_seconds",
                "Time spent in a given JVM garbage collector in seconds.",
            )
            .observe(with("gc", &g.name), g.count as f64, g.seconds);
        }
        threads_and_classes(f, &id, m);
        wasp_figures(f, &id, m);
    }
}

/// client_java 1.x: jvm_runtime_info{runtime,vendor,version}; 0.x: jvm_info with the same labels.
fn runtime_info(j: &Jvm, id: &Labels, m: &mut MetricSet, names: JvmMetricNames) {
    let (name, help) = match names {
        JvmMetricNames::ClientJava => ("jvm_runtime_info", "JVM runtime info"),
        JvmMetricNames::ClientJavaLegacy => ("jvm_info", "VM version info"),
    };
    let mut l = id.clone();
    l.push(("runtime", j.runtime.clone().unwrap_or_default()));
    l.push(("vendor", j.vendor.clone().unwrap_or_default()));
    l.push(("version", j.version.clone().unwrap_or_default()));
    m.gauge(name, help).push(l, 1.0);
}

/// client_java's ProcessMetrics of the JVM's own process (the same names in 1.x and 0.x).
fn process(j: &Jvm, id: &Labels, m: &mut MetricSet) {
    let Some(p) = &j.process else { return };
    m.counter(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
    )
    .push(id.clone(), p.cpu_seconds);
    m.gauge(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
    )
    .push(id.clone(), p.start_time_seconds);
    m.gauge(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
    )
    .push(id.clone(), p.resident_bytes as f64);
    m.gauge(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
    )
    .push(id.clone(), p.virtual_bytes as f64);
    if let Some(v) = p.open_fds {
        m.gauge("process_open_fds", "Number of open file descriptors.")
            .push(id.clone(), v as f64);
    }
    if let Some(v) = p.max_fds {
        m.gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
        )
        .push(id.clone(), v as f64);
    }
}

fn threads_and_classes(f: &JvmFigures, id: &Labels, m: &mut MetricSet) {
    m.gauge("jvm_threads_current", "Current thread count of a JVM")
        .push(id.clone(), f.threads_live as f64);
    m.gauge("jvm_threads_daemon", "Daemon thread count of a JVM")
        .push(id.clone(), f.threads_daemon as f64);
    m.gauge("jvm_threads_peak", "Peak thread count of a JVM")
        .push(id.clone(), f.threads_peak as f64);
    m.counter("jvm_threads_started_total", "Started thread count of a JVM")
        .push(id.clone(), f.threads_started as f64);
    m.gauge(
        "jvm_classes_currently_loaded",
        "The number of classes that are currently loaded in the JVM",
    )
    .push(id.clone(), (f.classes_loaded - f.classes_unloaded) as f64);
    m.counter(
        "jvm_classes_loaded_total",
        "The total number of classes that have been loaded since the JVM has started execution",
    )
    .push(id.clone(), f.classes_loaded as f64);
    m.counter(
        "jvm_classes_unloaded_total",
        "The total number of classes that have been unloaded since the JVM has started execution",
    )
    .push(id.clone(), f.classes_unloaded as f64);
}

fn wasp_figures(f: &JvmFigures, id: &Labels, m: &mut MetricSet) {
    if let Some(v) = f.gc_overhead_pct {
        m.gauge(
            "wasp_jvm_gc_overhead_percent",
            "Share of the last interval spent in GC pauses.",
        )
        .push(id.clone(), v);
    }
    if let Some(v) = f.alloc_bytes_per_s {
        m.gauge(
            "wasp_jvm_eden_fill_bytes_per_second",
            "Eden filled per second over the last interval, a whole eden per young GC: an allocation estimate.",
        )
        .push(id.clone(), v);
    }
    if let Some(v) = f.old_after_gc {
        m.gauge(
            "wasp_jvm_old_after_gc_bytes",
            "Old generation used right after the last full GC or concurrent cycle.",
        )
        .push(id.clone(), v as f64);
    }
    if let Some(v) = f.old_after_gc_pct {
        m.gauge(
            "wasp_jvm_old_after_gc_percent",
            "Old generation used after the last full GC, % of its max.",
        )
        .push(id.clone(), v);
    }
    m.counter("wasp_jvm_safepoints_total", "Safepoints reached.")
        .push(id.clone(), f.safepoints as f64);
    m.counter(
        "wasp_jvm_safepoint_seconds_total",
        "Time spent at safepoints.",
    )
    .push(id.clone(), f.safepoint_seconds);
    m.counter(
        "wasp_jvm_jit_compile_seconds_total",
        "Time the JIT compilers spent.",
    )
    .push(id.clone(), f.jit_seconds);
    m.gauge("wasp_jvm_uptime_seconds", "Seconds since the JVM started.")
        .push(id.clone(), f.uptime_seconds);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::jvm::{Area, GcCollector, Pool, ProcessStats};

    fn collection() -> Collection {
        let f = JvmFigures {
            heap: Area {
                used: 10,
                committed: 20,
                max: Some(40),
                init: None,
            },
            nonheap: Area {
                used: 5,
                committed: 6,
                max: None,
                init: None,
            },
            pools: vec![Pool {
                name: "G1 Eden Space".into(),
                used: 3,
                committed: 4,
                max: None,
                init: None,
            }],
            collectors: vec![GcCollector {
                name: "G1 Young Generation".into(),
                kind: "young".into(),
                count: 7,
                seconds: 0.5,
            }],
            ..Default::default()
        };
        let j = Jvm {
            pid: 42,
            app: "shop".into(),
            measurable: true,
            version: Some("17.0.9+9".into()),
            vendor: Some("Debian".into()),
            runtime: Some("OpenJDK Runtime Environment".into()),
            figures: Some(f),
            process: Some(ProcessStats {
                cpu_seconds: 1.5,
                start_time_seconds: 1e9,
                resident_bytes: 100,
                virtual_bytes: 200,
                open_fds: Some(9),
                max_fds: None,
            }),
            ..Default::default()
        };
        Collection {
            jvms: vec![j],
            ..Default::default()
        }
    }

    fn text(names: JvmMetricNames) -> String {
        let mut m = MetricSet::new(0);
        add(&collection(), &mut m, names);
        let mut out = String::new();
        crate::present::prom::render(&m, &[], &mut out);
        out
    }

    #[test]
    fn client_java_names_with_undefined_max_and_a_gc_summary() {
        let t = text(JvmMetricNames::ClientJava);
        for line in [
            "jvm_memory_used_bytes{pid=\"42\",app=\"shop\",area=\"heap\"} 10\n",
            "jvm_memory_max_bytes{pid=\"42\",app=\"shop\",area=\"heap\"} 40\n",
            "jvm_memory_pool_max_bytes{pid=\"42\",app=\"shop\",pool=\"G1 Eden Space\"} -1\n",
            "# TYPE jvm_gc_collection_seconds summary\n",
            "jvm_gc_collection_seconds_count{pid=\"42\",app=\"shop\",gc=\"G1 Young Generation\"} 7\n",
            "jvm_gc_collection_seconds_sum{pid=\"42\",app=\"shop\",gc=\"G1 Young Generation\"} 0.5\n",
            "jvm_runtime_info{pid=\"42\",app=\"shop\",runtime=\"OpenJDK Runtime Environment\",vendor=\"Debian\",version=\"17.0.9+9\"} 1\n",
            "process_cpu_seconds_total{pid=\"42\",app=\"shop\"} 1.5\n",
            "process_open_fds{pid=\"42\",app=\"shop\"} 9\n",
        ] {
            assert!(t.contains(line), "{line} missing from\n{t}");
        }
        // Absent rather than wrong: no init in hsperfdata here, no soft limit.
        assert!(!t.contains("jvm_memory_init_bytes") && !t.contains("process_max_fds"));
        assert!(!t.contains("nonheap"));
        assert!(!t.contains("jvm_memory_bytes_used") && !t.contains("\njvm_info{"));
    }

    #[test]
    fn legacy_names_for_0x_dashboards() {
        let t = text(JvmMetricNames::ClientJavaLegacy);
        assert!(t.contains("jvm_memory_bytes_used{pid=\"42\",app=\"shop\",area=\"heap\"} 10\n"));
        assert!(t.contains(
            "jvm_memory_pool_bytes_committed{pid=\"42\",app=\"shop\",pool=\"G1 Eden Space\"} 4\n"
        ));
        assert!(t.contains("jvm_info{pid=\"42\",app=\"shop\",runtime=\"OpenJDK Runtime Environment\",vendor=\"Debian\",version=\"17.0.9+9\"} 1\n"));
        assert!(t.contains("jvm_gc_collection_seconds_count{"));
        assert!(!t.contains("jvm_memory_used_bytes") && !t.contains("jvm_runtime_info"));
    }
}
