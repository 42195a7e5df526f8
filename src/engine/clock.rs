//! The channel's sample clock and the per-call timers that count it (never wall time), so lockstep
//! and realtime calls behave the same.

use crate::hw::SAMPLE_RATE_HZ;

/// Converts milliseconds to samples of the 8 kHz channel clock.
pub const fn ms_to_samples(ms: u64) -> u64 {
    ms * SAMPLE_RATE_HZ as u64 / 1000
}

pub const fn samples_to_ms(samples: u64) -> u64 {
    samples * 1000 / SAMPLE_RATE_HZ as u64
}

/// One one-shot timer on the sample clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleTimer {
    deadline: Option<u64>,
}

impl SampleTimer {
    /// Arms the timer to fire `ms` after `now`.
    pub fn arm(&mut self, now: u64, ms: u64) {
        self.deadline = Some(now + ms_to_samples(ms));
    }

    pub fn cancel(&mut self) {
        self.deadline = None;
    }

    pub fn is_armed(&self) -> bool {
        self.deadline.is_some()
    }

    /// True once, when `now` has reached the deadline; the timer is then disarmed.
    pub fn fire(&mut self, now: u64) -> bool {
        match self.deadline {
            Some(at) if now >= at => {
                self.deadline = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_at_the_sample_deadline() {
        let mut t = SampleTimer::default();
        t.arm(1000, 5000);
        assert!(!t.fire(1000 + 39_999));
        assert!(t.fire(1000 + 40_000));
        assert!(!t.fire(1000 + 40_160), "a fired timer stays quiet");
        assert!(!t.is_armed());
    }

    #[test]
    fn cancel_disarms() {
        let mut t = SampleTimer::default();
        t.arm(0, 20);
        t.cancel();
        assert!(!t.fire(u64::MAX));
    }
}
