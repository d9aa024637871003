//! Views of a collection: tables for people, JSON keyed by the classic tools' column names, and the Prometheus
//! exposition with node_exporter / client_java names. No view reads /proc.

pub mod json;
pub mod metrics;
pub mod prom;
pub mod table;
