//! Small leaf helpers that import nothing else of wasp.

pub mod safe_open;
