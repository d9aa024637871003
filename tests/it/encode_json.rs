//! NDJSON (file and http_json sinks) and Elasticsearch `_bulk` bodies read back line by line.

use crate::common::encode::*;
use proptest::prelude::*;
use serde_json::Value;
use std::io::Read;
use std::process::Command;
use std::sync::Arc;
use wasp::model::Document;
use wasp::ship::encode::{Batch, jsonl};
use wasp::ship::sinks::elasticsearch as es;

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn docs_batch() -> Batch {
    let mut b = batch(2);
    b.documents = vec![
        Arc::new(document("thread_dump", T0 + 10, "4242")),
        Arc::new(document("thread_dump", T0 + 10, "4243")),
        Arc::new(document("Event", T0 + 86_400_000, "4242")),
    ];
    b
}

#[test]
fn jsonl_collections_are_the_file_outputs_lines() {
    let _floor = crate::common::beside();
    let b = docs_batch();
    // The reference for the collection lines: the model's own JSON, one per line (what `wasp once --format
    // json` and earlier file outputs wrote).
    let file: String = b
        .metrics
        .iter()
        .map(|m| serde_json::to_string(&*m.collection).unwrap() + "\n")
        .collect();

    let enc = jsonl::encode(&b, &origin(), false);
    let text = String::from_utf8(enc.body.clone()).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    assert_eq!((enc.items, enc.skipped), (5, 0));
    assert_eq!((enc.min_ts_ms, enc.max_ts_ms), (T0, T0 + 86_400_000));
    assert_eq!(lines[..2].join("\n") + "\n", file);
    for (line, d) in lines[2..].iter().zip(&b.documents) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["host"], "was01");
        let back: Document = serde_json::from_value(v).unwrap();
        assert_eq!(&back, &**d);
    }
    assert_eq!(gunzip(&jsonl::encode(&b, &origin(), true).body), enc.body);
}

#[test]
fn bulk_pairs_create_actions_with_dated_indices_and_stable_ids() {
    let _floor = crate::common::beside();
    let b = docs_batch();
    let enc = es::encode(&b, &origin(), "wasp-{kind}-%Y.%m.%d", false);
    let text = String::from_utf8(enc.body.clone()).unwrap();
    assert!(text.ends_with('\n'), "_bulk needs the final newline");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        6,
        "an action and a source per document; collections are not sent"
    );
    assert_eq!(
        (enc.items, enc.min_ts_ms, enc.max_ts_ms),
        (3, T0 + 10, T0 + 86_400_000)
    );
    let mut ids = Vec::new();
    for (pair, d) in lines.chunks(2).zip(&b.documents) {
        let action = pair[0]["create"].as_object().expect("a create action");
        assert_eq!(action.len(), 2);
        ids.push(action["_id"].as_str().unwrap().to_string());
        let src = &pair[1];
        assert_eq!(src["host"], "was01");
        assert_eq!(src["kind"], d.kind.as_str());
        assert_eq!(src["timestamp_ms"], d.timestamp_ms);
        assert_eq!(src["labels"]["pid"], d.labels["pid"].as_str());
        assert_eq!(src["body"], d.body);
    }
    // 1795000000 s is 2026-11-18T11:06:40Z (date -u -d @1795000000).
    assert_eq!(lines[0]["create"]["_index"], "wasp-thread_dump-2026.11.18");
    assert_eq!(lines[1]["@timestamp"], "2026-11-18T11:06:40.010Z");
    assert_eq!(lines[4]["create"]["_index"], "wasp-event-2026.11.19");
    assert!(
        ids.iter()
            .all(|i| i.len() == 32 && i.chars().all(|c| c.is_ascii_hexdigit()))
    );
    assert_ne!(
        ids[0], ids[1],
        "documents differing in one label differ in _id"
    );
    // Deterministic: the same documents give the same ids, also from a batch that holds them alone.
    let again = Batch {
        metrics: vec![],
        documents: b.documents.clone(),
    };
    assert_eq!(
        es::encode(&again, &origin(), "wasp-{kind}-%Y.%m.%d", false).body,
        enc.body
    );
    let mut other = origin();
    other.hostname = "was02".into();
    assert_ne!(es::doc_id(&other.hostname, &b.documents[0]), ids[0]);
    assert_eq!(
        gunzip(&es::encode(&b, &origin(), "wasp-{kind}-%Y.%m.%d", true).body),
        enc.body
    );
}

#[test]
fn timestamps_match_date() {
    let _floor = crate::common::beside();
    let mut ts: Vec<i64> = vec![0, -1, 951_782_400_000, 4_107_542_399_999, T0, -86_400_001];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ts.push((x % 8_000_000_000_000) as i64 - 1_000_000_000_000);
    }
    for t in ts {
        let secs = t.div_euclid(1000);
        let out = Command::new("date")
            .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S"])
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        let want = format!(
            "{}.{:03}Z",
            String::from_utf8_lossy(&out.stdout).trim(),
            t.rem_euclid(1000)
        );
        assert_eq!(es::iso8601(t), want, "{t}");
    }
}

