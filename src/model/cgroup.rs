//! Placeholder section types; the owning collector fills them in.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cgroup {}
