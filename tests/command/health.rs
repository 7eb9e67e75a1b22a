//! The runs' health: `STATUS=` while runs fail (how many in a row, how long since the last
//! success), and `--max-failures`, which ends sisyphus with exit 1 once that many runs in a row
//! have failed.

use std::cell::RefCell;
use std::path::Path;

use crate::support::*;
use crate::{Dir, Notify, Sis, ensure, lines, nothing_left, sisyphus, wall_secs};

/// A `STATUS=` datagram, split: `running: 2/2 workers up`, the failing part, if any, as (the
/// last success's age in seconds, if there was one; failures in a row), and the counts.
#[derive(Debug)]
struct Status {
    head: String,
    failing: Option<(Option<u64>, u64)>,
    tail: String,
}

/// `no success yet, 5 failed in a row` or `last success 3 s ago, 5 failed in a row`.
fn failing(part: &str) -> Option<(Option<u64>, u64)> {
    let (when, n) = part.split_once(", ")?;
    let n = n.strip_suffix(" failed in a row")?.parse().ok()?;
    if when == "no success yet" {
        return Some((None, n));
    }
    Some((Some(when.strip_prefix("last success ")?.strip_suffix(" s ago")?.parse().ok()?), n))
}

/// A `STATUS=` datagram as the master words it; `None` for anything else.
fn status(datagram: &str) -> Option<Status> {
    let parts: Vec<&str> = datagram.strip_prefix("STATUS=")?.split("; ").collect();
    let failing = match parts.len() {
        2 => None,
        3 => Some(failing(parts[1])?),
        _ => return None,
    };
    let (head, tail) = (parts.first()?.to_string(), parts.last()?.to_string());
    Some(Status { head, failing, tail })
}

/// Takes the datagrams queued on `notify`, stamped with the wall clock.
fn receive(notify: &Notify, got: &RefCell<Vec<(f64, String)>>) {
    let now = wall_secs();
    got.borrow_mut().extend(notify.received().into_iter().map(|d| (now, d)));
}

/// Every datagram is `READY=1` (once), `STOPPING=1` (once, later) or a well-formed `STATUS=`
/// of a pool whose workers were never replaced; the failing parts, in order, with their stamps.
fn well_formed(got: &[(f64, String)]) -> Result<Vec<(f64, Status)>, String> {
    let count = |m: &str| got.iter().filter(|(_, d)| d == m).count();
    let at = |m: &str| got.iter().position(|(_, d)| d == m);
    ensure!(count("READY=1") == 1 && count("STOPPING=1") == 1 && at("READY=1") < at("STOPPING=1"), "{got:?}");
    let mut statuses = Vec::new();
    for (t, d) in got.iter().filter(|(_, d)| !d.ends_with("ING=1") && d != "READY=1") {
        let s = status(d).ok_or_else(|| format!("a datagram out of shape: {d:?}"))?;
        ensure!(s.tail == "0 restarts, 0 timeouts, 0 late starts", "{d:?}");
        statuses.push((*t, s));
    }
    Ok(statuses)
}

