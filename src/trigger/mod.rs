//! Triggers: decide *when* to take snapshots. Rules over the collected figures (`expr`, `figures`, `rules`),
//! schedules, log watches, service checks, and the actions they run (`action`), wired per collection by
//! `engine`. What is captured and kept is the snapshot layer's (`crate::snapshot`): triggers ask it through its
//! one request type, never the reverse.

pub mod action;
pub mod check;
pub mod engine;
pub mod expr;
pub mod figures;
pub mod logwatch;
pub mod request;
pub mod rules;
pub mod schedule;

/// The configuration sections the triggers read, borrowed from the whole configuration
/// (`Config::triggers`), so that this layer does not depend on the assembled file.
#[derive(Debug, Clone, Copy)]
pub struct Sections<'a> {
    pub rules: &'a [rules::RuleConfig],
    pub schedules: &'a [schedule::ScheduleConfig],
    pub logs: &'a [logwatch::LogWatchConfig],
    pub checks: &'a [check::CheckConfig],
}
