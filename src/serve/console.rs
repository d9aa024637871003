//! The web console: one page shell for `/`, `/jvm/<pid>`, `/requests`, `/incidents` and `/incidents/<id>`
//! (the script draws each from the JSON API), and its assets, all compiled into the binary (hosts have no internet, and a
//! file beside the binary could be changed by whoever can write there). uPlot is vendored with its licence.
//! Every page carries a Content-Security-Policy allowing only these scripts: the script renders what other
//! processes control (thread names, command lines, log lines) as text, and the policy is the second fence.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const SHELL: &str = include_str!("assets/index.html");
const LOGIN: &str = include_str!("assets/login.html");

/// The assets as build.rs gzipped them (38 KB instead of 97 KB in the binary).
macro_rules! gz {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".gz"))
    };
}
const SCRIPT: &[u8] = gz!("console.js");
const STYLE: &[u8] = gz!("console.css");
const UPLOT: &[u8] = gz!("uPlot.iife.min.js");
const UPLOT_CSS: &[u8] = gz!("uPlot.min.css");
const UPLOT_LICENSE: &[u8] = gz!("LICENSE");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes() -> Router {
    Router::new()
        .route("/", get(shell))
        .route("/jvm/{pid}", get(shell))
        .route("/requests", get(shell))
        .route("/incidents", get(shell))
        .route("/incidents/{id}", get(shell))
        .route("/assets/{name}", get(asset))
}

/// The embedded files by name: (content type, gzipped body).
fn named(name: &str) -> Option<(&'static str, &'static [u8])> {
    Some(match name {
        "console.js" => ("text/javascript", SCRIPT),
        "console.css" => ("text/css", STYLE),
        "uPlot.min.js" => ("text/javascript", UPLOT),
        "uPlot.min.css" => ("text/css", UPLOT_CSS),
        "uPlot-LICENSE.txt" => ("text/plain; charset=utf-8", UPLOT_LICENSE),
        _ => return None,
    })
}

fn page(code: StatusCode, body: &'static str, csp: &'static str) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn shell() -> Response {
    page(StatusCode::OK, SHELL, CSP)
}

async fn asset(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    let name = uri.path().trim_start_matches("/assets/");
    let Some((kind, gz)) = named(name) else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let accepts = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(accepts_gzip);
    let (body, encoding): (axum::body::Body, Option<&str>) = if accepts {
        (gz.into(), Some("gzip"))
    } else {
        // Only a client without gzip (curl without --compressed) pays for the inflating.
        let mut raw = Vec::new();
        if std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut raw).is_err() {
            return (StatusCode::INTERNAL_SERVER_ERROR, "asset unreadable\n").into_response();
        }
        (raw.into(), None)
    };
    let mut r = (
        [
            (header::CONTENT_TYPE, kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::VARY, "accept-encoding"),
        ],
        body,
    )
        .into_response();
    if let Some(e) = encoding {
        r.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static(e),
        );
    }
    r
}

/// An `Accept-Encoding` value that takes gzip: `gzip`, `x-gzip` or `*` with a q above 0, unless gzip itself
/// is refused (`gzip;q=0, *`).
fn accepts_gzip(v: &str) -> bool {
    let mut any = false;
    for part in v.split(',') {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return q > 0.0,
            "*" => any = q > 0.0,
            _ => {}
        }
    }
    any
}

/// The answer to a browser without the token: 401, with a form that keeps the token in a cookie (same site
/// only) and reloads. It holds nothing of the host and shows nothing it did not write itself, so its one
/// inline script needs no stricter policy than: nothing loaded from anywhere, never framed.
pub fn login() -> Response {
    page(StatusCode::UNAUTHORIZED, LOGIN, LOGIN_CSP)
}

const LOGIN_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                         form-action 'none'; frame-ancestors 'none'";

/// The token a browser sends in its `wasp_token` cookie (percent-encoded by the login page).
pub fn cookie_token(cookies: &str) -> Option<String> {
    let v = cookies
        .split(';')
        .map(str::trim)
        .find_map(|c| c.strip_prefix("wasp_token="))?;
    percent_decode(v)
}

/// `%XX` escapes decoded (a cookie, a path segment, a query value); None when the result is not UTF-8 or an
/// escape is not hex. A `%` too near the end to be an escape is kept as it is.
pub fn percent_decode(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_tokens_are_decoded() {
        assert_eq!(
            cookie_token("a=1; wasp_token=ab%2Bc%3D%3D; b=2").as_deref(),
            Some("ab+c==")
        );
        assert_eq!(cookie_token("a=1").as_deref(), None);
        assert_eq!(cookie_token("wasp_token=%zz").as_deref(), None);
        assert_eq!(cookie_token("wasp_token=%4").as_deref(), Some("%4"));
    }

    #[test]
    fn gzip_is_taken_as_rfc_9110_says() {
        for yes in [
            "gzip",
            "gzip, deflate, br, zstd",
            "br;q=1.0, GZIP;q=0.5",
            "x-gzip",
            "*",
            "deflate, *;q=0.1",
        ] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in [
            "",
            "identity",
            "br, deflate",
            "gzip;q=0",
            "gzip;q=0, *",
            "*;q=0",
            "gzipped",
        ] {
            assert!(!accepts_gzip(no), "{no}");
        }
    }

    /// What the binary carries is what is in the tree: every asset inflates to its source file.
    #[test]
    fn every_asset_inflates_to_its_source() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/serve/assets");
        for (name, file) in [
            ("console.js", "console.js"),
            ("console.css", "console.css"),
            ("uPlot.min.js", "uplot/uPlot.iife.min.js"),
            ("uPlot.min.css", "uplot/uPlot.min.css"),
            ("uPlot-LICENSE.txt", "uplot/LICENSE"),
        ] {
            let (_, gz) = named(name).unwrap();
            let mut raw = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut raw).unwrap();
            assert_eq!(raw, std::fs::read(dir.join(file)).unwrap(), "{name}");
            assert!(
                gz.len() < raw.len(),
                "{name}: {} of {}",
                gz.len(),
                raw.len()
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn cookie_parser_never_panics(s in "\\PC{0,200}") {
            let _ = cookie_token(&s);
        }

        #[test]
        fn accept_encoding_parser_never_panics(s in "\\PC{0,200}") {
            let _ = accepts_gzip(&s);
        }
    }
}
