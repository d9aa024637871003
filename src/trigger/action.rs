//! What a fired rule (or a schedule) does: ask the snapshot worker for a dump, a histogram or a bundle (its
//! hourly budget applies), run a script, POST a webhook, or log an event. The collection loop only hands
//! work over: snapshots go to the snapshot worker's bounded queue, scripts and webhooks to a bounded queue
//! served on the daemon's tokio runtime, at most a few at a time; a full queue drops the work and counts it.
//! Scripts are killed (their whole process group) at their timeout; webhooks are retried with backoff a
//! bounded number of times, then given up and counted.

use super::logwatch::Matched;
use crate::config::units::{ByteSize, Interval};
use crate::model::{Document, MetricSet};
use crate::snapshot::documents::Publish;
use crate::snapshot::request::{Kind, Request};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Dump,
    Histo,
    Bundle,
    Script,
    Webhook,
    Log,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Dump => "dump",
            ActionKind::Histo => "histo",
            ActionKind::Bundle => "bundle",
            ActionKind::Script => "script",
            ActionKind::Webhook => "webhook",
            ActionKind::Log => "log",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScriptConfig {
    /// An absolute path; run directly (no shell), with the context in WASP_* environment variables.
    pub path: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    /// The script and everything it started are killed after this long.
    #[serde(default = "default_script_timeout")]
    pub timeout: Interval,
    /// Output (stdout and stderr each) kept for the agent log; the rest is read and discarded.
    #[serde(default = "default_max_output")]
    pub max_output: ByteSize,
}

fn default_script_timeout() -> Interval {
    Interval::secs(30)
}
fn default_max_output() -> ByteSize {
    ByteSize(16 * 1024)
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// http:// or https:// URL; the event is POSTed as JSON.
    pub url: String,
    /// Deadline of one attempt.
    #[serde(default = "default_webhook_timeout")]
    pub timeout: Interval,
    /// Attempts after the first; then the event is given up (counted and logged).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry; doubled for each next one, at most 1 minute.
    #[serde(default = "default_backoff")]
    pub backoff: Interval,
    /// Extra request headers, e.g. { Authorization = "Bearer ..." } (the file is readable by root only).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_webhook_timeout() -> Interval {
    Interval::secs(5)
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> Interval {
    Interval::secs(1)
}

/// What to do when a rule fires or a schedule is due.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub actions: Vec<ActionKind>,
    pub script: Option<ScriptConfig>,
    pub webhook: Option<WebhookConfig>,
}

/// One firing: the context every action gets.
#[derive(Debug, Clone, Serialize)]
pub struct Firing {
    /// "rule" or "schedule".
    pub source: &'static str,
    pub rule: String,
    /// The condition (rules) or the timing (schedules) as written.
    pub when: String,
    pub timestamp_ms: i64,
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// A host rule with a scope: the app names of the JVMs its snapshots take.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jvms: Vec<String>,
    /// The figures the condition reads, as they were when it fired.
    pub figures: BTreeMap<String, f64>,
    /// Last matched lines of the log watches the condition reads.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_lines: Vec<Matched>,
    /// The event a rule on `event.*` fired for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Box<crate::model::event::Event>>,
}

/// Queue between the collection loop and the script/webhook runners.
const QUEUE: usize = 64;
/// Scripts and webhooks running at once.
const CONCURRENT: usize = 4;
/// Upper bound of a webhook backoff step.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Bound of WASP_LOG_LINES.
const ENV_LINES_MAX: usize = 8 * 1024;

enum Job {
    Script(Arc<Firing>, ScriptConfig),
    Webhook(Arc<Firing>, WebhookConfig),
}

/// Counts per action and outcome.
#[derive(Default)]
pub struct Counters {
    by: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    webhook_retries: Mutex<u64>,
}

impl Counters {
    pub fn add(&self, action: ActionKind, outcome: &'static str) {
        *self
            .by
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((action.as_str(), outcome))
            .or_default() += 1;
    }

    pub fn get(&self, action: ActionKind, outcome: &'static str) -> u64 {
        self.by
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(action.as_str(), outcome))
            .copied()
            .unwrap_or(0)
    }
}

/// Where snapshot requests go (the snapshot worker's `request`, which never blocks).
pub type SnapshotSink = Box<dyn Fn(Request) + Send>;

