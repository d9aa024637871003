//! Memory cgroups for the tests that make the kernel's OOM killer act.

use std::path::{Path, PathBuf};

/// Where the memory controller is: cgroup v2's root when it has it, else v1's hierarchy.
pub fn memory_cgroups() -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    for v2 in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let c = std::fs::read_to_string(format!("{v2}/cgroup.controllers")).unwrap_or_default();
        if c.split_whitespace().any(|x| x == "memory") {
            out.push(("v2", v2.into()));
            break;
        }
    }
    if Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        out.push(("v1", "/sys/fs/cgroup/memory".into()));
    }
    out
}

/// A new cgroup `name` under `root` limited to 64 MiB and no swap: a process moved in is the OOM killer's.
pub fn limited_to_64m(version: &str, root: &Path, name: &str) -> PathBuf {
    let cg = root.join(name);
    std::fs::create_dir(&cg).unwrap();
    let limit = (64u64 << 20).to_string();
    if version == "v2" {
        std::fs::write(cg.join("memory.max"), &limit).unwrap();
        let _ = std::fs::write(cg.join("memory.swap.max"), "0");
    } else {
        std::fs::write(cg.join("memory.limit_in_bytes"), &limit).unwrap();
        let _ = std::fs::write(cg.join("memory.memsw.limit_in_bytes"), &limit);
    }
    cg
}
