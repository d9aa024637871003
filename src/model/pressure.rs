//! Pressure stall information from /proc/pressure (kernel 4.20+).

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stall {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    /// Microseconds stalled since boot.
    pub total: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resource {
    pub some: Stall,
    /// Absent for cpu on kernels before 5.13.
    pub full: Option<Stall>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pressure {
    pub cpu: Option<Resource>,
    pub memory: Option<Resource>,
    pub io: Option<Resource>,
}