/// The loop-side handle: hands actions over without waiting.
pub struct Actions {
    tx: tokio::sync::mpsc::Sender<Job>,
    snapshot: SnapshotSink,
    pub counters: Arc<Counters>,
}

impl Actions {
    /// Starts the runner task on `rt`; `snapshot` asks the snapshot worker (never blocks).
    pub fn start(rt: &tokio::runtime::Handle, snapshot: SnapshotSink) -> Actions {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(QUEUE);
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        rt.spawn(async move {
            let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
            let client = crate::ship::http::client_builder()
                .build()
                .unwrap_or_default();
            while let Some(job) = rx.recv().await {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let c = c.clone();
                let client = client.clone();
                tokio::spawn(async move {
                    match job {
                        Job::Script(f, s) => run_script(&f, &s, &c).await,
                        Job::Webhook(f, w) => send_webhook(&f, &w, &client, &c).await,
                    }
                    drop(permit);
                });
            }
        });
        Actions {
            tx,
            snapshot,
            counters,
        }
    }

    /// Carries out a plan for one firing. Never blocks: everything slow is handed over.
    /// `publish` hands the event document of a `log` action to the document sinks (never blocks).
    pub fn dispatch(&self, f: Firing, plan: &Plan, publish: &Publish) {
        let f = Arc::new(f);
        for a in &plan.actions {
            match a {
                ActionKind::Dump => (self.snapshot)(f.snapshot_request(Kind::Dump)),
                ActionKind::Histo => (self.snapshot)(f.snapshot_request(Kind::Histo)),
                ActionKind::Bundle => (self.snapshot)(f.snapshot_request(Kind::Bundle)),
                ActionKind::Log => {
                    log_event(&f);
                    publish(event_document(&f));
                }
                ActionKind::Script => {
                    if let Some(s) = &plan.script {
                        self.hand_over(*a, Job::Script(f.clone(), s.clone()));
                    }
                    continue;
                }
                ActionKind::Webhook => {
                    if let Some(w) = &plan.webhook {
                        self.hand_over(*a, Job::Webhook(f.clone(), w.clone()));
                    }
                    continue;
                }
            }
            self.counters.add(*a, "requested");
        }
    }

    fn hand_over(&self, a: ActionKind, job: Job) {
        if self.tx.try_send(job).is_err() {
            self.counters.add(a, "dropped");
            tracing::warn!(
                action = a.as_str(),
                queue = QUEUE,
                "action queue full; action dropped"
            );
        }
    }

    pub fn add_metrics(&self, m: &mut MetricSet) {
        let fam = m.counter(
            "wasp_actions_total",
            "Rule and schedule actions by outcome: requested (handed to the snapshot worker or logged), ok, \
             failed, given_up (webhook retries exhausted), killed (script timeout), dropped (queue full).",
        );
        for ((a, o), n) in self
            .counters
            .by
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            fam.push([("action", *a), ("outcome", *o)], *n as f64);
        }
        m.counter(
            "wasp_webhook_retries_total",
            "Webhook attempts that failed and were retried.",
        )
        .set(
            *self
                .counters
                .webhook_retries
                .lock()
                .unwrap_or_else(|e| e.into_inner()) as f64,
        );
    }
}

fn log_event(f: &Firing) {
    tracing::warn!(
        target: "wasp::event",
        source = f.source,
        rule = %f.rule,
        when = %f.when,
        pid = ?f.pid,
        app = ?f.app,
        figures = ?f.figures,
        "rule fired"
    );
}

pub fn event_document(f: &Firing) -> Document {
    let mut labels = BTreeMap::new();
    labels.insert("host".to_string(), f.host.clone());
    labels.insert(f.source.to_string(), f.rule.clone());
    if let Some(p) = f.pid {
        labels.insert("pid".into(), p.to_string());
    }
    if let Some(a) = &f.app {
        labels.insert("app".into(), a.clone());
    }
    Document {
        kind: "event".into(),
        timestamp_ms: f.timestamp_ms,
        labels,
        body: serde_json::to_value(f).unwrap_or_default(),
    }
}

