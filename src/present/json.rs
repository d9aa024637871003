//! The JSON view: the model as it is, since it is already keyed by the tools' column names.

use crate::model::Collection;

pub fn to_string_pretty(c: &Collection) -> String {
    serde_json::to_string_pretty(c).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

pub fn to_line(c: &Collection) -> String {
    serde_json::to_string(c).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
