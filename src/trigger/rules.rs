//! Rules: a condition over the collected figures, held for a while, then actions, then a cooldown.
//!
//! Evaluated once per collection on what the loop already holds: no I/O, a few comparisons per rule. A rule
//! that reads any `jvm.*` figure is per JVM: it is evaluated, held and cooled down for each JVM on its own
//! (optionally only those whose app name matches `scope`), and its actions get that JVM. A host rule with a
//! `scope` fires once, and its snapshots take the JVMs in scope.
//!
//! A condition whose figures are missing in a collection (a collector skipped, a JVM without counters) is
//! unknown: it neither fires nor resets the `for` clock.
//!
//! A rule that reads any `event.*` figure is an event rule: it is evaluated once for each event recorded
//! since the previous collection (those whose app `scope` matches), with that event's fields, and once with
//! no event when none came (every `event.*` figure unknown). So an event condition is true only in the
//! evaluation its event arrived in — an edge, not a state: `for` is refused on it, and it cannot read `jvm.*`
//! figures (the JVM an event is about is often gone). Its snapshots take the event's siblings (`request`).

use super::action::{ActionKind, Firing, Plan, ScriptConfig, WebhookConfig};
use super::expr::Value;
use super::expr::{self, Expr};
use super::figures::{Catalogue, Fig, View};
use super::logwatch::Matched;
use crate::config::units::{Dur, Pattern};
use crate::model::event::Event;
use crate::model::{Collection, MetricSet};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    /// The condition, e.g. "jvm.old_after_gc_pct > 90%".
    pub when: toml::Spanned<String>,
    /// How long the condition must hold before the rule fires (default: at once).
    #[serde(rename = "for", default)]
    pub hold: Dur,
    /// After firing, the rule (for that JVM) stays quiet this long.
    #[serde(default = "default_cooldown")]
    pub cooldown: Dur,
    /// JVMs whose app name matches this regular expression: the only ones a per-JVM rule is evaluated for;
    /// the ones a host rule's snapshots take (default: every JVM).
    #[serde(default)]
    pub scope: Option<Pattern>,
    #[serde(rename = "do")]
    pub actions: Vec<ActionKind>,
    #[serde(default)]
    pub script: Option<ScriptConfig>,
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
}

fn default_cooldown() -> Dur {
    Dur::secs(600)
}

pub struct Rule {
    pub name: String,
    pub when: String,
    expr: Expr<Fig>,
    per_jvm: bool,
    on_events: bool,
    hold: Duration,
    cooldown: Duration,
    scope: Option<Pattern>,
    pub plan: Plan,
    /// Log watches the condition reads: their matched lines go with the firing.
    logs: Vec<usize>,
}

/// Why a rule is refused: a place in its condition, or one of its keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// Byte offset into `when`.
    When(usize),
    Key(&'static str),
}

pub fn compile(
    cfgs: &[RuleConfig],
    cat: &Catalogue<'_>,
) -> Result<Vec<Rule>, (usize, Place, String)> {
    let mut out: Vec<Rule> = Vec::new();
    for (i, r) in cfgs.iter().enumerate() {
        if r.name.trim().is_empty() {
            return Err((i, Place::Key("name"), "a rule needs a name".into()));
        }
        if out.iter().any(|o| o.name == r.name) {
            return Err((
                i,
                Place::Key("name"),
                format!("a rule named \"{}\" is already defined", r.name),
            ));
        }
        let resolve = |n: &str, a: Option<&str>| cat.resolve(n, a);
        let expr = expr::parse(r.when.get_ref(), &resolve)
            .map_err(|e| (i, Place::When(e.offset), e.message))?;
        let figs = expr.figures();
        let per_jvm = figs.iter().any(|(f, _)| f.is_jvm());
        let on_events = figs.iter().any(|(f, _)| f.is_event());
        if on_events {
            if let Some((_, name)) = figs.iter().find(|(f, _)| f.is_jvm()) {
                let at = r.when.get_ref().find(name).unwrap_or(0);
                return Err((
                    i,
                    Place::When(at),
                    format!(
                        "a rule on event.* cannot read {name}: the JVM an event is about is often gone; \
                         test event.app, or give the rule a scope"
                    ),
                ));
            }
            if !r.hold.0.is_zero() {
                return Err((
                    i,
                    Place::Key("for"),
                    "`for` does not apply to a rule on event.*: an event is true only in the collection \
                     it arrived in; remove `for` (the cooldown limits repeats)"
                        .into(),
                ));
            }
        }
        let mut logs: Vec<usize> = figs.iter().filter_map(|(f, _)| f.log_watch()).collect();
        logs.dedup();
        let plan = Plan {
            actions: r.actions.clone(),
            script: r.script.clone(),
            webhook: r.webhook.clone(),
        };
        super::action::validate(&plan).map_err(|m| (i, Place::Key("do"), m))?;
        out.push(Rule {
            name: r.name.clone(),
            when: r.when.get_ref().clone(),
            expr,
            per_jvm,
            on_events,
            hold: r.hold.0,
            cooldown: r.cooldown.0,
            scope: r.scope.clone(),
            plan,
            logs,
        });
    }
    Ok(out)
}

