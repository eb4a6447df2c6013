//! Latency histograms and the summaries of per-round values.
//!
//! A latency is recorded into a log-linear histogram (128 buckets per power of two, so a
//! reported percentile is within 0.8% of the exact one) rather than a vector of samples:
//! a million timed reads then cost 60 KiB instead of 8 MiB, which would otherwise show up
//! in the very peak-RSS numbers this harness reports. Histograms from several rounds merge
//! exactly, which is how the plots pool rounds.

use serde::{Deserialize, Serialize};

/// Sub-buckets per power of two. Values below this are recorded exactly.
const SUB_BUCKETS: u64 = 128;
const SUB_BUCKET_BITS: u32 = SUB_BUCKETS.trailing_zeros();
/// Enough buckets for any u64: the exact range plus 128 per remaining octave.
const BUCKET_COUNT: usize = (SUB_BUCKETS + (64 - SUB_BUCKET_BITS as u64) * SUB_BUCKETS) as usize;

const _: () = assert!(SUB_BUCKETS.is_power_of_two());

/// A histogram of nanosecond values.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u64,
    max: u64,
    min: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKET_COUNT],
            total: 0,
            sum: 0,
            max: 0,
            min: u64::MAX,
        }
    }
}

fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS {
        return value as usize;
    }
    let octave = 63 - value.leading_zeros(); // >= SUB_BUCKET_BITS
    let shift = octave - SUB_BUCKET_BITS;
    let sub = (value >> shift) - SUB_BUCKETS; // 0..SUB_BUCKETS
    (SUB_BUCKETS + u64::from(shift) * SUB_BUCKETS + sub) as usize
}

/// The smallest value that lands in `bucket`, and the bucket's width.
fn bucket_range(bucket: usize) -> (u64, u64) {
    let bucket = bucket as u64;
    if bucket < SUB_BUCKETS {
        return (bucket, 1);
    }
    let shift = (bucket - SUB_BUCKETS) / SUB_BUCKETS;
    let sub = (bucket - SUB_BUCKETS) % SUB_BUCKETS;
    ((SUB_BUCKETS + sub) << shift, 1 << shift)
}

impl Histogram {
    pub fn record(&mut self, value_ns: u64) {
        self.counts[bucket_of(value_ns)] += 1;
        self.total += 1;
        self.sum += value_ns;
        self.max = self.max.max(value_ns);
        self.min = self.min.min(value_ns);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The sum of every recorded value (exact, not bucketed).
    pub fn sum_ns(&self) -> u64 {
        self.sum
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
        self.min = self.min.min(other.min);
    }

    /// The value at quantile `q` (0..=1): the middle of the bucket holding it, clamped to
    /// the observed extremes. 0 for an empty histogram.
    pub fn quantile(&self, q: f64) -> f64 {
        assert!((0.0..=1.0).contains(&q));
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, width) = bucket_range(bucket);
                let middle = low as f64 + (width as f64 - 1.0) / 2.0;
                return middle.clamp(self.min as f64, self.max as f64);
            }
        }
        self.max as f64
    }

    /// (value, fraction of samples at or below it) at every non-empty bucket: the points
    /// of an empirical CDF, for plots.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let mut points = Vec::new();
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            seen += count;
            let (low, width) = bucket_range(bucket);
            points.push((
                (low + width - 1) as f64,
                seen as f64 / self.total.max(1) as f64,
            ));
        }
        points
    }
}

/// The wire form: only non-empty buckets, as (bucket, count) pairs.
#[derive(Serialize, Deserialize)]
struct SparseHistogram {
    buckets: Vec<(u32, u64)>,
    sum: u64,
    min: u64,
    max: u64,
}

impl Serialize for Histogram {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let buckets = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(b, &c)| (b as u32, c))
            .collect();
        SparseHistogram {
            buckets,
            sum: self.sum,
            min: self.min,
            max: self.max,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let sparse = SparseHistogram::deserialize(deserializer)?;
        let mut h = Histogram::default();
        for (bucket, count) in sparse.buckets {
            let slot = h
                .counts
                .get_mut(bucket as usize)
                .ok_or_else(|| serde::de::Error::custom("histogram bucket out of range"))?;
            *slot += count;
            h.total += count;
        }
        h.sum = sparse.sum;
        h.min = sparse.min;
        h.max = sparse.max;
        Ok(h)
    }
}

/// Median, minimum and maximum of one metric's per-round values.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// `None` for no values. The median of an even count is the mean of the middle two.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_their_lower_bound() {
        for value in [
            0,
            1,
            127,
            128,
            129,
            255,
            256,
            1000,
            123_456,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let (low, width) = bucket_range(bucket_of(value));
            assert!(low <= value, "{value}: low {low}");
            assert!(value - low < width, "{value}: low {low} width {width}");
        }
        assert!(bucket_of(u64::MAX) < BUCKET_COUNT);
    }

    #[test]
    fn quantiles_are_within_one_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 10);
        }
        let p50 = h.quantile(0.5);
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.01, "{p50}");
        assert_eq!(h.quantile(1.0), 1_000_000.0);
        assert_eq!(h.quantile(0.0), 10.0);
    }

    #[test]
    fn serde_keeps_counts() {
        let mut h = Histogram::default();
        for v in [5, 500, 50_000, 50_001] {
            h.record(v);
        }
        let back: Histogram = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn median_of_even_count_is_the_mean_of_the_middle() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        assert!(Summary::of(&[]).is_none());
    }
}
