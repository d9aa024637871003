//! `type = "http_json"`: NDJSON batches of collections and documents (the `file` sink's lines) to any URL.

use super::Backend;
use crate::ship::encode::{Batch, Encoded, Origin, jsonl};

pub(crate) struct HttpJson {
    pub(crate) gzip: bool,
}

impl Backend for HttpJson {
    fn join(&self, bodies: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        crate::ship::encode::join(bodies, self.gzip)
    }

    fn takes_documents(&self) -> bool {
        true
    }

    fn encode(&self, batch: &Batch, origin: &Origin) -> Encoded {
        jsonl::encode(batch, origin, self.gzip)
    }

    fn headers(&self) -> Vec<(reqwest::header::HeaderName, &'static str)> {
        let mut h = vec![(reqwest::header::CONTENT_TYPE, "application/x-ndjson")];
        h.extend(super::gzip_header(self.gzip));
        h
    }
}
