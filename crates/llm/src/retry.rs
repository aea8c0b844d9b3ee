//! Retrying a model call: exponential backoff with full jitter, honouring
//! the provider's `Retry-After`; fatal errors are returned at once.

use std::sync::Arc;
use std::time::Duration;

use bureau_protocol::{ModelRequest, ModelResponse};

use crate::{LlmError, ModelClient};

/// How often and how patiently to retry a model call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The backoff ceiling before the first retry; doubles each retry.
    pub base_delay: Duration,
    /// No wait is longer than this, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based) with
    /// `error`. `jitter` is a sample in `[0, 1)`: the backoff is
    /// `jitter * min(max_delay, base_delay * 2^(attempt-1))` ("full
    /// jitter"); a provider's `Retry-After` replaces it, capped at `max_delay`.
    pub fn delay(&self, attempt: u32, error: &LlmError, jitter: f64) -> Duration {
        if let Some(after) = error.retry_after() {
            return after.min(self.max_delay);
        }
        let exponent = attempt.saturating_sub(1).min(31);
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        ceiling.mul_f64(jitter)
    }
}

/// A source of jitter samples in `[0, 1)`.
pub type JitterFn = Arc<dyn Fn() -> f64 + Send + Sync>;

/// A [`ModelClient`] that retries the one it wraps on retryable errors.
pub struct Retrying<C> {
    inner: C,
    policy: RetryPolicy,
    jitter: JitterFn,
}

impl<C: ModelClient> Retrying<C> {
    pub fn new(inner: C, policy: RetryPolicy) -> Self {
        Self {
            inner,
            policy,
            jitter: Arc::new(rand::random::<f64>),
        }
    }

    /// Replaces the random jitter, e.g. with a constant in tests.
    pub fn with_jitter(mut self, jitter: JitterFn) -> Self {
        self.jitter = jitter;
        self
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    pub fn inner(&self) -> &C {
        &self.inner
    }
}

#[async_trait::async_trait]
impl<C: ModelClient> ModelClient for Retrying<C> {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, LlmError> {
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.inner.complete(request).await {
                Ok(response) => return Ok(response),
                Err(error) if error.is_retryable() && attempt < max_attempts => {
                    let delay = self.policy.delay(attempt, &error, (self.jitter)());
                    tracing::warn!(
                        provider = self.inner.provider(),
                        attempt,
                        max_attempts,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error = %error,
                        "model call failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    fn server_error() -> LlmError {
        LlmError::Server {
            status: 500,
            message: "boom".into(),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = policy();
        let e = server_error();
        assert_eq!(p.delay(1, &e, 1.0), Duration::from_millis(100));
        assert_eq!(p.delay(2, &e, 1.0), Duration::from_millis(200));
        assert_eq!(p.delay(3, &e, 1.0), Duration::from_millis(400));
        assert_eq!(p.delay(4, &e, 1.0), Duration::from_millis(800));
        assert_eq!(p.delay(5, &e, 1.0), Duration::from_secs(1));
        assert_eq!(p.delay(500, &e, 1.0), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_scales_the_ceiling() {
        let p = policy();
        let e = server_error();
        assert_eq!(p.delay(3, &e, 0.0), Duration::ZERO);
        assert_eq!(p.delay(3, &e, 0.5), Duration::from_millis(200));
        assert_eq!(p.delay(3, &e, 0.25), Duration::from_millis(100));
        // Out-of-range samples are clamped, not trusted.
        assert_eq!(p.delay(1, &e, 7.0), Duration::from_millis(100));
        assert_eq!(p.delay(1, &e, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        let p = policy();
        let e = LlmError::RateLimited {
            status: 429,
            retry_after: Some(Duration::from_millis(700)),
            message: String::new(),
        };
        assert_eq!(p.delay(1, &e, 0.0), Duration::from_millis(700));
        let e = LlmError::RateLimited {
            status: 429,
            retry_after: Some(Duration::from_secs(60)),
            message: String::new(),
        };
        assert_eq!(p.delay(1, &e, 0.0), Duration::from_secs(1));
        let e = LlmError::RateLimited {
            status: 429,
            retry_after: None,
            message: String::new(),
        };
        assert_eq!(p.delay(2, &e, 0.5), Duration::from_millis(100));
    }

    /// Fails with each error in turn, then answers.
    struct Flaky {
        errors: std::sync::Mutex<Vec<LlmError>>,
        calls: std::sync::atomic::AtomicU32,
    }

    #[async_trait::async_trait]
    impl ModelClient for Flaky {
        fn provider(&self) -> &'static str {
            "flaky"
        }

        fn model(&self) -> &str {
            "m"
        }

        async fn complete(&self, _: &ModelRequest) -> Result<ModelResponse, LlmError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let next = self.errors.lock().unwrap().pop();
            match next {
                Some(e) => Err(e),
                None => Ok(ModelResponse {
                    turn: Default::default(),
                    finish_reason: bureau_protocol::FinishReason::Stop,
                    usage: Default::default(),
                    model: "m".into(),
                    raw_request: serde_json::Value::Null,
                    raw_response: serde_json::Value::Null,
                }),
            }
        }
    }

    fn flaky(mut errors: Vec<LlmError>) -> Retrying<Flaky> {
        errors.reverse();
        let inner = Flaky {
            errors: std::sync::Mutex::new(errors),
            calls: Default::default(),
        };
        Retrying::new(inner, policy()).with_jitter(Arc::new(|| 0.0))
    }

    fn request() -> ModelRequest {
        ModelRequest {
            model: String::new(),
            messages: vec![],
            tools: Default::default(),
            max_output_tokens: None,
            temperature: None,
        }
    }

    fn calls(r: &Retrying<Flaky>) -> u32 {
        r.inner().calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn retryable_errors_are_retried_until_success() {
        let r = flaky(vec![
            LlmError::Timeout,
            LlmError::Transport("reset".into()),
            server_error(),
        ]);
        assert!(r.complete(&request()).await.is_ok());
        assert_eq!(calls(&r), 4);
        assert_eq!(r.provider(), "flaky");
    }

    #[tokio::test]
    async fn fatal_errors_return_at_once() {
        for fatal in [
            LlmError::Auth {
                status: 403,
                message: String::new(),
            },
            LlmError::BadRequest {
                status: 422,
                message: String::new(),
            },
            LlmError::Decode(String::new()),
            LlmError::Script(String::new()),
        ] {
            let r = flaky(vec![fatal.clone()]);
            assert_eq!(r.complete(&request()).await.unwrap_err(), fatal);
            assert_eq!(calls(&r), 1);
        }
    }

    #[tokio::test]
    async fn the_last_error_is_returned_after_max_attempts() {
        let r = flaky(
            (0..10)
                .map(|i| LlmError::Server {
                    status: 500 + i,
                    message: String::new(),
                })
                .collect(),
        );
        let e = r.complete(&request()).await.unwrap_err();
        assert_eq!(
            e,
            LlmError::Server {
                status: 504,
                message: String::new()
            }
        );
        assert_eq!(calls(&r), 5);
    }

    #[test]
    fn default_policy_is_sensible() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts, 4);
        assert_eq!(p.base_delay, Duration::from_millis(500));
        assert_eq!(p.max_delay, Duration::from_secs(30));
    }
}
