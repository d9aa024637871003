//! Local endpoints: `/metrics` and `/healthz` over HTTP; `history` answers `GET /api/v1/history`.

pub mod history;
pub mod http;