#[derive(Default, Clone, Copy)]
struct State {
    /// Since when the condition has held.
    since: Option<Instant>,
    last_fired: Option<Instant>,
}

/// A JVM is itself by pid and start time (a reused pid is another JVM); None for host rules.
type Target = Option<(u32, u64)>;

#[derive(Default, Clone, Copy)]
struct Stats {
    fired: u64,
    suppressed: u64,
    holding: u64,
    /// Collection time of the last firing, and the JVM it was for.
    last_ms: Option<i64>,
    last_pid: Option<u32>,
}

pub struct Engine {
    pub rules: Vec<Rule>,
    states: HashMap<(usize, Target), State>,
    stats: Vec<Stats>,
}

impl Engine {
    pub fn new(rules: Vec<Rule>) -> Engine {
        let stats = vec![Stats::default(); rules.len()];
        Engine {
            rules,
            states: HashMap::new(),
            stats,
        }
    }

    /// After a reload: a rule with the same name and condition keeps its counters, its `for` clocks and its
    /// cooldowns, so that a reload neither re-fires a rule nor resets its counters.
    pub fn carry_over(&mut self, old: Engine) {
        for (ni, r) in self.rules.iter().enumerate() {
            let Some(oi) = old
                .rules
                .iter()
                .position(|o| o.name == r.name && o.when == r.when)
            else {
                continue;
            };
            self.stats[ni] = old.stats[oi];
            for ((ri, t), st) in &old.states {
                if *ri == oi {
                    self.states.insert((ni, *t), *st);
                }
            }
        }
    }

    /// Evaluates every rule on one collection and the events recorded since the previous one; returns the
    /// rules that fire now, with their context.
    pub fn evaluate(
        &mut self,
        c: &Collection,
        events: &[Event],
        view: &View,
        now: Instant,
        recent: &dyn Fn(usize) -> Vec<Matched>,
    ) -> Vec<(usize, Firing)> {
        let mut out = Vec::new();
        let mut live = HashSet::new();
        for (ri, rule) in self.rules.iter().enumerate() {
            self.stats[ri].holding = 0;
            let mut targets: Vec<(Option<&crate::model::jvm::Jvm>, Option<&Event>)> =
                if rule.per_jvm {
                    c.jvms
                        .iter()
                        .filter(|j| rule.scope.as_ref().is_none_or(|s| s.is_match(&j.app)))
                        .map(|j| (Some(j), None))
                        .collect()
                } else if rule.on_events {
                    events
                        .iter()
                        .filter(|e| {
                            rule.scope
                                .as_ref()
                                .is_none_or(|s| e.app.as_deref().is_some_and(|a| s.is_match(a)))
                        })
                        .map(|e| (None, Some(e)))
                        .collect()
                } else {
                    vec![(None, None)]
                };
            if rule.on_events && targets.is_empty() {
                targets.push((None, None));
            }
            for (jvm, event) in targets {
                let key = (ri, jvm.map(|j| (j.pid, j.start_time)));
                live.insert(key);
                let verdict = rule.expr.eval(&mut |f| match f {
                    Fig::Event(ef) => ef.value(event?),
                    _ => view.value(f, c, jvm).map(Value::Num),
                });
                let st = self.states.entry(key).or_default();
                match verdict {
                    Some(false) => {
                        st.since = None;
                        continue;
                    }
                    None => continue,
                    Some(true) => {}
                }
                self.stats[ri].holding += 1;
                let since = *st.since.get_or_insert(now);
                if now.duration_since(since) < rule.hold {
                    continue;
                }
                if st
                    .last_fired
                    .is_some_and(|t| now.duration_since(t) < rule.cooldown)
                {
                    self.stats[ri].suppressed += 1;
                    continue;
                }
                st.last_fired = Some(now);
                self.stats[ri].fired += 1;
                self.stats[ri].last_ms = Some(c.timestamp_ms);
                self.stats[ri].last_pid = jvm.map(|j| j.pid).or(event.and_then(|e| e.pid));
                let mut figures = BTreeMap::new();
                for (f, text) in rule.expr.figures() {
                    let v = match (f, event) {
                        (Fig::Event(ef), Some(e)) => match ef.value(e) {
                            Some(Value::Num(n)) => Some(n),
                            _ => None,
                        },
                        _ => view.value(f, c, jvm),
                    };
                    if let Some(v) = v {
                        figures.insert(text.to_string(), v);
                    }
                }
                let mut log_lines = Vec::new();
                for w in &rule.logs {
                    log_lines.extend(recent(*w));
                }
                out.push((
                    ri,
                    Firing {
                        source: "rule",
                        rule: rule.name.clone(),
                        when: rule.when.clone(),
                        timestamp_ms: c.timestamp_ms,
                        host: c.hostname.clone(),
                        pid: jvm.map(|j| j.pid).or(event.and_then(|e| e.pid)),
                        app: jvm
                            .map(|j| j.app.clone())
                            .or(event.and_then(|e| e.app.clone())),
                        jvms: match (&rule.scope, jvm) {
                            (Some(s), None) if event.is_none() => c
                                .jvms
                                .iter()
                                .filter(|j| s.is_match(&j.app))
                                .map(|j| j.app.clone())
                                .collect(),
                            _ => Vec::new(),
                        },
                        figures,
                        log_lines,
                        event: event.cloned().map(Box::new),
                    },
                ));
            }
        }
        // A JVM that is gone takes its rule states with it (bounded by the JVMs present).
        self.states.retain(|k, _| live.contains(k));
        out
    }

