//! Guardrail bookkeeping: loop detection, per-tool circuit breakers, and
//! exponential backoff with jitter. Pure state, time passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Counts identical calls (name + canonical arguments) over a run.
#[derive(Debug, Default)]
pub(crate) struct LoopDetector {
    seen: HashMap<String, u32>,
}

impl LoopDetector {
    /// Records one call and returns how many times it has now been made.
    pub(crate) fn record(&mut self, call_hash: &str) -> u32 {
        let n = self.seen.entry(call_hash.to_owned()).or_insert(0);
        *n += 1;
        *n
    }
}

#[derive(Debug)]
enum BreakerState {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        until: Instant,
    },
    /// Cooldown over: one trial call may go through.
    HalfOpen,
}

/// A per-tool circuit breaker: after `threshold` consecutive failed calls
/// the tool is unavailable for `cooldown`, then one trial call decides.
#[derive(Debug)]
pub(crate) struct CircuitBreakers {
    threshold: u32,
    cooldown: Duration,
    tools: HashMap<String, BreakerState>,
}

/// Whether a call may go out now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Allowed,
    Open { retry_in: Duration },
}

impl CircuitBreakers {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            tools: HashMap::new(),
        }
    }

    pub(crate) fn admit(&mut self, tool: &str, now: Instant) -> Admission {
        match self.tools.get_mut(tool) {
            None | Some(BreakerState::Closed { .. }) | Some(BreakerState::HalfOpen) => {
                Admission::Allowed
            }
            Some(state @ BreakerState::Open { .. }) => {
                let BreakerState::Open { until } = *state else {
                    return Admission::Allowed;
                };
                if now >= until {
                    *state = BreakerState::HalfOpen;
                    Admission::Allowed
                } else {
                    Admission::Open {
                        retry_in: until - now,
                    }
                }
            }
        }
    }

    pub(crate) fn success(&mut self, tool: &str) {
        self.tools.insert(
            tool.to_owned(),
            BreakerState::Closed {
                consecutive_failures: 0,
            },
        );
    }

    /// Records a failed call; returns true when this failure opened the breaker.
    pub(crate) fn failure(&mut self, tool: &str, now: Instant) -> bool {
        let state = self
            .tools
            .entry(tool.to_owned())
            .or_insert(BreakerState::Closed {
                consecutive_failures: 0,
            });
        match state {
            BreakerState::Closed {
                consecutive_failures,
            } => {
                *consecutive_failures += 1;
                if *consecutive_failures >= self.threshold {
                    *state = BreakerState::Open {
                        until: now + self.cooldown,
                    };
                    true
                } else {
                    false
                }
            }
            BreakerState::HalfOpen | BreakerState::Open { .. } => {
                *state = BreakerState::Open {
                    until: now + self.cooldown,
                };
                true
            }
        }
    }
}

/// Exponential backoff with full jitter: a delay drawn uniformly from
/// `[0, min(max, base * 2^(attempt-1))]`; `unit` is the random draw in [0, 1).
pub(crate) fn backoff_delay(attempt: u32, base: Duration, max: Duration, unit: f64) -> Duration {
    let exp = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
    let ceiling = base.saturating_mul(exp).min(max);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_detector_counts_identical_calls() {
        let mut d = LoopDetector::default();
        assert_eq!(d.record("a"), 1);
        assert_eq!(d.record("b"), 1);
        assert_eq!(d.record("a"), 2);
        assert_eq!(d.record("a"), 3);
    }

    #[test]
    fn breaker_opens_after_threshold_and_half_opens_after_cooldown() {
        let t0 = Instant::now();
        let mut b = CircuitBreakers::new(2, Duration::from_secs(10));
        assert_eq!(b.admit("x", t0), Admission::Allowed);
        assert!(!b.failure("x", t0));
        assert!(b.failure("x", t0));
        assert_eq!(
            b.admit("x", t0 + Duration::from_secs(1)),
            Admission::Open {
                retry_in: Duration::from_secs(9)
            }
        );
        assert_eq!(
            b.admit("y", t0),
            Admission::Allowed,
            "breakers are per tool"
        );
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.admit("x", later), Admission::Allowed, "half-open trial");
        assert!(b.failure("x", later), "a failed trial re-opens");
        assert!(matches!(b.admit("x", later), Admission::Open { .. }));
        let much_later = later + Duration::from_secs(11);
        assert_eq!(b.admit("x", much_later), Admission::Allowed);
        b.success("x");
        assert!(
            !b.failure("x", much_later),
            "success closed it: count starts again"
        );
    }

    #[test]
    fn backoff_grows_exponentially_is_capped_and_jittered() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        assert_eq!(backoff_delay(1, base, max, 1.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(2, base, max, 1.0), Duration::from_millis(200));
        assert_eq!(backoff_delay(3, base, max, 1.0), Duration::from_millis(400));
        assert_eq!(backoff_delay(10, base, max, 1.0), max);
        assert_eq!(backoff_delay(3, base, max, 0.5), Duration::from_millis(200));
        assert_eq!(backoff_delay(3, base, max, 0.0), Duration::ZERO);
        assert_eq!(backoff_delay(u32::MAX, base, max, 1.0), max);
    }
}
