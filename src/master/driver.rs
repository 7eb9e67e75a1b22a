//! The driver: carries out the supervisor's decisions through `sys` (the supervisor's
//! [`World`]) and runs its loop, sleeping until a signal or the next deadline.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use super::service::Service;
use super::state::Keeper;
use crate::config::Config;
use crate::error::ForkError;
use crate::health::{Ended, Health, Runs};
use crate::job::Job;
use crate::log::{Level, Logger};
use crate::pace::recycle_limit;
use crate::supervisor::{Notice, Signals, Supervisor, World, say};
use crate::sys::{self, Action, Exit, Exited, MasterSignals, Pid, SigSet};
use crate::table::{Beats, Heartbeat, WAKE};
use crate::worker::{self, Spec};

/// The signals the master counts while it supervises. A worker sends `WAKE` when its `setup`
/// is done, so that the master need not poll for readiness.
#[rustfmt::skip]
pub const MASTER_SIGNALS: [i32; 13] = [
    WAKE, sys::SIGINT, sys::SIGTERM, sys::SIGQUIT, sys::SIGTTIN, sys::SIGTTOU, sys::SIGCHLD, sys::SIGHUP,
    sys::SIGUSR1, sys::SIGUSR2, sys::SIGWINCH, sys::SIGALRM, sys::SIGIO,
];

/// Those of `MASTER_SIGNALS` that mean nothing to the master: logged and ignored, where their
/// default action would end it without a word, its workers orphaned and its pidfile left.
/// (Not PROF or VTALRM: a profiler in the caller's process sets those up itself.)
const MEANINGLESS: [i32; 4] = [sys::SIGUSR2, sys::SIGWINCH, sys::SIGALRM, sys::SIGIO];

/// The signals the master ignores while it supervises: a write to a closed pipe is an error
/// to handle where it happens, not a reason to die.
pub const MASTER_IGNORES: [i32; 1] = [sys::SIGPIPE];

/// How long the master waits, at most, for the process groups it SIGKILLed to be empty.
const LINGER: Duration = Duration::from_secs(1);

/// How long the unmonitored API waits at most between looks when SIGCHLD is ignored (the
/// kernel then reaps our workers itself, and no signal says so).
const UNSIGNALLED_LOOK: Duration = Duration::from_millis(10);

/// The master's side of everything the supervisor does.
pub struct Driver<'a, J: Job> {
    pub job: &'a mut J,
    pub config: &'a Config,
    pub logger: &'a dyn Logger,
    pub beats: &'a Beats,
    pub health: &'a Health,
    /// The handlers `run` installed, to take back out of each worker.
    pub signals: Option<&'a MasterSignals>,
    pub master: Pid,
    /// Where `run` reports readiness and state (none for the unmonitored API).
    pub service: Option<&'a mut Service>,
    /// The slots forked for so far.
    pub forked: BTreeSet<usize>,
    /// The process groups SIGKILLed, which must be empty before the master reports its exit.
    pub killed: Vec<Pid>,
    /// The slots to catch up: their first worker to start a perform makes it a catch-up.
    pub catch_up: BTreeSet<usize>,
}

impl<'a, J: Job> Driver<'a, J> {
    /// A driver with no signal handlers and no service, as the unmonitored API has; `run` adds
    /// its own.
    pub fn new(
        job: &'a mut J,
        config: &'a Config,
        logger: &'a dyn Logger,
        beats: &'a Beats,
        health: &'a Health,
    ) -> Self {
        let (master, forked) = (sys::getpid(), BTreeSet::new());
        let (signals, service, killed, catch_up) = (None, None, Vec::new(), BTreeSet::new());
        Driver { job, config, logger, beats, health, signals, master, service, forked, killed, catch_up }
    }

    /// A daemon's stdout and stderr follow its log file.
    fn follows_log(&self) -> bool {
        self.service.as_ref().is_some_and(|s| s.follow_log)
    }
}

