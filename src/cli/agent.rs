//! `wasp trigger`, `wasp status` (through the control socket) and `wasp incidents` (from the data dir).

use crate::config::Config;
use crate::config::units::Dur;
use crate::control::ControlRequest;
use crate::control::client::call;
use crate::snapshot::request::{Kind, Select};
use crate::snapshot::store;
use crate::snapshot::store::utc;
use clap::{Subcommand, ValueEnum};
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// One thread dump per JVM.
    Dump,
    /// One class histogram per JVM.
    Histo,
    /// An incident bundle: dumps apart in time, histogram, sockets, open files, process and host figures.
    Bundle,
}

#[derive(Debug, clap::Args)]
pub struct TriggerArgs {
    pub kind: KindArg,
    /// Only this JVM.
    #[arg(long, conflicts_with = "app")]
    pub pid: Option<u32>,
    /// Only the JVMs with this app name (as `wasp jvm list` shows it).
    #[arg(long)]
    pub app: Option<String>,
    /// How long to wait for the snapshot to be written; "0s" answers as soon as it is queued.
    #[arg(long, default_value = "2m")]
    pub wait: Dur,
    /// Why, in your words ("checkout slow since 14:02"); kept in the snapshot's report and context.
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = OutFormat::Text)]
    pub format: OutFormat,
}