    /// One line per rule for `wasp status`: "holding 1, fired 3, last 2026-...Z (pid 4242): when".
    pub fn status_lines(&self) -> Vec<(String, String)> {
        self.rules
            .iter()
            .zip(&self.stats)
            .map(|(r, s)| {
                let last = match (s.last_ms, s.last_pid) {
                    (Some(t), Some(p)) => {
                        format!(", last {} (pid {p})", crate::util::clock::utc(t))
                    }
                    (Some(t), None) => format!(", last {}", crate::util::clock::utc(t)),
                    _ => String::new(),
                };
                (
                    format!("rule {}", r.name),
                    format!(
                        "holding {}, fired {}, suppressed {}{last}: {}",
                        s.holding, s.fired, s.suppressed, r.when
                    ),
                )
            })
            .collect()
    }

    pub fn add_metrics(&self, m: &mut MetricSet) {
        let fam = m.counter(
            "wasp_rule_fired_total",
            "Times a rule fired (per JVM for per-JVM rules).",
        );
        for (r, s) in self.rules.iter().zip(&self.stats) {
            fam.push([("rule", r.name.clone())], s.fired as f64);
        }
        let fam = m.counter(
            "wasp_rule_suppressed_total",
            "Collections in which a rule would have fired but was in its cooldown.",
        );
        for (r, s) in self.rules.iter().zip(&self.stats) {
            fam.push([("rule", r.name.clone())], s.suppressed as f64);
        }
        let fam = m.gauge(
            "wasp_rule_holding",
            "Targets (the host, or JVMs for per-JVM rules) for which a rule's condition is true now.",
        );
        for (r, s) in self.rules.iter().zip(&self.stats) {
            fam.push([("rule", r.name.clone())], s.holding as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu::{Cpu, CpuUtil};
    use crate::model::event::EventKind;
    use crate::model::jvm::{Jvm, JvmFigures};

    fn rule(when: &str, hold: u64, cooldown: u64) -> RuleConfig {
        let toml = format!(
            "name = \"r\"\nwhen = \"{when}\"\nfor = \"{hold}s\"\ncooldown = \"{cooldown}s\"\ndo = [\"log\"]\n"
        );
        toml::from_str(&toml).unwrap()
    }

    fn engine(r: RuleConfig) -> Engine {
        let cat = Catalogue {
            logs: &[],
            checks: &[],
        };
        Engine::new(compile(&[r], &cat).unwrap_or_else(|e| panic!("{e:?}")))
    }

    fn host(busy: f64) -> Collection {
        Collection {
            cpu: Some(Cpu {
                all: Some(CpuUtil {
                    idle: 100.0 - busy,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn holds_for_then_fires_then_cools_down() {
        let mut e = engine(rule("host.cpu_busy_pct > 40", 3, 10));
        let v = View::default();
        let t0 = Instant::now();
        let none = |_| Vec::new();
        let mut fired = |c: &Collection, s| e.evaluate(c, &[], &v, secs(t0, s), &none).len();
        assert_eq!(fired(&host(90.0), 0), 0);
        assert_eq!(fired(&host(90.0), 2), 0);
        assert_eq!(fired(&host(90.0), 3), 1, "held for 3 s");
        assert_eq!(fired(&host(90.0), 4), 0, "cooldown");
        // A missing figure neither fires nor resets.
        assert_eq!(fired(&Collection::default(), 12), 0);
        assert_eq!(fired(&host(90.0), 13), 1, "after the cooldown, still true");
        assert_eq!(fired(&host(10.0), 30), 0);
        assert_eq!(fired(&host(90.0), 31), 0, "the for clock restarted");
        assert_eq!(fired(&host(90.0), 34), 1);
    }

    #[test]
    fn a_reload_keeps_the_cooldown_of_an_unchanged_rule() {
        let mut e = engine(rule("host.cpu_busy_pct > 40", 0, 60));
        let v = View::default();
        let t0 = Instant::now();
        assert_eq!(
            e.evaluate(&host(90.0), &[], &v, t0, &|_| Vec::new()).len(),
            1
        );
        let mut fresh = engine(rule("host.cpu_busy_pct > 40", 0, 60));
        fresh.carry_over(e);
        assert_eq!(
            fresh
                .evaluate(&host(90.0), &[], &v, secs(t0, 1), &|_| Vec::new())
                .len(),
            0
        );
        assert_eq!(fresh.stats[0].fired, 1);
        // A changed condition is a new rule.
        let mut changed = engine(rule("host.cpu_busy_pct > 41", 0, 60));
        changed.carry_over(fresh);
        assert_eq!(
            changed
                .evaluate(&host(90.0), &[], &v, secs(t0, 2), &|_| Vec::new())
                .len(),
            1
        );
    }

    #[test]
    fn per_jvm_rules_fire_per_jvm_within_scope() {
        let mut r = rule("jvm.threads > 100", 0, 60);
        r.scope = Some(Pattern::new("^bill").unwrap());
        let mut e = engine(r);
        let j = |pid, app: &str, threads| Jvm {
            pid,
            app: app.into(),
            start_time: 1,
            figures: Some(JvmFigures {
                threads_live: threads,
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = Collection {
            jvms: vec![
                j(1, "billing", 500),
                j(2, "billing-2", 50),
                j(3, "orders", 500),
            ],
            ..Default::default()
        };
        let f = e.evaluate(&c, &[], &View::default(), Instant::now(), &|_| Vec::new());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].1.pid, Some(1));
        assert_eq!(f[0].1.figures.get("jvm.threads"), Some(&500.0));
    }

    #[test]
    fn a_host_rule_with_a_scope_names_the_jvms_for_its_snapshots() {
        let mut r = rule("host.cpu_busy_pct > 40", 0, 60);
        r.scope = Some(Pattern::new("^shop").unwrap());
        let mut e = engine(r);
        let mut c = host(90.0);
        for (pid, app) in [(1, "shop-a"), (2, "orders"), (3, "shop-b")] {
            c.jvms.push(Jvm {
                pid,
                app: app.into(),
                ..Default::default()
            });
        }
        let f = e.evaluate(&c, &[], &View::default(), Instant::now(), &|_| Vec::new());
        assert_eq!(f.len(), 1, "a host rule fires once");
        assert_eq!(f[0].1.pid, None);
        assert_eq!(f[0].1.jvms, ["shop-a", "shop-b"]);
    }

    fn ev(kind: EventKind, pid: u32, app: Option<&str>) -> Event {
        let mut e = Event::new(kind, "jvm", 1, format!("{} {pid}", kind.name()));
        e.pid = Some(pid);
        e.app = app.map(String::from);
        e
    }

    #[test]
    fn event_rules_fire_once_per_matching_event_then_cool_down() {
        let mut r = rule("event.kind == 'jvm_crash' && event.app == 'shop'", 0, 60);
        r.cooldown = Dur::secs(0);
        let mut e = engine(r);
        let v = View::default();
        let t0 = Instant::now();
        let none = |_| Vec::new();
        let crash = ev(EventKind::JvmCrash, 7, Some("shop"));
        let other = ev(EventKind::JvmCrash, 8, Some("orders"));
        let exit = ev(EventKind::JvmExit, 9, Some("shop"));
        let f = e.evaluate(&host(1.0), &[other, crash.clone(), exit], &v, t0, &none);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].1.pid, f[0].1.app.as_deref()), (Some(7), Some("shop")));
        assert_eq!(f[0].1.event.as_deref(), Some(&crash));
        // An edge: the next collection without the event does not fire again.
        assert!(
            e.evaluate(&host(1.0), &[], &v, secs(t0, 1), &none)
                .is_empty()
        );
        assert_eq!(e.stats[0].fired, 1);
    }

    #[test]
    fn event_rules_mix_with_host_figures_and_honour_scope() {
        let mut r = rule("event.kind == 'oom_kill' and host.cpu_busy_pct > 40", 0, 0);
        r.scope = Some(Pattern::new("^shop$").unwrap());
        let mut e = engine(r);
        let v = View::default();
        let t0 = Instant::now();
        let none = |_| Vec::new();
        let kill = |app| ev(EventKind::OomKill, 3, app);
        assert!(
            e.evaluate(&host(90.0), &[kill(None)], &v, t0, &none)
                .is_empty(),
            "no app: out of scope"
        );
        assert!(
            e.evaluate(&host(10.0), &[kill(Some("shop"))], &v, t0, &none)
                .is_empty()
        );
        assert_eq!(
            e.evaluate(&host(90.0), &[kill(Some("shop"))], &v, t0, &none)
                .len(),
            1
        );
        // Without an event, `or` a host figure still decides; `and` never fires.
        let mut e = engine(rule(
            "event.kind == 'oom_kill' or host.cpu_busy_pct > 40",
            0,
            0,
        ));
        assert_eq!(e.evaluate(&host(90.0), &[], &v, t0, &none).len(), 1);
        let mut e = engine(rule("not event.kind == 'oom_kill'", 0, 0));
        assert!(
            e.evaluate(&host(90.0), &[], &v, t0, &none).is_empty(),
            "unknown without an event"
        );
        assert_eq!(
            e.evaluate(&host(90.0), &[kill(None)], &v, t0, &none).len(),
            0
        );
    }

    #[test]
    fn event_rules_refuse_for_and_jvm_figures() {
        let cat = Catalogue {
            logs: &[],
            checks: &[],
        };
        let e = compile(&[rule("event.kind == 'jvm_oom'", 30, 0)], &cat)
            .err()
            .unwrap();
        assert_eq!(e.1, Place::Key("for"));
        assert!(e.2.contains("`for` does not apply"), "{e:?}");
        let e = compile(
            &[rule("event.kind == 'jvm_oom' and jvm.heap_pct > 1", 0, 0)],
            &cat,
        )
        .err()
        .unwrap();
        assert_eq!(e.1, Place::When(28), "{e:?}");
        let e = compile(&[rule("event.kind == 'oom_kil'", 0, 0)], &cat)
            .err()
            .unwrap();
        assert_eq!(e.1, Place::When(14), "{e:?}");
        assert!(e.2.contains("no event kind is named \"oom_kil\""), "{e:?}");
        let e = compile(&[rule("event.pid == 'x'", 0, 0)], &cat)
            .err()
            .unwrap();
        assert_eq!(e.1, Place::When(13), "{e:?}");
        assert!(
            compile(
                &[rule(
                    "event.exit_code != 0 and event.field[hs_err] != ''",
                    0,
                    0
                )],
                &cat
            )
            .is_ok()
        );
    }

    #[test]
    fn errors_name_the_place() {
        let cat = Catalogue {
            logs: &[],
            checks: &[],
        };
        let e = compile(
            &[rule("host.cpu_busy_pct > 40 and jvm.nope > 1", 0, 0)],
            &cat,
        )
        .err()
        .unwrap();
        assert_eq!(e.1, Place::When(27));
        let mut r = rule("host.cpu_busy_pct > 40", 0, 0);
        r.scope = Some(Pattern::new("x").unwrap());
        assert!(
            compile(&[r], &cat).is_ok(),
            "a host rule's scope selects its snapshots' JVMs"
        );
        let e = compile(&[rule("log.x.oom > 0", 0, 0)], &cat).err().unwrap();
        assert!(e.2.contains("no [[logs]] watch"), "{e:?}");
    }
}
