//! Access-log line formats compiled once into a list of literals and fields, so that a line is cut by a few
//! `memchr`/`memmem` searches and no regular expression: Tomcat's AccessLogValve patterns (with the `common` and
//! `combined` aliases), Apache httpd's LogFormat and nginx's log_format. W3C extended and JSON lines have their
//! own readers in [`super::structured`].
//!
//! A field ends where the literal after it starts; a field of a quoted pair (`"%r"`) skips `\"` escapes. Elements
//! wasp does not need (`%{...}i`, `%{begin:...}t`, `%S`, ...) are kept as fields to skip, so the pattern still
//! lines up. A line that does not fit is an error, counted by the caller, never a panic.

use memchr::memmem;

/// What a field's number means, as given in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Micros,
    Millis,
    /// Seconds, with or without a fraction (`%T`, nginx's `$request_time` "0.004").
    Secs,
}

/// What wasp takes from a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Skip,
    Status,
    Method,
    /// The URL path alone (`%U`, `$uri`).
    Path,
    /// Path and query (`$request_uri`): the query is cut off.
    Uri,
    /// The request line, `GET /a?b HTTP/1.1`.
    Request,
    /// Body bytes; `-` is 0.
    Bytes,
    Duration(Unit),
    /// The request thread's name (Tomcat `%I`).
    Thread,
    /// A bracketed time (`[29/Nov/2026:23:20:07 +0000]`): ends at its `]`, whatever follows.
    Bracketed,
    /// A value to skip that holds this many spaces (`%{yyyy-MM-dd HH:mm:ss}t`): the end is looked for after them.
    Words(u8),
}

/// Which program's directives a pattern is written in: `%I` is the thread in Tomcat and bytes in httpd, and
/// `%D` was milliseconds before Tomcat 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Tomcat of this major version (10 and later log `%D` in microseconds).
    Tomcat(u32),
    Apache,
    Nginx,
    /// WildFly/JBoss Undertow: `%D` in milliseconds, `%I` the thread, headers as `%{i,Name}`.
    Undertow,
}

#[derive(Debug, Clone)]
enum Tok {
    Lit(Vec<u8>, Box<memmem::Finder<'static>>),
    Field(Slot),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct LineFormat {
    toks: Vec<Tok>,
    /// Whether any field gives a duration (else the latency histogram stays empty).
    pub has_duration: bool,
}

/// One request as read from a line; slices borrow the line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Request<'a> {
    pub method: &'a [u8],
    pub path: &'a [u8],
    /// 0 when the log has none or `-`.
    pub status: u16,
    pub bytes: u64,
    pub duration_us: Option<u64>,
    pub thread: Option<&'a [u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoMatch;

const TOMCAT_COMMON: &str = "%h %l %u %t \"%r\" %s %b";
const TOMCAT_COMBINED: &str = "%h %l %u %t \"%r\" %s %b \"%{Referer}i\" \"%{User-Agent}i\"";
const NGINX_COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

impl LineFormat {
    /// Compiles a Tomcat/httpd `%` pattern or an nginx `$` log_format. Unknown directives are skipped fields.
    pub fn compile(pattern: &str, dialect: Dialect) -> LineFormat {
        let pattern = match (pattern.trim(), dialect) {
            ("common", Dialect::Tomcat(_) | Dialect::Apache | Dialect::Undertow) => TOMCAT_COMMON,
            ("combined", Dialect::Tomcat(_) | Dialect::Apache | Dialect::Undertow) => {
                TOMCAT_COMBINED
            }
            ("combined", Dialect::Nginx) => NGINX_COMBINED,
            (p, _) => p,
        };
        let mut b = Builder::default();
        match dialect {
            Dialect::Nginx => nginx(pattern, &mut b),
            _ => percent(pattern, dialect, &mut b),
        }
        b.finish()
    }

    /// Cuts one line (without its newline) into a request.
    pub fn parse<'a>(&self, line: &'a [u8]) -> Result<Request<'a>, NoMatch> {
        let mut r = Request::default();
        let mut pos = 0usize;
        let mut quoted = false;
        for (i, t) in self.toks.iter().enumerate() {
            match t {
                Tok::Lit(l, _) => {
                    if !line[pos..].starts_with(l) {
                        return Err(NoMatch);
                    }
                    pos += l.len();
                    quoted = l.last() == Some(&b'"');
                }
                Tok::Field(slot) => {
                    let rest = &line[pos..];
                    let len = match (slot, self.toks.get(i + 1)) {
                        (Slot::Bracketed, _) if rest.first() == Some(&b'[') => {
                            memchr::memchr(b']', rest).ok_or(NoMatch)? + 1
                        }
                        (Slot::Words(n), Some(Tok::Lit(_, f))) => {
                            let mut from = 0;
                            for _ in 0..*n {
                                from += memchr::memchr(b' ', &rest[from..]).ok_or(NoMatch)? + 1;
                            }
                            from + f.find(&rest[from..]).ok_or(NoMatch)?
                        }
                        (_, Some(Tok::Lit(l, f))) => {
                            if quoted && l[0] == b'"' {
                                unescaped_quote(rest, l).ok_or(NoMatch)?
                            } else {
                                f.find(rest).ok_or(NoMatch)?
                            }
                        }
                        // `%U%q`: the path ends at the query's '?'.
                        (Slot::Path, Some(Tok::Field(_))) => {
                            memchr::memchr(b'?', rest).unwrap_or(rest.len())
                        }
                        (_, Some(Tok::Field(_))) => 0,
                        (_, None) => rest.len(),
                    };
                    fill(&mut r, *slot, &rest[..len])?;
                    pos += len;
                }
            }
        }
        Ok(r)
    }
}

