//! Checks that need more than one value, and where in the file each error is.
//!
//! Places come from the TOML parser itself: the file is parsed once more into toml's spanned document
//! (`DeTable`), and an error names a path of keys and indexes (`rules[2].when`) that is looked up there. No
//! text is scanned for keys; a key left out (a default) points at the table that would hold it.

use super::{Config, ConfigError};
use crate::config::units::{is_label_name, is_name};
use crate::trigger::action::ActionKind;
use crate::trigger::{check, figures, logwatch, rules, schedule};
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a path into the document.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}
use Seg::{Index, Key};

/// Each log watch is a thread; systemd's TasksMax=64 bounds the agent.
const MAX_WATCHES: usize = 16;
const NAME_RULE: &str = "names are letters, digits, _ and -, starting with a letter";

/// The parsed file with its spans.
struct Doc<'t> {
    text: &'t str,
    path: &'t Path,
    root: Option<Spanned<DeTable<'t>>>,
}

/// A step down the document: the span of what was found (the key where there is one) and its value.
fn step<'a, 't>(
    table: Option<&'a DeTable<'t>>,
    value: Option<&'a DeValue<'t>>,
    seg: Seg,
) -> Option<(Range<usize>, &'a DeValue<'t>)> {
    match seg {
        Key(k) => table?
            .iter()
            .find(|(key, _)| key.get_ref().as_ref() == k)
            .map(|(key, v)| (key.span(), v.get_ref())),
        Index(i) => match value? {
            DeValue::Array(a) => a.get(i).map(|e| (e.span(), e.get_ref())),
            _ => None,
        },
    }
}

fn as_table<'a, 't>(v: &'a DeValue<'t>) -> Option<&'a DeTable<'t>> {
    match v {
        DeValue::Table(t) => Some(t),
        _ => None,
    }
}