/// `sh -c 'exit 1'` on 2 workers under a service manager: `STATUS=` says `no success yet, N
/// failed in a row` with N growing, READY=1 comes once, nothing fails to be sent.
pub fn failing_status() -> Outcome {
    let dir = Dir::new("failstatus")?;
    let notify = Notify::bind(&dir)?;
    let (mut cmd, out, err) = sisyphus(&dir, "failstatus", &["-w", "2", "--", "sh", "-c", "exit 1"])?;
    cmd.env("NOTIFY_SOCKET", &notify.path);
    let mut sis = Sis::spawn(cmd, out, err)?;
    let got = RefCell::new(Vec::new());
    let most = |got: &[(f64, String)]| got.iter().filter_map(|(_, d)| status(d)?.failing).map(|f| f.1).max();
    sis.until("a STATUS= with 6 failed in a row", 10 * SEC, || {
        receive(&notify, &got);
        most(&got.borrow()).is_some_and(|n| n >= 6)
    })?;
    sis.stop()?;
    receive(&notify, &got);
    let got = got.into_inner();
    let statuses = well_formed(&got)?;
    let failing: Vec<(f64, &str, Option<u64>, u64)> =
        statuses.iter().filter_map(|(t, s)| s.failing.map(|(ago, n)| (*t, s.head.as_str(), ago, n))).collect();
    ensure!(failing.iter().all(|f| f.2.is_none()), "a success where every run fails: {got:?}");
    ensure!(failing.windows(2).all(|w| w[0].3 <= w[1].3), "the count went down: {got:?}");
    ensure!(failing.first().is_some_and(|f| f.3 > 0), "{got:?}");
    ensure!(failing.last().is_some_and(|l| l.3 > failing[0].3), "the count never grew: {got:?}");
    ensure!(failing.iter().any(|f| f.1 == "running: 2/2 workers up"), "workers not up while failing: {got:?}");
    ensure!(!sis.err().contains("cannot notify"), "a notification failed{}", sis.show());
    let t0 = failing[0].0;
    let shown: Vec<String> = failing.iter().map(|f| format!("{} at +{:.0} ms", f.3, (f.0 - t0) * 1e3)).collect();
    println!("       failed in a row: {}", shown.join(", "));
    nothing_left()
}

/// One worker; runs 0 and 1 fail, run 2 succeeds, run 3 fails after 200 ms and every later
/// one at once (each failure writes `fail N T`). `STATUS=` says `no success yet` before run 2, drops the failing part as soon as
/// run 2 ends, then says `last success N s ago`, N true to the clock and refreshed while no run
/// ends (the backoff grows to 1.6 s).
pub fn status_after_a_success() -> Outcome {
    let dir = Dir::new("agostatus")?;
    let notify = Notify::bind(&dir)?;
    let runs = dir.join("runs");
    std::fs::write(&runs, "").map_err(|e| e.to_string())?;
    let script = dir.script(
        "run.sh",
        "n=$(grep -c '^run' \"$1\")\n\
         echo \"run $n $(date +%s.%N)\" >> \"$1\"\n\
         case $n in\n\
         2) echo \"ok $(date +%s.%N)\" >> \"$1\"; exit 0 ;;\n\
         3) sleep 0.2 ;;\n\
         esac\n\
         echo \"fail $n $(date +%s.%N)\" >> \"$1\"\n\
         exit 1\n",
    )?;
    let (mut cmd, out, err) = sisyphus(&dir, "agostatus", &["--", &script, &runs.to_string_lossy()])?;
    cmd.env("NOTIFY_SOCKET", &notify.path);
    let mut sis = Sis::spawn(cmd, out, err)?;
    let got = RefCell::new(Vec::new());
    sis.until("a STATUS= with `last success 2 s ago`", 10 * SEC, || {
        receive(&notify, &got);
        got.borrow().iter().any(|(_, d)| status(d).and_then(|s| s.failing).is_some_and(|f| f.0 == Some(2)))
    })?;
    sis.stop()?;
    receive(&notify, &got);
    let got = got.into_inner();
    let statuses = well_formed(&got)?;
    let ok: f64 = lines(&runs)
        .iter()
        .find_map(|l| l.strip_prefix("ok ")?.parse().ok())
        .ok_or_else(|| format!("run 2 did not succeed: {:?}", lines(&runs)))?;
    let running: Vec<&(f64, Status)> = statuses.iter().filter(|(_, s)| s.head == "running: 1/1 workers up").collect();
    // Before run 2's success: `no success yet`, from 1 failed in a row.
    let before: Vec<_> = running.iter().filter(|(t, _)| *t < ok).filter_map(|(_, s)| s.failing).collect();
    ensure!(before.first() == Some(&(None, 1)), "before the success: {before:?}\n{got:?}");
    ensure!(before.iter().all(|f| f.0.is_none() && f.1 <= 2), "before the success: {before:?}\n{got:?}");
    // At the success: a status with no failing part, within 300 ms (the worker wakes the master).
    let cleared = running.iter().find(|(t, s)| *t >= ok && s.failing.is_none()).map(|(t, _)| t - ok);
    ensure!(cleared.is_some_and(|c| c < 0.3), "cleared {cleared:?} s after the success:\n{got:?}");
    // After it: `last success N s ago`, N the whole seconds since then, as the status was sent.
    let after: Vec<(f64, u64, u64)> = running
        .iter()
        .filter(|(t, _)| *t >= ok)
        .filter_map(|(t, s)| s.failing.map(|f| (t - ok, f.0.unwrap_or(u64::MAX), f.1)))
        .collect();
    for &(since, ago, n) in &after {
        let fits = ago as f64 <= since + 0.05 && ago as f64 > since - 1.05;
        ensure!(fits, "`last success {ago} s ago, {n} failed` sent {since:.3} s after the success:\n{got:?}");
    }
    ensure!(after.windows(2).all(|w| w[0].2 <= w[1].2), "the count went down: {after:?}");
    // Only the first failure after a success wakes the master: later statuses are refreshes,
    // a second apart, some sent with no run ending in the 100 ms before.
    let gaps: Vec<f64> = after.windows(2).map(|w| w[1].0 - w[0].0).collect();
    ensure!(gaps.iter().all(|&g| g < 1.3), "statuses {gaps:?} s apart: {after:?}");
    let ends: Vec<f64> =
        lines(&runs).iter().filter_map(|l| l.strip_prefix("fail ")?.split(' ').nth(1)?.parse().ok()).collect();
    let quiet = |since: f64| !ends.iter().any(|&e| e - ok <= since && e - ok > since - 0.1);
    ensure!(
        after.iter().any(|a| quiet(a.0)),
        "every status came just after a run ended: {after:?}, runs ended {ends:?}"
    );
    ensure!(!sis.err().contains("cannot notify"), "a notification failed{}", sis.show());
    let shown: Vec<String> = after.iter().map(|(s, a, n)| format!("{a} s/{n} at +{s:.2} s")).collect();
    println!("       cleared {:.1} ms after the success; then {}", cleared.unwrap_or(0.0) * 1e3, shown.join(", "));
    nothing_left()
}

