//! From a rule or schedule firing to the snapshot layer's one request type: which JVMs, why, and the lines
//! that explain the moment. Here, with the triggers, because it is their knowledge; the snapshot layer only
//! carries requests out.

use super::action::Firing;
use crate::snapshot::request::{Kind, Reason, Request, Select};

impl Firing {
    /// The snapshot this firing asks for: the JVM a per-JVM rule fired for, the JVMs in a host rule's scope, or
    /// every JVM; the rule or schedule as the reason; the condition, the figures it read and the matched log
    /// lines as context.
    pub fn snapshot_request(&self, kind: Kind) -> Request {
        let select = match (self.pid, self.jvms.is_empty()) {
            // A rule on an event takes the siblings of the process it is about: that one is usually gone.
            _ if self.event.is_some() => Select::Siblings {
                app: self.app.clone(),
                of: self.pid.unwrap_or(0),
            },
            (Some(p), _) => Select::Pid(p),
            (None, false) => Select::Apps(self.jvms.clone()),
            (None, true) => Select::All,
        };
        let reason = if self.source == "schedule" {
            Reason::Schedule(self.rule.clone())
        } else {
            Reason::Rule(self.rule.clone())
        };
        let context = std::iter::once(format!("{} {}: {}", self.source, self.rule, self.when))
            .chain(self.figures.iter().map(|(k, v)| format!("{k} = {v}")))
            .chain(
                self.log_lines
                    .iter()
                    .map(|l| format!("{} [{}] {}", l.file, l.pattern, l.line)),
            );
        let context = context.chain(self.event.iter().map(|e| format!("event: {}", e.message)));
        let r = Request::new(kind, select, reason).with_context(context);
        match &self.event {
            Some(e) => r.with_event((**e).clone()),
            None => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::logwatch::Matched;

    fn firing() -> Firing {
        Firing {
            source: "rule",
            rule: "slow".into(),
            when: "jvm.blocked_threads > 3".into(),
            timestamp_ms: 0,
            host: "h".into(),
            pid: None,
            app: None,
            jvms: Vec::new(),
            figures: [("jvm.blocked_threads".to_string(), 5.0)].into(),
            log_lines: Vec::new(),
            event: None,
        }
    }

    #[test]
    fn a_firing_maps_to_its_jvms_reason_and_context() {
        let f = firing();
        let r = f.snapshot_request(Kind::Bundle);
        assert_eq!((r.kind, &r.select), (Kind::Bundle, &Select::All));
        assert_eq!(r.reason, Reason::Rule("slow".into()));
        assert_eq!(
            r.context,
            [
                "rule slow: jvm.blocked_threads > 3",
                "jvm.blocked_threads = 5"
            ]
        );
        let scoped = Firing {
            jvms: vec!["shop".into()],
            ..firing()
        };
        assert_eq!(
            scoped.snapshot_request(Kind::Dump).select,
            Select::Apps(vec!["shop".into()])
        );
        let per_jvm = Firing {
            pid: Some(42),
            jvms: vec!["shop".into()],
            ..firing()
        };
        assert_eq!(
            per_jvm.snapshot_request(Kind::Histo).select,
            Select::Pid(42)
        );
        let scheduled = Firing {
            source: "schedule",
            log_lines: vec![Matched {
                file: "/var/log/a".into(),
                pattern: "OOM".into(),
                line: "java.lang.OutOfMemoryError".into(),
                timestamp_ms: 0,
            }],
            ..firing()
        };
        let mut crash = crate::model::event::Event::new(
            crate::model::event::EventKind::JvmCrash,
            "jvm",
            0,
            "JVM shop (pid 7) crashed".into(),
        );
        crash.pid = Some(7);
        crash.app = Some("shop".into());
        let on_event = Firing {
            pid: Some(7),
            app: Some("shop".into()),
            event: Some(Box::new(crash.clone())),
            ..firing()
        };
        let r = on_event.snapshot_request(Kind::Bundle);
        assert_eq!(
            r.select,
            Select::Siblings {
                app: Some("shop".into()),
                of: 7
            }
        );
        assert_eq!(r.event.as_deref(), Some(&crash));
        assert_eq!(r.context.last().unwrap(), "event: JVM shop (pid 7) crashed");
        let r = scheduled.snapshot_request(Kind::Dump);
        assert_eq!(r.reason, Reason::Schedule("slow".into()));
        assert_eq!(r.context[2], "/var/log/a [OOM] java.lang.OutOfMemoryError");
    }
}
