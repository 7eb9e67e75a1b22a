//! The master's run state file and metrics file ([`Master::state_file`](crate::Master::state_file),
//! [`metrics_file`](crate::Master::metrics_file)): the state file read at start (one that
//! cannot be trusted is set aside), both written on change at most four times a second,
//! each replaced whole (a reader, or a crash at any instant, sees the old file or the new),
//! and a last time once the pool has stopped. Never in a perform's path: the workers only
//! count, in shared memory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Master;
use super::driver::{self, Driver};
use crate::config::Config;
use crate::cron::LocalTime;
use crate::health::Ended;
use crate::job::Job;
use crate::log::{Human, Level, Logger};
use crate::pace::{missed, splay_offset, wall_now};
use crate::state::{RunState, SlotState, prometheus};
use crate::supervisor::Supervisor;
use crate::sys;

impl<J: Job> Master<J> {
    /// Keeps the pool's run state in a small text file at `path`, for
    /// [`RunState::read`](crate::RunState::read), `sisyphus --status` and people: per slot
    /// the last scheduled start, start and end, how it ended, the last success and the
    /// failures in a row; for the pool the performs by outcome, restarts, timeouts and late
    /// starts since the file was created, the master's pid and start, the schedule. Only the
    /// master writes it, on change and at most four times a second (it looks every second),
    /// replacing it whole (a reader, or a crash at any instant, sees the old file or the new);
    /// never in a perform's path. At start it carries the counts over from the file it finds;
    /// one it cannot read as a state file is set aside as `PATH.bad` with a WARN line, and the
    /// start goes on. Without it, nothing is written. The file is replaced, not synced: after a
    /// power loss it may be empty, and is then set aside.
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.state_file = Some(path.into());
        self
    }

    /// With a schedule ([`interval`](Master::interval) or [`cron`](Master::cron)) and a
    /// [`state_file`](Master::state_file): at start, a slot whose last scheduled start (from
    /// the state file) was followed by a start that passed while nothing ran makes one perform
    /// at once, logged as a catch-up, then follows its schedule: one, however many were missed
    /// (systemd's `Persistent=`). Without it, the missed start is only logged.
    pub fn catch_up(mut self) -> Self {
        self.config.catch_up = true;
        self
    }

    /// Keeps the pool's numbers in Prometheus' text format at `path`, for node_exporter's
    /// textfile collector (point `--collector.textfile.directory` at its folder; the name must
    /// end in `.prom`): `sisyphus_performs_total{outcome="ok|failed|timeout|killed"}`,
    /// `sisyphus_last_success_timestamp_seconds`, `sisyphus_failures_in_a_row`,
    /// `sisyphus_workers`, `sisyphus_workers_up`, `sisyphus_restarts_total`,
    /// `sisyphus_late_starts_total`, `sisyphus_up` and `sisyphus_start_time_seconds`, each with
    /// a `name` label ([`name`](Master::name)). Written as the state file is; with one, the
    /// counts go on across restarts of the master.
    pub fn metrics_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.metrics_file = Some(path.into());
        self
    }
}

/// The least time between two writes of a file.
const MIN_GAP: Duration = Duration::from_millis(250);
/// How often the master looks for changes when nothing wakes it.
const LOOK: Duration = Duration::from_secs(1);

/// The files, what the state file said at start, and what was last written.
#[derive(Debug)]
pub struct Keeper {
    state: Option<PathBuf>,
    metrics: Option<PathBuf>,
    /// The state file as found: its counts go on, its slots' last runs stand until this
    /// master's own.
    before: RunState,
    started: SystemTime,
    /// What tells this master from a later process with its pid.
    identity: String,
    /// The wall clock minus the monotonic one, at start: the runs' times are kept on the
    /// monotonic clock. Kept, not re-read: after a suspension (which the monotonic clock does
    /// not count) later runs look older, never earlier ones newer, so `--max-age` errs on the
    /// side of unhealthy.
    wall_offset: Duration,
    last_write: Option<Duration>,
    written: (String, String),
    /// A change waits for `MIN_GAP`.
    pending: bool,
    /// The last write failed (and said so).
    failing: bool,
}

