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
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Label pairs, without the host-wide labels (those are added by each view or sink).
    pub labels: Vec<(Str, Str)>,
    pub value: f64,
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
}

impl MetricSet {
    pub fn new(timestamp_ms: i64) -> Self {
        MetricSet {
            timestamp_ms,
            families: Vec::new(),
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
        // Families are built in order, so the one asked for again is nearly always the last.
        if let Some(i) = self.families.iter().rposition(|f| f.name == name) {
            return &mut self.families[i];
        }
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
        });
        self
    }

    /// Adds an unlabelled sample.
    pub fn set(&mut self, value: f64) -> &mut Self {
        self.samples.push(Sample {
            labels: Vec::new(),
            value,
        });
        self
    }
}