/// The end of a quoted value: the first `"` not escaped by a backslash where the literal `l` follows.
fn unescaped_quote(s: &[u8], l: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'"', &s[from..]) {
        let at = from + i;
        let escaped = s[..at].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1;
        if !escaped && s[at..].starts_with(l) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn fill<'a>(r: &mut Request<'a>, slot: Slot, v: &'a [u8]) -> Result<(), NoMatch> {
    match slot {
        Slot::Skip | Slot::Bracketed | Slot::Words(_) => {}
        Slot::Status => {
            r.status = if v == b"-" {
                0
            } else {
                int(v).ok_or(NoMatch)? as u16
            }
        }
        Slot::Method => r.method = v,
        Slot::Path => r.path = v,
        Slot::Uri => r.path = v.split(|&c| c == b'?').next().unwrap_or(v),
        Slot::Request => {
            // "GET /a?b HTTP/1.1"; a request line cut short (or "-") still counts, with what it has.
            let mut it = v.splitn(3, |&c| c == b' ');
            let m = it.next().unwrap_or_default();
            if m != b"-" {
                r.method = m;
            }
            let uri = it.next().unwrap_or_default();
            r.path = uri.split(|&c| c == b'?').next().unwrap_or(uri);
        }
        Slot::Bytes => r.bytes = if v == b"-" { 0 } else { int(v).ok_or(NoMatch)? },
        Slot::Duration(u) => {
            // "-" (nginx with no upstream, a request Tomcat could not time) leaves it unknown.
            if v != b"-" {
                r.duration_us = Some(micros(v, u).ok_or(NoMatch)?);
            }
        }
        Slot::Thread => r.thread = Some(v),
    }
    Ok(())
}

/// A plain unsigned integer of at most 19 digits.
pub fn int(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &c in v {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    Some(n)
}

/// A number in `unit`, integer or decimal ("0.004", "12"), in microseconds; sub-microsecond digits dropped.
pub fn micros(v: &[u8], unit: Unit) -> Option<u64> {
    let (whole, frac) = match memchr::memchr(b'.', v) {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &[][..]),
    };
    let scale: u32 = match unit {
        Unit::Micros => 0,
        Unit::Millis => 3,
        Unit::Secs => 6,
    };
    let w = if whole.is_empty() && !frac.is_empty() {
        0
    } else {
        int(whole)?
    };
    if !frac.iter().all(u8::is_ascii_digit) || whole.len() > 12 {
        return None;
    }
    let mut f = 0u64;
    for i in 0..scale as usize {
        f = f * 10 + frac.get(i).map_or(0, |c| u64::from(c - b'0'));
    }
    w.checked_mul(10u64.pow(scale))?.checked_add(f)
}

#[derive(Default)]
struct Builder {
    toks: Vec<Tok>,
    lit: Vec<u8>,
}

impl Builder {
    fn lit(&mut self, b: &[u8]) {
        self.lit.extend_from_slice(b);
    }

    fn field(&mut self, s: Slot) {
        self.flush();
        self.toks.push(Tok::Field(s));
    }

