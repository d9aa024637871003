//! InfluxDB line protocol: `family,host=h,tag=v value=1.5 <ms>`, one line per sample, for InfluxDB 1.x `/write`,
//! 2.x `/api/v2/write` and VictoriaMetrics (the sink asks for `precision=ms`).
//!
//! Tag values are written so that InfluxDB 1.x and VictoriaMetrics read back the same string: `,`, `=` and space
//! are escaped; control characters become spaces; a backslash is kept only where no parser can take it for an
//! escape (before an ordinary character), so one at the end of a value, before another backslash or before
//! `,` `=` space is dropped (InfluxDB 1.6 rejects a value ending in a backslash outright). A value left empty
//! omits the tag. NaN and ±Inf cannot be written and are skipped (`Encoded::skipped`).

use super::Backend;
use crate::model::metric::Str;
use crate::ship::encode::{
    Batch, Encoded, FastMap, Given, Origin, base_labels, gzip as gz, merge_labels, metrics_range,
    sanitize_metric_name, with_le,
};
use std::fmt::Write;

/// `type = "influx_line"`.
pub(crate) struct Influx {
    pub(crate) gzip: bool,
}

impl Backend for Influx {
    fn join(&self, bodies: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        crate::ship::encode::join(bodies, self.gzip)
    }

    fn encode(&self, batch: &Batch, origin: &Origin) -> Encoded {
        encode(batch, origin, self.gzip)
    }

    fn headers(&self) -> Vec<(reqwest::header::HeaderName, &'static str)> {
        let mut h = vec![(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")];
        h.extend(super::gzip_header(self.gzip));
        h
    }

    /// The encoder writes millisecond timestamps; tell InfluxDB so unless the URL already says.
    fn url(&self, configured: &str) -> String {
        let mut url = configured.to_string();
        if !url.contains("precision=") {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("precision=ms");
        }
        url
    }
}

/// The body: one line per finite sample, sorted tags, one float field `value`, timestamp in milliseconds.
pub fn encode(batch: &Batch, origin: &Origin, gzip: bool) -> Encoded {
    let base = base_labels(&[("host", &origin.hostname)], origin);

    let mut out = String::with_capacity(64 * 1024);
    let (mut items, mut skipped) = (0u64, 0u64);
    // "measurement,tags" of each series, written once per batch: the labels repeat in every collection.
    // A summary's sample is two measurements, `<name>_count` and `<name>_sum`, as Prometheus names them.
    let mut prefixes: FastMap<(&'static str, Option<&str>, Given<'_>), String> = FastMap::default();
    for m in &batch.metrics {
        let ts = m.metrics.timestamp_ms;
        for fam in &m.metrics.families {
            for (suffix, s, le, value) in fam.series() {
                if !value.is_finite() {
                    skipped += 1;
                    continue;
                }
                let prefix = prefixes
                    .entry((suffix, le, (fam.name.as_ref(), s.labels.as_slice())))
                    .or_insert_with(|| {
                        series(&format!("{}{suffix}", fam.name), &base, &s.labels, le)
                    });
                out.push_str(prefix);
                // Debug gives the shortest text that reads back to the same f64, with an exponent for large
                // and small magnitudes (1e300, 1e-7), which both InfluxDB and VictoriaMetrics parse as a float.
                let _ = writeln!(out, " value={value:?} {ts}");
                items += 1;
            }
        }
    }
    let (min_ts_ms, max_ts_ms) = metrics_range(batch);
    Encoded {
        body: if gzip {
            gz(out.as_bytes())
        } else {
            out.into_bytes()
        },
        items,
        min_ts_ms,
        max_ts_ms,
        skipped,
    }
}

/// `measurement,tag=value,...` of one series.
fn series(
    family: &str,
    base: &[(String, String)],
    labels: &[(Str, Str)],
    le: Option<&str>,
) -> String {
    let mut out = String::with_capacity(128);
    let mut value = String::with_capacity(64);
    out.push_str(&sanitize_metric_name(family));
    for (k, v) in with_le(merge_labels(base, labels), le) {
        value.clear();
        push_tag_value(v, &mut value);
        if value.is_empty() {
            continue;
        }
        out.push(',');
        // `time` is refused as a tag key (400, "invalid tag key").
        out.push_str(if k == "time" { "time_" } else { &k });
        out.push('=');
        out.push_str(&value);
    }
    out
}

/// Appends `v` as a tag value (see the module comment for the rules).
pub(crate) fn push_tag_value(v: &str, out: &mut String) {
    let norm = |c: char| if c.is_control() { ' ' } else { c };
    let mut chars = v.chars().map(norm).peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if matches!(chars.peek(), Some('\\' | ',' | '=' | ' ') | None) {
                    continue;
                }
                out.push('\\');
            }
            ',' | '=' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tv(v: &str) -> String {
        let mut s = String::new();
        push_tag_value(v, &mut s);
        s
    }

    #[test]
    fn tag_values_escape_and_drop_ambiguous_backslashes() {
        assert_eq!(tv("a b,c=d"), r"a\ b\,c\=d");
        assert_eq!(tv(r"C:\dir\"), r"C:\dir");
        assert_eq!(tv(r"\\srv\share"), r"\srv\share");
        assert_eq!(tv(r"a\ b"), r"a\ b");
        assert_eq!(tv("x\ny"), r"x\ y");
        assert_eq!(tv(r"\\"), "");
        assert_eq!(tv("é\u{1F600}"), "é\u{1F600}");
    }
}