/// The PATH a script (or the jcmd fallback) gets: nothing of the agent's own environment reaches it.
pub const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The context a script gets, as environment variables, its whole environment with PATH. A NUL byte (a log line
/// may hold one) cannot be in an environment value: it is written `\0`, so the script still runs.
pub fn script_env(f: &Firing) -> Vec<(String, String)> {
    script_env_raw(f)
        .into_iter()
        .map(|(k, v)| (k, v.replace('\0', "\\0")))
        .chain([("PATH".to_string(), SCRIPT_PATH.to_string())])
        .collect()
}

fn script_env_raw(f: &Firing) -> Vec<(String, String)> {
    let mut env = vec![
        ("WASP_SOURCE".to_string(), f.source.to_string()),
        ("WASP_RULE".into(), f.rule.clone()),
        ("WASP_WHEN".into(), f.when.clone()),
        ("WASP_HOST".into(), f.host.clone()),
        ("WASP_TIMESTAMP_MS".into(), f.timestamp_ms.to_string()),
        (
            "WASP_FIGURES".into(),
            serde_json::to_string(&f.figures).unwrap_or_default(),
        ),
    ];
    if let Some(p) = f.pid {
        env.push(("WASP_PID".into(), p.to_string()));
    }
    if let Some(a) = &f.app {
        env.push(("WASP_APP".into(), a.clone()));
    }
    if let Some(e) = &f.event {
        env.push(("WASP_EVENT_KIND".into(), e.kind.name().to_string()));
        env.push((
            "WASP_EVENT".into(),
            serde_json::to_string(e).unwrap_or_default(),
        ));
    }
    if !f.log_lines.is_empty() {
        let mut s = String::new();
        for l in f.log_lines.iter().rev() {
            if s.len() + l.line.len() + 1 > ENV_LINES_MAX {
                break;
            }
            s.insert_str(0, &format!("{}\n", l.line));
        }
        env.push(("WASP_LOG_LINES".into(), s));
    }
    env
}

/// Why a script may not be run, if so: the agent runs as root, so a script that another user can change
/// would run that user's code as root. Owned by root or the agent's user, writable by nobody else.
pub fn unsafe_script(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Some(format!("cannot stat it: {e}")),
    };
    if !meta.is_file() {
        return Some("it is not a regular file".into());
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != me {
        return Some(format!(
            "it is owned by uid {}, not by root or the agent's user",
            meta.uid()
        ));
    }
    let mode = meta.mode();
    if mode & 0o002 != 0 || (mode & 0o020 != 0 && meta.gid() != 0) {
        return Some(format!(
            "it is writable by other users (mode {:o})",
            mode & 0o777
        ));
    }
    // Nor may others replace it: its directory is not writable by them (unless sticky, as /tmp).
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::metadata(dir)
    {
        let dm = d.mode();
        if dm & 0o1000 == 0 && (dm & 0o002 != 0 || (dm & 0o020 != 0 && d.gid() != 0)) {
            return Some(format!(
                "its directory {} is writable by other users (mode {:o})",
                dir.display(),
                dm & 0o7777
            ));
        }
    }
    None
}

async fn run_script(f: &Firing, s: &ScriptConfig, c: &Counters) {
    use tokio::io::AsyncReadExt;
    if let Some(why) = unsafe_script(&s.path) {
        c.add(ActionKind::Script, "failed");
        tracing::warn!(rule = %f.rule, script = %s.path.display(), why = %why, "rule script refused");
        return;
    }
    let mut cmd = tokio::process::Command::new(&s.path);
    // A cleared environment: the agent's may hold secrets (password_env, token_env).
    cmd.args(&s.args)
        .env_clear()
        .envs(script_env(f))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // Its own process group, so that a timeout kills what the script started too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            c.add(ActionKind::Script, "failed");
            tracing::warn!(rule = %f.rule, script = %s.path.display(), error = %e, "cannot start the rule's script");
            return;
        }
    };
    let pid = child.id();
    // Kills the group when this task ends early (the agent stopping), not only the script itself.
    let _group = Group(pid);
    let max = s.max_output.0 as usize;
    // Reads everything (a full pipe would block the script) and keeps the first `max` bytes.
    let capture = |r: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            let mut kept = Vec::new();
            let mut dropped = 0usize;
            let Some(mut r) = r else {
                return (kept, dropped);
            };
            let mut buf = [0u8; 8192];
            while let Ok(n) = r.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let room = max.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buf[..room]);
                dropped += n - room;
            }
            (kept, dropped)
        })
    };
    let out = capture(child.stdout.take().map(|x| Box::new(x) as _));
    let err = capture(child.stderr.take().map(|x| Box::new(x) as _));
    let status = match tokio::time::timeout(s.timeout.0, child.wait()).await {
        Ok(st) => st.ok(),
        Err(_) => {
            if let Some(pid) = pid {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill().await;
            c.add(ActionKind::Script, "killed");
            tracing::warn!(rule = %f.rule, script = %s.path.display(), timeout = %s.timeout, "rule script killed at its timeout");
            None
        }
    };
    // The pipes close when the group is gone; a grandchild that left the group cannot hold us long.
    let grace = Duration::from_secs(1);
    let (o, e) = (
        tokio::time::timeout(grace, out)
            .await
            .ok()
            .and_then(|r| r.ok()),
        tokio::time::timeout(grace, err)
            .await
            .ok()
            .and_then(|r| r.ok()),
    );
    let text = |x: &Option<(Vec<u8>, usize)>| {
        x.as_ref()
            .map(|(k, d)| {
                let mut s = String::from_utf8_lossy(k).trim_end().to_string();
                if *d > 0 {
                    s.push_str(&format!(" [{d} more bytes not kept]"));
                }
                s
            })
            .unwrap_or_default()
    };
    match status {
        Some(st) if st.success() => {
            c.add(ActionKind::Script, "ok");
            tracing::info!(rule = %f.rule, script = %s.path.display(), stdout = %text(&o), stderr = %text(&e), "rule script done");
        }
        Some(st) => {
            c.add(ActionKind::Script, "failed");
            tracing::warn!(rule = %f.rule, script = %s.path.display(), status = %st, stdout = %text(&o), stderr = %text(&e), "rule script failed");
        }
        None => {
            if !text(&o).is_empty() || !text(&e).is_empty() {
                tracing::info!(rule = %f.rule, stdout = %text(&o), stderr = %text(&e), "output of the killed script");
            }
        }
    }
}

