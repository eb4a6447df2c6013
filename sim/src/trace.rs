//! The trace of a run: every event is hashed into one 64-bit trace hash (FNV-1a), and
//! the last few are kept for the failure report. Two runs of the same seed on the same
//! binary must produce the same hash; a test runs seeds twice and compares.

use std::collections::VecDeque;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Events of one run.
#[derive(Clone, Debug)]
pub struct Trace {
    hash: u64,
    events: u64,
    tail: VecDeque<String>,
    tail_max: usize,
}

impl Trace {
    pub fn new(tail_max: usize) -> Trace {
        Trace {
            hash: FNV_OFFSET,
            events: 0,
            tail: VecDeque::with_capacity(tail_max),
            tail_max,
        }
    }

    /// Records one event.
    pub fn event(&mut self, text: String) {
        for byte in text.as_bytes().iter().chain(b"\n") {
            self.hash ^= u64::from(*byte);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
        self.events += 1;
        if self.tail.len() == self.tail_max {
            self.tail.pop_front();
        }
        self.tail.push_back(text);
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    /// The last events, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_events_same_hash_and_order_matters() {
        let mut a = Trace::new(4);
        let mut b = Trace::new(4);
        let mut c = Trace::new(4);
        for t in [&mut a, &mut b] {
            t.event("one".into());
            t.event("two".into());
        }
        c.event("two".into());
        c.event("one".into());
        assert_eq!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
    }

    #[test]
    fn tail_keeps_the_last_events() {
        let mut t = Trace::new(2);
        for i in 0..5 {
            t.event(i.to_string());
        }
        assert_eq!(t.tail(), vec!["3".to_string(), "4".to_string()]);
        assert_eq!(t.events(), 5);
    }
}
