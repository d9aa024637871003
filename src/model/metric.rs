//! Metric samples as every exporter and sink sees them: families of labelled values at one timestamp.
//!
//! Names follow node_exporter and the Prometheus Java client where they have an equivalent; the rest are `wasp_`.

use std::borrow::Cow;

pub type Str = Cow<'static, str>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Gauge,
    Counter,
    /// What node_exporter leaves untyped (kernel counters of varying meaning, e.g. node_netstat_*): sinks with
    /// types treat it as a gauge.
    Untyped,
    /// A Prometheus summary without quantiles: each sample's `value` is the count and `sum` the sum; exposed as
    /// the series `<name>_count` and `<name>_sum` (what client_java's jvm_gc_collection_seconds is).
    Summary,
    /// A Prometheus histogram: each sample's `value` is the count, `sum` the sum and `buckets` the cumulative
    /// counts by upper bound (+Inf last); exposed as `<name>_bucket{le}`, `<name>_sum` and `<name>_count`, sent
    /// to OTLP as a Histogram data point.
    Histogram,
}

/// A series of a sample with no `le`: its name suffix and value.
type Plain = (&'static str, f64);

/// One cumulative bucket of a histogram sample.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bucket {
    /// The bound as the `le` label writes it ("0.005", "+Inf").
    pub le: Str,
    pub upper: f64,
    /// Observations at most `upper`.
    pub count: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Label pairs, without the host-wide labels (those are added by each view or sink).
    pub labels: Vec<(Str, Str)>,
    pub value: f64,
    /// The sum of a summary's observations (`value` is their count); None for every other kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// A histogram's cumulative buckets; None for every other kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<Bucket>>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Family {
    pub name: Str,
    pub help: Str,
    pub kind: MetricKind,
    pub samples: Vec<Sample>,
}

/// All samples of one collection, taken at `timestamp_ms`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MetricSet {
    pub timestamp_ms: i64,
    pub families: Vec<Family>,
    /// Position of each family by name: a collection builds some 700 families, and a scan of all before each
    /// new one was a quadratic share of the agent's CPU.
    #[serde(skip)]
    index: std::collections::HashMap<Str, usize>,
}

impl MetricSet {
    pub fn new(timestamp_ms: i64) -> Self {
        MetricSet {
            timestamp_ms,
            families: Vec::new(),
            index: Default::default(),
        }
    }

    /// Starts (or continues) a family; samples are pushed on the returned handle.
    pub fn family(
        &mut self,
        name: impl Into<Str>,
        help: impl Into<Str>,
        kind: MetricKind,
    ) -> &mut Family {
        let name = name.into();
        if let Some(&i) = self.index.get(&name) {
            return &mut self.families[i];
        }
        self.index.insert(name.clone(), self.families.len());
        self.families.push(Family {
            name,
            help: help.into(),
            kind,
            samples: Vec::new(),
        });
        self.families.last_mut().expect("just pushed")
    }

    pub fn gauge(&mut self, name: impl Into<Str>, help: impl Into<Str>) -> &mut Family {
        self.family(name, help, MetricKind::Gauge)
    }

    pub fn counter(&mut self, name: impl Into<Str>, help: impl Into<Str>) -> &mut Family {
        self.family(name, help, MetricKind::Counter)
    }

    pub fn summary(&mut self, name: impl Into<Str>, help: impl Into<Str>) -> &mut Family {
        self.family(name, help, MetricKind::Summary)
    }

    pub fn histogram(&mut self, name: impl Into<Str>, help: impl Into<Str>) -> &mut Family {
        self.family(name, help, MetricKind::Histogram)
    }

    pub fn sample_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }
}

impl Family {
    /// Adds a sample; `labels` are (name, value) pairs.
    pub fn push<L, K, V>(&mut self, labels: L, value: f64) -> &mut Self
    where
        L: IntoIterator<Item = (K, V)>,
        K: Into<Str>,
        V: Into<Str>,
    {
        self.samples.push(Sample {
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            value,
            sum: None,
            buckets: None,
        });
        self
    }

    /// Adds a histogram's point: cumulative `(upper bound, count)` pairs ascending, +Inf last (its count is the
    /// sample's count), and the sum of the observations.
    pub fn observe_buckets<L, K, V>(
        &mut self,
        labels: L,
        buckets: &[(f64, f64)],
        sum: f64,
    ) -> &mut Self
    where
        L: IntoIterator<Item = (K, V)>,
        K: Into<Str>,
        V: Into<Str>,
    {
        let count = buckets.last().map_or(0.0, |b| b.1);
        self.push(labels, count);
        if let Some(s) = self.samples.last_mut() {
            s.sum = Some(sum);
            s.buckets = Some(
                buckets
                    .iter()
                    .map(|&(upper, count)| Bucket {
                        le: if upper == f64::INFINITY {
                            "+Inf".into()
                        } else {
                            upper.to_string().into()
                        },
                        upper,
                        count,
                    })
                    .collect(),
            );
        }
        self
    }

    /// Adds a summary's point: `count` observations adding up to `sum`.
    pub fn observe<L, K, V>(&mut self, labels: L, count: f64, sum: f64) -> &mut Self
    where
        L: IntoIterator<Item = (K, V)>,
        K: Into<Str>,
        V: Into<Str>,
    {
        self.push(labels, count);
        if let Some(s) = self.samples.last_mut() {
            s.sum = Some(sum);
        }
        self
    }

    /// Every series of the family as (name suffix, sample, `le` label, value): a summary's sample gives `_count`
    /// and `_sum`, a histogram's `_bucket` (one per bound, with `le`), `_sum` and `_count`, any other sample
    /// itself with no suffix. For the sinks that know only plain series.
    pub fn series(&self) -> impl Iterator<Item = (&'static str, &Sample, Option<&str>, f64)> {
        let kind = self.kind;
        self.samples.iter().flat_map(move |s| {
            let sum = s.sum.unwrap_or(f64::NAN);
            let (buckets, tail): (&[Bucket], [Option<Plain>; 2]) = match kind {
                MetricKind::Summary => (&[], [Some(("_count", s.value)), Some(("_sum", sum))]),
                MetricKind::Histogram => (
                    s.buckets.as_deref().unwrap_or_default(),
                    [Some(("_sum", sum)), Some(("_count", s.value))],
                ),
                _ => (&[], [Some(("", s.value)), None]),
            };
            buckets
                .iter()
                .map(move |b| ("_bucket", s, Some(b.le.as_ref()), b.count))
                .chain(
                    tail.into_iter()
                        .flatten()
                        .map(move |(x, v)| (x, s, None, v)),
                )
        })
    }

    /// Adds an unlabelled sample.
    pub fn set(&mut self, value: f64) -> &mut Self {
        self.samples.push(Sample {
            labels: Vec::new(),
            value,
            sum: None,
            buckets: None,
        });
        self
    }
}
