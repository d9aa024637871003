//! Local history, as sadc keeps for `sar -f`: every series of every collection at the collection interval for
//! `raw_retention`, 5-minute min/avg/max rollups for `rollup_retention`, within `max_size` (oldest dropped
//! first). docs/history.md says why SQLite holds pcodec-compressed chunks and what a crash can lose.
//!
//! `store` writes (only the agent's history thread does), `query` reads (the agent's API and `wasp history`,
//! read-only, while the agent runs or after it stopped), `writer` is the thread behind a bounded queue, `codec`
//! the bytes of a chunk, `range` the times people write, `tables` the sar-like tables `wasp history` prints.

pub mod codec;
pub mod query;
pub mod range;
pub mod store;
pub mod tables;
pub mod writer;

use crate::config::units::{ByteSize, Dur};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file under the data directory.
pub const FILE: &str = "history.sqlite";

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// The width of one rollup step: what `sar` prints over a day at its 10-minute default, halved.
pub const ROLLUP_STEP_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Keep the history (on by default: "what happened at 03:10" needs it before anyone knew to ask).
    pub enabled: bool,
    /// Every collection, at the collection interval, for this long.
    pub raw_retention: Dur,
    /// 5-minute min/avg/max of every series for this long.
    pub rollup_retention: Dur,
    /// The store never grows beyond this: the oldest data is dropped first.
    pub max_size: ByteSize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            // Two nights at full resolution: "last night" is always there, whatever time it is asked.
            raw_retention: Dur::secs(2 * 86400),
            // sysstat keeps 28 days on most distributions; a month and a few days covers "same day last month".
            rollup_retention: Dur::secs(35 * 86400),
            // ~450 series at 5 s measure ~20 MB a day raw and ~1 MB a day of rollups (docs/performance.md):
            // 256 MiB holds the defaults for a host with several JVMs, and stays small next to its logs.
            max_size: ByteSize(256 << 20),
        }
    }
}

/// The shortest raw retention: rollups are computed from raw data once a rollup window is complete.
pub const MIN_RAW_RETENTION: Dur = Dur::secs(store::WINDOW_MS as u64 / 1000);

/// The smallest store budget: a few blocks of a few hundred series must fit.
pub const MIN_MAX_SIZE: u64 = 1 << 20;
