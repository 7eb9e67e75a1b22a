//! The calls of [`Master`]: `new`, `run`, and the unmonitored API (the original gem's
//! `start_worker`, `stop_worker`, `stop_all`, `worker_count`).

use super::Master;
use std::fmt;

use super::driver::{self, Driver, MASTER_IGNORES, MASTER_SIGNALS};
use super::service::Service;
use super::state::Keeper;
use crate::config::{Config, MAX_WORKERS};
use crate::error::{Error, ForkError, Shutdown};
use crate::health::Health;
use crate::job::Job;
use crate::log::{Ended, Level, StderrLogger};
use crate::supervisor::{Failure, Kill, Supervisor};
use crate::sys::{self, MasterSignals};
use crate::table::Beats;

impl<J: Job> Master<J> {
    /// A master for `job`: one worker, [`Strategy::Forking`](crate::Strategy::Forking), a 25 s
    /// stop timeout, no setup or perform timeout, no restart limit, logging to stderr at INFO.
    pub fn new(job: J) -> Self {
        Master {
            job,
            config: Config::default(),
            logger: Box::new(StderrLogger::default()),
            beats: None,
            unmonitored: None,
            pidfile: None,
            daemon: false,
        }
    }

    /// Supervises until stopped, then returns how the stop went. Blocks the calling thread.
    ///
    /// Starts the workers, restarts those that die (with backoff), and acts on INT/TERM
    /// (graceful stop; another within 1 s is the same request, a second one later stops at
    /// once), QUIT (immediate stop), TTIN/TTOU (one
    /// worker more/fewer), HUP (rolling restart, one slot at a time), USR1 (reopen the logs,
    /// the master's first, then each worker's between performs) and CHLD; USR2, WINCH, ALRM
    /// and IO are logged and ignored, PIPE is ignored. The signal dispositions
    /// and mask in place before the call are restored before it returns.
    ///
    /// # Errors
    /// Before anything forks: [`Error::Config`] for a bad setting, [`Error::Threads`] when
    /// the process has other threads, [`Error::PidfileHeld`] when another master holds the
    /// pidfile, [`Error::Io`] when the shared table, the signal handlers, the pidfile or the
    /// notification socket cannot be set up. After a stop: [`Error::RestartLimit`] when
    /// `max_restarts` tripped, [`Error::Failing`] when `max_failures` performs in a row failed,
    /// [`Error::StartFailed`] when a daemon never came up.
    pub fn run(mut self) -> Result<Shutdown, Error> {
        self.prepare()?;
        // Workers of the unmonitored API would share slots with the pool's: stop them first.
        if self.unmonitored.as_ref().is_some_and(|sup| sup.live() > 0) {
            self.stop_unmonitored(None);
        }
        if !self.config.allow_threads {
            ForkError::unless_single_threaded()?;
        }
        let mut service = Service::default();
        if self.daemon {
            // Before the daemon's `chdir("/")`.
            if let Some(path) = &mut self.pidfile {
                *path = std::path::absolute(&*path).map_err(|e| Error::Io("resolving the pidfile's path", e))?;
            }
            for path in [&mut self.config.state_file, &mut self.config.metrics_file].into_iter().flatten() {
                *path = std::path::absolute(&*path).map_err(|e| Error::Io("resolving a state file's path", e))?;
            }
            // SAFETY: single-threaded, as just checked (`allow_threads` was refused above).
            unsafe { service.daemonize(&*self.logger)? };
        }
        let result = self.serve(&mut service);
        service.finish(&result);
        result
    }

