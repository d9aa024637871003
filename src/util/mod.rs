//! Leaves every layer may use: they import nothing else of wasp.

pub mod clock;
pub mod episode;
pub mod glob;
pub mod math_symbols;
pub mod procfile;
pub mod redact;
pub mod safe_open;
