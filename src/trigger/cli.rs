//! `wasp trigger`, `wasp status`, `wasp incidents` subcommands: clients of the running daemon's control socket.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TriggerCmd {
    /// Thread dump of the watched JVMs.
    Dump,
}

pub fn run(_cmd: TriggerCmd, _cfg: &crate::config::Config) -> anyhow::Result<()> {
    anyhow::bail!("wasp trigger is being built")
}
