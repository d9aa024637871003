//! The integration tests: one crate (one binary to compile and link), one module per subject.
//! Tests run in parallel threads of this one process: anything per-process before (ports, scratch
//! paths, the machine's quiet) is shared now; `common::alone()` and `common::beside()` keep timing-sensitive
//! tests to themselves.

mod common;

mod access_logs;
mod attach_dump;
mod attach_robust;
mod attach_safepoint;
mod cli_commands;
mod config_example;
mod console;
mod control_socket;
mod daemon_reload;
mod daemon_run;
mod dashboards;
mod disk_full;
mod dump_live;
mod dump_world;
mod encode_influx;
mod encode_json;
mod encode_otlp;
mod encode_prw;
mod encode_servers;
mod event_rules;
mod events;
mod events_exit;
mod hardened_attach;
mod history;
mod host_replay;
mod host_tools;
mod jvm_beans;
mod jvm_jstat;
mod layers;
mod node_exporter;
mod packaging;
mod security;
mod ship_outage;
mod ship_roundtrip;
mod ship_strict;
mod ship_tls;
mod ship_write_ahead;
mod snapshot_documents;
mod tomcat_pool;
mod tomcat_rule;
mod trigger_rules;
mod trigger_signals;
mod unit_hardening;
