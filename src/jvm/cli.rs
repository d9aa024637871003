//! `wasp jvm ...` subcommands.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum JvmCmd {
    /// List the JVMs found on this host.
    List,
}

pub fn run(_cmd: JvmCmd, _cfg: &crate::config::Config) -> anyhow::Result<()> {
    anyhow::bail!("wasp jvm is being built")
}
