//! Item 19, run state on disk (issue 19): what `Master::state_file` costs a fast loop, and how
//! often the master writes the file. The same job runs with and without a state file, the two
//! alternating run by run, so drift falls on both alike; a forking no-op perform, a simple
//! no-op perform (where a clock read per perform shows most), and the command's
//! `sisyphus -w 2 -- /bin/true` (runs counted as forks on the machine, as item 15 does).
//!
//! Writes are counted exactly: the file is replaced by renaming `PATH.tmp` over it, and an
//! inotify watch on its folder reports each rename (`IN_MOVED_TO` with the file's name). The
//! watch takes `IN_CLOSE_WRITE` too, though those are not counted: inotify merges an event
//! into the one queued before it when the two are alike (the rename's cookie is not compared),
//! so back-to-back renames would count as one; the temporary file's close comes between them.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use libc::c_int;
use sisyphus::Strategy;

use crate::children::spawn_configured;
use crate::command::forks_so_far;
use crate::items::{Cfg, paired};
use crate::job::{Act, Spec};
use crate::procs::{sweep, with_proc};
use crate::samplers::{SIMPLE_TICK_MASK, tick_rate};
use crate::sys::{close, kill, now_ns};
use crate::table::{Goal, Row, median};
use crate::{MS, SEC};

/// The goal: a state file costs a fast loop at most 2 % of its performs.
const SHARE: f64 = 0.98;
/// The file's name in its folder.
const NAME: &str = "state";

/// A fresh folder of the bench's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, String> {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Relaxed);
        let path = std::env::temp_dir().join(format!("sisyphus-bench-state-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An inotify watch for files renamed into a folder.
struct Renames(c_int);

impl Renames {
    fn watch(dir: &Path) -> Result<Renames, String> {
        // SAFETY: no pointer arguments.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(format!("inotify_init1: {}", std::io::Error::last_os_error()));
        }
        let c = CString::new(dir.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_MOVED_TO | libc::IN_CLOSE_WRITE) } < 0 {
            let e = std::io::Error::last_os_error();
            close(fd);
            return Err(format!("inotify_add_watch {}: {e}", dir.display()));
        }
        Ok(Renames(fd))
    }

    /// Renames onto `NAME` since the last call; an error if events were lost.
    fn take(&self) -> Result<u64, String> {
        let (mut count, mut buf) = (0, [0u8; 8192]);
        loop {
            // SAFETY: reads into a valid stack buffer of the length given.
            let n = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return Ok(count);
            }
            let mut at = 0;
            while at + 16 <= n as usize {
                // struct inotify_event: wd, mask, cookie, len (4 bytes each), then the name.
                let word = |i: usize| u32::from_ne_bytes(buf[at + i..at + i + 4].try_into().expect("4 bytes"));
                let (mask, len) = (word(4), word(12) as usize);
                if mask & libc::IN_Q_OVERFLOW != 0 {
                    return Err("inotify queue overflowed".into());
                }
                let name = &buf[at + 16..at + 16 + len];
                let renamed = mask & libc::IN_MOVED_TO != 0;
                count += u64::from(renamed && name.split(|&b| b == 0).next() == Some(NAME.as_bytes()));
                at += 16 + len;
            }
        }
    }
}

impl Drop for Renames {
    fn drop(&mut self) {
        close(self.0);
    }
}

/// The measuring window: long enough to see a write a second as such.
fn window(cfg: &Cfg) -> Duration {
    if cfg.quick { SEC } else { 2 * SEC }
}

/// A sample: performs (or runs) a second, and the state file's writes a second if it had one.
type Sample = (f64, Option<f64>);

/// One library sample: performs/s of one worker running no-op performs, and the state file's
/// writes/s over the same window (`None` without a state file).
fn library(cfg: &Cfg, strategy: Strategy, state: bool) -> Result<Sample, String> {
    let scratch = Scratch::new()?;
    let renames = Renames::watch(&scratch.0)?;
    let mask = if strategy == Strategy::Simple { SIMPLE_TICK_MASK } else { 255 };
    let path = scratch.0.join(NAME);
    let spec = Spec::new(Act::Tick { mask }, cfg.method);
    let p = spawn_configured(spec, 1, strategy, move |m| if state { m.state_file(path) } else { m })?;
    with_proc(p, |p| {
        p.setups(1, 30 * SEC)?;
        renames.take()?;
        let t0 = now_ns();
        let rate = tick_rate(p, window(cfg))?;
        let writes = renames.take()? as f64 / ((now_ns() - t0) as f64 / 1e9);
        Ok((rate, state.then_some(writes)))
    })
}

