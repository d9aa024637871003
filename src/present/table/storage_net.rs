//! iostat -x, df, sar -n DEV/EDEV/TCP/ETCP/SOCK and an ss state summary, as the tools lay them out.

use crate::model::Collection;
use std::fmt::Write;

pub(super) fn render(c: &Collection, out: &mut String) {
    if !c.disks.is_empty() {
        let _ = writeln!(
            out,
            "Device            r/s     rkB/s   rrqm/s  %rrqm r_await rareq-sz     w/s     wkB/s   wrqm/s  %wrqm w_await wareq-sz  aqu-sz  %util"
        );
        for d in &c.disks {
            let _ = writeln!(
                out,
                "{:<12} {:8.2} {:9.2} {:8.2} {:6.2} {:7.2} {:8.2} {:7.2} {:9.2} {:8.2} {:6.2} {:7.2} {:8.2} {:7.2} {:6.2}",
                d.device,
                d.r_s,
                d.rkb_s,
                d.rrqm_s,
                d.rrqm_pct,
                d.r_await,
                d.rareq_sz,
                d.w_s,
                d.wkb_s,
                d.wrqm_s,
                d.wrqm_pct,
                d.w_await,
                d.wareq_sz,
                d.aqu_sz,
                d.util
            );
        }
        out.push('\n');
    }
    if !c.filesystems.is_empty() {
        let _ = writeln!(
            out,
            "{:<20} {:>14} {:>14} {:>14} {:>5} {:>10} {:>5}  Mounted on",
            "Filesystem", "1K-blocks", "Used", "Available", "Use%", "Inodes", "IUse%"
        );
        for f in &c.filesystems {
            let _ = writeln!(
                out,
                "{:<20} {:>14} {:>14} {:>14} {:>4}% {:>10} {:>4}%  {}",
                f.filesystem,
                f.size.div_ceil(1024),
                f.used.div_ceil(1024),
                f.avail.div_ceil(1024),
                f.use_pct,
                f.inodes,
                f.iuse_pct,
                f.mountpoint
            );
        }
        out.push('\n');
    }
    if let Some(n) = &c.net {
        let _ = writeln!(
            out,
            "IFACE        rxpck/s   txpck/s    rxkB/s    txkB/s   rxcmp/s   txcmp/s  rxmcst/s   %ifutil"
        );
        for i in &n.interfaces {
            let _ = writeln!(
                out,
                "{:<10} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2}",
                i.iface, i.rxpck, i.txpck, i.rxkb, i.txkb, i.rxcmp, i.txcmp, i.rxmcst, i.ifutil
            );
        }
        let _ = writeln!(
            out,
            "\nIFACE        rxerr/s   txerr/s    coll/s  rxdrop/s  txdrop/s  txcarr/s  rxfram/s  rxfifo/s  txfifo/s"
        );
        for i in &n.interfaces {
            let _ = writeln!(
                out,
                "{:<10} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2}",
                i.iface,
                i.rxerr,
                i.txerr,
                i.coll,
                i.rxdrop,
                i.txdrop,
                i.txcarr,
                i.rxfram,
                i.rxfifo,
                i.txfifo
            );
        }
        out.push('\n');
    }
    if let Some(t) = &c.tcp {
        let _ = writeln!(
            out,
            " active/s passive/s    iseg/s    oseg/s  atmptf/s  estres/s retrans/s isegerr/s   orsts/s"
        );
        let _ = writeln!(
            out,
            "{:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2} {:9.2}\n",
            t.active, t.passive, t.iseg, t.oseg, t.atmptf, t.estres, t.retrans, t.isegerr, t.orsts
        );
        let states: Vec<String> = t
            .states
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        let _ = writeln!(out, "TCP sockets: {}", states.join(", "));
        for p in &t.ports {
            let s: Vec<String> = p.states.iter().map(|(s, n)| format!("{s} {n}")).collect();
            let _ = writeln!(
                out,
                "  port {:<6} {}",
                p.port,
                if s.is_empty() {
                    "-".to_string()
                } else {
                    s.join(", ")
                }
            );
        }
        out.push('\n');
    }
    if let Some(s) = &c.sockets {
        let _ = writeln!(
            out,
            "   totsck    tcpsck    udpsck    rawsck   ip-frag    tcp-tw"
        );
        let _ = writeln!(
            out,
            "{:9} {:9} {:9} {:9} {:9} {:9}\n",
            s.totsck, s.tcpsck, s.udpsck, s.rawsck, s.ip_frag, s.tcp_tw
        );
    }
}
