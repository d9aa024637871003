//! `wasp dump ...` and `wasp analyze ...` subcommands.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum DumpCmd {
    /// Thread dump of a JVM.
    Threads { pid: u32 },
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Dump or histogram files.
    pub files: Vec<std::path::PathBuf>,
}

pub fn run_dump(_cmd: DumpCmd, _cfg: &crate::config::Config) -> anyhow::Result<()> {
    anyhow::bail!("wasp dump is being built")
}

pub fn run_analyze(_args: AnalyzeArgs) -> anyhow::Result<()> {
    anyhow::bail!("wasp analyze is being built")
}
