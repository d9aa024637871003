//! URL templates: a path with its variable parts collapsed, so that `/orders/12345/items/9f86d081884c7d65` and
//! `/orders/7/items/0a1b2c3d4e5f6789` count as one `/orders/{n}/items/{hex}`. Templates name the slow and
//! failing endpoints without a series per URL.

/// Longest template kept; a longer path ends in `/…`.
const MAX_LEN: usize = 200;
/// Segments kept; deeper paths end in `/…`.
const MAX_SEGMENTS: usize = 12;

/// The template of a URL path (no query). Never longer than about MAX_LEN bytes.
pub fn template(path: &[u8]) -> String {
    let mut out = String::new();
    template_into(path, &mut out);
    out
}

/// [`template`] into a buffer the caller reuses (no allocation per line on the hot path).
pub fn template_into(path: &[u8], out: &mut String) {
    out.clear();
    // `;jsessionid=...` path parameters are per session.
    let path = path.split(|&c| c == b';').next().unwrap_or_default();
    for (i, seg) in path.split(|&c| c == b'/').skip(1).enumerate() {
        if i >= MAX_SEGMENTS || out.len() >= MAX_LEN {
            out.push_str("/…");
            return;
        }
        out.push('/');
        match kind(seg) {
            Some(k) => out.push_str(k),
            None => match std::str::from_utf8(seg) {
                Ok(s) => out.push_str(s),
                Err(_) => out.push_str(&String::from_utf8_lossy(seg)),
            },
        }
    }
    if out.is_empty() {
        out.push('/');
    }
}

/// The placeholder of a variable segment; None for a word to keep.
fn kind(s: &[u8]) -> Option<&'static str> {
    if s.is_empty() {
        return None;
    }
    if s.iter().all(u8::is_ascii_digit) {
        return Some("{n}");
    }
    if is_uuid(s) {
        return Some("{uuid}");
    }
    let digits = s.iter().filter(|c| c.is_ascii_digit()).count();
    if s.len() >= 8 && digits > 0 && s.iter().all(u8::is_ascii_hexdigit) {
        return Some("{hex}");
    }
    if s.len() > 40 {
        return Some("{long}");
    }
    // order-20261129-0042, a1b2c3d4-x: mostly digits is an id.
    if digits >= 3 && digits * 2 >= s.len() {
        return Some("{id}");
    }
    // Percent-escapes and bytes outside printable ASCII: whatever the client sent.
    if s.iter().any(|&c| !c.is_ascii_graphic() || c == b'%') {
        return Some("{s}");
    }
    None
}

fn is_uuid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_ids() {
        assert_eq!(
            template(b"/orders/12345/items/9f86d081884c7d65"),
            "/orders/{n}/items/{hex}"
        );
        assert_eq!(
            template(b"/u/123e4567-e89b-12d3-a456-426614174000/profile"),
            "/u/{uuid}/profile"
        );
        assert_eq!(template(b"/shop/cart;jsessionid=ABC123DEF"), "/shop/cart");
        assert_eq!(template(b"/inv/order-20261129-0042"), "/inv/{id}");
        assert_eq!(template(b"/static/app.v2.js"), "/static/app.v2.js");
        assert_eq!(template(b"/search/caf%C3%A9"), "/search/{s}");
        assert_eq!(template(b""), "/");
        assert_eq!(template(b"/"), "/");
        assert_eq!(template(b"/deadbeef"), "/deadbeef");
        let deep = "/a".repeat(50);
        assert_eq!(template(deep.as_bytes()), format!("{}/…", "/a".repeat(12)));
    }

    proptest::proptest! {
        #[test]
        fn bounded_and_never_panics(p in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
            let t = template(&p);
            proptest::prop_assert!(t.len() <= MAX_LEN + 64 * 4 + 8);
        }
    }
}