/// One command sample: `sisyphus -w 2 [--state F] -- COMMAND...` for a window after a warm-up:
/// its runs/s (forks on the machine a second; each run is one fork) and the file's writes/s.
fn command(cfg: &Cfg, state: bool, run: &[&str]) -> Result<Sample, String> {
    let scratch = Scratch::new()?;
    let renames = Renames::watch(&scratch.0)?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sisyphus"));
    cmd.args(["-q", "-w", "2"]);
    if state {
        cmd.arg("--state").arg(scratch.0.join(NAME));
    }
    cmd.arg("--").args(run).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    let mut child = cmd.spawn().map_err(|e| format!("sisyphus: {e}"))?;
    let measured = (|| {
        std::thread::sleep(if cfg.quick { 100 * MS } else { 300 * MS });
        renames.take()?;
        let (forks0, t0) = (forks_so_far()?, now_ns());
        std::thread::sleep(window(cfg));
        let (forks1, t1) = (forks_so_far()?, now_ns());
        let secs = (t1 - t0) as f64 / 1e9;
        Ok(((forks1 - forks0) as f64 / secs, state.then_some(renames.take()? as f64 / secs)))
    })();
    kill(child.id() as i32, libc::SIGINT);
    let status = (0..5000).find_map(|_| {
        let done = child.try_wait().ok().flatten();
        if done.is_none() {
            std::thread::sleep(MS);
        }
        done
    });
    if status.is_none() {
        kill(-(child.id() as i32), libc::SIGKILL);
        let _ = child.wait();
    }
    sweep()?;
    match status {
        Some(s) if s.success() => measured,
        other => Err(format!("sisyphus did not stop cleanly after INT: {other:?}")),
    }
}

/// Rows for one pair of sample sets: performs/s with the file against its median without; the
/// ratio of each pair (the two runs side by side), which the goal is about, drift between
/// pairs cancelling out; and the writes/s.
fn rows(what: &str, unit: &str, samples: (Vec<Sample>, Vec<Sample>)) -> Vec<Row> {
    let (plain, with): (Vec<_>, Vec<_>) = samples;
    let rate = |v: &[Sample]| v.iter().map(|s| s.0).collect::<Vec<f64>>();
    let ratios = plain.iter().zip(&with).map(|(p, w)| w.0 / p.0).collect();
    let writes = with.iter().filter_map(|s| s.1).collect();
    vec![
        Row::new(19, format!("{what}: {unit} with a state file"), "/s", rate(&with)).base(median(&rate(&plain))),
        Row::new(19, format!("{what}: with / without, run by run"), "ratio", ratios)
            .base(1.0)
            .goal(Goal::RatioAtLeast(SHARE)),
        Row::new(19, format!("{what}: state file writes"), "/s", writes),
    ]
}

pub(crate) fn item19(cfg: &Cfg) -> Result<Vec<Row>, String> {
    // Twice the usual rounds: the rates wander by a few % from one second to the next.
    let runs = 2 * cfg.runs;
    let mut out = Vec::new();
    for (strategy, what) in
        [(Strategy::Forking, "forking no-op, 1 worker"), (Strategy::Simple, "simple no-op, 1 worker")]
    {
        let samples = paired(runs, |state| library(cfg, strategy, state))?;
        out.extend(rows(what, "performs/s", samples));
    }
    let samples = paired(runs, |state| command(cfg, state, &["/bin/true"]))?;
    out.extend(rows("sisyphus -w 2 -- /bin/true", "runs/s", samples));
    // Each first failure after a success wakes the master: changes come faster than it may write.
    let flip = ["/bin/sh", "-c", "exit $((SISYPHUS_ITERATION % 2))"];
    let samples = (0..cfg.runs).map(|_| command(cfg, true, &flip)).collect::<Result<Vec<_>, _>>()?;
    let writes = samples.iter().filter_map(|s| s.1).collect();
    let what = "sisyphus -w 2 -- sh -c 'exit $((SISYPHUS_ITERATION % 2))': state file writes";
    out.push(Row::new(19, what, "/s", writes).goal(Goal::AtMost(4.0)));
    Ok(out)
}
