//! The shape of src/: no import cycle between files, imports only point down the layers of
//! docs/architecture.md, and no file over 600 lines of code before its unit tests.
//!
//! Imports are read from the source text: every `crate::` and `super::` path (in `use` lines, braces included,
//! and inline), resolved to the file of the longest module prefix that exists. Comments and `#[cfg(test)]`
//! modules are left out: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers from the bottom up; a file may import from its own layer and those below.
const LAYERS: &[(&str, u8)] = &[
    ("util", 0),
    ("config::units", 0),
    ("model", 1),
    ("logging", 1),
    ("host", 2),
    ("jvm", 2),
    ("collect", 3),
    ("access", 3),
    ("events", 3),
    ("present", 3),
    ("ship", 4),
    ("history", 4),
    ("snapshot", 5),
    ("trigger", 6),
    ("serve", 7),
    ("control", 7),
    ("service", 7),
    ("daemon", 8),
    ("paths", 8),
    ("cli", 9),
    // The assembled configuration names every section type, each owned by its subsystem: it sits above them
    // all, and only the top layers (and the whole-config readers named below) import it.
    ("config", 8),
];

/// Files below the top that may read the whole configuration: they start a subsystem from it.
const WHOLE_CONFIG_READERS: &[&str] = &["collect", "trigger::engine", "control"];

const MAX_CODE_LINES: usize = 600;

struct Src {
    /// Module path of each file, e.g. ["trigger", "rules"].
    files: BTreeMap<PathBuf, Vec<String>>,
    by_module: BTreeMap<Vec<String>, PathBuf>,
}

fn module_of(rel: &Path) -> Vec<String> {
    let mut m: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(m.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        m.pop();
    }
    m
}

fn read_src() -> Src {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(&root).unwrap().to_path_buf();
                files.insert(rel.clone(), module_of(&rel));
            }
        }
    }
    let by_module = files.iter().map(|(f, m)| (m.clone(), f.clone())).collect();
    Src { files, by_module }
}

/// The code of a file without comments and without its `#[cfg(test)]` module(s).
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start() == "#[cfg(test)]" {
            break;
        }
        let l = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Every module path a file names: `crate::a::b`, `super::c`, and the members of `use crate::{a, b::c}`.
fn paths(code: &str, me: &[String], is_mod_file: bool) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let b = code.as_bytes();
    let word = |i: usize| {
        i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b':')
    };
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(off) = code[from..].find(start) {
            let i = from + off;
            from = i + start.len();
            if !word(i) {
                continue;
            }
            let base: Vec<String> = if start == "crate::" {
                Vec::new()
            } else {
                // super of a/b.rs is a; super of a/b/mod.rs is a too (the module is a::b).
                let mut m = me.to_vec();
                m.pop();
                let _ = is_mod_file;
                m
            };
            let rest = &code[from..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find("};").unwrap_or(group.len());
                for item in split_group(&group[..end]) {
                    found.push([base.clone(), item].concat());
                }
                continue;
            }
            let mut segs = base;
            let mut r = rest;
            loop {
                let n = r
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(r.len());
                if n == 0 {
                    break;
                }
                segs.push(r[..n].to_string());
                r = &r[n..];
                if let Some(g) = r.strip_prefix("::{") {
                    let end = g.find('}').unwrap_or(g.len());
                    for item in split_group(&g[..end]) {
                        found.push([segs.clone(), item].concat());
                    }
                    break;
                }
                match r.strip_prefix("::") {
                    Some(x) => r = x,
                    None => break,
                }
            }
            found.push(segs);
        }
    }
    found
}

/// `a::b, c::{d, e}, f as g` -> [[a, b], [c], [f]] (a nested group names its prefix module).
fn split_group(g: &str) -> Vec<Vec<String>> {
    let mut items = Vec::new();
    let (mut depth, mut cur) = (0, String::new());
    for ch in g.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            cur.push(ch);
        }
    }
    items.push(cur);
    items
        .iter()
        .map(|i| {
            i.split(" as ")
                .next()
                .unwrap_or("")
                .split("::")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty() && s != "self" && s != "*")
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty())
        .collect()
}

