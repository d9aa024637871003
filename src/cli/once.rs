//! `wasp once`: one reading (two, an interval apart, for rates), printed as a table, JSON or the exposition.

use crate::config::Config;
use crate::config::units::Interval;
use clap::ValueEnum;

#[derive(Debug, clap::Args)]
pub struct OnceArgs {
    /// Time between the two readings rates are computed from.
    #[arg(long, short = 'i', default_value = "1s")]
    pub interval: Interval,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Prom,
}

pub(crate) fn once(cfg: &Config, args: &OnceArgs) -> anyhow::Result<()> {
    let mut collector = crate::collect::Collector::new(cfg);
    collector.every_reading_fresh();
    let _ = collector.collect();
    std::thread::sleep(args.interval.0);
    let c = collector.collect();
    let text = match args.format {
        Format::Table => crate::present::table::render(&c),
        Format::Json => crate::present::json::to_string_pretty(&c) + "\n",
        Format::Prom => {
            let m = crate::present::metrics::from_collection_named(&c, cfg.jvm.metric_names);
            let mut s = String::new();
            crate::present::prom::render(&m, &crate::daemon::common_labels(cfg), &mut s);
            s
        }
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`wasp once | head`) is not an error worth a message.
    let _ = out.write_all(text.as_bytes());
    Ok(())
}