impl<J: Job> World for Driver<'_, J> {
    fn fork(&mut self, slot: usize) -> Result<Pid, ForkError> {
        if !self.config.allow_threads {
            ForkError::unless_single_threaded()?;
        }
        let beat = self.beats.get(slot);
        // A slot worked before in this run keeps its schedule; one of an earlier run does not.
        let replacing = !self.forked.insert(slot);
        beat.reset(replacing);
        sys::flush_stdio();
        // No master handler may run in the child before it has set its own.
        let mask = SigSet::of(&MASTER_SIGNALS).block();
        let spec = Spec {
            slot,
            master: self.master,
            config: self.config,
            max_performs: self.config.max_performs.map(|n| recycle_limit(n, sys::now().as_nanos() as u64)),
            workers: self.config.workers.max(slot + 1),
            tell_master: self.signals.is_some(),
            follow_log: self.follows_log(),
            // Until a worker of the slot starts a perform: one that failed its setup (or died
            // before) passes the catch-up on to its replacement.
            catch_up: self.catch_up.contains(&slot) && !self.health.has_started(slot),
            beat,
            health: self.health,
            logger: self.logger,
            mask,
        };
        let (job, signals) = (&*self.job as *const J, self.signals);
        // SAFETY: `fork_leader` needs a single-threaded process: `unless_single_threaded` just checked
        // it, or the user waived the check with the unsafe `allow_threads`, taking on its
        // contract. In the child, `ptr::read` makes the worker the job's one owner: the
        // child's copy of this master is never used or dropped again, since the child never
        // returns.
        let forked = unsafe {
            sys::fork_leader(|| {
                if let Some(signals) = signals {
                    signals.restore_dispositions();
                }
                worker::run(std::ptr::read(job), &spec)
            })
        };
        mask.set_mask();
        forked.map_err(ForkError::Os)
    }

    fn ask_to_stop(&mut self, slot: usize, pid: Pid) {
        if self.beats.get(slot).ask_to_stop() {
            let _ = sys::kill(pid, WAKE);
        }
    }

    fn force(&mut self, slot: usize, pid: Pid) {
        self.beats.get(slot).force();
        // A stopped worker must run to end itself.
        let _ = sys::kill(pid, sys::SIGCONT);
        let _ = sys::kill(pid, WAKE);
    }

    fn kill_group(&mut self, pid: Pid) {
        let _ = sys::kill_group(pid, sys::SIGKILL);
        // Only groups not yet empty: an id freed long ago could be a stranger's by the stop.
        self.killed.retain(|&group| sys::kill_group(group, 0).is_ok());
        self.killed.push(pid);
    }

    fn kill_perform(&mut self, slot: usize, pid: Pid, started: Duration) {
        if self.beats.get(slot).request_kill(started) {
            let _ = sys::kill(pid, WAKE);
        }
    }

    fn reopen_log(&mut self) {
        crate::log::reopen(self.logger, self.follows_log());
    }

    fn ask_to_reopen(&mut self, slot: usize, pid: Pid) {
        if self.beats.get(slot).ask_to_reopen() {
            let _ = sys::kill(pid, WAKE);
        }
    }

    fn runs(&self, slots: usize) -> Runs {
        self.health.runs(slots)
    }

    fn perform_timed_out(&mut self, slot: usize) {
        self.health.failed(slot, "perform timeout", Ended::Timeout);
    }

    fn heartbeat(&self, slot: usize) -> Heartbeat {
        self.beats.get(slot).heartbeat()
    }

    fn exited(&mut self, pid: Option<Pid>) -> std::io::Result<Option<Exited>> {
        sys::peek_exited(pid)
    }

    fn collect(&mut self, pid: Pid) -> Exit {
        sys::collect(pid).unwrap_or(Exit::Vanished)
    }

    fn log(&mut self, level: Level, args: std::fmt::Arguments<'_>) {
        log(self.logger, level, args);
    }

    fn notify(&mut self, notice: &Notice) {
        if let Some(service) = self.service.as_deref_mut() {
            service.notify(notice, self.logger);
        }
    }
}

