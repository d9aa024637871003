//! `wasp analyze FILE...`: thread dumps from anywhere (jstack, jcmd, wasp), verdict first; `--diff` compares
//! two class histograms.

use crate::jvm::{analysis, histogram, threaddump};
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

pub fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<()> {
    if let Some(files) = &args.diff {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map(|t| histogram::parse(&t))
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        };
        let (a, b) = (read(&files[0])?, read(&files[1])?);
        let d = histogram::diff(&a, &b);
        match args.format {
            AnalyzeFormat::Report => out!("{}", d.to_text()),
            AnalyzeFormat::Json => outln!("{}", serde_json::to_string_pretty(&d)?),
        }
        return Ok(());
    }
    let mut dumps = Vec::new();
    for f in &args.files {
        let text =
            std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        dumps.push(threaddump::parse(&text));
    }
    let r = analysis::analyze(&dumps, None);
    match args.format {
        AnalyzeFormat::Report => out!("{}", r.to_text()),
        AnalyzeFormat::Json => outln!("{}", serde_json::to_string_pretty(&r)?),
    }
    Ok(())
}
