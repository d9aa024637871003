//! config.example.toml is the documentation of every key: it must load, and it must mention every key that the
//! defaults have, so that it cannot fall behind the code.

use std::path::Path;
use wasp::config::Config;

fn keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
    if let toml::Value::Table(t) = v {
        for (k, v) in t {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(inner) if !inner.is_empty() => keys(&path, v, out),
                // An empty map or list ([sinks.NAME], [[rules]]) is documented by an example of its table.
                toml::Value::Table(_) | toml::Value::Array(_) => out.push(format!("[{path}")),
                _ => out.push(path),
            }
        }
    }
}

#[test]
fn example_loads() {
    let _floor = crate::common::beside();
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn packaged_config_loads() {
    let _floor = crate::common::beside();
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/wasp.toml");
    Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn example_documents_every_default_key() {
    let _floor = crate::common::beside();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml"))
            .unwrap();
    // Uncomment everything: commented keys are documentation of the default.
    let defaults = toml::Value::try_from(Config::default()).unwrap();
    let mut all = Vec::new();
    keys("", &defaults, &mut all);
    let mut missing = Vec::new();
    for k in &all {
        if let Some(table) = k.strip_prefix('[') {
            let documented = text.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                let key = table.rsplit('.').next().unwrap_or(table);
                l.starts_with(&format!("[{table}"))
                    || l.starts_with(&format!("[[{table}"))
                    || l.starts_with(&format!("{key} ="))
            });
            if !documented {
                missing.push(k.clone());
            }
            continue;
        }
        let (table, key) = k.rsplit_once('.').unwrap_or(("", k.as_str()));
        let header_ok = table.is_empty() || text.contains(&format!("[{table}]"));
        let key_ok = text.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
        });
        if !(header_ok && key_ok) {
            missing.push(k.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "config.example.toml does not document: {missing:?}"
    );
}