/// Logs one line; a logger that panics loses the line, and nothing else.
pub fn log(logger: &dyn Logger, level: Level, args: std::fmt::Arguments<'_>) {
    let _ = catch_unwind(AssertUnwindSafe(|| logger.log(level, args)));
}

/// The signals taken, by signal number, as the supervisor counts them.
fn counted(p: [u32; 32]) -> Signals {
    let n = |sig: i32| p[sig as usize];
    Signals {
        int: n(sys::SIGINT),
        term: n(sys::SIGTERM),
        quit: n(sys::SIGQUIT),
        ttin: n(sys::SIGTTIN),
        ttou: n(sys::SIGTTOU),
        hup: n(sys::SIGHUP),
        usr1: n(sys::SIGUSR1),
        ignored: MEANINGLESS.iter().filter(|&&sig| n(sig) > 0).fold(0, |bits, &sig| bits | 1 << (sig - 1)),
    }
}

/// The supervising loop: take the signals, let the supervisor take its turn, sleep until a
/// signal or the deadline it gave. Returns when the pool has stopped.
pub fn supervise<J: Job>(
    sup: &mut Supervisor,
    world: &mut Driver<'_, J>,
    signals: &MasterSignals,
    mut keeper: Option<&mut Keeper>,
) {
    loop {
        // The clock after the signals: a RELOADING=1 must not predate the HUP that caused it.
        let taken = counted(signals.take());
        let now = sys::now();
        let mut deadline = sup.turn(now, taken, world);
        if sup.done() {
            return;
        }
        if let Some(keeper) = keeper.as_deref_mut() {
            keeper.update(now, sup, world, false);
            deadline = Some(deadline.map_or(keeper.next_look(now), |d| d.min(keeper.next_look(now))));
        }
        if let Err(error) = signals.wait(deadline.map(|d| d.saturating_sub(sys::now()))) {
            // poll on one pipe cannot really fail; don't spin if it does.
            say!(world, Error, "waitid failed: {error}");
            sys::sleep(Duration::from_millis(100));
        }
    }
}

/// After the pool stopped: waits, at most `LINGER`, until every process group the master
/// SIGKILLed is empty, reaping what was left to it (as PID 1 or a subreaper), so that nothing
/// of the pool outlives the master's exit status.
pub fn wait_for_killed<J: Job>(world: &Driver<'_, J>) {
    let deadline = sys::now() + LINGER;
    while world.killed.iter().any(|&group| sys::kill_group(group, 0).is_ok()) && sys::now() < deadline {
        while let Ok(Some(exited)) = sys::peek_exited(None) {
            let _ = sys::collect(exited.pid);
        }
        sys::sleep(Duration::from_millis(1));
    }
}

/// The unmonitored API's loop, until `done`. It needs no descriptor: it blocks SIGCHLD and
/// takes it with a timed wait, then gives back any SIGCHLD it may have taken from the caller.
pub fn wait_unmonitored<J: Job>(sup: &mut Supervisor, world: &mut Driver<'_, J>, done: impl Fn(&Supervisor) -> bool) {
    let chld = SigSet::of(&[sys::SIGCHLD]);
    // Ignored SIGCHLD: the kernel reaps our workers itself, and no signal says so. With other
    // threads allowed, one of them may take the SIGCHLD instead of this wait.
    let unsignalled = Action::of(sys::SIGCHLD).is_ignored() || world.config.allow_threads;
    let before = chld.block();
    loop {
        let now = sys::now();
        let deadline = sup.turn(now, Signals::default(), world);
        if done(sup) {
            break;
        }
        let mut timeout = deadline.map(|d| d.saturating_sub(sys::now()));
        if unsignalled {
            timeout = Some(timeout.map_or(UNSIGNALLED_LOOK, |t| t.min(UNSIGNALLED_LOOK)));
        }
        chld.wait(timeout);
    }
    before.set_mask();
    // A SIGCHLD meant for the caller's own children may have been taken: give it back (a
    // spurious one is harmless; a lost one leaves a zombie).
    let _ = sys::kill(sys::getpid(), sys::SIGCHLD);
}
