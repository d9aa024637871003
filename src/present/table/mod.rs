//! Tool-like tables an admin reads at a glance: the vmstat line, free, iostat -x, sar -n, top.

mod access;
mod jvm;
mod storage_net;
mod system;

use crate::model::Collection;

pub fn render(c: &Collection) -> String {
    let mut out = String::new();
    system::render(c, &mut out);
    storage_net::render(c, &mut out);
    jvm::render(c, &mut out);
    access::render(c, &mut out);
    for e in &c.errors {
        out.push_str(&format!("! {}: {}\n", e.collector, e.message));
    }
    out
}
