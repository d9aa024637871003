//! `log2`, `log10` and `pow` for the linker, from the libm crate (musl's code): the only glibc libm functions
//! wasp calls (pco's compression, float formatting), and libm.so mapped for them cost every wasp process ~300 KB
//! of resident memory. Defined here, the link resolves them before libm.so, which `--as-needed` then leaves out.
//! `readelf -d target/release/wasp` shows no libm.so.6; `tests::no_libm_is_loaded` checks it in the test binary, `tests::they_agree_with_the_definitions` the values.

#[unsafe(no_mangle)]
pub extern "C" fn log2(x: f64) -> f64 {
    libm::log2(x)
}

#[unsafe(no_mangle)]
pub extern "C" fn log10(x: f64) -> f64 {
    libm::log10(x)
}

#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    #[test]
    fn they_agree_with_the_definitions() {
        // Through std, which the linker now resolves to the functions above.
        assert_eq!(1024f64.log2(), 10.0);
        assert_eq!(1e-3f64.log10(), -3.0);
        assert_eq!(2f64.powf(0.5), std::f64::consts::SQRT_2);
        assert_eq!(10f64.powf(-2.0), 0.01);
        assert!((-1f64).log2().is_nan());
        assert_eq!(0f64.log10(), f64::NEG_INFINITY);
        assert_eq!(super::pow(0.0, 0.0), 1.0);
    }

    #[test]
    fn no_libm_is_loaded() {
        // This test binary calls them through std too: had the link resolved them in libm.so, it would be mapped.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        assert!(!maps.contains("libm.so"), "{maps}");
    }
}
