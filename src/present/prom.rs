//! The Prometheus text exposition format (version 0.0.4) of a [`MetricSet`].

use crate::model::{MetricKind, MetricSet};
use std::fmt::Write;

/// Renders `set`, adding `common` labels (the agent's configured labels) to every sample.
pub fn render(set: &MetricSet, common: &[(String, String)], out: &mut String) {
    for fam in &set.families {
        if fam.samples.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", fam.name, escape_help(&fam.help));
        let kind = match fam.kind {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
            MetricKind::Untyped => "untyped",
            MetricKind::Summary => "summary",
            MetricKind::Histogram => "histogram",
        };
        let _ = writeln!(out, "# TYPE {} {}", fam.name, kind);
        for (suffix, s, le, value) in fam.series() {
            out.push_str(&fam.name);
            out.push_str(suffix);
            let mut first = true;
            let labels = s
                .labels
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_ref()))
                .chain(le.map(|le| ("le", le)))
                .chain(common.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            for (k, v) in labels {
                out.push(if first { '{' } else { ',' });
                first = false;
                out.push_str(k);
                out.push_str("=\"");
                escape_label(v, out);
                out.push('"');
            }
            if !first {
                out.push('}');
            }
            out.push(' ');
            format_value(value, out);
            out.push('\n');
        }
    }
}

pub fn format_value(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_with_escaping() {
        let mut m = MetricSet::new(0);
        m.counter(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
        )
        .push([("cpu", "0"), ("mode", "idle")], 12.5);
        m.gauge("node_load1", "1m load average.").set(0.5);
        m.gauge("wasp_x", "x").push([("name", "a\"b\\c\nd")], 1.0);
        m.summary("jvm_gc_collection_seconds", "GC time.").observe(
            [("gc", "G1 Young Generation")],
            3.0,
            0.25,
        );
        let mut out = String::new();
        render(&m, &[("env".into(), "prod".into())], &mut out);
        assert!(out.contains("# TYPE node_cpu_seconds_total counter\n"));
        assert!(
            out.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\",env=\"prod\"} 12.5\n")
        );
        assert!(out.contains("node_load1{env=\"prod\"} 0.5\n"));
        assert!(out.contains(
            "# TYPE jvm_gc_collection_seconds summary\n\
             jvm_gc_collection_seconds_count{gc=\"G1 Young Generation\",env=\"prod\"} 3\n\
             jvm_gc_collection_seconds_sum{gc=\"G1 Young Generation\",env=\"prod\"} 0.25\n"
        ));
        assert!(out.contains("wasp_x{name=\"a\\\"b\\\\c\\nd\",env=\"prod\"} 1\n"));
    }
}