#[derive(Debug, clap::Args)]
pub struct IncidentsArgs {
    #[command(subcommand)]
    pub cmd: Option<IncidentsCmd>,
    /// Output format of the list.
    #[arg(long, short = 'f', value_enum, default_value_t = OutFormat::Text)]
    pub format: OutFormat,
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCmd {
    /// Print one incident: its report first, then every other file.
    Show {
        /// The id `wasp incidents` lists, or any part of it that names only one.
        id: String,
        /// Only this file of it (e.g. report.txt).
        #[arg(long)]
        file: Option<String>,
    },
}

fn socket(cfg: &Config) -> std::path::PathBuf {
    crate::paths::socket_path(cfg)
}

pub fn trigger(a: TriggerArgs, cfg: &Config) -> anyhow::Result<()> {
    let kind = match a.kind {
        KindArg::Dump => Kind::Dump,
        KindArg::Histo => Kind::Histo,
        KindArg::Bundle => Kind::Bundle,
    };
    let select = match (a.pid, a.app) {
        (Some(p), _) => Select::Pid(p),
        (None, Some(n)) => Select::App(n),
        (None, None) => Select::All,
    };
    let what = format!("{} of {select}", kind.as_str());
    let req = ControlRequest::Trigger {
        kind,
        select,
        wait_ms: a.wait.0.as_millis() as u64,
        note: a.note,
    };
    let path = socket(cfg);
    let v = call(&path, &req, a.wait.0 + Duration::from_secs(10))?;
    if v["ok"] != Value::Bool(true) {
        anyhow::bail!(
            "{what} refused: {}",
            v["error"].as_str().unwrap_or("no reason given")
        );
    }
    let seq = v["seq"].as_u64().unwrap_or(0);
    if let Some(into) = v["coalesced_into"].as_u64() {
        outln!(
            "an equal {what} (#{into}) was queued, running or just taken ([snapshots] min_gap): answered by it"
        );
    }
    let rec = &v["record"];
    match rec["state"].as_str() {
        Some("done") => {
            outln!(
                "{what} written in {:.1} s: {}",
                rec["took_ms"].as_f64().unwrap_or(0.0) / 1000.0,
                rec["path"].as_str().unwrap_or("?")
            );
            outln!("id: {}", rec["id"].as_str().unwrap_or("?"));
            outln!("JVMs: {}", list(&rec["jvms"]));
            for e in rec["errors"].as_array().into_iter().flatten() {
                outln!("not taken: {}", e.as_str().unwrap_or_default());
            }
            Ok(())
        }
        Some("failed") => anyhow::bail!(
            "{what} failed: {}",
            rec["error"].as_str().unwrap_or("no reason given")
        ),
        Some(s) => {
            outln!("{what} queued as #{seq} ({s}); `wasp status` shows when it is written");
            Ok(())
        }
        None => {
            outln!(
                "{what} queued as #{seq}; it left the list of recent triggers, see `wasp incidents`"
            );
            Ok(())
        }
    }
}

fn list(v: &Value) -> String {
    let items: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| match x {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

pub fn status(a: StatusArgs, cfg: &Config) -> anyhow::Result<()> {
    let v = call(
        &socket(cfg),
        &ControlRequest::Status {},
        Duration::from_secs(10),
    )?;
    if v["ok"] != Value::Bool(true) {
        anyhow::bail!("{}", v["error"].as_str().unwrap_or("status refused"));
    }
    match a.format {
        OutFormat::Json => outln!("{}", serde_json::to_string_pretty(&v["sections"])?),
        OutFormat::Text => out!("{}", status_text(&v["sections"])),
    }
    Ok(())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn ago(secs: f64) -> String {
    if secs < 120.0 {
        format!("{secs:.1} s ago")
    } else {
        format!("{:.0} min ago", secs / 60.0)
    }
}

/// The text view: the sections it knows laid out for reading, any other section as key: value lines.
pub fn status_text(sections: &Value) -> String {
    let mut s = String::new();
    for sec in sections.as_array().into_iter().flatten() {
        let name = sec[0].as_str().unwrap_or("?");
        let v = &sec[1];
        match name {
            "agent" => {
                let _ = writeln!(
                    s,
                    "agent: pid {}, version {}, up {} s, config {}",
                    scalar(&v["pid"]),
                    scalar(&v["version"]),
                    scalar(&v["uptime_s"]),
                    scalar(&v["config"])
                );
                let _ = writeln!(
                    s,
                    "  data dir {}, control socket {} (refused peers {})",
                    scalar(&v["data_dir"]),
                    scalar(&v["control_socket"]),
                    scalar(&v["control_refused_peers"])
                );
            }
            "collection" => {
                let _ = writeln!(
                    s,
                    "collection: every {} s, last {} ({}), took {:.1} ms",
                    v["interval_s"].as_f64().unwrap_or(0.0),
                    scalar(&v["last"]),
                    v["age_s"].as_f64().map(ago).unwrap_or("never".into()),
                    v["took_ms"].as_f64().unwrap_or(0.0)
                );
                for e in v["errors"].as_array().into_iter().flatten() {
                    let _ = writeln!(s, "  error: {}", scalar(e));
                }
                let jvms = v["jvms"].as_array().cloned().unwrap_or_default();
                let _ = writeln!(s, "JVMs watched: {}", jvms.len());
                if !jvms.is_empty() {
                    let _ = writeln!(s, "  {:>8}  {:<24} {:<12} MAIN", "PID", "APP", "USER");
                }
                for j in &jvms {
                    let _ = writeln!(
                        s,
                        "  {:>8}  {:<24} {:<12} {}{}",
                        scalar(&j["pid"]),
                        scalar(&j["app"]),
                        scalar(&j["user"]),
                        scalar(&j["main"]),
                        j["reason"]
                            .as_str()
                            .map(|r| format!("  (not measurable: {r})"))
                            .unwrap_or_default()
                    );
                }
                let logs = v["access_logs"].as_array().cloned().unwrap_or_default();
                if !logs.is_empty() {
                    let _ = writeln!(s, "access logs: {}", logs.len());
                    let _ = writeln!(
                        s,
                        "  {:<20} {:>8}  {:<22} {:>8} {:>8} {:>6} {:>10} {:>9}",
                        "APP", "PID", "LOG", "REQ/s", "P95ms", "ERR%", "REQUESTS", "UNMATCHED"
                    );
                }
                let f1 = |x: &serde_json::Value| {
                    x.as_f64().map(|f| format!("{f:.1}")).unwrap_or("-".into())
                };
                for a in &logs {
                    let _ = writeln!(
                        s,
                        "  {:<20} {:>8}  {:<22} {:>8} {:>8} {:>6} {:>10} {:>9}",
                        scalar(&a["app"]),
                        scalar(&a["pid"]),
                        scalar(&a["log"]),
                        f1(&a["tps"]),
                        f1(&a["p95_ms"]),
                        f1(&a["error_pct"]),
                        scalar(&a["requests"]),
                        scalar(&a["unmatched"])
                    );
                }
            }
            "snapshots" => {
                let _ = writeln!(
                    s,
                    "snapshots: taken {}, failed {}, refused {} (budget) {} (queue full), coalesced {}; {} of {} left this hour",
                    scalar(&v["taken"]),
                    scalar(&v["failed"]),
                    scalar(&v["refused_budget"]),
                    scalar(&v["refused_queue"]),
                    scalar(&v["coalesced"]),
                    scalar(&v["budget_left"]),
                    scalar(&v["budget_per_hour"])
                );
                let _ = writeln!(
                    s,
                    "  under {}; {} documents to the sinks ({} cut to 64 KiB)",
                    scalar(&v["dir"]),
                    scalar(&v["documents"]),
                    scalar(&v["documents_truncated"])
                );
                let recent = v["recent"].as_array().cloned().unwrap_or_default();
                if !recent.is_empty() {
                    let _ = writeln!(s, "recent triggers:");
                }
                for r in recent.iter().rev().take(10) {
                    let outcome = match r["state"].as_str().unwrap_or("?") {
                        "done" => format!(
                            "done in {:.1} s: {}",
                            r["took_ms"].as_f64().unwrap_or(0.0) / 1000.0,
                            scalar(&r["id"])
                        ),
                        "failed" => format!("failed: {}", scalar(&r["error"])),
                        "refused" => format!("refused: {}", scalar(&r["why"])),
                        other => other.to_string(),
                    };
                    let _ = writeln!(
                        s,
                        "  #{} {} {} of {} ({}): {}",
                        scalar(&r["seq"]),
                        r["at_ms"].as_i64().map(utc).unwrap_or_default(),
                        scalar(&r["kind"]),
                        scalar(&r["select"]),
                        scalar(&r["reason"]),
                        match r["coalesced"].as_u64().unwrap_or(0) {
                            0 => outcome,
                            n => format!("{outcome} (answered {n} equal requests too)"),
                        }
                    );
                }
            }
            "shipping" => {
                let _ = writeln!(s, "sinks:");
                for k in v.as_array().into_iter().flatten() {
                    let failing = k["failing_for_s"].as_f64().unwrap_or(0.0);
                    let _ = writeln!(
                        s,
                        "  {} ({}): sent {} items in {} batches, {} retries, {} set aside, {} dropped; queue {}, spool {} batches / {} bytes, oldest {:.0} s; last HTTP {}{}",
                        scalar(&k["name"]),
                        scalar(&k["kind"]),
                        scalar(&k["sent_items"]),
                        scalar(&k["sent_batches"]),
                        scalar(&k["retries"]),
                        scalar(&k["failed_batches"]),
                        scalar(&k["dropped_items"]),
                        scalar(&k["queued"]),
                        scalar(&k["spool_batches"]),
                        scalar(&k["spool_bytes"]),
                        k["oldest_unsent_age_s"].as_f64().unwrap_or(0.0),
                        scalar(&k["last_status"]),
                        if failing > 0.0 {
                            format!(", FAILING for {failing:.0} s")
                        } else {
                            String::new()
                        }
                    );
                }
            }
            "events" => {
                let counts: Vec<String> = v["counts"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, n)| format!("{k} {}", scalar(n)))
                    .collect();
                let _ = writeln!(
                    s,
                    "events: {}{}",
                    if counts.is_empty() {
                        "none".into()
                    } else {
                        counts.join(", ")
                    },
                    match v["kmsg_error"].as_str() {
                        Some(e) => format!(" (no kernel events: {e})"),
                        None => String::new(),
                    }
                );
                for e in v["recent"].as_array().into_iter().flatten() {
                    let _ = writeln!(
                        s,
                        "  {} {}: {}",
                        crate::util::clock::utc(e["timestamp_ms"].as_i64().unwrap_or(0)),
                        scalar(&e["kind"]),
                        scalar(&e["message"])
                    );
                }
            }
            _ => {
                let _ = writeln!(s, "{name}:");
                match v {
                    Value::Object(m) => {
                        for (k, x) in m.iter().filter(|(k, _)| *k != "recent") {
                            let _ = writeln!(s, "  {k}: {}", scalar(x));
                        }
                        // The triggers' last firings, newest last.
                        for f in m
                            .get("recent")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            let _ = writeln!(
                                s,
                                "  fired {} {} {}{}: {}",
                                crate::util::clock::utc(f["timestamp_ms"].as_i64().unwrap_or(0)),
                                scalar(&f["source"]),
                                scalar(&f["rule"]),
                                f["app"]
                                    .as_str()
                                    .map(|a| format!(" ({a})"))
                                    .unwrap_or_default(),
                                f["actions"]
                                    .as_array()
                                    .map(|a| a.iter().map(scalar).collect::<Vec<_>>().join(", "))
                                    .unwrap_or_default()
                            );
                        }
                    }
                    other => {
                        let _ = writeln!(s, "  {}", scalar(other));
                    }
                }
            }
        }
    }
    s
}

pub fn incidents_cmd(a: IncidentsArgs, cfg: &Config) -> anyhow::Result<()> {
    let dir = crate::paths::snapshot_dir(&crate::paths::client_data_dir(cfg));
    match a.cmd {
        None => {
            let all = store::list(&dir)?;
            match a.format {
                OutFormat::Json => outln!("{}", serde_json::to_string_pretty(&all)?),
                OutFormat::Text if all.is_empty() => {
                    outln!("no incidents under {}", dir.display())
                }
                OutFormat::Text => out!("{}", store::table(&all)),
            }
            Ok(())
        }
        Some(IncidentsCmd::Show { id, file }) => {
            let i = store::find(&dir, &id)?;
            let mut out = std::io::stdout().lock();
            match store::show(&i, file.as_deref(), &mut out) {
                // A closed pipe (`| head`) is not an error worth a message.
                Err(e)
                    if e.downcast_ref::<std::io::Error>()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
                {
                    Ok(())
                }
                r => r,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_sections_are_printed_as_keys_and_values() {
        let v = serde_json::json!([["plugins", {"queue": 3, "spool_bytes": 1024}]]);
        assert_eq!(
            status_text(&v),
            "plugins:\n  queue: 3\n  spool_bytes: 1024\n"
        );
    }

    #[test]
    fn the_last_firings_follow_the_trigger_lines() {
        let v = serde_json::json!([["triggers", {
            "rule hot": "holding 0, fired 1",
            "recent": [{"timestamp_ms": 0, "source": "rule", "rule": "hot", "when": "jvm.cpu_pct > 25",
                        "pid": 42, "app": "shop", "actions": ["bundle", "log"]}]
        }]]);
        assert_eq!(
            status_text(&v),
            "triggers:\n  rule hot: holding 0, fired 1\n  fired 1970-01-01T00:00:00.000Z rule hot (shop): bundle, log\n"
        );
    }
}