/// A script's process group, killed when dropped; killing an exited group is harmless (ESRCH).
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

async fn send_webhook(f: &Firing, w: &WebhookConfig, client: &reqwest::Client, c: &Counters) {
    let body = match serde_json::to_vec(f) {
        Ok(b) => b,
        Err(e) => {
            c.add(ActionKind::Webhook, "failed");
            tracing::warn!(error = %e, "cannot encode the webhook event");
            return;
        }
    };
    for attempt in 0..=w.retries {
        let mut req = client
            .post(&w.url)
            .header("content-type", "application/json")
            .timeout(w.timeout.0);
        for (k, v) in &w.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(body.clone()).send();
        let why = match tokio::time::timeout(w.timeout.0 + Duration::from_millis(100), req).await {
            Ok(Ok(r)) if r.status().is_success() => {
                c.add(ActionKind::Webhook, "ok");
                tracing::info!(rule = %f.rule, url = %crate::util::redact::url(&w.url), attempt = attempt + 1, "webhook delivered");
                return;
            }
            Ok(Ok(r)) => format!("HTTP status {}", r.status().as_u16()),
            Ok(Err(e)) => format!("{e:#}"),
            Err(_) => format!("no answer within {}", w.timeout),
        };
        if attempt == w.retries {
            c.add(ActionKind::Webhook, "given_up");
            tracing::warn!(rule = %f.rule, url = %crate::util::redact::url(&w.url), attempts = attempt + 1, error = %why, "webhook given up");
            return;
        }
        *c.webhook_retries.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        // At least `backoff`, doubling (as documented), jittered above it.
        let wait = crate::ship::retry::at_least(attempt + 1, w.backoff.0, MAX_BACKOFF);
        tracing::debug!(rule = %f.rule, url = %crate::util::redact::url(&w.url), attempt = attempt + 1, error = %why, retry_in = ?wait, "webhook failed; retrying");
        tokio::time::sleep(wait).await;
    }
}

