//! Graceful shutdown on Ctrl-C (SIGINT) or SIGTERM.
//!
//! The order matters: the listener is dropped first so no one new gets in; the hub's queues
//! drain into the connections; [`Upgrader::shutdown`] then queues 1001 Going Away behind what
//! each connection already holds and waits for the closing handshakes; last, the connection
//! handlers finish, so each unregisters from the hub and its rooms hear it leave.

use std::future::Future;
use std::time::Duration;

use mywebsocket::Upgrader;
use mywebsocket_hub::Hub;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// How often the hub's queues are checked while they drain.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// Resolves on the first Ctrl-C (SIGINT) or SIGTERM (what `kill`, systemd and container
/// runtimes send). The handlers are installed by this call, not on the first poll, so a signal
/// that comes right after is not missed.
pub(crate) fn signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for signals; Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Closes every connection of `upgrader` within `grace` (the listener must be gone already),
/// then waits for the `handlers` within what is left of it.
pub(crate) async fn close_all(
    hub: &Hub,
    upgrader: &Upgrader,
    handlers: &TaskTracker,
    grace: Duration,
) {
    let deadline = Instant::now() + grace;
    // Messages the hub accepted but has not yet handed to a connection would be lost behind
    // the 1001; a peer that never reads keeps them there, so this waits at most half the grace.
    let drain_until = Instant::now() + grace / 2;
    while hub.queued_bytes() > 0 && Instant::now() < drain_until {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    let report = upgrader
        .shutdown(deadline.saturating_duration_since(Instant::now()))
        .await;
    handlers.close();
    let finished = tokio::time::timeout_at(deadline, handlers.wait())
        .await
        .is_ok();
    tracing::info!(
        connections = report.connections,
        forced = report.forced,
        handlers_finished = finished,
        "shut down"
    );
}
