//! Run state on disk: what the master knows of its runs, in a small text file that survives it
//! and that anything can read (`sisyphus --status`, a liveness probe, a person), and the same
//! numbers for Prometheus' textfile collector (`metrics`).

mod metrics;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Error;

pub(crate) use metrics::prometheus;

/// The first line of a state file of this format.
const HEADER: &str = "sisyphus-state 1";

/// A pool's run state, as its master keeps it in its [state file](crate::Master::state_file).
/// The counts are since the file was created; the master carries them over from the file it
/// finds at start.
///
/// ```no_run
/// let state = sisyphus::RunState::read("/run/sweep/state")?;
/// let last = state.slots.iter().filter_map(|s| s.last_success).max();
/// println!("{} ok performs; last success {last:?}", state.performs[0]);
/// # Ok::<(), sisyphus::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunState {
    /// The pool's [name](crate::Master::name).
    pub name: String,
    /// When the file was first written.
    pub created: Option<SystemTime>,
    /// The master that wrote it last.
    pub master_pid: u32,
    /// When that master started.
    pub master_started: Option<SystemTime>,
    /// When that master stopped, if it did (one that was killed could not say).
    pub master_stopped: Option<SystemTime>,
    /// What tells that master from a later process with its pid (Linux: the boot's id and
    /// the process's start); empty where the system does not say.
    pub master_identity: String,
    /// `cron 30 2 * * *`, `interval 30 s`, or `none`.
    pub schedule: String,
    /// Performs by how they ended: ok, failed, timeout, killed.
    pub performs: [u64; 4],
    /// Workers that ended unasked, or failed to start.
    pub restarts: u64,
    /// Setup and perform timeouts.
    pub timeouts: u64,
    /// Performs started late against the schedule.
    pub late_starts: u64,
    /// Failed performs in a row across the pool, since the last success in any slot: what
    /// [`max_failures`](crate::Master::max_failures) counts, carried over a restart of the
    /// master until a success (the new master's own count starts at 0).
    pub in_a_row: u64,
    /// One per worker slot.
    pub slots: Vec<SlotState>,
}

/// One worker slot's runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotState {
    /// `up`, `starting` (in `setup`), `down` (to be restarted), `stopped`.
    pub state: String,
    /// The last perform's scheduled start (with a schedule).
    pub scheduled: Option<SystemTime>,
    /// The last perform's start.
    pub started: Option<SystemTime>,
    /// The last perform's end.
    pub ended: Option<SystemTime>,
    /// How the last perform ended: `ok`, `failed`, `timeout`, `killed`; empty before the first.
    pub outcome: String,
    /// What the last failed perform did: `perform child 7 exited with code 3`.
    pub failure: String,
    /// When a perform of the slot last succeeded.
    pub last_success: Option<SystemTime>,
    /// Failed performs since the slot's last success.
    pub failures_in_a_row: u64,
    /// When the next perform is due, with a schedule.
    pub next_due: Option<SystemTime>,
}

impl RunState {
    /// Reads a state file.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read, [`Error::Config`] when it is not a state file of
    /// this format (the line at fault named).
    pub fn read(path: impl AsRef<Path>) -> Result<RunState, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io("reading the state file", e))?;
        let text = String::from_utf8(bytes).map_err(|_| Error::Config("not a state file (not UTF-8 text)".into()))?;
        text.parse()
    }

    /// Whether the master that wrote the file still runs: it did not stop, its pid runs, and
    /// (on Linux, which has `/proc`) it is not a zombie and is the same process, not a later
    /// one given its pid.
    pub fn master_running(&self) -> bool {
        let pid = self.master_pid;
        let same = || {
            self.master_identity.is_empty()
                || crate::sys::process_identity(pid).is_none_or(|id| id == self.master_identity)
        };
        self.master_stopped.is_none() && crate::sys::running(pid) && same()
    }

    /// Failed performs in a row across the pool ([`in_a_row`](RunState::in_a_row)).
    pub fn failures_in_a_row(&self) -> u64 {
        self.in_a_row
    }

    /// When a perform last succeeded, in any slot.
    pub fn last_success(&self) -> Option<SystemTime> {
        self.slots.iter().filter_map(|s| s.last_success).max()
    }
}

/// The file's text: `key value` lines between a header and `end`, times as Unix seconds with
/// milliseconds, `-` for none.
impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [ok, failed, timeout, killed] = self.performs;
        writeln!(f, "{HEADER}\nname {}\ncreated {}", one_line(&self.name), Time(self.created))?;
        let (started, stopped) = (Time(self.master_started), Time(self.master_stopped));
        writeln!(f, "master {} {started} {stopped}\nschedule {}", self.master_pid, one_line(&self.schedule))?;
        if !self.master_identity.is_empty() {
            writeln!(f, "master_identity {}", one_line(&self.master_identity))?;
        }
        writeln!(f, "performs {ok} {failed} {timeout} {killed}\nrestarts {}", self.restarts)?;
        writeln!(f, "timeouts {}\nlate_starts {}\nin_a_row {}", self.timeouts, self.late_starts, self.in_a_row)?;
        for (i, s) in self.slots.iter().enumerate() {
            let outcome = if s.outcome.is_empty() { "-" } else { &s.outcome };
            let (scheduled, started, ended) = (Time(s.scheduled), Time(s.started), Time(s.ended));
            write!(f, "slot {i} {} {scheduled} {started} {ended} {outcome} ", s.state)?;
            writeln!(f, "{} {} {}", Time(s.last_success), s.failures_in_a_row, Time(s.next_due))?;
            if !s.failure.is_empty() {
                writeln!(f, "failure {i} {}", one_line(&s.failure))?;
            }
        }
        writeln!(f, "end")
    }
}

