//! The one way wasp builds an HTTP client (sinks, webhooks, service checks): its user agent and rustls with the
//! system's roots. Callers add what is theirs (timeouts, TLS identities, redirect policy).

/// A client builder with wasp's common settings.
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().user_agent(concat!("wasp/", env!("CARGO_PKG_VERSION")))
}
