//! The Prometheus Java client's hotspot names (jvm_memory_*, jvm_gc_collection_seconds, jvm_threads_*,
//! jvm_classes_*), labelled with pid and app so existing JVM dashboards work; the rest `wasp_jvm_`.

use crate::model::{Collection, MetricSet};

pub(super) fn add(c: &Collection, m: &mut MetricSet) {
    for j in &c.jvms {
        let id = || vec![("pid", j.pid.to_string()), ("app", j.app.clone())];
        let with = |k: &'static str, v: String| {
            let mut l = id();
            l.push((k, v));
            l
        };
        let mut info = id();
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
        .push(id(), if j.measurable { 1.0 } else { 0.0 });
        let Some(f) = &j.figures else { continue };
        let used = m.gauge(
            "jvm_memory_bytes_used",
            "Used bytes of a given JVM memory area.",
        );
        used.push(with("area", "heap".into()), f.heap.used as f64);
        used.push(with("area", "nonheap".into()), f.nonheap.used as f64);
        let com = m.gauge(
            "jvm_memory_bytes_committed",
            "Committed (bytes) of a given JVM memory area.",
        );
        com.push(with("area", "heap".into()), f.heap.committed as f64);
        com.push(with("area", "nonheap".into()), f.nonheap.committed as f64);
        let mx = m.gauge(
            "jvm_memory_bytes_max",
            "Max (bytes) of a given JVM memory area.",
        );
        mx.push(
            with("area", "heap".into()),
            f.heap.max.map(|v| v as f64).unwrap_or(-1.0),
        );
        mx.push(
            with("area", "nonheap".into()),
            f.nonheap.max.map(|v| v as f64).unwrap_or(-1.0),
        );
        for p in &f.pools {
            m.gauge(
                "jvm_memory_pool_bytes_used",
                "Used bytes of a given JVM memory pool.",
            )
            .push(with("pool", p.name.clone()), p.used as f64);
            m.gauge(
                "jvm_memory_pool_bytes_committed",
                "Committed bytes of a given JVM memory pool.",
            )
            .push(with("pool", p.name.clone()), p.committed as f64);
            m.gauge(
                "jvm_memory_pool_bytes_max",
                "Max bytes of a given JVM memory pool.",
            )
            .push(
                with("pool", p.name.clone()),
                p.max.map(|v| v as f64).unwrap_or(-1.0),
            );
        }
        for g in &f.collectors {
            m.counter(
                "jvm_gc_collection_seconds_count",
                "Collections of a given JVM garbage collector.",
            )
            .push(with("gc", g.name.clone()), g.count as f64);
            m.counter(
                "jvm_gc_collection_seconds_sum",
                "Time spent in a given JVM garbage collector in seconds.",
            )
            .push(with("gc", g.name.clone()), g.seconds);
        }
        m.gauge("jvm_threads_current", "Current thread count of a JVM.")
            .push(id(), f.threads_live as f64);
        m.gauge("jvm_threads_daemon", "Daemon thread count of a JVM.")
            .push(id(), f.threads_daemon as f64);
        m.gauge("jvm_threads_peak", "Peak thread count of a JVM.")
            .push(id(), f.threads_peak as f64);
        m.counter(
            "jvm_threads_started_total",
            "Started thread count of a JVM.",
        )
        .push(id(), f.threads_started as f64);
        m.gauge(
            "jvm_classes_currently_loaded",
            "The number of classes that are currently loaded in the JVM.",
        )
        .push(id(), (f.classes_loaded - f.classes_unloaded) as f64);
        m.counter(
            "jvm_classes_loaded_total",
            "The total number of classes that have been loaded since the JVM started.",
        )
        .push(id(), f.classes_loaded as f64);
        m.counter(
            "jvm_classes_unloaded_total",
            "The total number of classes unloaded since the JVM started.",
        )
        .push(id(), f.classes_unloaded as f64);
        if let Some(v) = f.gc_overhead_pct {
            m.gauge(
                "wasp_jvm_gc_overhead_percent",
                "Share of the last interval spent in GC pauses.",
            )
            .push(id(), v);
        }
        if let Some(v) = f.alloc_bytes_per_s {
            m.gauge(
                "wasp_jvm_allocation_bytes_per_second",
                "Heap allocation rate over the last interval (from eden).",
            )
            .push(id(), v);
        }
        if let Some(v) = f.old_after_gc {
            m.gauge(
                "wasp_jvm_old_after_gc_bytes",
                "Old generation used right after the last full GC or concurrent cycle.",
            )
            .push(id(), v as f64);
        }
        if let Some(v) = f.old_after_gc_pct {
            m.gauge(
                "wasp_jvm_old_after_gc_percent",
                "Old generation used after the last full GC, % of its max.",
            )
            .push(id(), v);
        }
        m.counter("wasp_jvm_safepoints_total", "Safepoints reached.")
            .push(id(), f.safepoints as f64);
        m.counter(
            "wasp_jvm_safepoint_seconds_total",
            "Time spent at safepoints.",
        )
        .push(id(), f.safepoint_seconds);
        m.counter(
            "wasp_jvm_jit_compile_seconds_total",
            "Time the JIT compilers spent.",
        )
        .push(id(), f.jit_seconds);
        m.gauge("wasp_jvm_uptime_seconds", "Seconds since the JVM started.")
            .push(id(), f.uptime_seconds);
    }
}