impl std::str::FromStr for RunState {
    type Err = Error;

    fn from_str(text: &str) -> Result<RunState, Error> {
        let mut lines = text.lines().enumerate();
        if lines.next().map(|(_, l)| l) != Some(HEADER) {
            return Err(Error::Config(format!("not a state file of this format (line 1 is not {HEADER:?})")));
        }
        let mut state = RunState::default();
        for (i, line) in lines {
            let bad = || Error::Config(format!("state file line {}: {line:?} is not understood", i + 1));
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            let words: Vec<&str> = rest.split(' ').collect();
            let num = |w: &str| w.parse::<u64>().map_err(|_| bad());
            match (key, &words[..]) {
                ("end", [""]) => return Ok(state),
                ("name", _) => state.name = rest.into(),
                ("created", [t]) => state.created = time(t).ok_or_else(bad)?,
                ("master", [pid, started, stopped]) => {
                    state.master_pid = pid.parse().map_err(|_| bad())?;
                    (state.master_started, state.master_stopped) =
                        (time(started).ok_or_else(bad)?, time(stopped).ok_or_else(bad)?);
                }
                ("schedule", _) => state.schedule = rest.into(),
                ("master_identity", _) => state.master_identity = rest.into(),
                ("performs", [a, b, c, d]) => state.performs = [num(a)?, num(b)?, num(c)?, num(d)?],
                ("restarts", [n]) => state.restarts = num(n)?,
                ("timeouts", [n]) => state.timeouts = num(n)?,
                ("late_starts", [n]) => state.late_starts = num(n)?,
                ("in_a_row", [n]) => state.in_a_row = num(n)?,
                ("slot", [n, st, sched, start, end, outcome, success, in_a_row, next])
                    if num(n)? == state.slots.len() as u64 =>
                {
                    let t = |w: &str| time(w).ok_or_else(bad);
                    let outcome = if *outcome == "-" { String::new() } else { outcome.to_string() };
                    state.slots.push(SlotState {
                        state: st.to_string(),
                        scheduled: t(sched)?,
                        started: t(start)?,
                        ended: t(end)?,
                        outcome,
                        failure: String::new(),
                        last_success: t(success)?,
                        failures_in_a_row: num(in_a_row)?,
                        next_due: t(next)?,
                    });
                }
                ("failure", [n, ..]) => {
                    let slot = state.slots.get_mut(num(n)? as usize).ok_or_else(bad)?;
                    slot.failure = rest.split_once(' ').map_or("", |(_, t)| t).into();
                }
                _ => return Err(bad()),
            }
        }
        Err(Error::Config("state file cut short: no `end` line".into()))
    }
}

/// The state and metrics files, as given: each named, in a folder that exists and not a
/// folder itself, and no two the same file, nor the same as any of `others` (a pidfile), their
/// `.tmp` and `.bad` files included.
pub fn check_files(files: [&Option<PathBuf>; 2], others: &[&Path]) -> Result<(), String> {
    let names = ["state_file", "metrics_file"];
    let files: Vec<(&str, &Path)> =
        names.into_iter().zip(files).filter_map(|(name, p)| Some((name, p.as_deref()?))).collect();
    let mut taken: Vec<(&str, PathBuf)> = others.iter().filter_map(|p| Some(("the pidfile", resolved(p)?))).collect();
    for (name, path) in files {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let shown = path.display();
        if path.as_os_str().is_empty() {
            return Err(format!("{name} is empty: give a file"));
        }
        if path.is_dir() {
            let example = path.join("state");
            return Err(format!("{name} {shown:?} is a directory: give a file in it, such as {:?}", example.display()));
        }
        let Some(real) = resolved(path).filter(|_| folder.is_dir()) else {
            return Err(format!("{name} {shown:?}: there is no directory {:?}", folder.display()));
        };
        // The file, and the two the master makes beside it.
        let own: [PathBuf; 3] = ["", ".tmp", ".bad"].map(|end| {
            let mut p = real.clone().into_os_string();
            p.push(end);
            p.into()
        });
        if let Some((other, _)) = taken.iter().find(|(_, p)| own.contains(p)) {
            return Err(format!(
                "{name} {shown:?} is {other}'s path too (or its .tmp or .bad): give each its own file"
            ));
        }
        taken.extend(own.map(|p| (name, p)));
    }
    Ok(())
}

/// `path` with its folder's real path: `a/../b` and `./b` are `b`.
fn resolved(path: &Path) -> Option<PathBuf> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(folder.canonicalize().ok()?.join(path.file_name()?))
}

/// A time in the file: Unix seconds and milliseconds, or `-`.
struct Time(Option<SystemTime>);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.map(|t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()) {
            Some(ms) => write!(f, "{}.{:03}", ms / 1000, ms % 1000),
            None => f.write_str("-"),
        }
    }
}

/// Reads a `Time`: `Some(None)` for `-`, `None` for anything else that is not one.
fn time(word: &str) -> Option<Option<SystemTime>> {
    if word == "-" {
        return Some(None);
    }
    let (secs, ms) = word.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || ms.len() != 3 || !digits(ms) {
        return None;
    }
    let total = secs.parse::<u64>().ok()?.checked_mul(1000)?.checked_add(ms.parse().ok()?)?;
    Some(Some(UNIX_EPOCH + Duration::from_millis(total)))
}

/// Text kept to one line of the file.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests;
