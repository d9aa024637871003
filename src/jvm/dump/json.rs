//! JDK 21+ `jcmd <pid> Thread.dump_to_file -format=json`: every thread, virtual ones included, by thread
//! container. Field types vary between JDK releases (ids as strings or numbers; no "state" before JDK 24), so
//! values are read leniently.

use super::model::{Frame, Lock, Thread, ThreadDump, lock_of};
use serde_json::Value;

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn lock(v: &Value) -> Option<Lock> {
    let s = match v {
        Value::Object(o) => text(o.get("object")?)?,
        _ => text(v)?,
    };
    lock_of(&s).or(Some(Lock {
        address: s.clone(),
        class: s,
    }))
}

fn thread(t: &Value) -> Option<Thread> {
    let o = t.as_object()?;
    let mut th = Thread {
        name: o.get("name").and_then(text).unwrap_or_default(),
        id: o.get("tid").and_then(text).and_then(|s| s.parse().ok()),
        virtual_thread: o.get("virtual").and_then(Value::as_bool).unwrap_or(false),
        state: o.get("state").and_then(text).unwrap_or_default(),
        ..Default::default()
    };
    for f in o
        .get("stack")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(s) = text(f) {
            th.frames.push(Frame {
                frame: s,
                locks: Vec::new(),
            });
        }
    }
    let wait = [
        ("blockedOn", "waiting to lock"),
        ("parkBlocker", "parking to wait for"),
        ("waitingOn", "waiting on"),
    ]
    .into_iter()
    .find_map(|(k, kind)| Some((kind, lock(o.get(k)?)?)));
    if let Some((kind, l)) = wait {
        if kind == "parking to wait for" {
            th.state_detail = "parking".into();
        }
        if th.frames.is_empty() {
            th.frames.push(Frame::default());
        }
        th.frames[0].locks.push((kind.to_string(), l));
    }
    for m in o
        .get("monitorsOwned")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let depth = m.get("depth").and_then(Value::as_u64).unwrap_or(0) as usize;
        for l in m
            .get("locks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(l) = lock(l) {
                match th.frames.get_mut(depth) {
                    Some(f) => f.locks.push(("locked".into(), l)),
                    None => th.ownable_synchronizers.push(l),
                }
            }
        }
    }
    if let Some(c) = o.get("carrier").and_then(text) {
        th.notes.push(format!("Mounted on carrier #{c}"));
    }
    super::header::infer_state(&mut th);
    Some(th)
}

/// One JSON document; None when it is not a thread dump.
pub fn dump(doc: &Value) -> Option<ThreadDump> {
    let td = doc.get("threadDump")?;
    let mut d = ThreadDump {
        format: "json".into(),
        vm: td.get("runtimeVersion").and_then(text),
        timestamp: td.get("time").and_then(text),
        pid: td
            .get("processId")
            .and_then(text)
            .and_then(|s| s.parse().ok()),
        ..Default::default()
    };
    for c in td
        .get("threadContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for t in c
            .get("threads")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match thread(t) {
                Some(th) => d.threads.push(th),
                None => d.unparsed_line(&t.to_string()),
            }
        }
    }
    // A mounted virtual thread names its carrier; the carrier learns what it carries, as in jstack's text.
    let mounted: Vec<(u64, u64)> = d
        .threads
        .iter()
        .filter_map(|t| {
            let c = t
                .notes
                .iter()
                .find_map(|n| n.strip_prefix("Mounted on carrier #")?.parse().ok())?;
            Some((c, t.id?))
        })
        .collect();
    for (carrier, vt) in mounted {
        if let Some(c) = d.threads.iter_mut().find(|t| t.id == Some(carrier)) {
            c.notes.push(format!("Carrying virtual thread #{vt}"));
        }
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdk25_json_dump() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/dumps/jdk25-jcmd-thread-dump-to-file.json");
        let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        let d = dump(&v).unwrap();
        assert_eq!(d.pid, Some(18284));
        let a = d.threads.iter().find(|t| t.name == "deadlock-A").unwrap();
        assert_eq!(a.state, "BLOCKED");
        assert_eq!(
            a.waiting_for().unwrap().address,
            "java.lang.Object@1ae00d73"
        );
        assert_eq!(
            a.locks_held().next().unwrap().address,
            "java.lang.Object@78fd3366"
        );
        assert!(d.threads.iter().any(|t| t.virtual_thread));
    }

    #[test]
    fn lenient_values() {
        let v: Value = serde_json::from_str(r#"{"threadDump":{"processId":12,"threadContainers":[{"threads":[{"tid":5,"name":"x","stack":["A.b(A.java:1)"]},{"tid":"6","name":"v","virtual":true,"carrier":"5","stack":[]},7]}]}}"#).unwrap();
        let d = dump(&v).unwrap();
        assert_eq!(d.threads.len(), 2);
        assert_eq!(d.unparsed_count, 1);
        assert_eq!(d.threads[0].carrying(), Some(6));
        assert_eq!(d.threads[0].state, "RUNNABLE");
        assert!(dump(&serde_json::json!({"x": 1})).is_none());
    }
}
