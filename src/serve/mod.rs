//! Local endpoints: `/metrics` and `/healthz` over HTTP.

pub mod http;
