//! Shutdown, from the signal to the exit: SIGTERM marks the instance draining (`/readyz` 503),
//! keeps accepting for `shutdown_delay`, closes the door, lets requests in flight finish, and
//! exits as soon as no connection is left. When `grace_period` (counted from the signal) runs
//! out, open WebSockets get a close frame (1001 going away) both ways and the process exits.

use crate::state::Shared;
use async_trait::async_trait;
use pingora::server::{ExecutionPhase, Server, ShutdownSignal, ShutdownSignalWatch};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the going-away close frames get to reach the sockets before the process exits
/// anyway (they are a few bytes each, written at once).
const CLOSE_FRAMES_TIME: Duration = Duration::from_millis(500);
/// How often the monitor looks at the open connections.
const POLL: Duration = Duration::from_millis(20);

/// Pingora's Unix signals (SIGTERM graceful, SIGQUIT upgrade, SIGINT fast), plus what
/// Rampart does first: mark the instance as draining so `/readyz` answers 503 at once.
pub struct SignalWatch {
    pub shared: Arc<Shared>,
    /// Logged once the signal handlers are in place: from then on SIGTERM and SIGQUIT are
    /// handled (before, their default action would kill the process), so whoever waits for
    /// this line may signal at once.
    pub on_ready: Box<dyn Fn() + Send + Sync>,
}

#[async_trait]
impl ShutdownSignalWatch for SignalWatch {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut quit), Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install the shutdown signal handlers");
            return ShutdownSignal::FastShutdown;
        };
        (self.on_ready)();
        let signal = tokio::select! {
            _ = quit.recv() => ShutdownSignal::GracefulUpgrade,
            _ = term.recv() => ShutdownSignal::GracefulTerminate,
            _ = int.recv() => ShutdownSignal::FastShutdown,
        };
        let lifecycle = &self.shared.lifecycle;
        let _ = lifecycle.shutdown_began.set(Instant::now());
        lifecycle.draining.store(true, Ordering::SeqCst);
        tracing::info!(signal = ?signal, "shutdown requested: draining");
        if matches!(signal, ShutdownSignal::GracefulTerminate) {
            // `/readyz` is 503 from now on; keep accepting a little while so load balancers
            // and Kubernetes endpoints stop sending new connections before the door closes.
            let delay = self.shared.policy.load().shutdown_delay;
            tokio::time::sleep(delay).await;
            tracing::info!("no longer accepting connections; finishing requests in flight");
        }
        signal
    }
}

/// Pingora's own grace period, a backstop behind `drain_monitor`'s: it must end after the
/// WebSockets were told (Pingora then stops its runtimes, cutting whatever is left).
pub fn pingora_grace_seconds(grace_period: Duration) -> u64 {
    grace_period
        .saturating_add(CLOSE_FRAMES_TIME)
        .as_secs()
        .saturating_add(1)
}

/// Exits as soon as shutdown has begun and no client connection is left (Pingora would
/// otherwise sleep out its whole grace period); when `grace_period` since the signal is over,
/// tells open WebSockets first. Runs on its own thread; `on_exit` flushes the logs.
pub fn drain_monitor(
    server: &Server,
    shared: Arc<Shared>,
    grace_period: Duration,
    on_exit: Box<dyn Fn() + Send>,
) {
    let mut phases = server.watch_execution_phase();
    std::thread::spawn(move || {
        loop {
            match phases.blocking_recv() {
                Ok(ExecutionPhase::ShutdownGracePeriod) => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
        let lifecycle = &shared.lifecycle;
        let began = lifecycle
            .shutdown_began
            .get()
            .copied()
            .unwrap_or_else(Instant::now);
        let grace_ends = began.checked_add(grace_period);
        let open = || lifecycle.connections.load(Ordering::Acquire);
        let mut exit_by = None;
        loop {
            // Zero twice in a row, 100 ms apart: a connection accepted just before the
            // listener closed may not have registered itself yet.
            if open() == 0 {
                std::thread::sleep(Duration::from_millis(100));
                if open() == 0 {
                    tracing::info!("all connections finished: exiting");
                    break;
                }
            }
            let now = Instant::now();
            if exit_by.is_none() && grace_ends.is_some_and(|end| now >= end) {
                let sockets = shared.metrics.websocket_connections_open();
                tracing::info!(
                    websockets = sockets,
                    "grace period over: closing WebSockets with 1001 going away"
                );
                lifecycle.going_away.cancel();
                exit_by = now.checked_add(CLOSE_FRAMES_TIME);
            }
            if exit_by.is_some_and(|at| now >= at) {
                tracing::info!(open = open(), "grace period over: exiting");
                break;
            }
            std::thread::sleep(POLL);
        }
        on_exit();
        std::process::exit(0);
    });
}

/// A shutdown signal driven by a channel instead of Unix signals (tests, embedding).
pub struct ChannelShutdown(pub tokio::sync::Mutex<tokio::sync::mpsc::Receiver<ShutdownSignal>>);

#[async_trait]
impl ShutdownSignalWatch for ChannelShutdown {
    async fn recv(&self) -> ShutdownSignal {
        self.0
            .lock()
            .await
            .recv()
            .await
            .unwrap_or(ShutdownSignal::FastShutdown)
    }
}
