//! Opening files that other users control (hsperfdata, server.xml, logs, anything under /proc/<pid>/root)
//! without being turned by them: a path is resolved inside a root we chose, symlinks never leave it, a FIFO or
//! device never blocks us, the opened descriptor (not the path) is checked, and reads are bounded.
//!
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` where the kernel has it (5.6+); elsewhere (RHEL 7's 3.10,
//! or a seccomp filter that predates the call) a component-by-component `O_NOFOLLOW` walk that resolves symlinks
//! itself, inside the same root. A leaf: nothing else of wasp is imported here.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whose file it must be, judged on the opened descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Anyone's: the caller trusts the path (a kernel file, an operator's configured path).
    Any,
    /// Exactly this uid's (a JVM's own hsperfdata or socket).
    Uid(u32),
    /// A file this user could read by its mode bits: its own, its group's, or everyone's. Keeps a JVM user
    /// from making us read, as root, a file it could not read itself (a symlink to /etc/shadow).
    ReadableBy { uid: u32, gid: u32 },
}

/// What the opened object must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// How symlinks inside the path are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Followed, but never out of the root (an absolute target starts again at the root).
    InRoot,
    /// Refused anywhere in the path.
    None,
}

/// One open request.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub owner: Owner,
    pub kind: Kind,
    pub links: Links,
    /// Files larger than this are refused (checked on the descriptor, and again while reading).
    pub max_size: u64,
}

impl Spec {
    /// A regular file of at most `max_size` bytes, symlinks followed inside the root.
    pub fn file(owner: Owner, max_size: u64) -> Spec {
        Spec {
            owner,
            kind: Kind::File,
            links: Links::InRoot,
            max_size,
        }
    }

    pub fn dir(owner: Owner) -> Spec {
        Spec {
            owner,
            kind: Kind::Dir,
            links: Links::InRoot,
            max_size: u64::MAX,
        }
    }

    pub fn no_links(mut self) -> Spec {
        self.links = Links::None;
        self
    }
}

fn refuse(kind: io::ErrorKind, msg: String) -> io::Error {
    io::Error::new(kind, msg)
}

/// Checks an opened descriptor against the spec: kind, owner, size.
pub fn check(f: &File, spec: &Spec) -> io::Result<std::fs::Metadata> {
    let m = f.metadata()?;
    let ft = m.file_type();
    match spec.kind {
        Kind::File if !ft.is_file() => {
            return Err(refuse(
                io::ErrorKind::InvalidInput,
                format!(
                    "not a regular file (mode {:o}): not read",
                    m.mode() & 0o170000
                ),
            ));
        }
        Kind::Dir if !ft.is_dir() => {
            return Err(refuse(
                io::ErrorKind::InvalidInput,
                "not a directory".into(),
            ));
        }
        _ => {}
    }
    if let Some(why) = owner_mismatch(&m, spec.owner) {
        return Err(refuse(io::ErrorKind::PermissionDenied, why));
    }
    if spec.kind == Kind::File && m.len() > spec.max_size {
        return Err(refuse(
            io::ErrorKind::InvalidData,
            format!(
                "{} bytes, more than the {} allowed: not read",
                m.len(),
                spec.max_size
            ),
        ));
    }
    Ok(m)
}

fn owner_mismatch(m: &std::fs::Metadata, owner: Owner) -> Option<String> {
    let mode = m.mode();
    match owner {
        Owner::Any => None,
        Owner::Uid(u) if m.uid() == u => None,
        Owner::Uid(u) => Some(format!("owned by uid {}, not {u}: not trusted", m.uid())),
        Owner::ReadableBy { uid, gid } => {
            let readable = if m.uid() == uid {
                mode & 0o400 != 0
            } else if m.gid() == gid {
                mode & 0o040 != 0
            } else {
                mode & 0o004 != 0
            };
            (!readable).then(|| {
                format!(
                    "not readable by uid {uid} (owner {}, group {}, mode {:o}): not read for it",
                    m.uid(),
                    m.gid(),
                    mode & 0o7777
                )
            })
        }
    }
}

/// Opens a path whose every link we chose (a /proc magic link such as /proc/<pid>/root or map_files): followed
/// as given, but never blocking (O_NONBLOCK) and checked on the descriptor.
pub fn open_trusted_path(path: &Path, spec: &Spec) -> io::Result<File> {
    let mut flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;
    if spec.kind == Kind::Dir {
        flags |= libc::O_DIRECTORY;
    }
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| refuse(io::ErrorKind::InvalidInput, "NUL in path".into()))?;
    // SAFETY: a valid C string; the result is checked.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened and own.
    let f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    check(&f, spec)?;
    Ok(f)
}

/// Opens a regular file at `path` whose last component is not followed, and checks that it is the file an
/// earlier lstat saw (`(dev, ino)`): a name in someone else's directory (a log) that is, or became, a symlink,
/// a FIFO or another file is refused.
pub fn open_no_follow(path: &Path, expect: (u64, u64)) -> io::Result<File> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| refuse(io::ErrorKind::InvalidInput, "NUL in path".into()))?;
    // SAFETY: valid C string; the result is checked.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(link_error(io::Error::last_os_error()));
    }
    // SAFETY: a descriptor we just opened and own.
    let f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let m = check(&f, &Spec::file(Owner::Any, u64::MAX))?;
    if (m.dev(), m.ino()) != expect {
        return Err(refuse(
            io::ErrorKind::PermissionDenied,
            "replaced between stat and open: not read".into(),
        ));
    }
    Ok(f)
}

/// Opens `rel` resolved inside `root` (which is itself trusted: e.g. /proc/<pid>/root, opened as given).
pub fn open_in_root(root: &Path, rel: &Path, spec: &Spec) -> io::Result<File> {
    let r = open_trusted_path(root, &Spec::dir(Owner::Any))?;
    open_beneath(r.as_fd(), rel, spec)
}

/// Opens `rel` resolved inside the directory `root` (absolute symlinks and `..` stop at it).
pub fn open_beneath(root: BorrowedFd<'_>, rel: &Path, spec: &Spec) -> io::Result<File> {
    open_beneath_via(root, rel, spec, false)
}

fn open_beneath_via(root: BorrowedFd<'_>, rel: &Path, spec: &Spec, walk: bool) -> io::Result<File> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let via2 = if walk {
        None
    } else {
        openat2_in_root(root, rel, spec)
    };
    let f = match via2 {
        Some(r) => r?,
        None => walk_in_root(root, rel, spec)?,
    };
    check(&f, spec)?;
    Ok(f)
}

fn open_flags(kind: Kind) -> libc::c_int {
    let base = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;
    match kind {
        Kind::File => base,
        Kind::Dir => base | libc::O_DIRECTORY,
    }
}

static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// `None` when the kernel (or a seccomp filter) lacks openat2: the walk is used instead.
fn openat2_in_root(root: BorrowedFd<'_>, rel: &Path, spec: &Spec) -> Option<io::Result<File>> {
    if NO_OPENAT2.load(Ordering::Relaxed) {
        return None;
    }
    let c = match CString::new(rel.as_os_str().as_bytes()) {
        Ok(c) => c,
        Err(_) => {
            return Some(Err(refuse(
                io::ErrorKind::InvalidInput,
                "NUL in path".into(),
            )));
        }
    };
    let mut resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    if spec.links == Links::None {
        resolve |= libc::RESOLVE_NO_SYMLINKS;
    }
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = open_flags(spec.kind) as u64;
    how.resolve = resolve;
    // SAFETY: valid descriptor, C string and struct with its size; the result is checked.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        // EPERM: a seccomp filter written before openat2 existed (older systemd's @system-service).
        if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
            NO_OPENAT2.store(true, Ordering::Relaxed);
            return None;
        }
        return Some(Err(link_error(e)));
    }
    // SAFETY: a descriptor the kernel just gave us.
    Some(Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) })))
}

/// ELOOP from O_NOFOLLOW / RESOLVE_NO_SYMLINKS, and EXDEV from an escape, said plainly.
fn link_error(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) => refuse(
            io::ErrorKind::PermissionDenied,
            "a symbolic link where none is followed (or too many): not opened".into(),
        ),
        Some(libc::EXDEV) => refuse(
            io::ErrorKind::PermissionDenied,
            "the path leaves its root: not opened".into(),
        ),
        _ => e,
    }
}

fn openat_raw(dir: BorrowedFd<'_>, name: &OsStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = CString::new(name.as_bytes())
        .map_err(|_| refuse(io::ErrorKind::InvalidInput, "NUL in path".into()))?;
    // SAFETY: valid descriptor and C string; the result is checked.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened and own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn readlinkat(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OsString> {
    let c = CString::new(name.as_bytes())
        .map_err(|_| refuse(io::ErrorKind::InvalidInput, "NUL in path".into()))?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid descriptor, C string and buffer with its length; the result is checked.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(OsStr::from_bytes(&buf).to_os_string())
}

/// The fallback: one component at a time with O_NOFOLLOW; a symlink is read and its target resolved by us,
/// inside the root (as RESOLVE_IN_ROOT would), at most 40 of them.
fn walk_in_root(root: BorrowedFd<'_>, rel: &Path, spec: &Spec) -> io::Result<File> {
    // The directories from the root down to where we are; `..` pops, never above the root.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut todo: std::collections::VecDeque<OsString> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    let mut hops = 0;
    fn top<'a>(stack: &'a [OwnedFd], root: BorrowedFd<'a>) -> BorrowedFd<'a> {
        stack.last().map(|f| f.as_fd()).unwrap_or(root)
    }
    if todo.is_empty() {
        let fd = openat_raw(top(&stack, root), OsStr::new("."), open_flags(spec.kind))?;
        return Ok(File::from(fd));
    }
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            stack.pop();
            if todo.is_empty() {
                let fd = openat_raw(top(&stack, root), OsStr::new("."), open_flags(spec.kind))?;
                return Ok(File::from(fd));
            }
            continue;
        }
        let last = todo.is_empty();
        let path_fd = openat_raw(
            top(&stack, root),
            &name,
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )?;
        let m = File::from(path_fd.try_clone()?).metadata();
        // O_PATH descriptors support fstat since 3.6; on older kernels fall back to fstatat.
        let is_link = match m {
            Ok(m) => m.file_type().is_symlink(),
            Err(_) => false,
        };
        if is_link {
            if spec.links == Links::None {
                return Err(link_error(io::Error::from_raw_os_error(libc::ELOOP)));
            }
            hops += 1;
            if hops > 40 {
                return Err(link_error(io::Error::from_raw_os_error(libc::ELOOP)));
            }
            let target = readlinkat(top(&stack, root), &name)?;
            let t = Path::new(&target);
            if t.is_absolute() {
                stack.clear();
            }
            for c in t.components().rev() {
                match c {
                    Component::Normal(n) => todo.push_front(n.to_os_string()),
                    Component::ParentDir => todo.push_front(OsString::from("..")),
                    _ => {}
                }
            }
            if todo.is_empty() {
                let fd = openat_raw(top(&stack, root), OsStr::new("."), open_flags(spec.kind))?;
                return Ok(File::from(fd));
            }
            continue;
        }
        if last {
            let fd = openat_raw(
                top(&stack, root),
                &name,
                open_flags(spec.kind) | libc::O_NOFOLLOW,
            )
            .map_err(link_error)?;
            return Ok(File::from(fd));
        }
        let dir = openat_raw(
            top(&stack, root),
            &name,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
        .map_err(link_error)?;
        stack.push(dir);
    }
    Err(refuse(io::ErrorKind::NotFound, "empty path".into()))
}

/// Reads an opened, checked file to its end, refusing more than `max` bytes (a file may grow after fstat).
pub fn read_bounded(f: &mut File, max: u64) -> io::Result<Vec<u8>> {
    let hint = f.metadata().map(|m| m.len()).unwrap_or(0).min(max) as usize;
    let mut buf = Vec::with_capacity(hint);
    f.take(max.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(refuse(
            io::ErrorKind::InvalidData,
            format!("more than {max} bytes: not read"),
        ));
    }
    Ok(buf)
}

/// Opens inside `root` and reads the whole (bounded) file.
pub fn read_in_root(root: &Path, rel: &Path, spec: &Spec) -> io::Result<Vec<u8>> {
    let mut f = open_in_root(root, rel, spec)?;
    read_bounded(&mut f, spec.max_size)
}

/// Why a file that names programs run as root (the configuration, its directory, a token) is unsafe, judged on
/// the opened descriptor: owned by someone other than root or the agent's uid, or writable by group or others
/// (a group write is allowed for root's group only).
pub fn unsafe_permissions(m: &std::fs::Metadata, what: &str) -> Option<String> {
    let me = nix_euid();
    let mode = m.mode();
    if m.uid() != 0 && m.uid() != me {
        return Some(format!(
            "{what} is owned by uid {}, neither root nor the agent's uid {me}; its owner could make wasp run \
             programs, so wasp refuses it: chown root it",
            m.uid()
        ));
    }
    if mode & 0o002 != 0 {
        return Some(format!(
            "{what} is writable by every user (mode {:o}); it can name programs wasp runs, so wasp refuses it: \
             chmod o-w it",
            mode & 0o777
        ));
    }
    if mode & 0o020 != 0 && m.gid() != 0 {
        return Some(format!(
            "{what} is writable by group {} (mode {:o}); it can name programs wasp runs, so wasp refuses it: \
             chmod g-w it",
            m.gid(),
            mode & 0o777
        ));
    }
    None
}

fn nix_euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Reads a file that names programs run as root: opened once without following a final symlink, checked on that
/// descriptor (and its directory too), bounded.
pub fn read_protected(path: &Path, what: &str, max: u64) -> io::Result<Vec<u8>> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| refuse(io::ErrorKind::InvalidInput, "NUL in path".into()))?;
    // SAFETY: valid C string; the result is checked.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(link_error(io::Error::last_os_error()));
    }
    // SAFETY: a descriptor we just opened and own.
    let mut f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let m = check(&f, &Spec::file(Owner::Any, max))?;
    if let Some(why) = unsafe_permissions(&m, what) {
        return Err(refuse(io::ErrorKind::PermissionDenied, why));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dm = std::fs::metadata(dir)?;
    if let Some(why) = unsafe_permissions(&dm, &format!("its directory {}", dir.display())) {
        // A sticky directory (/tmp) keeps others from replacing our file; its owner is root.
        if !(dm.mode() & 0o1000 != 0 && dm.uid() == 0) {
            return Err(refuse(io::ErrorKind::PermissionDenied, why));
        }
    }
    read_bounded(&mut f, max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn spec() -> Spec {
        Spec::file(Owner::Any, 1 << 20)
    }

    /// Through openat2 and through the walk the kernels before 5.6 use.
    fn both(f: impl Fn(&dyn Fn(&Path, &str, &Spec) -> io::Result<Vec<u8>>)) {
        for walk in [false, true] {
            f(&|root: &Path, rel: &str, spec: &Spec| {
                let r = open_trusted_path(root, &Spec::dir(Owner::Any))?;
                let mut f = open_beneath_via(r.as_fd(), Path::new(rel), spec, walk)?;
                read_bounded(&mut f, spec.max_size)
            });
        }
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/secret"), "container file").unwrap();
        // Absolute: resolved against the root, not the host.
        symlink(outside.path().join("secret"), root.path().join("abs")).unwrap();
        symlink("/etc/secret", root.path().join("abs2")).unwrap();
        symlink("../../../../../../etc/secret", root.path().join("up")).unwrap();
        symlink("etc", root.path().join("dirlink")).unwrap();
        both(|read| {
            let r = root.path();
            assert!(read(r, "abs", &spec()).is_err());
            assert_eq!(read(r, "abs2", &spec()).unwrap(), b"container file");
            assert_eq!(read(r, "up", &spec()).unwrap(), b"container file");
            assert_eq!(
                read(r, "/dirlink/secret", &spec()).unwrap(),
                b"container file"
            );
            assert!(read(r, "abs2", &spec().no_links()).is_err());
            assert!(read(r, "dirlink/secret", &spec().no_links()).is_err());
            assert_eq!(
                read(r, "etc/secret", &spec().no_links()).unwrap(),
                b"container file"
            );
        });
    }

    #[test]
    fn fifos_devices_big_files_and_owners_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        nix::unistd::mkfifo(
            &r.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        symlink("/dev/zero", r.join("zero")).unwrap();
        let big = File::create(r.join("big")).unwrap();
        big.set_len(512 << 20).unwrap();
        std::fs::write(r.join("small"), "x").unwrap();
        std::fs::set_permissions(r.join("small"), std::fs::Permissions::from_mode(0o600)).unwrap();
        both(|read| {
            let t = std::time::Instant::now();
            let e = read(r, "fifo", &spec()).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
            assert!(t.elapsed() < std::time::Duration::from_secs(1));
            // /dev/zero inside the root does not exist: the host's is never reached.
            assert!(read(r, "zero", &spec()).is_err());
            let e = read(r, "big", &spec()).unwrap_err();
            assert!(e.to_string().contains("more than"), "{e}");
            let me = nix_euid();
            assert!(read(r, "small", &Spec::file(Owner::Uid(me), 10)).is_ok());
            let e = read(r, "small", &Spec::file(Owner::Uid(me + 1), 10)).unwrap_err();
            assert!(e.to_string().contains("not trusted"), "{e}");
            let other = Owner::ReadableBy {
                uid: me + 1,
                gid: u32::MAX - 1,
            };
            assert!(read(r, "small", &Spec::file(other, 10)).is_err());
        });
    }

    #[test]
    fn protected_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let p = d.path().join("c.toml");
        std::fs::write(&p, "a = 1").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_protected(&p, "the file", 100).unwrap(), b"a = 1");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o646)).unwrap();
        assert!(read_protected(&p, "the file", 100).is_err());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        symlink(&p, d.path().join("link")).unwrap();
        assert!(read_protected(&d.path().join("link"), "the file", 100).is_err());
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = read_protected(&p, "the file", 100).unwrap_err();
        assert!(e.to_string().contains("its directory"), "{e}");
    }

    proptest::proptest! {
        // Whatever path a hostile process names, resolving it never panics and never leaves the root.
        #[test]
        fn walk_never_panics(p in "(\\.\\.|/|a|b|\\.|[^\\x00]{0,3}){0,12}") {
            let root = tempfile::tempdir().unwrap();
            std::fs::write(root.path().join("a"), "in").unwrap();
            let _ = symlink("/a", root.path().join("b"));
            let r = open_trusted_path(root.path(), &Spec::dir(Owner::Any)).unwrap();
            let read = |walk| {
                open_beneath_via(r.as_fd(), Path::new(&p), &spec(), walk)
                    .and_then(|mut f| read_bounded(&mut f, 100))
            };
            let (w, o) = (read(true), read(false));
            if let (Ok(a), Ok(b)) = (&w, &o) {
                proptest::prop_assert_eq!(a, b);
            }
            for r in [w, o].into_iter().flatten() {
                proptest::prop_assert_eq!(r, b"in".to_vec());
            }
        }
    }
}
