//! What the master's signals do: stops (graceful, then at once), scaling by TTIN and TTOU, log
//! reopening by USR1, rolling restarts by HUP, and the signals that mean nothing to it.

use std::fmt;
use std::time::Duration;

use super::{Kill, Notice, SAME_REQUEST, Supervisor, World, say};
use crate::config::MAX_WORKERS;
use crate::log::{Human, Noun, Workers};
use crate::sys::{SIGINT, SIGQUIT, SIGTERM, signal_name};

/// The master's signals that arrived since the last turn, counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Signals {
    pub int: u32,
    pub term: u32,
    pub quit: u32,
    pub ttin: u32,
    pub ttou: u32,
    pub hup: u32,
    pub usr1: u32,
    /// Signals that mean nothing to the master and arrived: bit `n - 1` for signal `n`.
    pub ignored: u32,
}

/// What started a stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// This signal, sent to the master.
    Signal(i32),
    /// Workers died too often.
    RestartLimit,
    /// A worker failed to start, and the pool had to come up (a daemon).
    StartFailed,
    /// Performs failed `max_failures` times in a row (the word for them).
    Failing(Noun),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Signal(sig) => f.write_str(crate::sys::signal_name(*sig)),
            Cause::RestartLimit => f.write_str("restart limit"),
            Cause::StartFailed => f.write_str("failed start"),
            Cause::Failing(noun) => write!(f, "failing {noun}s"),
        }
    }
}

impl Supervisor {
    pub(super) fn on_signals(&mut self, s: Signals, now: Duration, world: &mut impl World) {
        if s.quit > 0 {
            self.stop_at_once(Cause::Signal(SIGQUIT), false, now, world);
        } else if s.int + s.term > 0 {
            // One request often comes as two signals: `timeout` TERMs its child, then its own
            // process group; so do `kill -TERM -PGID` and systemd's control-group kill.
            let by = Cause::Signal(if s.term > 0 { SIGTERM } else { SIGINT });
            match (self.stopping, self.stop_signalled) {
                (None, _) => {
                    self.begin_stop(by, now, world);
                    self.stop_signalled = Some((by, now));
                    if s.int + s.term > 1 {
                        say!(world, Debug, "{} INT and TERM at once: the same request", s.int + s.term);
                    }
                }
                // A stop for another cause goes on gracefully; a second signal would end it.
                (Some(cause), None) if !matches!(cause, Cause::Signal(_)) => {
                    self.stop_signalled = Some((by, now));
                    say!(world, Info, "{by}: the stop ({cause}) goes on gracefully");
                }
                (Some(_), Some((first, at))) if now < at + SAME_REQUEST => {
                    let after = Human(now - at);
                    say!(world, Debug, "{by} {after} after the {first} that began the stop: the same request");
                }
                _ => self.stop_at_once(by, true, now, world),
            }
        }
        if s.usr1 > 0 {
            self.reopen_logs(world);
        }
        if s.hup > 0 && self.spawning() {
            // A roll's end tells the service manager (and a daemon's launcher) the pool is
            // ready: that must not come before it ever was. Until then the HUP is held.
            if self.notices.ready {
                self.begin_roll(now, world);
            } else if !self.notices.roll_held {
                self.notices.roll_held = true;
                say!(world, Info, "HUP: the rolling restart waits until every worker has come up");
            }
        }
        for signal in (1..32).filter(|n| s.ignored & 1 << (n - 1) != 0) {
            say!(world, Warn, "SIG{} ignored: it has no meaning here", signal_name(signal));
        }
        if (s.ttin > 0 || s.ttou > 0) && self.stopping.is_none() {
            self.scale(s.ttin as usize, s.ttou as usize, world);
        }
    }

    /// USR1: the master's log first, then every live worker's, each between two performs, so
    /// no perform's lines straddle two files.
    fn reopen_logs(&mut self, world: &mut impl World) {
        world.reopen_log();
        let (workers, noun) = (Workers(self.live()), self.cfg.noun);
        say!(world, Info, "USR1: log reopened; {workers} to reopen theirs between {noun}s");
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(pid) = s.pid() {
                world.ask_to_reopen(i, pid);
            }
        }
    }

    /// TTIN adds a worker and TTOU removes one; those taken together cancel out, and the
    /// result stays within 0 and `MAX_WORKERS`. The excess is retired on the next tick,
    /// highest slot first.
    fn scale(&mut self, up: usize, down: usize, world: &mut impl World) {
        let from = self.target;
        let wanted = (from + up).saturating_sub(down);
        if wanted > MAX_WORKERS {
            say!(world, Warn, "TTIN ignored past the limit of {MAX_WORKERS} workers");
        }
        let to = wanted.min(MAX_WORKERS);
        if to != from {
            self.target = to;
            say!(world, Info, "scaling from {from} to {}", Workers(to));
        } else if from == 0 && down > up {
            say!(world, Info, "TTOU ignored: no worker to retire");
        }
    }

    pub(super) fn begin_stop(&mut self, by: Cause, now: Duration, world: &mut impl World) {
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(by);
        world.notify(&Notice::Stopping);
        let (workers, timeout) = (Workers(self.live()), Human(self.cfg.stop_timeout));
        say!(world, Info, "{by}: stopping {workers} gracefully (timeout {timeout})");
        for i in 0..self.slots.len() {
            self.ask_to_stop(i, now, world);
        }
    }

    fn stop_at_once(&mut self, by: Cause, again: bool, now: Duration, world: &mut impl World) {
        if self.stopping.is_none() {
            self.stopping = Some(by);
            world.notify(&Notice::Stopping);
        }
        let again = if again { "second " } else { "" };
        say!(world, Warn, "{again}{by}: stopping {} at once", Workers(self.live()));
        for i in 0..self.slots.len() {
            self.force(i, Kill::Immediate, now, world);
        }
    }
}