impl Keeper {
    /// The keeper of `config`'s files, if it has any; reads the state file.
    pub fn open(config: &Config, logger: &dyn Logger) -> Option<Keeper> {
        if config.state_file.is_none() && config.metrics_file.is_none() {
            return None;
        }
        let before = config.state_file.as_deref().map(|path| found(path, logger)).unwrap_or_default();
        // The runs' times are read on the coarse clock.
        let (started, wall_offset) = (SystemTime::now(), wall_now().saturating_sub(sys::now_coarse()));
        let (state, metrics, written) = (config.state_file.clone(), config.metrics_file.clone(), Default::default());
        Some(Keeper {
            state,
            metrics,
            before,
            started,
            identity: sys::process_identity(sys::getpid() as u32).unwrap_or_default(),
            wall_offset,
            last_write: None,
            written,
            pending: false,
            failing: false,
        })
    }

    /// The slots that missed a scheduled start while nothing ran, each said in a line; those
    /// to catch up if `config` says so.
    pub fn missed_starts(&self, config: &Config, logger: &dyn Logger) -> BTreeSet<usize> {
        let (mut catch_up, host, now) = (BTreeSet::new(), sys::hostname(), wall_now());
        for (slot, before) in self.before.slots.iter().enumerate().take(config.workers) {
            let Some(last) = before.scheduled.map(since_epoch) else { continue };
            let splay = config.pacing.splay.map_or(Duration::ZERO, |d| splay_offset(d, &host, slot));
            let Some(due) = missed(&config.pacing, last, now, splay) else { continue };
            let (last, due) = (LocalTime(UNIX_EPOCH + last), LocalTime(UNIX_EPOCH + due));
            let what = format!("worker {slot} missed its start of {due} while nothing ran (its last was {last})");
            if config.catch_up {
                let noun = config.noun;
                driver::log(logger, Level::Info, format_args!("{what}: catching up with one {noun} now"));
                catch_up.insert(slot);
            } else {
                driver::log(logger, Level::Info, format_args!("{what}; no catch-up asked"));
            }
        }
        catch_up
    }

    /// When to look again for changes.
    pub fn next_look(&self, now: Duration) -> Duration {
        match (self.pending, self.last_write) {
            (true, Some(last)) => last + MIN_GAP,
            _ => now + LOOK,
        }
    }

    /// Writes the files if what they say changed, at most once per `MIN_GAP` unless the pool
    /// has `stopped`.
    pub fn update<J: Job>(&mut self, now: Duration, sup: &Supervisor, world: &Driver<'_, J>, stopped: bool) {
        let status = sup.status_now(now, world);
        let state = self.compose(status, sup, world, stopped);
        let metrics = prometheus(&state, !stopped, status.target, status.up);
        let text = state.to_string();
        if (&text, &metrics) == (&self.written.0, &self.written.1) {
            self.pending = false;
            return;
        }
        if !stopped && self.last_write.is_some_and(|last| now < last + MIN_GAP) {
            self.pending = true;
            return;
        }
        // Each file on its own: one that cannot be written does not hold the other back.
        let mut wrote = Ok(());
        for (path, text) in [(&self.state, &text), (&self.metrics, &metrics)] {
            let Some(path) = path.as_deref() else { continue };
            if let Err(e) = replace(path, text) {
                // The first failure is the one said.
                wrote = wrote.and(Err((path.to_path_buf(), e)));
            }
        }
        match wrote {
            Ok(()) if self.failing => {
                driver::log(world.logger, Level::Info, format_args!("run state written again"));
                self.failing = false;
            }
            Ok(()) => {}
            Err((path, e)) if !self.failing => {
                let path = path.display();
                driver::log(world.logger, Level::Warn, format_args!("cannot write {path}: {e}; retrying on change"));
                self.failing = true;
            }
            Err(_) => {}
        }
        (self.last_write, self.pending, self.written) = (Some(now), false, (text, metrics));
    }