#[test]
fn index_patterns() {
    let _floor = crate::common::beside();
    let d = document("class_histogram", T0, "1");
    assert_eq!(
        es::index_name("logs-%Y-%m-%d_%H%%x%q", &d),
        "logs-2026-11-18_11%x%q"
    );
    assert!(es::check_index_pattern("wasp-{kind}-%Y.%m.%d").is_ok());
    for bad in ["Wasp-%Y", "_wasp", "a b", "a/b", "", ".."] {
        assert!(es::check_index_pattern(bad).is_err(), "{bad}");
    }
}

/// A bulk answer shaped as Elasticsearch 8 writes it, with one item of each outcome.
const BULK_ANSWER: &str = r#"{"errors":true,"took":3,"items":[
 {"create":{"_index":"wasp-2026.11.18","_id":"a","_version":1,"result":"created","status":201}},
 {"create":{"_index":"wasp-2026.11.18","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[b]: version conflict, document already exists (current version [1])","index":"wasp-2026.11.18"}}},
 {"create":{"_index":"wasp-2026.11.18","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}},
 {"create":{"_index":"wasp-2026.11.18","_id":"d","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [body.threads] of type [long]","caused_by":{"type":"illegal_argument_exception"}}}},
 {"index":{"_index":"x","_id":"e","status":200}}
]}"#;

#[test]
fn bulk_answer_is_sorted_into_outcomes() {
    let _floor = crate::common::beside();
    let o = es::parse_response(BULK_ANSWER.as_bytes()).unwrap();
    assert_eq!((o.ok, o.conflicts), (2, 1));
    assert_eq!(o.retry, vec![2]);
    assert_eq!(
        o.rejected,
        vec![(
            400,
            "mapper_parsing_exception: failed to parse field [body.threads] of type [long]"
                .to_string()
        )]
    );
    assert!(es::parse_response(b"<html>502</html>").is_err());
    assert!(es::parse_response(br#"{"error":"x"}"#).is_err());

    // The retried item is resent alone, action and source together, compressed as the original was.
    let b = docs_batch();
    for gzip in [false, true] {
        let enc = es::encode(&b, &origin(), "wasp-%Y.%m.%d", gzip);
        let sel = es::select(&enc.body, gzip, &o.retry).unwrap();
        let sel = if gzip { gunzip(&sel) } else { sel };
        let plain = if gzip {
            gunzip(&enc.body)
        } else {
            enc.body.clone()
        };
        let all: Vec<&str> = std::str::from_utf8(&plain).unwrap().lines().collect();
        assert_eq!(
            String::from_utf8(sel).unwrap(),
            format!("{}\n{}\n", all[4], all[5])
        );
        assert!(es::select(&enc.body, gzip, &[3]).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_document_makes_valid_pairs(
        kind in "\\PC{0,12}",
        ts in -10_000_000_000_000i64..10_000_000_000_000,
        labels in prop::collection::btree_map("\\PC{0,8}", "\\PC{0,8}", 0..4),
        text in "\\PC{0,20}",
        pattern in "(\\PC|%[YmdH%x]|\\{kind\\}){0,12}",
        host in "\\PC{0,10}",
    ) {
        let d = Document { kind, timestamp_ms: ts, labels, body: serde_json::json!({ "t": text }) };
        let b = Batch { metrics: vec![], documents: vec![Arc::new(d.clone())] };
        let mut o = origin();
        o.hostname = host.clone();
        let enc = es::encode(&b, &o, &pattern, false);
        let text = String::from_utf8(enc.body).unwrap();
        prop_assert!(text.ends_with('\n'));
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        prop_assert_eq!(lines.len(), 2);
        prop_assert_eq!(lines[0]["create"]["_index"].as_str().unwrap(), es::index_name(&pattern, &d));
        prop_assert_eq!(lines[1]["host"].as_str().unwrap(), host.as_str());
        let back: Document = serde_json::from_value(lines[1].clone()).unwrap();
        prop_assert_eq!(&back, &d);
        let j = jsonl::encode(&b, &o, false);
        let v: Value = serde_json::from_slice(&j.body).unwrap();
        prop_assert_eq!(&serde_json::from_value::<Document>(v).unwrap(), &d);
    }

    #[test]
    fn any_answer_is_read_or_refused(body in prop::collection::vec(any::<u8>(), 0..200), n in 0usize..4) {
        let _ = es::parse_response(&body);
        let _ = es::select(&body, false, &[n]);
        let _ = es::select(&body, true, &[n]);
    }
}
