//! One netlink dump request and its answer, for the two families the host collectors ask: sock_diag (TCP
//! sockets by port and state, as `ss` does) and rtnetlink (links with their counters, as `ip -s link` does).
//! A dump is a few hundred bytes per socket or link and visits only what exists, where the /proc and /sys
//! files cost a walk or an open per figure. Parsing never panics on short or hostile input: a length that
//! does not fit ends the dump with an error.

use std::io;

pub const NLM_F_REQUEST: u16 = 1;
pub const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// The netlink message header: length, type, flags, sequence, port.
pub const HEADER: usize = 16;

struct Fd(i32);
impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own this descriptor and close it once.
        unsafe { libc::close(self.0) };
    }
}

/// A request: the header for `ty` with the dump flags, then `body`.
pub fn request(ty: u16, body: &[u8]) -> Vec<u8> {
    let len = HEADER + body.len();
    let mut req = Vec::with_capacity(len);
    req.extend_from_slice(&(len as u32).to_ne_bytes());
    req.extend_from_slice(&ty.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(body);
    req
}

/// Sends `req` on a fresh socket of `protocol` and hands every answer message's (type, payload) to `each`
/// until the kernel says done. A kernel that never answers cannot hang us: a 1-s receive timeout.
pub fn dump(protocol: i32, req: &[u8], mut each: impl FnMut(u16, &[u8])) -> io::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = Fd(fd);
    // The receive timeout must be in place, or no dump is asked.
    // SAFETY: `fd` is open for the whole borrow.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd.0) };
    nix::sys::socket::setsockopt(
        &borrowed,
        nix::sys::socket::sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(1, 0),
    )
    .map_err(io::Error::from)?;
    // SAFETY: sending our own initialised buffer; the kernel address is the zeroed sockaddr_nl.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as u16;
    let sent = unsafe {
        libc::sendto(
            fd.0,
            req.as_ptr() as *const libc::c_void,
            req.len(),
            0,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    // The kernel sizes dump datagrams to the reader's buffer, up to 32 KiB: this one is never too small.
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: receiving into our own buffer of the given length.
        let n = unsafe { libc::recv(fd.0, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 || messages(&buf[..n as usize], &mut each)? {
            return Ok(());
        }
    }
}

/// The messages of one datagram to `each`; true when the dump is done.
pub fn messages(mut b: &[u8], each: &mut impl FnMut(u16, &[u8])) -> io::Result<bool> {
    while b.len() >= HEADER {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        if len < HEADER || len > b.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated netlink message",
            ));
        }
        match ty {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = b
                    .get(HEADER..HEADER + 4)
                    .map(|e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]))
                    .unwrap_or(0);
                return Err(io::Error::from_raw_os_error(-errno));
            }
            _ => each(ty, &b[HEADER..len]),
        }
        let aligned = (len + 3) & !3;
        b = b.get(aligned..).unwrap_or(&[]);
    }
    Ok(false)
}

/// The route attributes (type, payload) of a message body after its fixed part; stops at the first that does
/// not fit.
pub fn attributes(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        // The high bits are NLA_F_NESTED and NLA_F_NET_BYTEORDER flags, not the type.
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            b = &[];
            return None;
        }
        let payload = &b[4..len];
        b = b.get((len + 3) & !3..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn messages_and_attributes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = messages(&b, &mut |_, body| { let _ = attributes(body).count(); });
            let _ = attributes(&b).count();
        }
    }

    #[test]
    fn attributes_are_walked_with_padding_and_stop_at_a_bad_length() {
        let mut b = Vec::new();
        b.extend_from_slice(&5u16.to_ne_bytes());
        b.extend_from_slice(&3u16.to_ne_bytes());
        b.extend_from_slice(b"x\0\0\0");
        b.extend_from_slice(&8u16.to_ne_bytes());
        b.extend_from_slice(&(16u16 | 0x8000).to_ne_bytes());
        b.extend_from_slice(&7u32.to_ne_bytes());
        b.extend_from_slice(&200u16.to_ne_bytes());
        b.extend_from_slice(&1u16.to_ne_bytes());
        let got: Vec<(u16, Vec<u8>)> = attributes(&b).map(|(t, p)| (t, p.to_vec())).collect();
        assert_eq!(
            got,
            vec![(3, b"x".to_vec()), (16, 7u32.to_ne_bytes().to_vec())]
        );
    }
}