    fn compose<J: Job>(
        &self,
        status: crate::supervisor::Status,
        sup: &Supervisor,
        world: &Driver<'_, J>,
        stopped: bool,
    ) -> RunState {
        let config = world.config;
        let wall = |t: Duration| UNIX_EPOCH + t + self.wall_offset;
        let before = &self.before;
        let mut state = RunState {
            name: config.name.clone(),
            created: before.created.or(Some(self.started)),
            master_pid: world.master as u32,
            master_started: Some(self.started),
            master_stopped: stopped.then(SystemTime::now),
            master_identity: self.identity.clone(),
            schedule: match (&config.pacing.cron, config.pacing.interval) {
                (Some(cron), _) => format!("cron {cron}"),
                (None, Some(every)) => format!("interval {}", Human(every)),
                (None, None) => "none".into(),
            },
            performs: before.performs,
            restarts: before.restarts + status.restarts,
            timeouts: before.timeouts + status.timeouts,
            late_starts: before.late_starts + status.late_starts,
            in_a_row: 0,
            slots: Vec::new(),
        };
        for &slot in &world.forked {
            let runs = world.health.slot(slot);
            state.performs.iter_mut().zip(runs.counts).for_each(|(total, n)| *total += n);
        }
        // Across the pool, as max_failures counts: the last master's count goes on until a
        // success here.
        let succeeded = state.performs[Ended::Ok as usize - 1] > before.performs[Ended::Ok as usize - 1];
        state.in_a_row = world.health.in_a_row() + if succeeded { 0 } else { before.in_a_row };
        for slot in 0..status.target {
            let (runs, prev) = (world.health.slot(slot), before.slots.get(slot).cloned().unwrap_or_default());
            let ready = world.beats.get(slot).heartbeat().ready;
            let next_due = world.beats.get(slot).next_due().map(|due| match config.pacing.cron {
                Some(_) => UNIX_EPOCH + due,
                None => wall(due),
            });
            let in_a_row = if runs.counts[Ended::Ok as usize - 1] > 0 {
                runs.in_a_row
            } else {
                prev.failures_in_a_row + runs.in_a_row
            };
            state.slots.push(SlotState {
                state: match (stopped, sup.is_live(slot), ready) {
                    (true, ..) => "stopped",
                    (false, true, true) => "up",
                    (false, true, false) => "starting",
                    (false, false, _) => "down",
                }
                .into(),
                scheduled: runs.scheduled_ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms)).or(prev.scheduled),
                started: runs.started.map(wall).or(prev.started),
                ended: runs.ended.map(wall).or(prev.ended),
                outcome: runs.outcome.map_or(prev.outcome, |o| o.word().into()),
                failure: if runs.failure.is_empty() { prev.failure } else { runs.failure },
                last_success: runs.last_success.map(wall).or(prev.last_success),
                failures_in_a_row: in_a_row,
                next_due: next_due.filter(|_| !stopped),
            });
        }
        state
    }
}

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The state file found at `path`: none is a fresh start; one that cannot be trusted is set
/// aside as `PATH.bad`, with a WARN line.
fn found(path: &Path, logger: &dyn Logger) -> RunState {
    let why = match RunState::read(path) {
        Ok(state) => return state,
        Err(crate::Error::Io(_, e)) if e.kind() == std::io::ErrorKind::NotFound => return RunState::default(),
        // Not what it says that is wrong, but reading it: nothing is moved.
        Err(crate::Error::Io(_, e)) => {
            let line = format!("state file {}: cannot read it ({e}); starting afresh", path.display());
            driver::log(logger, Level::Warn, format_args!("{line}"));
            return RunState::default();
        }
        Err(e) => e.to_string().replacen("invalid configuration: ", "", 1),
    };
    let aside = path.with_extension(path.extension().map_or("bad".into(), |e| format!("{}.bad", e.to_string_lossy())));
    let done = match std::fs::rename(path, &aside) {
        Ok(()) => format!("set aside as {}", aside.display()),
        Err(e) => format!("cannot set it aside ({e})"),
    };
    let line = format!("state file {}: {why}; {done}; starting afresh", path.display());
    driver::log(logger, Level::Warn, format_args!("{line}"));
    RunState::default()
}

/// Replaces the file at `path` with `text` whole: written beside it, then renamed over it.
fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}