    fn flush(&mut self) {
        if !self.lit.is_empty() {
            let l = std::mem::take(&mut self.lit);
            let f = Box::new(memmem::Finder::new(&l).into_owned());
            self.toks.push(Tok::Lit(l, f));
        }
    }

    fn finish(mut self) -> LineFormat {
        self.flush();
        let has_duration = self
            .toks
            .iter()
            .any(|t| matches!(t, Tok::Field(Slot::Duration(_))));
        LineFormat {
            toks: self.toks,
            has_duration,
        }
    }
}

/// Tomcat AccessLogValve and httpd LogFormat directives.
fn percent(p: &str, d: Dialect, b: &mut Builder) {
    // %I is the request's thread in Tomcat and Undertow, bytes received in httpd.
    let tomcat = matches!(d, Dialect::Tomcat(_) | Dialect::Undertow);
    let s = p.as_bytes();
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'%' || i + 1 >= s.len() {
            b.lit(&s[i..=i]);
            i += 1;
            continue;
        }
        i += 1;
        // httpd: %>s, %<s, and status conditions like %400,501{User-agent}i.
        while i < s.len() && matches!(s[i], b'>' | b'<' | b'!' | b',' | b'0'..=b'9') {
            i += 1;
        }
        let mut arg: &[u8] = b"";
        if s.get(i) == Some(&b'{') {
            match memchr::memchr(b'}', &s[i..]) {
                Some(j) => {
                    arg = &s[i + 1..i + j];
                    i += j + 1;
                }
                None => {
                    b.lit(&s[i - 1..]);
                    return;
                }
            }
        }
        // Undertow: `%{i,Referer}`, `%{o,Set-Cookie}`, `%{c,JSESSIONID}`...: the letter is inside the braces.
        if d == Dialect::Undertow && arg.len() >= 2 && arg[1] == b',' {
            b.field(Slot::Skip);
            continue;
        }
        let Some(&c) = s.get(i) else {
            return;
        };
        i += 1;
        let slot = match c {
            b'%' => {
                b.lit(b"%");
                continue;
            }
            b's' => Slot::Status,
            b'm' => Slot::Method,
            b'U' => Slot::Path,
            b'r' => Slot::Request,
            b'b' | b'B' => Slot::Bytes,
            b'O' if !tomcat => Slot::Bytes,
            b't' if arg.is_empty() => Slot::Bracketed,
            // A SimpleDateFormat (after an optional begin:/end: and before a msec/sec variant): its spaces
            // are in the value too.
            b't' => Slot::Words(arg.iter().filter(|&&c| c == b' ').count().min(8) as u8),
            b'D' => match d {
                Dialect::Tomcat(v) if v < 10 => Slot::Duration(Unit::Millis),
                Dialect::Undertow => Slot::Duration(Unit::Millis),
                _ => Slot::Duration(Unit::Micros),
            },
            b'T' => Slot::Duration(match arg {
                b"ms" => Unit::Millis,
                b"us" => Unit::Micros,
                _ => Unit::Secs,
            }),
            b'I' if tomcat => Slot::Thread,
            _ => Slot::Skip,
        };
        b.field(slot);
    }
}

/// nginx `$variable` and `${variable}` names.
fn nginx(p: &str, b: &mut Builder) {
    let s = p.as_bytes();
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'$' {
            b.lit(&s[i..=i]);
            i += 1;
            continue;
        }
        let (name, next) = if s.get(i + 1) == Some(&b'{') {
            match memchr::memchr(b'}', &s[i..]) {
                Some(j) => (&s[i + 2..i + j], i + j + 1),
                None => {
                    b.lit(&s[i..]);
                    return;
                }
            }
        } else {
            let n = s[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            (&s[i + 1..i + 1 + n], i + 1 + n)
        };
        if name.is_empty() {
            b.lit(b"$");
            i += 1;
            continue;
        }
        i = next;
        b.field(match name {
            b"status" => Slot::Status,
            b"request_method" => Slot::Method,
            b"uri" | b"document_uri" => Slot::Path,
            b"request_uri" => Slot::Uri,
            b"request" => Slot::Request,
            b"body_bytes_sent" | b"bytes_sent" => Slot::Bytes,
            b"request_time" => Slot::Duration(Unit::Secs),
            _ => Slot::Skip,
        });
    }
}

#[cfg(test)]
mod tests;
