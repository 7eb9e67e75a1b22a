//! Unit tests of the supervisor: a recording fake [`World`] that forks nothing, driven turn by
//! turn at chosen times. Each test asserts the exact calls, levels and wordings.

mod exits;
mod health;
mod notify;
mod pure;
mod roll;
mod signals;
mod timeouts;

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use super::*;
use crate::config::{MAX_TIMEOUT, MAX_WORKERS, MIN_TIMEOUT, Strategy};
use crate::log::{Human, Level};
use crate::sys::{Exit, Exited, Pid};

/// What the supervisor did to its world, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Fork(usize),
    Ask(usize, Pid),
    Force(usize, Pid),
    KillGroup(Pid),
    KillPerform(usize, Pid, Duration),
    Collect(Pid),
    ReopenOwn,
    AskToReopen(usize, Pid),
    Log(Level, String),
}
use Call::*;

/// Hands out pids 100, 101, … from `fork`; children "exit" when a test queues them.
#[derive(Default)]
struct Fake {
    calls: Vec<Call>,
    /// The argument of every `exited` call (not in `calls`: every turn makes some).
    waits: Vec<Option<Pid>>,
    beats: HashMap<usize, Heartbeat>,
    /// Exited children not yet collected, oldest first.
    exits: Vec<(Pid, Exit)>,
    /// How many of the next forks fail.
    fork_fails: u32,
    forked: Pid,
    wait_fails: bool,
    /// Every `notify`, as its datagram (not in `calls`: most turns send a status).
    notices: Vec<String>,
    /// How the performs fare, as the workers would have recorded it.
    runs: Runs,
    /// Slots whose simple perform timed out (not in `calls`).
    timed_out: Vec<usize>,
}

impl Fake {
    fn take(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.calls)
    }
    fn die(&mut self, pid: Pid, exit: Exit) {
        self.exits.push((pid, exit));
    }
    /// Sets slot `i`'s heartbeat: `setup` done, and the running perform's start.
    fn beat(&mut self, i: usize, ready: bool, perform_started: Option<Duration>) {
        self.beats.insert(i, Heartbeat { ready, perform_started, ..Default::default() });
    }
    fn ready(&mut self, i: usize) {
        self.beat(i, true, None);
    }
    /// Slot `i`'s worker ran its `max_performs` and is ending.
    fn recycled(&mut self, i: usize) {
        self.beats.insert(i, Heartbeat { ready: true, recycled: true, ..Default::default() });
    }
}

impl World for Fake {
    fn fork(&mut self, slot: usize) -> Result<Pid, ForkError> {
        self.calls.push(Fork(slot));
        self.beats.remove(&slot); // as the driver resets the heartbeat
        if self.fork_fails > 0 {
            self.fork_fails -= 1;
            return Err(ForkError::Threads(3));
        }
        self.forked += 1;
        Ok(99 + self.forked)
    }
    fn ask_to_stop(&mut self, slot: usize, pid: Pid) {
        self.calls.push(Ask(slot, pid));
    }
    fn force(&mut self, slot: usize, pid: Pid) {
        self.calls.push(Force(slot, pid));
    }
    fn kill_group(&mut self, pid: Pid) {
        self.calls.push(KillGroup(pid));
    }
    fn kill_perform(&mut self, slot: usize, pid: Pid, started: Duration) {
        self.calls.push(KillPerform(slot, pid, started));
    }
    fn reopen_log(&mut self) {
        self.calls.push(ReopenOwn);
    }
    fn ask_to_reopen(&mut self, slot: usize, pid: Pid) {
        self.calls.push(AskToReopen(slot, pid));
    }
    fn heartbeat(&self, slot: usize) -> Heartbeat {
        self.beats.get(&slot).copied().unwrap_or_default()
    }
    fn runs(&self, _: usize) -> Runs {
        self.runs
    }
    fn perform_timed_out(&mut self, slot: usize) {
        self.timed_out.push(slot);
    }
    fn exited(&mut self, pid: Option<Pid>) -> io::Result<Option<Exited>> {
        self.waits.push(pid);
        assert!(self.waits.len() < 100_000, "runaway waiting");
        if std::mem::take(&mut self.wait_fails) {
            return Err(io::Error::other("boom"));
        }
        let found = self.exits.iter().find(|(p, _)| pid.is_none_or(|pid| pid == *p));
        Ok(found.map(|&(pid, _)| Exited { pid, zombie: true }))
    }
    fn collect(&mut self, pid: Pid) -> Exit {
        self.calls.push(Collect(pid));
        let i = self.exits.iter().position(|(p, _)| *p == pid).expect("collects only what exited");
        self.exits.remove(i).1
    }
    fn log(&mut self, level: Level, args: std::fmt::Arguments<'_>) {
        self.calls.push(Log(level, args.to_string()));
        assert!(self.calls.len() < 100_000, "runaway logging: {:?}", self.calls.last());
    }
    fn notify(&mut self, notice: &Notice) {
        self.notices.push(notice.to_string());
    }
}

fn error(line: &str) -> Call {
    Log(Level::Error, line.into())
}
fn warn(line: &str) -> Call {
    Log(Level::Warn, line.into())
}
fn info(line: &str) -> Call {
    Log(Level::Info, line.into())
}

/// No signal; `Signals { int: 1, ..S }` for one INT.
const S: Signals = Signals { int: 0, term: 0, quit: 0, ttin: 0, ttou: 0, hup: 0, usr1: 0, ignored: 0 };
const KILLED: Exit = Exit::Signal(libc::SIGKILL);
const SEGV: Exit = Exit::Signal(libc::SIGSEGV);

/// The monotonic clock is far from zero in real life.
fn at(ms: u64) -> Duration {
    Duration::from_secs(1000) + Duration::from_millis(ms)
}
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg(workers: usize) -> Config {
    Config { workers, stop_timeout: ms(5000), ..Config::default() }
}

/// A supervising pool of `cfg`, begun, whose first turn at `at(0)` forked its workers (pids
/// 100, 101, … in slot order).
fn pool(cfg: Config) -> (Supervisor, Fake) {
    let (mut sup, mut w) = (Supervisor::new(cfg, true), Fake::default());
    sup.begin(1, at(0), &mut w);
    sup.turn(at(0), S, &mut w);
    w.take();
    (sup, w)
}

/// `worker i started (pid p)` after its fork.
fn started(i: usize, pid: Pid) -> [Call; 2] {
    [Fork(i), info(&format!("worker {i} started (pid {pid})"))]
}