/// The runs recorded in `path`: `run W T` lines.
fn run_starts(path: &Path) -> Vec<(usize, f64)> {
    let parse = |l: &String| {
        let mut w = l.strip_prefix("run ")?.split(' ');
        Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
    };
    lines(path).iter().filter_map(parse).collect()
}

/// The failure count `sisyphus: N runs failed in a row; ...` names in the last line.
fn gave_up_after(err: &str) -> Option<u64> {
    let last = err.lines().last()?.strip_prefix("sisyphus: ")?;
    last.split_once(" runs failed in a row; gave up; last: ")?.0.parse().ok()
}

/// `--max-failures 5`, one worker, runs exiting 1: exit 1 after exactly 5 runs, the last line
/// naming the count and the last run's exit.
pub fn max_failures(strategy: &str) -> Outcome {
    let dir = Dir::new("maxfail")?;
    let runs = dir.join("runs");
    let script = dir.script("fail.sh", "echo \"run 0 $(date +%s.%N)\" >> \"$1\"\nexit 1\n")?;
    let args = ["--max-failures", "5", "--strategy", strategy, "--", &script, &runs.to_string_lossy()];
    let mut sis = Sis::start(&dir, "maxfail", &args)?;
    let code = sis.wait(10 * SEC)?;
    let err = sis.err();
    ensure!(code == 1, "exit {code}, want 1{}", sis.show());
    let n = run_starts(&runs).len();
    ensure!(n == 5, "{n} runs, want 5{}", sis.show());
    let last = err.lines().last().unwrap_or("");
    ensure!(gave_up_after(&err) == Some(5) && last.contains("exited with code 1"), "last line {last:?}");
    let giving_up = "ERROR 5 runs failed in a row (--max-failures 5): giving up";
    ensure!(err.matches(giving_up).count() == 1, "not one {giving_up:?}{}", sis.show());
    ensure!(err.contains("master stopped (0 killed"), "{}", sis.show());
    println!("       {last}");
    nothing_left()
}

