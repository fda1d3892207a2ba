//! `client.send_timeout` on an HTTP/1.1 connection, armed only when a write stalls: a write
//! that completes at once (the common case) costs no timer. Once the client's window has
//! been closed for the whole timeout, the write fails with [`SEND_TIMEOUT`] and the
//! exchange ends (the proxy logs it as `send_timeout`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The message of the I/O error a stalled write ends with (kind `TimedOut`).
pub const SEND_TIMEOUT: &str = "client.send_timeout: the client accepted no response bytes";

#[derive(Default)]
pub struct SendDeadline {
    timeout: Option<Duration>,
    /// Kept between stalls (reset, not reallocated).
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl SendDeadline {
    pub fn set(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
        self.armed = false;
    }

    /// Passes a write's outcome through, arming the deadline when it is pending and failing
    /// it once the deadline has passed with no progress.
    pub fn check<T>(
        &mut self,
        cx: &mut Context<'_>,
        outcome: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        let Some(timeout) = self.timeout else {
            return outcome;
        };
        if outcome.is_ready() {
            self.armed = false;
            return outcome;
        }
        if !self.armed {
            self.armed = true;
            let deadline = Instant::now()
                .checked_add(timeout)
                .unwrap_or_else(far_future);
            match self.sleep.as_mut() {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        match self.sleep.as_mut().map(|s| s.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => {
                self.armed = false;
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    SEND_TIMEOUT,
                )))
            }
            _ => Poll::Pending,
        }
    }
}

/// About thirty years from now: a deadline that never comes (`Instant` has no maximum).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}
