//! Local endpoints over HTTP: `/metrics` and `/healthz`, the JSON API under `/api/v1/` (`history` answers
//! `GET /api/v1/history`) and the web console.

pub mod api;
pub mod console;
pub mod evidence;
pub mod history;
pub mod http;
