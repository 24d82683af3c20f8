//! Kafka's default partitioner (murmur2 of the key's bytes), for the worker's routing: the
//! routed partition of every (detector, key) an event goes to. kafka-python's murmur2 is pure
//! Python (about 10 us a key), and most state keys are new, so a cache of it seldom helps.

use pyo3::prelude::*;

/// Kafka's murmur2 (the Java client's `Utils.murmur2`), on 32-bit wrapping arithmetic.
fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (shift, byte) in tail.iter().enumerate() {
            h ^= u32::from(*byte) << (8 * shift);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition Kafka's default partitioner gives `key` among `partitions`.
#[pyfunction]
pub fn partition_for(key: &[u8], partitions: u32) -> PyResult<u32> {
    partition_of(key, partitions)
}

pub(crate) fn partition_of(key: &[u8], partitions: u32) -> PyResult<u32> {
    if partitions == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "partitions must be at least 1",
        ));
    }
    Ok((murmur2(key) & 0x7fff_ffff) % partitions)
}
