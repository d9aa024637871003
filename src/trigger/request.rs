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
        Request::new(kind, select, reason).with_context(context)
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
        let r = scheduled.snapshot_request(Kind::Dump);
        assert_eq!(r.reason, Reason::Schedule("slow".into()));
        assert_eq!(r.context[2], "/var/log/a [OOM] java.lang.OutOfMemoryError");
    }
}
