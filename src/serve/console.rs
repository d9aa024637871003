//! The web console: one page shell for `/`, `/jvm/<pid>`, `/incidents` and `/incidents/<id>` (the script
//! draws each from the JSON API), and its assets, all compiled into the binary (hosts have no internet, and a
//! file beside the binary could be changed by whoever can write there). uPlot is vendored with its licence.
//! Every page carries a Content-Security-Policy allowing only these scripts: the script renders what other
//! processes control (thread names, command lines, log lines) as text, and the policy is the second fence.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const SHELL: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");
const UPLOT: &str = include_str!("assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("assets/uplot/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("assets/uplot/LICENSE");
const LOGIN: &str = include_str!("assets/login.html");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes() -> Router {
    Router::new()
        .route("/", get(shell))
        .route("/jvm/{pid}", get(shell))
        .route("/incidents", get(shell))
        .route("/incidents/{id}", get(shell))
        .route("/assets/{name}", get(asset))
}

/// The embedded files by name: (content type, body).
fn named(name: &str) -> Option<(&'static str, &'static str)> {
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

async fn asset(uri: axum::http::Uri) -> Response {
    let name = uri.path().trim_start_matches("/assets/");
    let Some((kind, body)) = named(name) else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
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

    proptest::proptest! {
        #[test]
        fn cookie_parser_never_panics(s in "\\PC{0,200}") {
            let _ = cookie_token(&s);
        }
    }
}
