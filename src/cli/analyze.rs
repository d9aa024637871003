//! `wasp analyze FILE...`: thread dumps from anywhere (jstack, jcmd, wasp), verdict first; `--diff` compares
//! two class histograms.

use crate::jvm::{dump, histogram};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Thread-dump files (jstack, jcmd Thread.print, wasp dump), oldest first: several files taken apart in
    /// time are compared.
    #[arg(required_unless_present = "diff")]
    pub files: Vec<PathBuf>,
    /// Compare two class histograms (jmap -histo, wasp dump histo): growth per class, leak suspects.
    #[arg(long, num_args = 2, value_names = ["BEFORE", "AFTER"])]
    pub diff: Option<Vec<PathBuf>>,
    #[arg(long, short = 'f', value_enum, default_value_t = AnalyzeFormat::Report)]
    pub format: AnalyzeFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AnalyzeFormat {
    Report,
    Json,
}

/// Exits non-zero when no thread was read (after printing "not a thread dump wasp can read"): no script takes
/// that for an all-clear.
pub fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<()> {
    if let Some(files) = &args.diff {
        let d = histogram::diff_files(&files[0], &files[1])?;
        match args.format {
            AnalyzeFormat::Report => out!("{}", d.to_text()),
            AnalyzeFormat::Json => outln!("{}", serde_json::to_string_pretty(&d)?),
        }
        return Ok(());
    }
    let (r, readable) = dump::inputs::analyze_inputs(&args.files)?;
    match args.format {
        AnalyzeFormat::Report => out!("{}", r.to_text()),
        AnalyzeFormat::Json => outln!("{}", serde_json::to_string_pretty(&r)?),
    }
    if !readable {
        anyhow::bail!("no thread read: not a thread dump wasp can read");
    }
    Ok(())
}
