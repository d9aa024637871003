//! `wasp jvm list` and `wasp jvm stat PID`.

use crate::config::Config;
use crate::host::Roots;
use crate::jvm::{discover, metrics, perfdata::PerfData};
use crate::model::jvm::Jstat;
use clap::{Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub enum JvmCmd {
    /// List the JVMs on this host (containers included) and why any cannot be measured.
    List,
    /// Print jstat -gc and -gcutil columns of one JVM, with jstat's own definitions.
    Stat {
        pid: u32,
        #[arg(long, short = 'f', value_enum, default_value_t = StatFormat::Table)]
        format: StatFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum StatFormat {
    Table,
    Json,
}

fn roots(cfg: &Config) -> Roots {
    Roots {
        proc: cfg.agent.proc_root.clone(),
        sys: cfg.agent.sys_root.clone(),
    }
}

pub fn run(cmd: JvmCmd, cfg: &Config) -> anyhow::Result<()> {
    let r = roots(cfg);
    match cmd {
        JvmCmd::List => {
            let mut c = crate::model::Collection::default();
            crate::jvm::JvmCollector::new(&cfg.jvm).collect(&r, &mut c)?;
            outln!(
                "{:>7} {:>7} {:<10} {:<20} {:<10} {:<10} {:>10} {:>10}  MAIN / WHY NOT MEASURABLE",
                "PID",
                "NSPID",
                "USER",
                "APP",
                "VERSION",
                "GC",
                "HEAP_MB",
                "MAX_MB"
            );
            for j in &c.jvms {
                let mb = |v: Option<u64>| {
                    v.map(|b| format!("{:.1}", b as f64 / 1048576.0))
                        .unwrap_or("-".into())
                };
                let heap = j.figures.as_ref().map(|f| f.heap.used);
                let max = j.figures.as_ref().and_then(|f| f.heap.max);
                outln!(
                    "{:>7} {:>7} {:<10} {:<20} {:<10} {:<10} {:>10} {:>10}  {}",
                    j.pid,
                    j.ns_pid,
                    j.user,
                    j.app,
                    j.version.as_deref().unwrap_or("-"),
                    j.gc.as_deref().unwrap_or("-"),
                    mb(heap),
                    mb(max),
                    j.reason.as_deref().unwrap_or(&j.main)
                );
            }
            Ok(())
        }
        JvmCmd::Stat { pid, format } => {
            let p = discover::find_with(&r, pid, &cfg.jvm)?;
            let src = p.perf_source.ok_or_else(|| {
                anyhow::anyhow!("pid {pid}: {}", p.not_measurable.unwrap_or_default())
            })?;
            let path = src.display_path();
            let pd = PerfData::read_source(&src)
                .map_err(|e| anyhow::anyhow!("pid {pid}: {}: {e}", path.display()))?;
            if let Some(why) = crate::jvm::stale(&pd, crate::jvm::start_time_secs(p.start_ticks)) {
                anyhow::bail!("pid {pid}: {}: {why}", path.display());
            }
            let j = metrics::jstat(&pd);
            match format {
                StatFormat::Json => outln!("{}", serde_json::to_string_pretty(&j)?),
                StatFormat::Table => out!("{}", jstat_table(&j)),
            }
            Ok(())
        }
    }
}

/// jstat's layout: -gc line then -gcutil line, right-aligned to jstat's column widths.
pub fn jstat_table(j: &Jstat) -> String {
    let c = metrics::cell;
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or("-".into());
    let gc_h = [
        ("S0C", 11),
        ("S1C", 11),
        ("S0U", 11),
        ("S1U", 11),
        ("EC", 12),
        ("EU", 12),
        ("OC", 12),
        ("OU", 12),
        ("MC", 10),
        ("MU", 10),
        ("CCSC", 9),
        ("CCSU", 9),
        ("YGC", 7),
        ("YGCT", 8),
        ("FGC", 7),
        ("FGCT", 8),
        ("CGC", 7),
        ("CGCT", 8),
        ("GCT", 9),
    ];
    let gc_v = [
        c(j.S0C, 1),
        c(j.S1C, 1),
        c(j.S0U, 1),
        c(j.S1U, 1),
        c(j.EC, 1),
        c(j.EU, 1),
        c(j.OC, 1),
        c(j.OU, 1),
        c(j.MC, 1),
        c(j.MU, 1),
        c(j.CCSC, 1),
        c(j.CCSU, 1),
        n(j.YGC),
        c(j.YGCT, 3),
        n(j.FGC),
        c(j.FGCT, 3),
        n(j.CGC),
        c(j.CGCT, 3),
        c(Some(j.GCT), 3),
    ];
    let util_h = [
        ("S0", 6),
        ("S1", 6),
        ("E", 6),
        ("O", 6),
        ("M", 6),
        ("CCS", 6),
        ("YGC", 7),
        ("YGCT", 8),
        ("FGC", 7),
        ("FGCT", 8),
        ("CGC", 7),
        ("CGCT", 8),
        ("GCT", 9),
    ];
    let util_v = [
        c(j.S0, 2),
        c(j.S1, 2),
        c(j.E, 2),
        c(j.O, 2),
        c(j.M, 2),
        c(j.CCS, 2),
        n(j.YGC),
        c(j.YGCT, 3),
        n(j.FGC),
        c(j.FGCT, 3),
        n(j.CGC),
        c(j.CGCT, 3),
        c(Some(j.GCT), 3),
    ];
    let mut out = String::new();
    for (h, v) in [(&gc_h[..], &gc_v[..]), (&util_h[..], &util_v[..])] {
        for (name, w) in h {
            out.push_str(&format!("{name:>w$}"));
        }
        out.push('\n');
        for ((_, w), val) in h.iter().zip(v) {
            out.push_str(&format!("{val:>w$}"));
        }
        out.push_str("\n\n");
    }
    out
}
