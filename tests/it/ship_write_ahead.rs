//! Write-ahead at collection time: every collection is in the sink's spool the moment it is taken, so `kill -9`
//! during a backend outage loses only the seconds the agent was not running.

use crate::common::backends::*;
use crate::common::*;
use crate::ship_outage::{agent, prom_times, rw_sink, self_metric, term, wait_drained};

use std::time::{Duration, Instant};

/// Collections missing between the first and the last one Prometheus holds, from the gaps between them (a gap
/// of n intervals is n - 1 missing collections; a restart may shift the phase, hence the rounding).
pub(crate) fn missing(times: &[i64], interval_ms: i64) -> i64 {
    times
        .windows(2)
        .map(|w| ((w[1] - w[0]) as f64 / interval_ms as f64).round() as i64 - 1)
        .sum()
}

#[test]
fn five_kills_during_a_minute_outage_lose_only_the_seconds_the_agent_was_down() {
    let _floor = crate::common::beside();
    if !(require("prometheus") && require("curl")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut prom = prometheus(dir.path());
    let port = free_port();
    let sinks = rw_sink("prom", &prom.base(), "");
    let mut a = agent(dir.path(), &sinks, "1s", port);
    std::thread::sleep(Duration::from_secs(5));
    prom.stop();
    // Five kills at random moments, one in each 11-second slot of the minute, each restarted 1 s later.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let outage = Instant::now();
    let mut kills = Vec::new();
    for slot in 0..5u64 {
        let at = Duration::from_millis(slot * 11_000 + 1_000 + next() % 8_000);
        std::thread::sleep(at.saturating_sub(outage.elapsed()));
        a.0.kill().unwrap();
        let _ = a.0.wait();
        kills.push(outage.elapsed().as_millis());
        std::thread::sleep(Duration::from_secs(1));
        a = agent(dir.path(), &sinks, "1s", port);
    }
    std::thread::sleep(Duration::from_secs(60).saturating_sub(outage.elapsed()));
    prom.restart();
    wait_drained(port, &["prom"], Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(2));
    // The last agent holds most of the minute in its spool: batched from disk, a handful of requests.
    let sent = self_metric(port, "wasp_sink_sent_batches_total", "sink=\"prom\"").unwrap_or(-1.0);
    term(&mut a);

    let times: Vec<i64> = prom_times(prom.port).into_iter().collect();
    let lost = missing(&times, 1000);
    eprintln!(
        "kills at {kills:?} ms into the outage; Prometheus holds {} collections over {} s, {lost} missing",
        times.len(),
        (times.last().unwrap() - times[0]) / 1000
    );
    assert!(
        times.len() >= 60,
        "the minute of outage and the seconds around it: {}",
        times.len()
    );
    assert!(
        (1.0..=20.0).contains(&sent),
        "the spooled outage goes out batched from disk, not one request per collection: {sent} requests"
    );
    assert!(
        lost <= 2 * 5,
        "{lost} one-second collections missing after 5 kills (at most 2 per restart)"
    );
}

#[test]
fn missing_counts_the_intervals_a_gap_spans() {
    assert_eq!(missing(&[0, 1000, 2000], 1000), 0);
    assert_eq!(missing(&[0, 1000, 4100, 5000], 1000), 2);
    assert_eq!(missing(&[0, 1400, 2400], 1000), 0);
}
