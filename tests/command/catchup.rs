//! `--catch-up`: after a downtime that passed a due time, one run per worker at once, then the
//! schedule; without it, only a line that says the start was missed.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::state::{state_at, wait_state};
use crate::support::*;
use crate::{Dir, Sis, ensure, lines, nothing_left, wall_secs};

/// Runs recorded in `path` as `run WORKER ITERATION TIME`: (worker, time).
fn runs(path: &Path) -> Vec<(usize, f64)> {
    let parse = |l: &str| {
        let w: Vec<&str> = l.split(' ').collect();
        Some((w.get(1)?.parse().ok()?, w.get(3)?.parse().ok()?))
    };
    lines(path).iter().filter_map(|l| parse(l)).collect()
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// Polls the wall clock until it reads `t` (seconds since the Unix epoch) or later.
fn until_wall(t: f64) -> Outcome {
    let wait = Duration::from_secs_f64((t - wall_secs()).max(0.0)) + 5 * SEC;
    wait_for(&format!("the wall clock to pass {t:.3}"), wait, || (wall_secs() >= t).then_some(()))
}

/// `--cron '*/2 * * * * *' -w 2 --state F`: a first sisyphus runs once per worker at T and
/// stops; once T + 2 s has passed while nothing ran, a second with `--catch-up` logs each
/// worker's missed start as a catch-up and runs each worker once at once (well before T + 4),
/// then each once at T + 4; a third, started after T + 6 passed without `--catch-up`, logs the
/// missed starts (`no catch-up asked`) and runs nothing before T + 8.
pub fn catch_up_after_a_downtime() -> Outcome {
    let dir = Dir::new("catchup")?;
    let (path, file) = (dir.join("state"), dir.at("state"));
    let script =
        dir.script("run.sh", "echo \"run $SISYPHUS_WORKER $SISYPHUS_ITERATION $(date +%s.%N)\" >> \"$1\"\n")?;
    let start = |tag: &str, catch_up: bool| {
        let log = dir.at(tag);
        let mut args = vec!["--cron", "*/2 * * * * *", "-w", "2", "--state", &file];
        if catch_up {
            args.push("--catch-up");
        }
        args.extend(["--", &script, &log]);
        Sis::start(&dir, tag, &args)
    };
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    let both = |p: &Path, n: usize| (0..2).all(|w| runs(p).iter().filter(|r| r.0 == w).count() >= n);
    // A: one run per worker at T, then stopped.
    let mut first = start("a", false)?;
    first.until("a run of each worker", 10 * SEC, || both(&a, 1))?;
    first.stop()?;
    let state = state_at(&path)?.ok_or("no state file")?;
    let t = state.slots.iter().filter_map(|s| s.scheduled).map(secs).fold(0.0, f64::max);
    ensure!(t > 0.0 && t % 2.0 == 0.0 && state.slots.len() == 2, "{state}");
    // B, after T + 2 passed: a catch-up run per worker at once, then the schedule (T + 4).
    until_wall(t + 2.2)?;
    let started = wall_secs();
    let mut second = start("b", true)?;
    second.until("a scheduled run of each worker", 10 * SEC, || both(&b, 2))?;
    let got = runs(&b);
    second.stop()?;
    let early = started < t + 3.5;
    ensure!(early, "B started at T + {:.3} s: too late to tell a catch-up from T + 4", started - t);
    for w in 0..2 {
        let mine: Vec<f64> = got.iter().filter(|r| r.0 == w).map(|r| r.1).collect();
        ensure!(mine.len() == 2, "worker {w}: {} runs, not 2: {got:?} (T = {t})", mine.len());
        let (now, next) = (mine[0] - started, mine[1] - t);
        let at_once = now < 1.0;
        ensure!(at_once, "worker {w}'s catch-up came {now:.3} s after the start (T = {t}): {got:?}");
        ensure!((4.0..4.5).contains(&next), "worker {w}'s next run at T + {next:.3} s, not T + 4: {got:?}");
        let line = format!("worker {w} missed its start of ");
        let said = second.err().lines().any(|l| l.contains(&line) && l.ends_with(": catching up with one run now"));
        ensure!(said, "no catch-up line for worker {w}{}", second.show());
    }
    // C, after T + 6 passed, without --catch-up: the missed starts said, nothing before T + 8.
    until_wall(t + 6.2)?;
    let mut third = start("c", false)?;
    let said = |sis: &Sis| sis.err().lines().filter(|l| l.ends_with("; no catch-up asked")).count() == 2;
    third.until("the missed starts logged", 5 * SEC, || said(&third))?;
    third.until("a run of each worker", 10 * SEC, || both(&c, 1))?;
    third.stop()?;
    let got = runs(&c);
    ensure!(got.len() == 2 && got.iter().all(|r| r.1 - t >= 8.0), "runs before T + 8 = {}: {got:?}", t + 8.0);
    ensure!(!third.err().contains("catching up"), "{}", third.show());
    let end = state_at(&path)?.unwrap_or_default();
    ensure!(end.performs[0] == 8, "8 runs counted across the three: {end}");
    nothing_left()
}

/// `--interval 1s --catch-up`: the first run after setup is due at once anyway, so the catch-up
/// is that run: one run at once, the next a second later, no late start.
pub fn catch_up_with_an_interval_runs_once() -> Outcome {
    let dir = Dir::new("catchupinterval")?;
    let (path, file) = (dir.join("state"), dir.at("state"));
    let script =
        dir.script("run.sh", "echo \"run $SISYPHUS_WORKER $SISYPHUS_ITERATION $(date +%s.%N)\" >> \"$1\"\n")?;
    let (a, b) = (dir.at("a"), dir.at("b"));
    let mut first = Sis::start(&dir, "a", &["--interval", "1s", "--state", &file, "--", &script, &a])?;
    wait_state(&first, &path, "a run", |s| s.performs[0] == 1)?;
    first.stop()?;
    let state = state_at(&path)?.ok_or("no state file")?;
    let t = state.slots[0].scheduled.map(secs).unwrap_or_default();
    until_wall(t + 1.2)?;
    let mut second = Sis::start(&dir, "b", &["--interval", "1s", "--catch-up", "--state", &file, "--", &script, &b])?;
    second.until("two runs", 10 * SEC, || runs(Path::new(&b)).len() >= 2)?;
    second.stop()?;
    let got = runs(Path::new(&b));
    let gap = got[1].1 - got[0].1;
    let paced = gap > 0.9;
    ensure!(paced, "two runs {:.0} ms apart after the catch-up: {got:?}{}", gap * 1e3, second.show());
    ensure!(second.err().contains("catching up with one run now"), "{}", second.show());
    ensure!(!second.err().contains(" WARN "), "a WARN (a late start?){}", second.show());
    nothing_left()
}

/// `--catch-up` after a downtime with a `--setup` that fails the first time (what it needs is
/// not up yet after the downtime): the worker that replaces the failed one makes the catch-up
/// run, at once, then the schedule goes on.
pub fn catch_up_survives_a_failed_setup() -> Outcome {
    let dir = Dir::new("catchupsetup")?;
    let (path, file) = (dir.join("state"), dir.at("state"));
    let script =
        dir.script("run.sh", "echo \"run $SISYPHUS_WORKER $SISYPHUS_ITERATION $(date +%s.%N)\" >> \"$1\"\n")?;
    let (a, b, flag) = (dir.at("a"), dir.at("b"), dir.at("flag"));
    let cron = ["--cron", "*/2 * * * * *", "--state", &file];
    let mut first = Sis::start(&dir, "a", &[&cron[..], &["--", &script, &a]].concat())?;
    wait_state(&first, &path, "a run", |s| s.performs[0] == 1)?;
    first.stop()?;
    let state = state_at(&path)?.ok_or("no state file")?;
    let t = state.slots[0].scheduled.map(secs).unwrap_or_default();
    until_wall(t + 2.2)?;
    let setup = format!("test -e {flag} || {{ touch {flag}; exit 1; }}");
    let args = [&cron[..], &["--catch-up", "--setup", &setup, "--", &script, &b]].concat();
    let started = wall_secs();
    let mut second = Sis::start(&dir, "b", &args)?;
    let b = Path::new(&b);
    second.until("the catch-up run and the scheduled one", 10 * SEC, || runs(b).len() >= 2)?;
    second.stop()?;
    let got = runs(b);
    let early = started < t + 3.5;
    ensure!(early, "B started at T + {:.3} s: too late to tell a catch-up from T + 4", started - t);
    ensure!(Path::new(&flag).exists() && second.err().contains("exited with code 1"), "{}", second.show());
    let (first, next) = (got[0].1 - started, got[1].1 - t);
    let (at_once, on_time) = (first < 1.5, next >= 4.0);
    ensure!(at_once, "the first run came {first:.3} s after the start: {got:?}");
    ensure!(on_time, "two runs before T + 4 (T = {t}): {got:?}");
    nothing_left()
}
