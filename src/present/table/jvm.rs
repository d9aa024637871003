//! One jstat-like line per JVM.

use crate::model::Collection;
use std::fmt::Write;

pub(super) fn render(c: &Collection, out: &mut String) {
    if c.jvms.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "    PID APP                  GC            S0     S1      E      O      M    YGC    FGC    GCT  GC%  THREADS"
    );
    for j in &c.jvms {
        let Some(s) = &j.jstat else {
            let _ = writeln!(
                out,
                "{:7} {:<20} {}",
                j.pid,
                j.app,
                j.reason.as_deref().unwrap_or("-")
            );
            continue;
        };
        let p = |v: Option<f64>| {
            v.map(|x| format!("{x:6.2}"))
                .unwrap_or_else(|| "     -".into())
        };
        let f = j.figures.as_ref();
        let _ = writeln!(
            out,
            "{:7} {:<20} {:<10} {} {} {} {} {} {:6} {:6} {:6.3} {:4} {:8}",
            j.pid,
            j.app,
            j.gc.as_deref().unwrap_or("-"),
            p(s.S0),
            p(s.S1),
            p(s.E),
            p(s.O),
            p(s.M),
            s.YGC.unwrap_or(0),
            s.FGC.unwrap_or(0),
            s.GCT,
            f.and_then(|f| f.gc_overhead_pct)
                .map(|v| format!("{v:.1}"))
                .unwrap_or("-".into()),
            f.map(|f| f.threads_live).unwrap_or(0)
        );
    }
    out.push('\n');
}