fn resolve<'a>(src: &'a Src, segs: &[String]) -> Option<&'a PathBuf> {
    (1..=segs.len())
        .rev()
        .find_map(|n| src.by_module.get(&segs[..n]))
}

fn edges(src: &Src) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    src.files
        .iter()
        .map(|(f, m)| {
            let text = std::fs::read_to_string(root.join(f)).unwrap();
            let is_mod = f.file_name().is_some_and(|n| n == "mod.rs");
            let to = paths(&code(&text), m, is_mod)
                .iter()
                .filter_map(|p| resolve(src, p))
                .filter(|t| *t != f)
                .cloned()
                .collect();
            (f.clone(), to)
        })
        .collect()
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(g: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct T<'g> {
        g: &'g BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'g PathBuf, usize>,
        low: BTreeMap<&'g PathBuf, usize>,
        stack: Vec<&'g PathBuf>,
        on: BTreeSet<&'g PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'g>(t: &mut T<'g>, v: &'g PathBuf) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in &t.g[v] {
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn layer(m: &[String]) -> Option<(String, u8)> {
    let path = m.join("::");
    LAYERS
        .iter()
        .filter(|(name, _)| path == *name || path.starts_with(&format!("{name}::")))
        .max_by_key(|(name, _)| name.len())
        .map(|(n, r)| (n.to_string(), *r))
}

#[test]
fn no_import_cycle_between_files() {
    let _floor = crate::common::beside();
    let src = read_src();
    let c = cycles(&edges(&src));
    assert!(
        c.is_empty(),
        "import cycles between files of src/ (each line one circle):\n{}",
        c.iter()
            .map(|f| format!("  {f:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn imports_point_down_the_layers() {
    let _floor = crate::common::beside();
    let src = read_src();
    let mut wrong = Vec::new();
    for (f, to) in edges(&src) {
        let m = &src.files[&f];
        if m.is_empty() {
            continue; // lib.rs, main.rs
        }
        let Some((from_layer, from)) = layer(m) else {
            wrong.push(format!("{f:?} is in no layer: add its module to LAYERS"));
            continue;
        };
        for t in to {
            let tm = &src.files[&t];
            let Some((to_layer, rank)) = layer(tm) else {
                continue;
            };
            let whole_config = to_layer == "config"
                && WHOLE_CONFIG_READERS
                    .iter()
                    .any(|r| m.join("::") == *r || m.join("::").starts_with(&format!("{r}::")));
            if rank > from && !whole_config && from_layer != to_layer {
                wrong.push(format!(
                    "{f:?} ({from_layer}) imports {t:?} ({to_layer}), a higher layer"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_file_over_600_lines_of_code_before_its_tests() {
    let _floor = crate::common::beside();
    let src = read_src();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = src
        .files
        .keys()
        .filter_map(|f| {
            let text = std::fs::read_to_string(root.join(f)).unwrap();
            let n = code(&text).lines().filter(|l| !l.trim().is_empty()).count();
            (n > MAX_CODE_LINES).then(|| format!("{f:?}: {n} lines of code"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_CODE_LINES} lines of code:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_reader_finds_imports_and_cycles() {
    let _floor = crate::common::beside();
    let me = vec!["a".to_string(), "b".to_string()];
    let p = paths(
        "use crate::x::{y::Z, w};\nuse super::c::D;\nlet v = crate::q::r(1); // crate::not::this\n",
        &me,
        false,
    );
    let s: Vec<String> = p.iter().map(|v| v.join("::")).collect();
    for want in ["x::y::Z", "x::w", "a::c::D", "q::r"] {
        assert!(s.iter().any(|x| x == want), "{want} in {s:?}");
    }
    let g: BTreeMap<PathBuf, BTreeSet<PathBuf>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (PathBuf::from(k), v.into_iter().map(PathBuf::from).collect()))
    .collect();
    let c = cycles(&g);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].len(), 3);
}