/// Checks of a rule's action settings; the message names the problem.
pub fn validate(plan: &Plan) -> Result<(), String> {
    if plan.actions.is_empty() {
        return Err(
            "do is empty; say what to do, e.g. do = [\"bundle\"] (dump, histo, bundle, script, webhook, log)"
                .into(),
        );
    }
    let wants = |k| plan.actions.contains(&k);
    match (&plan.script, wants(ActionKind::Script)) {
        (None, true) => {
            return Err("do has \"script\" but no script = { path = \"...\" } is set".into());
        }
        (Some(_), false) => return Err("script is set but do does not include \"script\"".into()),
        (Some(s), true) if !s.path.is_absolute() => {
            return Err(format!(
                "script path \"{}\" must be absolute",
                s.path.display()
            ));
        }
        _ => {}
    }
    match (&plan.webhook, wants(ActionKind::Webhook)) {
        (None, true) => Err("do has \"webhook\" but no webhook = { url = \"...\" } is set".into()),
        (Some(_), false) => Err("webhook is set but do does not include \"webhook\"".into()),
        (Some(w), true) => {
            for (k, v) in &w.headers {
                if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                    || reqwest::header::HeaderValue::from_str(v).is_err()
                {
                    return Err(format!("webhook header \"{k}\" is not a valid HTTP header"));
                }
            }
            match reqwest::Url::parse(&w.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
                _ => Err(format!(
                    "webhook url \"{}\" must be an http:// or https:// URL",
                    w.url
                )),
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firing() -> Firing {
        Firing {
            source: "rule",
            rule: "r".into(),
            when: "host.cpu_busy_pct > 1".into(),
            timestamp_ms: 1,
            host: "h".into(),
            pid: Some(42),
            app: Some("billing".into()),
            jvms: Vec::new(),
            figures: [("host.cpu_busy_pct".to_string(), 50.0)].into(),
            log_lines: Vec::new(),
            event: None,
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A real script: gets its context in the environment; a hanging one (and its child) is killed on time.
    #[test]
    fn script_gets_context_and_is_killed_at_timeout() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("env.txt");
        let script = d.path().join("s.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$WASP_RULE $WASP_PID $WASP_APP $WASP_FIGURES\" > {}\nif [ \"$1\" = hang ]; then sleep 300 & sleep 300; fi\n",
                out.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let c = Counters::default();
        let mut s = ScriptConfig {
            path: script.clone(),
            args: vec![],
            timeout: Interval::secs(5),
            max_output: ByteSize(100),
        };
        rt().block_on(run_script(&firing(), &s, &c));
        assert_eq!(c.get(ActionKind::Script, "ok"), 1);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            "r 42 billing {\"host.cpu_busy_pct\":50.0}"
        );
        s.args = vec!["hang".into()];
        s.timeout = Interval::millis(300);
        let t = std::time::Instant::now();
        rt().block_on(run_script(&firing(), &s, &c));
        // The timeout plus at most the 1 s output grace; far from the script's 300 s.
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(c.get(ActionKind::Script, "killed"), 1);
    }

    #[test]
    fn webhook_to_a_closed_port_is_retried_then_given_up() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let c = Counters::default();
        let w = WebhookConfig {
            url: format!("http://127.0.0.1:{port}/hook"),
            timeout: Interval::millis(500),
            retries: 2,
            backoff: Interval::millis(50),
            headers: BTreeMap::new(),
        };
        let t = std::time::Instant::now();
        rt().block_on(send_webhook(&firing(), &w, &reqwest::Client::new(), &c));
        assert_eq!(c.get(ActionKind::Webhook, "given_up"), 1);
        assert_eq!(*c.webhook_retries.lock().unwrap(), 2);
        // Backoff 50 ms then 100 ms.
        assert!(t.elapsed() >= Duration::from_millis(150));
    }

    /// A real HTTP server on loopback: answers 500 once, then 200; the event arrives as JSON.
    #[test]
    fn webhook_is_retried_after_an_error_status_and_delivered() {
        let rt = rt();
        let c = Counters::default();
        let bodies = rt.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = l.local_addr().unwrap().port();
            let server = tokio::spawn(async move {
                let mut bodies = Vec::new();
                for status in ["500 Internal Server Error", "200 OK"] {
                    let (mut s, _) = l.accept().await.unwrap();
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Headers, then content-length bytes of body.
                    loop {
                        let n = s.read(&mut buf).await.unwrap();
                        req.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&req).to_string();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let len: usize = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse().unwrap())
                                })
                                .unwrap_or(0);
                            if body.len() >= len {
                                bodies.push((head.to_string(), body.to_string()));
                                break;
                            }
                        }
                        if n == 0 {
                            break;
                        }
                    }
                    s.write_all(
                        format!(
                            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await
                    .unwrap();
                }
                bodies
            });
            let w = WebhookConfig {
                url: format!("http://127.0.0.1:{port}/hook"),
                timeout: Interval::secs(2),
                retries: 3,
                backoff: Interval::millis(50),
                headers: [("X-Wasp-Test".to_string(), "yes".to_string())].into(),
            };
            send_webhook(&firing(), &w, &reqwest::Client::new(), &c).await;
            server.await.unwrap()
        });
        assert_eq!(c.get(ActionKind::Webhook, "ok"), 1);
        assert_eq!(*c.webhook_retries.lock().unwrap(), 1);
        assert_eq!(bodies.len(), 2);
        assert!(bodies[1].0.starts_with("POST /hook"), "{}", bodies[1].0);
        assert!(
            bodies[1]
                .0
                .to_ascii_lowercase()
                .contains("content-type: application/json")
        );
        assert!(
            bodies[1]
                .0
                .to_ascii_lowercase()
                .contains("x-wasp-test: yes")
        );
        let v: serde_json::Value = serde_json::from_str(&bodies[1].1).unwrap();
        assert_eq!(v["rule"], "r");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["figures"]["host.cpu_busy_pct"], 50.0);
    }

    /// 4 MB of output: read to the end (a full pipe would hang the script), kept only up to max_output.
    #[test]
    fn a_chatty_script_is_not_blocked_by_its_pipe() {
        let c = Counters::default();
        let s = ScriptConfig {
            path: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "head -c 4000000 /dev/zero; head -c 4000000 /dev/zero >&2".into(),
            ],
            timeout: Interval::secs(10),
            max_output: ByteSize(1000),
        };
        let t = std::time::Instant::now();
        rt().block_on(run_script(&firing(), &s, &c));
        assert_eq!(c.get(ActionKind::Script, "ok"), 1);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_script_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.sh");
        let ran = d.path().join("ran");
        std::fs::write(&p, format!("#!/bin/sh\ntouch {}\n", ran.display())).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        let c = Counters::default();
        let s = ScriptConfig {
            path: p.clone(),
            args: vec![],
            timeout: Interval::secs(5),
            max_output: ByteSize(100),
        };
        rt().block_on(run_script(&firing(), &s, &c));
        assert_eq!(c.get(ActionKind::Script, "failed"), 1);
        assert!(!ran.exists(), "a world-writable script ran");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        rt().block_on(run_script(&firing(), &s, &c));
        assert_eq!(c.get(ActionKind::Script, "ok"), 1);
        assert!(ran.exists());
        assert!(unsafe_script(&d.path().join("missing")).is_some());
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(unsafe_script(&p).unwrap().contains("directory"));
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(unsafe_script(&p).is_none());
    }

    /// The queue to the runners is bounded: what does not fit is dropped and counted, never waited for.
    #[test]
    fn a_full_action_queue_drops_and_counts() {
        let rt = rt();
        // The runtime is not driven here, so nothing is taken off the queue: exactly QUEUE fit.
        let a = Actions::start(rt.handle(), Box::new(|_| {}));
        let s = ScriptConfig {
            path: "/bin/true".into(),
            args: vec![],
            timeout: Interval::secs(1),
            max_output: ByteSize(10),
        };
        let t = std::time::Instant::now();
        for _ in 0..QUEUE + 36 {
            a.hand_over(
                ActionKind::Script,
                Job::Script(Arc::new(firing()), s.clone()),
            );
        }
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "handing over waited"
        );
        assert_eq!(a.counters.get(ActionKind::Script, "dropped"), 36);
        let mut m = MetricSet::default();
        a.add_metrics(&mut m);
        let fam = m
            .families
            .iter()
            .find(|f| f.name == "wasp_actions_total")
            .unwrap();
        assert_eq!(fam.samples[0].value, 36.0);
    }

    #[test]
    fn plan_validation() {
        let mut p = Plan {
            actions: vec![ActionKind::Script],
            ..Default::default()
        };
        assert!(validate(&p).unwrap_err().contains("no script"));
        p.script = Some(ScriptConfig {
            path: "rel.sh".into(),
            args: vec![],
            timeout: Interval::secs(1),
            max_output: ByteSize(1),
        });
        assert!(validate(&p).unwrap_err().contains("absolute"));
        p.actions = vec![];
        assert!(validate(&p).unwrap_err().contains("empty"));
    }
}
