//! vmstat line, free -w, sar -q and the CPU line, as the tools lay them out.

use crate::model::Collection;
use std::fmt::Write;

pub(super) fn render(c: &Collection, out: &mut String) {
    if let Some(v) = &c.vmstat {
        let _ = writeln!(
            out,
            "procs -----------memory---------- ---swap-- -----io---- -system-- -------cpu-------\n \
             r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st"
        );
        let _ = writeln!(
            out,
            "{:2} {:2} {:6} {:6} {:6} {:6} {:4.0} {:4.0} {:5.0} {:5.0} {:4.0} {:4.0} {:2.0} {:2.0} {:2.0} {:2.0} {:2.0}\n",
            v.r,
            v.b,
            v.swpd,
            v.free,
            v.buff,
            v.cache,
            v.si,
            v.so,
            v.bi,
            v.bo,
            v.intr,
            v.cs,
            v.us,
            v.sy,
            v.id,
            v.wa,
            v.st
        );
    }
    if let Some(cpu) = &c.cpu {
        let _ = writeln!(
            out,
            "CPU      %usr   %nice    %sys %iowait   %steal    %irq   %soft  %guest  %gnice   %idle"
        );
        for u in cpu.all.iter().chain(cpu.cpus.iter()) {
            let _ = writeln!(
                out,
                "{:<5} {:7.2} {:7.2} {:7.2} {:7.2} {:8.2} {:7.2} {:7.2} {:7.2} {:7.2} {:7.2}",
                u.cpu,
                u.usr,
                u.nice,
                u.sys,
                u.iowait,
                u.steal,
                u.irq,
                u.soft,
                u.guest,
                u.gnice,
                u.idle
            );
        }
        out.push('\n');
    }
    if let Some(m) = &c.memory {
        let k = |b: u64| b / 1024;
        let _ = writeln!(
            out,
            "{:>15} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}",
            "total", "used", "free", "shared", "buffers", "cache", "available"
        );
        let _ = writeln!(
            out,
            "Mem:   {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}",
            k(m.total),
            k(m.used),
            k(m.free),
            k(m.shared),
            k(m.buffers),
            k(m.cache),
            k(m.available)
        );
        let _ = writeln!(
            out,
            "Swap:  {:>11} {:>11} {:>11}\n",
            k(m.swap.total),
            k(m.swap.used),
            k(m.swap.free)
        );
    }
    if let Some(l) = &c.load {
        let _ = writeln!(
            out,
            "runq-sz  plist-sz   ldavg-1   ldavg-5  ldavg-15   blocked"
        );
        let _ = writeln!(
            out,
            "{:7} {:9} {:9.2} {:9.2} {:9.2} {:9}\n",
            l.runq_sz, l.plist_sz, l.ldavg_1, l.ldavg_5, l.ldavg_15, l.blocked
        );
    }
    if let Some(p) = &c.paging {
        let _ = writeln!(
            out,
            " pgpgin/s pgpgout/s   fault/s  majflt/s  pgfree/s pgscank/s pgscand/s pgsteal/s    %vmeff  pswpin/s pswpout/s"
        );
        let _ = writeln!(
            out,
            "{:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2}\n",
            p.pgpgin,
            p.pgpgout,
            p.fault,
            p.majflt,
            p.pgfree,
            p.pgscank,
            p.pgscand,
            p.pgsteal,
            p.vmeff,
            p.pswpin,
            p.pswpout
        );
    }
    if let Some(p) = &c.processes {
        let _ = writeln!(
            out,
            "Tasks: {} total, {} threads; {:?}",
            p.total, p.threads, p.states
        );
        let _ = writeln!(
            out,
            "    PID USER      S  %CPU       RSS    THR   FDS COMMAND"
        );
        for r in &p.top_cpu {
            let _ = writeln!(
                out,
                "{:7} {:<9} {:1} {:5.1} {:9} {:6} {:5} {}",
                r.pid,
                r.user,
                r.state,
                r.cpu_pct,
                r.rss / 1024,
                r.threads,
                r.fds.map(|f| f.to_string()).unwrap_or_else(|| "-".into()),
                r.command.chars().take(80).collect::<String>()
            );
        }
        for g in &p.groups {
            let _ = writeln!(
                out,
                "group {:<12} procs {:4} threads {:5} %CPU {:6.1} RSS {:>10} KiB fds {}",
                g.name,
                g.processes,
                g.threads,
                g.cpu_pct,
                g.rss / 1024,
                g.fds
            );
        }
        out.push('\n');
    }
}