/// `--max-failures 5`, 3 workers, runs of 200 ms exiting 1: exit 1; every run started before
/// the give-up line, and there are as many as the error counts plus at most the 2 others that
/// were running then; each one's failure was logged.
pub fn max_failures_pool() -> Outcome {
    let dir = Dir::new("maxfailpool")?;
    let runs = dir.join("runs");
    let script =
        dir.script("fail.sh", "echo \"run $SISYPHUS_WORKER $(date +%s.%N)\" >> \"$1\"\nsleep 0.2\nexit 1\n")?;
    let mut sis =
        Sis::start(&dir, "maxfailpool", &["-w", "3", "--max-failures", "5", "--", &script, &runs.to_string_lossy()])?;
    let code = sis.wait(10 * SEC)?;
    let err = sis.err();
    ensure!(code == 1, "exit {code}, want 1{}", sis.show());
    let counted = gave_up_after(&err).ok_or_else(|| format!("no give-up line{}", sis.show()))?;
    ensure!(err.lines().last().is_some_and(|l| l.contains("exited with code 1")), "{}", sis.show());
    let giving_up = format!("ERROR {counted} runs failed in a row (--max-failures 5): giving up");
    let line = err.lines().find(|l| l.contains(&giving_up)).ok_or_else(|| format!("no {giving_up:?}{}", sis.show()))?;
    let gave_up_at = log_time(line).filter(|t| (wall_secs() - t).abs() < 60.0);
    let gave_up_at = gave_up_at.ok_or_else(|| format!("no time of now in {line:?}"))?;
    let starts = run_starts(&runs);
    let n = starts.len() as u64;
    ensure!((5..=7).contains(&counted) && (counted..=counted + 2).contains(&n), "{n} runs, {counted} counted");
    // The log's time is cut to the millisecond.
    let late: Vec<_> = starts.iter().filter(|&&(_, t)| t >= gave_up_at + 0.001).collect();
    ensure!(late.is_empty(), "runs started after giving up at {gave_up_at}: {late:?}{}", sis.show());
    let failed = err.lines().filter(|l| l.contains("exited with code 1")).count() as u64;
    ensure!(failed == n + 1, "{failed} lines say `exited with code 1` for {n} runs (and the last line){}", sis.show());
    println!("       {n} runs, {counted} counted when giving up; none started after");
    nothing_left()
}

/// `--max-failures` takes a count of at least 1.
pub fn max_failures_input() -> Outcome {
    let dir = Dir::new("maxfailinput")?;
    let marker = dir.at("marker");
    let touch = format!("touch {marker}");
    for value in ["0", "x", "-1"] {
        let mut sis = Sis::start(&dir, "input", &["--max-failures", value, "--", "sh", "-c", &touch])?;
        let code = sis.wait(5 * SEC)?;
        let err = sis.err();
        ensure!(code == 2 && err.lines().count() == 1, "--max-failures {value}: exit {code}{}", sis.show());
        ensure!(err.starts_with("sisyphus: --max-failures: ") && err.contains("--help"), "{err:?}");
        ensure!(!Path::new(&marker).exists(), "COMMAND ran with --max-failures {value}");
    }
    nothing_left()
}

/// When a log line (`2026-12-06T14:04:14.121Z PID LEVEL message`) was written, in seconds since
/// the epoch, as `date +%s.%N` gives it.
pub fn log_time(line: &str) -> Option<f64> {
    let (date, time) = line.split(' ').next()?.strip_suffix('Z')?.split_once('T')?;
    let d: Vec<i64> = date.split('-').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let t: Vec<f64> = time.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let (&[y, m, day], &[h, min, s]) = (d.as_slice(), t.as_slice()) else { return None };
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    let y = y - i64::from(m <= 2);
    let (era, yoe) = (y.div_euclid(400), y.rem_euclid(400));
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + s)
}
