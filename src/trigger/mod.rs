//! Triggers: decide when to take snapshots (signals, control socket, schedules, rules, log and service watches)
//! and assemble incident bundles.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TriggerConfig {}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleConfig {}