    fn serve(&mut self, service: &mut Service) -> Result<Shutdown, Error> {
        // Handlers first: a script may send TERM the moment the pidfile appears.
        let signals = MasterSignals::install(&MASTER_SIGNALS, &MASTER_IGNORES)
            .map_err(|e| Error::Io("installing signal handlers", e))?;
        service.open(self.pidfile.as_ref())?;
        let mut sup = Supervisor::new(self.config.clone(), true);
        if service.notifying() {
            sup.listened();
        }
        if let Some(every) = sys::watchdog_from_env().filter(|_| service.notifying()) {
            sup.watchdog(every);
        }
        let (beats, health) = self.beats.as_ref().expect("prepared");
        health.reset();
        let mut keeper = Keeper::open(&self.config, &*self.logger);
        let mut world = Driver::new(&mut self.job, &self.config, &*self.logger, beats, health);
        (world.signals, world.service) = (Some(&signals), Some(service));
        if let Some(keeper) = &keeper {
            world.catch_up = keeper.missed_starts(&self.config, &*self.logger);
        }
        super::schedule::announce(&self.config, &*self.logger);
        sup.begin(world.master, sys::now(), &mut world);
        driver::supervise(&mut sup, &mut world, &signals, keeper.as_mut());
        driver::wait_for_killed(&world);
        if let Some(keeper) = &mut keeper {
            keeper.update(sys::now(), &sup, &world, true);
        }
        drop(signals);
        let (killed, late_starts, noun) = (sup.killed(), sup.late_starts(), self.config.noun);
        let late = match self.config.pacing.scheduled() {
            true => format!(", {noun}s late on schedule: {late_starts}"),
            false => String::new(),
        };
        driver::log(&*self.logger, Level::Info, format_args!("master stopped ({killed} killed{late})"));
        if let Some(failures) = sup.failing() {
            return Err(Error::Failing { failures, last: health.last_failure() });
        }
        let Some(last) = sup.gave_up() else { return Ok(Shutdown { killed: sup.killed() }) };
        let last = describe(last, beats, sup.fork_error());
        match self.config.max_restarts {
            Some((restarts, within)) if !sup.start_failed() => Err(Error::RestartLimit { restarts, within, last }),
            _ => Err(Error::StartFailed(last)),
        }
    }

    /// Forks one more worker, unsupervised (it is not restarted when it dies), in the lowest
    /// free slot; returns its pid.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad setting or past 4,096 workers, [`Error::Threads`] when the
    /// process has other threads, [`Error::Io`] when the fork fails (or the shared table
    /// cannot be mapped, or the thread count cannot be read).
    pub fn start_worker(&mut self) -> Result<u32, Error> {
        self.prepare()?;
        self.unmonitored_turn(|sup, now, world| {
            if sup.pids().count() >= MAX_WORKERS {
                return Err(Error::Config(format!("already {MAX_WORKERS} workers, the limit")));
            }
            Ok(sup.start_one(now, world)? as u32)
        })
    }

    /// Stops worker `pid` gracefully, ending it by force at the stop timeout, and reaps it.
    /// `Ok(false)` if `pid` is not a live worker of this master: nothing is signalled.
    ///
    /// # Errors
    /// None at present: it needs no descriptor and cannot fail; the `Result` leaves room.
    pub fn stop_worker(&mut self, pid: u32) -> Result<bool, Error> {
        if self.unmonitored.is_none() {
            return Ok(false);
        }
        let slot = self.unmonitored_turn(|sup, _, _| Ok(sys::Pid::try_from(pid).ok().and_then(|p| sup.find(p))))?;
        let Some(slot) = slot else { return Ok(false) };
        self.stop_unmonitored(Some(slot));
        Ok(true)
    }

    /// Stops every worker gracefully, ending by force those still running at the stop timeout,
    /// and reaps them all. It needs no descriptor, so it works in a process that has none left.
    ///
    /// # Errors
    /// None at present; the `Result` leaves room.
    pub fn stop_all(&mut self) -> Result<Shutdown, Error> {
        Ok(self.stop_unmonitored(None))
    }

    /// Live workers started by `start_worker`: those that have not exited, whether or not
    /// they have been reaped yet.
    pub fn worker_count(&self) -> usize {
        self.unmonitored.as_ref().map_or(0, |sup| sup.pids().filter(|&pid| !sys::has_exited(pid)).count())
    }

