//! The bytes of a stored chunk: one series' values over one block of collections, or the timestamps of a block.
//!
//! Numbers are compressed with pcodec (`pco`), which finds the structure of a numeric column by itself (constant
//! runs, deltas, a common multiplier such as 1/100 s ticks) and is lossless for every f64 bit pattern. A series
//! that was absent from some collections of its block carries a presence bitmap in front. Decoding never panics:
//! damaged bytes are an error and the chunk is skipped by the caller.

use pco::ChunkConfig;
use pco::standalone::{simple_compress, simple_decompress};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodecError {
    #[error("chunk too short")]
    Short,
    #[error("unknown chunk tag {0}")]
    Tag(u8),
    #[error("chunk holds {got} values where its bitmap says {want}")]
    Count { got: usize, want: usize },
    #[error("pcodec: {0}")]
    Pco(String),
}

/// The tag byte: bit 0 says a presence bitmap follows; bits 1-2 how the present values are stored.
const BITMAP: u8 = 1;
/// pcodec (the usual case).
const PCO: u8 = 0;
/// One f64: every present value is this one (totals, sizes, info series: a third of a host's series).
const CONST: u8 = 2;
/// Plain f64s: a series seen a few times only (a JVM that came and went), where pcodec's header costs more.
const PLAIN: u8 = 4;

fn pco_err(e: pco::errors::PcoError) -> CodecError {
    CodecError::Pco(e.to_string())
}

/// Timestamps (ms) of a block.
pub fn encode_times(ts: &[i64]) -> Vec<u8> {
    // pco cannot fail on a slice of numbers with the default configuration; an empty vec decodes as an error.
    simple_compress(ts, &ChunkConfig::default()).unwrap_or_default()
}

pub fn decode_times(b: &[u8]) -> Result<Vec<i64>, CodecError> {
    simple_decompress(b).map_err(pco_err)
}

