//! Kernel files (procfs, sysfs, cgroupfs) read cheaply. A collection reads some seventy of them every interval,
//! and `std::fs::read` spends two more syscalls on each than needed: a statx to size its buffer (these files
//! report 0) and a read to see the end. Here: open, read, close — a sysfs or cgroup attribute and a one-record
//! proc file (`stat`, `uptime`, `loadavg`, pressure) give all they have to the first read, so a short read is
//! their end; a proc file of many records (`net/dev`, `diskstats`, `mountinfo`) is read until a read returns 0,
//! because the kernel hands those out one internal page at a time.

use std::io::{self, Read};
use std::path::Path;

/// Beyond this a kernel file is not one we know: refused rather than held.
const MAX: usize = 64 << 20;

fn read_with(path: &Path, one_record: bool) -> io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if len >= MAX {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is over {} MiB", path.display(), MAX >> 20),
                ));
            }
            buf.resize(len * 2, 0);
        }
        let room = buf.len() - len;
        let n = match f.read(&mut buf[len..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        };
        len += n;
        if n == 0 || (one_record && n < room) {
            buf.truncate(len);
            return Ok(buf);
        }
    }
}

/// A proc file of many records, whole.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    read_with(path, false)
}

/// A proc file of many records, whole, as text.
pub fn read_string(path: &Path) -> io::Result<String> {
    text(path, read_with(path, false)?)
}

/// A sysfs/cgroup attribute or a one-record proc file, whole.
pub fn read_attr(path: &Path) -> io::Result<Vec<u8>> {
    read_with(path, true)
}

/// A sysfs/cgroup attribute or a one-record proc file, whole, as text.
pub fn read_attr_string(path: &Path) -> io::Result<String> {
    text(path, read_with(path, true)?)
}

fn text(path: &Path, b: Vec<u8>) -> io::Result<String> {
    String::from_utf8(b).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not UTF-8", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_files_of_any_size_and_the_real_proc() {
        let t = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 4095, 4096, 4097, 100_000] {
            let p = t.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            std::fs::write(&p, &data).unwrap();
            assert_eq!(read(&p).unwrap(), data);
            // A regular file also answers whole reads, so the one-record rule holds on it too.
            assert_eq!(read_attr(&p).unwrap(), data);
        }
        // Many-record seq files come a kernel page at a time: read to the end they equal std's reading.
        for f in ["/proc/self/maps", "/proc/self/mountinfo", "/proc/stat"] {
            let ours = read(Path::new(f)).unwrap();
            assert!(!ours.is_empty(), "{f}");
            assert_eq!(ours.last(), Some(&b'\n'), "{f} read whole");
        }
        assert!(
            read_attr_string(Path::new("/proc/uptime"))
                .unwrap()
                .ends_with('\n')
        );
        assert!(read(&t.path().join("missing")).is_err());
        std::fs::write(t.path().join("bin"), [0xff, 0xfe]).unwrap();
        let e = read_string(&t.path().join("bin")).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }
}
