//! Time and randomness, with the test-only overrides `JIT_NOW` (a fixed RFC 3339 instant)
//! and `JIT_SEED` (a seed for id randomness) that make output reproducible.

use jiff::Timestamp;

use crate::error::{Error, Result};

/// Where "now" and random bits come from for one command.
#[derive(Clone, Debug)]
pub struct Clock {
    fixed: Option<Timestamp>,
    seed: Option<u64>,
}

impl Clock {
    /// The real clock and the OS random source.
    pub fn system() -> Self {
        Clock { fixed: None, seed: None }
    }

    /// The system clock unless `JIT_NOW` / `JIT_SEED` are set in this process.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The system clock unless `var("JIT_NOW")` / `var("JIT_SEED")` give a value (`var` reads
    /// an environment: this process's, or a client's of `jit serve`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let fixed = match var("JIT_NOW") {
            Some(s) => Some(s.parse::<Timestamp>().map_err(|e| {
                Error::InvalidArgument(format!("JIT_NOW is not an RFC 3339 timestamp: {e}"))
            })?),
            None => None,
        };
        let seed = match var("JIT_SEED") {
            Some(s) => Some(s.parse::<u64>().map_err(|_| {
                Error::InvalidArgument(format!("JIT_SEED is not an unsigned integer: `{s}`"))
            })?),
            None => None,
        };
        Ok(Clock { fixed, seed })
    }

    /// The current time, truncated to microseconds (the precision stored on disk).
    pub fn now(&self) -> Timestamp {
        let t = self.fixed.unwrap_or_else(Timestamp::now);
        Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t)
    }

    /// A source of random bits: seeded when `JIT_SEED` is set.
    pub fn rng(&self) -> Rng {
        Rng { state: self.seed.map(|s| s ^ 0x9e37_79b9_7f4a_7c15) }
    }
}

/// A small random source: the OS generator, or splitmix64 from a seed in tests.
#[derive(Debug)]
pub struct Rng {
    state: Option<u64>,
}

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        match &mut self.state {
            Some(s) => {
                *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = *s;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            }
            None => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).expect("the OS random source is available");
                u64::from_le_bytes(b)
            }
        }
    }

    pub fn next_u128(&mut self) -> u128 {
        ((self.next_u64() as u128) << 64) | self.next_u64() as u128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_rng_is_reproducible_and_varied() {
        let c = Clock { fixed: None, seed: Some(7) };
        let (mut a, mut b) = (c.rng(), c.rng());
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
        let mut os = Clock::system().rng();
        assert_ne!(os.next_u128(), os.next_u128());
    }

    #[test]
    fn fixed_clock() {
        let t: Timestamp = "2026-01-01T00:00:00.123456789Z".parse().unwrap();
        let c = Clock { fixed: Some(t), seed: None };
        assert_eq!(c.now().to_string(), "2026-01-01T00:00:00.123456Z");
    }
}
