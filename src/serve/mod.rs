//! Local endpoints over HTTP: `/metrics` and `/healthz`, the JSON API under `/api/v1/` and the web console.

pub mod api;
pub mod console;
pub mod evidence;
pub mod http;
