//! Setup and perform timeouts, read from the workers' heartbeats, and the master's own
//! suspensions, which must not count against the workers.

use std::time::Duration;

use super::slot::{Life, Slot};
use super::{OVERSLEEP, TIMEOUT_RETRY};
use crate::table::Heartbeat;

/// A worker that overran a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overrun {
    /// Its `setup` has run for `elapsed`.
    Setup { elapsed: Duration },
    /// The perform that started at `started` has run for `elapsed`.
    Perform { started: Duration, elapsed: Duration },
}

/// Whether the worker in `slot` overran `setup_timeout` or `perform_timeout`, and otherwise
/// when to look again. Deadlines count from `armed_from` at the earliest: the time the master
/// last came back from a suspension.
pub fn check_timeout(
    slot: &Slot,
    beat: Heartbeat,
    setup_timeout: Option<Duration>,
    perform_timeout: Option<Duration>,
    now: Duration,
    armed_from: Duration,
) -> (Option<Overrun>, Option<Duration>) {
    if !matches!(slot.life, Life::Running(_) | Life::Stopping(..)) {
        return (None, None);
    }
    // A perform that starts after `now` cannot overrun before a full limit from now: while the
    // worker is in `setup` or between performs, that is when to look again.
    let next_perform = perform_timeout.map(|limit| now + limit);
    if !beat.ready {
        let Some(limit) = setup_timeout else { return (None, next_perform) };
        let deadline = slot.started.max(armed_from) + limit;
        return if now >= deadline {
            (Some(Overrun::Setup { elapsed: now.saturating_sub(slot.started) }), None)
        } else {
            (None, next_perform.into_iter().chain([deadline]).min())
        };
    }
    let Some(limit) = perform_timeout else { return (None, None) };
    let Some(started) = beat.perform_started else { return (None, next_perform) };
    let deadline = match slot.timeout_sent {
        Some((sent_for, sent_at)) if sent_for == started => sent_at + TIMEOUT_RETRY,
        _ => started.max(armed_from) + limit,
    };
    if now >= deadline {
        // Look again to repeat the request if it went unheeded, and in time for the next
        // perform, which may start as soon as this one is killed.
        let next = now + TIMEOUT_RETRY.min(limit);
        (Some(Overrun::Perform { started, elapsed: now.saturating_sub(started) }), Some(next))
    } else {
        (None, Some(deadline))
    }
}

/// Whether waking at `now` for a wait planned to end at `planned` means the master was
/// suspended (SIGSTOP, a stopped VM) rather than merely late.
pub fn overslept(planned: Option<Duration>, now: Duration) -> bool {
    planned.is_some_and(|p| now > p + OVERSLEEP)
}