impl Doc<'_> {
    /// The deepest element of `path` that the file has: its span and value (None for the root).
    fn lookup(&self, path: &[Seg]) -> (Range<usize>, Option<&DeValue<'_>>) {
        let Some(root) = &self.root else {
            return (0..0, None);
        };
        let mut found = (root.span(), None);
        let mut table = Some(root.get_ref());
        for seg in path {
            let Some((span, v)) = step(table, found.1, *seg) else {
                break;
            };
            found = (span, Some(v));
            table = as_table(v);
        }
        found
    }

    fn err_at(&self, offset: usize, message: String) -> ConfigError {
        let (line, column) = super::line_col(self.text, offset);
        ConfigError {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    fn err(&self, path: &[Seg], message: impl Into<String>) -> ConfigError {
        self.err_at(self.lookup(path).0.start, message.into())
    }

    /// Where character `offset` of a spanned string value is; the value's start when it is not written plainly.
    fn err_in_string(&self, s: &Spanned<String>, offset: usize, message: String) -> ConfigError {
        let span = s.span();
        let raw = self.text.get(span.clone()).unwrap_or("");
        let plain = raw.len() == s.get_ref().len() + 2
            && (raw.starts_with('"') || raw.starts_with('\''))
            && &raw[1..raw.len() - 1] == s.get_ref();
        let at = if plain {
            span.start + 1 + offset.min(s.get_ref().len())
        } else {
            // A one-line basic string with escapes (`"event.kind == \"oom_kill\""`): map through them.
            raw.strip_prefix('"')
                .filter(|r| !r.starts_with("\"\""))
                .and_then(|r| escaped_offset(r, offset))
                .map_or(span.start, |o| span.start + 1 + o)
        };
        self.err_at(at, message)
    }
}

/// The raw offset in a TOML basic string's text (after its opening quote) of `offset` in its decoded value;
/// None past its end. `\X` is one decoded character, `\uXXXX` and `\UXXXXXXXX` are one of up to 4 bytes.
fn escaped_offset(raw: &str, offset: usize) -> Option<usize> {
    let b = raw.as_bytes();
    let (mut r, mut d) = (0, 0);
    while d < offset {
        match b.get(r)? {
            b'"' => return None,
            b'\\' => {
                let (len, dec) = match b.get(r + 1)? {
                    b'u' => (6, 3),
                    b'U' => (10, 4),
                    _ => (2, 1),
                };
                let hex = raw.get(r + 2..r + len);
                let dec = hex
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                    .map_or(dec, char::len_utf8);
                r += len;
                if r > b.len() {
                    return None;
                }
                d += if len == 2 { 1 } else { dec };
            }
            _ => {
                r += 1;
                d += 1;
            }
        }
    }
    Some(r)
}

/// Checks `cfg`, read from `text`; the first error names its file, line and column.
pub fn validate(cfg: &Config, text: &str, path: &Path) -> Result<(), ConfigError> {
    let doc = Doc {
        text,
        path,
        root: DeTable::parse(text).ok(),
    };
    agent(cfg, &doc)?;
    sinks(cfg, &doc)?;
    logs(cfg, &doc)?;
    checks(cfg, &doc)?;
    rules(cfg, &doc)?;
    access(cfg, &doc)?;
    schedules(cfg, &doc)?;
    history(cfg, &doc)
}

fn history(cfg: &Config, doc: &Doc) -> Result<(), ConfigError> {
    let h = &cfg.history;
    if h.raw_retention < crate::history::MIN_RAW_RETENTION {
        return Err(doc.err(
            &[Key("history"), Key("raw_retention")],
            "raw_retention must be at least \"6h\": rollups are computed from the raw data of a whole 6-hour window",
        ));
    }
    if h.rollup_retention < h.raw_retention {
        return Err(doc.err(
            &[Key("history"), Key("rollup_retention")],
            "rollup_retention must be at least raw_retention (rollups are the long history)",
        ));
    }
    if h.max_size.0 < crate::history::MIN_MAX_SIZE {
        return Err(doc.err(
            &[Key("history"), Key("max_size")],
            "max_size must be at least \"1MiB\"",
        ));
    }
    Ok(())
}

fn access(cfg: &Config, doc: &Doc) -> Result<(), ConfigError> {
    let b = &cfg.access.buckets;
    if b.is_empty()
        || b.len() > 64
        || b.iter().any(|x| !(x.is_finite() && *x > 0.0))
        || b.windows(2).any(|w| w[0] >= w[1])
    {
        return Err(doc.err(
            &[Key("access"), Key("buckets")],
            "buckets must be 1 to 64 ascending positive second values, e.g. [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]",
        ));
    }
    if !(1..=10_000).contains(&cfg.access.scatter_per_minute) {
        return Err(doc.err(
            &[Key("access"), Key("scatter_per_minute")],
            "scatter_per_minute must be 1 to 10000 requests per app per minute",
        ));
    }
    for (i, a) in cfg.access_logs.iter().enumerate() {
        let at = |k| [Key("access_logs"), Index(i), Key(k)];
        if a.app.trim().is_empty() {
            return Err(doc.err(
                &at("app"),
                "app must name the application its requests count for",
            ));
        }
        if !a.path.is_absolute() {
            return Err(doc.err(
                &at("path"),
                format!("path \"{}\" must be absolute", a.path.display()),
            ));
        }
        if let Err(e) = crate::access::structured::Parser::from_spec(&a.format, &a.json) {
            return Err(doc.err(&at("format"), e));
        }
    }
    Ok(())
}

fn agent(cfg: &Config, doc: &Doc) -> Result<(), ConfigError> {
    if cfg.server.enabled && cfg.server.listen.port() == 0 {
        return Err(doc.err(
            &[Key("server"), Key("listen")],
            "listen needs a port between 1 and 65535, e.g. \"127.0.0.1:9780\"",
        ));
    }
    if !(cfg.agent.cpu_budget_percent > 0.0 && cfg.agent.cpu_budget_percent <= 100.0) {
        return Err(doc.err(
            &[Key("agent"), Key("cpu_budget_percent")],
            "cpu_budget_percent must be above 0 and at most 100 (percent of one core)",
        ));
    }
    for k in cfg.agent.labels.keys() {
        if !is_label_name(k) {
            return Err(doc.err(
                &[Key("agent"), Key("labels"), Key(k)],
                format!(
                    "label name \"{k}\" must match [a-zA-Z_][a-zA-Z0-9_]* (Prometheus label rules)"
                ),
            ));
        }
    }
    Ok(())
}

fn sinks(cfg: &Config, doc: &Doc) -> Result<(), ConfigError> {
    for (name, sink) in &cfg.sinks.0 {
        let at = [Key("sinks"), Key(name)];
        if !is_label_name(name) {
            return Err(doc.err(
                &at,
                format!(
                    "sink name \"{name}\" must match [a-zA-Z_][a-zA-Z0-9_]* (it names metrics and spool directories)"
                ),
            ));
        }
        if let Err(e) = crate::ship::sinks::check(sink) {
            let mut path = at.to_vec();
            path.extend(e.key.iter().map(|k| Key(k)));
            return Err(doc.err(&path, format!("[sinks.{name}] {}", e.message)));
        }
    }
    Ok(())
}

fn logs(cfg: &Config, doc: &Doc) -> Result<(), ConfigError> {
    if cfg.logs.len() > MAX_WATCHES {
        return Err(doc.err(
            &[Key("logs"), Index(MAX_WATCHES), Key("name")],
            format!(
                "at most {MAX_WATCHES} [[logs]] watches (each is a thread; the unit allows 64 tasks); use a glob to follow several files in one"
            ),
        ));
    }
    for (i, l) in cfg.logs.iter().enumerate() {
        let at = |k| [Key("logs"), Index(i), Key(k)];
        if !is_name(&l.name) {
            return Err(doc.err(
                &at("name"),
                format!("log watch name \"{}\": {NAME_RULE}", l.name),
            ));
        }
        if cfg.logs[..i].iter().any(|o| o.name == l.name) {
            return Err(doc.err(
                &at("name"),
                format!("a log watch named \"{}\" is already defined", l.name),
            ));
        }
        if !l.path.is_absolute() {
            return Err(doc.err(
                &at("path"),
                format!("path \"{}\" must be absolute", l.path.display()),
            ));
        }
        for p in l.patterns.keys() {
            if !is_name(p) || logwatch::RESERVED.contains(&p.as_str()) {
                return Err(doc.err(
                    &[Key("logs"), Index(i), Key("patterns"), Key(p)],
                    format!("pattern name \"{p}\": {NAME_RULE}, and not lines, silence or silent"),
                ));
            }
        }
    }
    Ok(())
}

fn checks(cfg: &Config, doc: &Doc) -> Result<(), ConfigError> {
    for (i, c) in cfg.checks.iter().enumerate() {
        let at = |k| [Key("checks"), Index(i), Key(k)];
        if !is_name(&c.name) {
            return Err(doc.err(
                &at("name"),
                format!("check name \"{}\": {NAME_RULE}", c.name),
            ));
        }
        if cfg.checks[..i].iter().any(|o| o.name == c.name) {
            return Err(doc.err(
                &at("name"),
                format!("a check named \"{}\" is already defined", c.name),
            ));
        }
        if let Err(m) = check::validate(c) {
            let key = if c.http.is_some() { "http" } else { "tcp" };
            return Err(doc.err(&at(key), m));
        }
    }
    Ok(())
}

fn rules(cfg: &Config, doc: &Doc) -> Result<(), ConfigError> {
    let cat = figures::Catalogue {
        logs: &cfg.logs,
        checks: &cfg.checks,
    };
    if let Err((i, place, m)) = rules::compile(&cfg.rules, &cat) {
        let r = &cfg.rules[i];
        let m = format!("rule \"{}\": {m}", r.name);
        return Err(match place {
            rules::Place::When(off) => doc.err_in_string(&r.when, off, m),
            rules::Place::Key(k) => doc.err(&[Key("rules"), Index(i), Key(k)], m),
        });
    }
    Ok(())
}

fn schedules(cfg: &Config, doc: &Doc) -> Result<(), ConfigError> {
    for (i, s) in cfg.schedules.iter().enumerate() {
        let at = |k| [Key("schedules"), Index(i), Key(k)];
        if cfg.schedules[..i].iter().any(|o| o.name == s.name) {
            return Err(doc.err(
                &at("name"),
                format!("a schedule named \"{}\" is already defined", s.name),
            ));
        }
        if let Err(m) = schedule::validate(s) {
            let snapshot_only = !s.actions.is_empty()
                && s.actions.iter().all(|a| {
                    matches!(a, ActionKind::Dump | ActionKind::Histo | ActionKind::Bundle)
                });
            let key = if snapshot_only { "every" } else { "do" };
            return Err(doc.err(&at(key), m));
        }
        if let Some(c) = &s.cron
            && let Err(m) = schedule::Cron::parse(c.get_ref())
        {
            return Err(doc.err_at(c.span().start, format!("schedule \"{}\": {m}", s.name)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::escaped_offset;

    #[test]
    fn offsets_map_through_escapes() {
        // Decoded: event.kind == "x" && a — the quote at 14 is raw 14, the x at 15 is raw 16.
        let raw = r#"event.kind == \"x\" && a""#;
        assert_eq!(escaped_offset(raw, 14), Some(14));
        assert_eq!(escaped_offset(raw, 15), Some(16));
        assert_eq!(escaped_offset(raw, 21), Some(23));
        assert_eq!(escaped_offset(r#"\u00e9 b""#, 3), Some(7));
        assert_eq!(escaped_offset(r#"ab""#, 5), None);
    }

    #[test]
    fn the_bound_is_configured_within_reason() {
        let parse = |t: &str| crate::config::Config::parse(t, std::path::Path::new("t.toml"));
        assert_eq!(
            parse("").unwrap().access.scatter_per_minute,
            crate::access::scatter::DEFAULT_PER_MINUTE
        );
        assert_eq!(
            parse("[access]\nscatter_per_minute = 50\n")
                .unwrap()
                .access
                .scatter_per_minute,
            50
        );
        for bad in ["0", "10001"] {
            let e = parse(&format!("[access]\nscatter_per_minute = {bad}\n")).unwrap_err();
            assert!(e.to_string().contains("scatter_per_minute"), "{e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(raw in "(\\\\|\\\\u|\\\\U|[0-9a-f]|\"|é|x){0,20}", off in 0usize..30) {
            if let Some(r) = escaped_offset(&raw, off) {
                proptest::prop_assert!(r <= raw.len());
            }
        }
    }
}