    /// Checks the settings as [`run`](Master::run) does first, starting nothing: for a
    /// program that refuses bad settings before it opens files or detaches. It looks at the
    /// file system for the state and metrics files' folders (which must exist) and for two
    /// settings naming one file.
    ///
    /// # Errors
    /// [`Error::Config`], naming the setting at fault.
    pub fn validate(&self) -> Result<(), Error> {
        self.config.validate()?;
        let files = [&self.config.state_file, &self.config.metrics_file];
        crate::state::check_files(files, self.pidfile.as_deref().as_slice()).map_err(Error::Config)?;
        if self.daemon && self.config.allow_threads {
            return Err(Error::Config(
                "daemonize with allow_threads: the daemon is a forked copy with only the calling thread".into(),
            ));
        }
        Ok(())
    }

    fn prepare(&mut self) -> Result<(), Error> {
        self.validate()?;
        if self.beats.is_none() {
            let tables = Beats::new(MAX_WORKERS).and_then(|beats| Ok((beats, Health::new(MAX_WORKERS)?)));
            self.beats = Some(tables.map_err(|e| Error::Io("mapping the shared heartbeat table", e))?);
        }
        Ok(())
    }

    /// The unmonitored API's supervisor (made on first use when `create`) and a driver for it;
    /// `None` before the shared table is mapped.
    fn unmonitored(&mut self, create: bool) -> Option<(&mut Supervisor, Driver<'_, J>)> {
        let (beats, health) = self.beats.as_ref()?;
        if create && self.unmonitored.is_none() {
            self.unmonitored = Some(Supervisor::new(self.config.clone(), false));
        }
        let world = Driver::new(&mut self.job, &self.config, &*self.logger, beats, health);
        Some((self.unmonitored.as_mut()?, world))
    }

    /// Reaps our own exited workers (never the caller's other children), then runs `then`.
    fn unmonitored_turn<T>(
        &mut self,
        then: impl FnOnce(&mut Supervisor, std::time::Duration, &mut Driver<'_, J>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let (sup, mut world) = self.unmonitored(true).expect("mapped before the first worker");
        let now = sys::now();
        sup.turn(now, Default::default(), &mut world);
        then(sup, now, &mut world)
    }

    pub(super) fn stop_unmonitored(&mut self, slot: Option<usize>) -> Shutdown {
        let Some((sup, mut world)) = self.unmonitored(false) else { return Shutdown::default() };
        let before = sup.killed();
        // Reap first: a worker that already died is logged as such, and is asked nothing.
        sup.turn(sys::now(), Default::default(), &mut world);
        sup.stop_unmonitored(slot, sys::now(), &mut world);
        driver::wait_unmonitored(sup, &mut world, |sup| slot.map_or(sup.live() == 0, |i| !sup.is_live(i)));
        Shutdown { killed: sup.killed() - before }
    }
}

/// `worker 1 failed to start: exited with code 3 (connection refused)`.
fn describe(f: Failure, beats: &Beats, fork_error: Option<&ForkError>) -> String {
    if let (false, Some(e)) = (f.forked, fork_error) {
        return format!("worker {} could not be forked: {e}", f.slot);
    }
    let how = if f.came_up { "died" } else { "failed to start" };
    let note = beats.get(f.slot).note.read();
    let note = if note.is_empty() { String::new() } else { format!(" ({note})") };
    format!("worker {} {how}: {}{}{note}", f.slot, Ended(f.exit), Kill::after(f.kill))
}

impl<J: Job> fmt::Debug for Master<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Master")
            .field("config", &self.config)
            .field("workers", &self.worker_count())
            .finish_non_exhaustive()
    }
}

impl<J: Job> Drop for Master<J> {
    /// Workers started with `start_worker` and never stopped are stopped (gracefully, bounded
    /// by the stop timeout) rather than left running.
    fn drop(&mut self) {
        if self.unmonitored.as_ref().is_some_and(|sup| sup.live() > 0) {
            self.stop_unmonitored(None);
        }
    }
}
