//! The rows both sides store, the random order both sides read in, and small process
//! helpers (resident memory, row-id files).
//!
//! Row `i` is a 24-byte key `k` + 23 decimal digits of `i`, and a 150-byte value drawn
//! from SplitMix64 seeded with `i`. Both sides get byte-identical rows and read them in
//! the same pseudo-random order, so the only difference between them is the engine.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use crate::machine::kib_field;
use crate::measure::Rss;

pub const KEY_BYTES: usize = 24;
pub const VALUE_BYTES: usize = 150;

/// SplitMix64: tiny, fast, and good enough to pick rows; deterministic from its seed.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n > 0); the modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        self.next_u64() % n
    }
}

/// The key of row `i`.
pub fn key(i: u64) -> [u8; KEY_BYTES] {
    let mut out = [b'0'; KEY_BYTES];
    out[0] = b'k';
    let mut rest = i;
    for slot in out[1..].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out
}

/// The value of row `i`.
pub fn value(i: u64) -> [u8; VALUE_BYTES] {
    let mut out = [0u8; VALUE_BYTES];
    let mut rng = SplitMix64::new(i ^ 0x5EED);
    for chunk in out.chunks_mut(8) {
        let bytes = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    out
}

/// Resident memory now and at its peak, from /proc/self/status (KiB resolution).
pub fn rss_now_and_peak() -> (u64, u64) {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let now = kib_field(&status, "VmRSS:").unwrap_or(0) * 1024;
    let peak = kib_field(&status, "VmHWM:").unwrap_or(0) * 1024;
    (now, peak)
}

/// Marks the start of what a child measures: the resident memory the harness holds.
pub struct RssProbe {
    baseline_bytes: u64,
}

impl RssProbe {
    pub fn start() -> RssProbe {
        RssProbe {
            baseline_bytes: rss_now_and_peak().0,
        }
    }

    pub fn finish(&self) -> Rss {
        Rss {
            peak_bytes: rss_now_and_peak().1,
            baseline_bytes: self.baseline_bytes,
        }
    }
}

/// Writes row ids (u64 little endian), so a later child can read the rows a loader wrote.
pub fn write_ids(path: &Path, ids: &[u64]) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(ids.len() * 8);
    for id in ids {
        bytes.extend_from_slice(&id.to_le_bytes());
    }
    let mut file = fs::File::create(path)?;
    file.write_all(&bytes)?;
    file.sync_all()
}

/// Reads what [`write_ids`] wrote into a vector that is resident before it returns.
pub fn read_ids(path: &Path) -> io::Result<Vec<u64>> {
    let mut bytes = Vec::new();
    fs::File::open(path)?.read_to_end(&mut bytes)?;
    if bytes.len() % 8 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: length {} is not a multiple of 8",
                path.display(),
                bytes.len()
            ),
        ));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

/// Total size of the regular files in `dir` (not recursive).
pub fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(fs::Metadata::is_file)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_promised_size_and_order() {
        assert_eq!(&key(42)[..], b"k00000000000000000000042");
        assert!(key(9) < key(10));
        assert_ne!(value(1), value(2));
    }
}