/// One series over a block of `vals.len()` collections; None where it was not collected.
pub fn encode_values(vals: &[Option<f64>]) -> Vec<u8> {
    let present: Vec<f64> = vals.iter().flatten().copied().collect();
    let body: (u8, Vec<u8>) = match present.first() {
        None => (PCO, Vec::new()),
        Some(f) if present.iter().all(|v| v.to_bits() == f.to_bits()) => {
            (CONST, f.to_le_bytes().to_vec())
        }
        Some(_) => {
            let p = simple_compress(&present, &ChunkConfig::default()).unwrap_or_default();
            if p.is_empty() || p.len() > present.len() * 8 {
                (
                    PLAIN,
                    present.iter().flat_map(|v| v.to_le_bytes()).collect(),
                )
            } else {
                (PCO, p)
            }
        }
    };
    let mut out = Vec::with_capacity(16 + body.1.len());
    if present.len() == vals.len() {
        out.push(body.0);
    } else {
        out.push(body.0 | BITMAP);
        let mut bits = vec![0u8; vals.len().div_ceil(8)];
        for (i, v) in vals.iter().enumerate() {
            if v.is_some() {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        out.extend_from_slice(&bits);
    }
    out.extend(body.1);
    out
}

/// The values of a chunk written by [`encode_values`] for a block of `n` collections.
pub fn decode_values(b: &[u8], n: usize) -> Result<Vec<Option<f64>>, CodecError> {
    let (&tag, rest) = b.split_first().ok_or(CodecError::Short)?;
    if tag & !(BITMAP | CONST | PLAIN) != 0 || tag & (CONST | PLAIN) == CONST | PLAIN {
        return Err(CodecError::Tag(tag));
    }
    let (mask, body): (Option<&[u8]>, &[u8]) = if tag & BITMAP == 0 {
        (None, rest)
    } else {
        let len = n.div_ceil(8);
        if rest.len() < len {
            return Err(CodecError::Short);
        }
        (Some(&rest[..len]), &rest[len..])
    };
    let want = match mask {
        None => n,
        Some(m) => (0..n).filter(|i| m[i / 8] & (1 << (i % 8)) != 0).count(),
    };
    let f64_at = |c: &[u8]| f64::from_le_bytes(c.try_into().unwrap_or_default());
    let present: Vec<f64> = if want == 0 && body.is_empty() {
        Vec::new()
    } else if tag & CONST != 0 {
        let v = f64_at(body.get(..8).ok_or(CodecError::Short)?);
        vec![v; want]
    } else if tag & PLAIN != 0 {
        body.chunks_exact(8).map(f64_at).collect()
    } else {
        simple_decompress(body).map_err(pco_err)?
    };
    if present.len() != want {
        return Err(CodecError::Count {
            got: present.len(),
            want,
        });
    }
    let mut it = present.into_iter();
    Ok((0..n)
        .map(|i| match mask {
            Some(m) if m[i / 8] & (1 << (i % 8)) == 0 => None,
            _ => it.next(),
        })
        .collect())
}

/// A rollup chunk: min, avg and max of one series per step of a window; None where the step had no value.
pub fn encode_rollup(min: &[Option<f64>], avg: &[Option<f64>], max: &[Option<f64>]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [min, avg] {
        let b = encode_values(part);
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend(b);
    }
    out.extend(encode_values(max));
    out
}

/// min, avg and max of a rollup chunk of `n` steps.
pub type Rollup = [Vec<Option<f64>>; 3];

pub fn decode_rollup(b: &[u8], n: usize) -> Result<Rollup, CodecError> {
    let mut rest = b;
    let mut part = || -> Result<Vec<Option<f64>>, CodecError> {
        let len = rest
            .get(..4)
            .ok_or(CodecError::Short)
            .map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)?;
        let body = rest.get(4..4 + len).ok_or(CodecError::Short)?;
        rest = &rest[4 + len..];
        decode_values(body, n)
    };
    let (min, avg) = (part()?, part()?);
    Ok([min, avg, decode_values(rest, n)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(a: &[Option<f64>], b: &[Option<f64>]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.map(f64::to_bits) == y.map(f64::to_bits))
    }

    #[test]
    fn counters_in_ticks_compress_far_below_two_bytes() {
        // A CPU counter in 1/100 s steps and a constant gauge: what most series look like.
        let cpu: Vec<Option<f64>> = (0..720)
            .map(|i| Some(123456.78 + (i * 37 % 500) as f64 / 100.0 + i as f64 * 4.0))
            .collect();
        let flat: Vec<Option<f64>> = vec![Some(8.0e9); 720];
        let (a, b) = (encode_values(&cpu), encode_values(&flat));
        assert!(a.len() < 720 * 2, "{} bytes", a.len());
        assert_eq!(b.len(), 9, "a constant series is its tag and one f64");
        // A series seen twice: plain f64s, smaller than pcodec's header.
        let twice: Vec<Option<f64>> = (0..120)
            .map(|i| (i % 60 == 0).then_some(i as f64))
            .collect();
        let t = encode_values(&twice);
        assert_eq!(t.len(), 1 + 15 + 16);
        assert!(same(&decode_values(&t, 120).unwrap(), &twice));
        assert!(same(&decode_values(&a, 720).unwrap(), &cpu));
        assert!(same(&decode_values(&b, 720).unwrap(), &flat));
    }

    #[test]
    fn absent_everywhere_and_damaged_chunks() {
        let none = vec![None; 10];
        assert_eq!(decode_values(&encode_values(&none), 10).unwrap(), none);
        assert_eq!(decode_values(&[], 3), Err(CodecError::Short));
        assert_eq!(decode_values(&[8], 3), Err(CodecError::Tag(8)));
        assert_eq!(decode_values(&[6], 3), Err(CodecError::Tag(6)));
        assert_eq!(decode_values(&[2, 1], 3), Err(CodecError::Short));
        assert!(decode_values(&[0, 1, 2, 3], 3).is_err());
        // A chunk of 3 values read as a block of 4: refused, not padded.
        let three = encode_values(&[Some(1.0), Some(2.0), Some(3.0)]);
        assert!(decode_values(&three, 4).is_err());
    }

    proptest! {
        #[test]
        fn values_round_trip_bit_for_bit(v in prop::collection::vec(prop::option::weighted(0.9, any::<f64>()), 0..300)) {
            let b = encode_values(&v);
            prop_assert!(same(&decode_values(&b, v.len()).unwrap(), &v));
        }

        #[test]
        fn few_distinct_values_round_trip(v in prop::collection::vec(prop::option::weighted(0.7, prop::sample::select(vec![0.0, -0.0, 1.5, f64::NAN])), 0..200)) {
            let b = encode_values(&v);
            prop_assert!(same(&decode_values(&b, v.len()).unwrap(), &v));
        }

        #[test]
        fn times_round_trip(mut t in prop::collection::vec(0i64..4_000_000_000_000, 1..300)) {
            t.sort();
            prop_assert_eq!(decode_times(&encode_times(&t)).unwrap(), t);
        }

        #[test]
        fn rollups_round_trip(v in prop::collection::vec(prop::option::of(-1e12f64..1e12), 0..80)) {
            let w: Vec<Option<f64>> = v.iter().map(|x| x.map(|x| x * 2.0)).collect();
            let [a, b, c] = decode_rollup(&encode_rollup(&v, &w, &v), v.len()).unwrap();
            prop_assert!(same(&a, &v) && same(&b, &w) && same(&c, &v));
        }

        #[test]
        fn decoding_any_bytes_never_panics(b in prop::collection::vec(any::<u8>(), 0..200), n in 0usize..100) {
            let _ = decode_values(&b, n);
            let _ = decode_times(&b);
            let _ = decode_rollup(&b, n);
        }
    }
}
