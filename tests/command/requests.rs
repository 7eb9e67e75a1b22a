//! One stop request is one request: `timeout`'s TERM to sisyphus and then to its process group
//! is one graceful stop; a second TERM 1 s or more later, or a QUIT, stops at once, and by the
//! time sisyphus's exit status can be seen nothing of the pool is alive.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::health::log_time;
use crate::support::*;
use crate::{Dir, Sis, ensure, lines, nothing_left, under};

/// A run: `start W I T`, `sleep $2`, `end W I T` appended to `$1` (T: seconds since the epoch).
const RUN: &str = "echo \"start $SISYPHUS_WORKER $SISYPHUS_ITERATION $(date +%s.%N)\" >> \"$1\"\n\
                   sleep \"$2\"\n\
                   echo \"end $SISYPHUS_WORKER $SISYPHUS_ITERATION $(date +%s.%N)\" >> \"$1\"\n";

/// A run that hangs: a `sleep 30` in the background, `SH_PID SLEEP_PID` appended to `$1`; and a
/// `dd` holding a 128 MB buffer it filled, blocked writing into a pipe to another `sleep 30`.
/// Freeing that much memory makes the `dd` take about 10 ms to die once SIGKILLed, so a
/// sisyphus that exits without waiting for the groups it killed is seen to.
const HANG: &str = "dd if=/dev/zero bs=128M count=2 2>/dev/null | sleep 30 &\n\
                    sleep 30 &\n\
                    echo \"$$ $!\" >> \"$1\"\n\
                    wait\n";

fn starts(l: &[String]) -> usize {
    l.iter().filter(|l| l.starts_with("start ")).count()
}

/// `start W I` lines with no `end W I`: runs the stop cut.
fn cut(l: &[String]) -> Vec<String> {
    let key = |l: &str, what: &str| l.strip_prefix(what).map(|r| r.rsplit_once(' ').map_or(r, |(k, _)| k).to_string());
    let ends: BTreeSet<String> = l.iter().filter_map(|l| key(l, "end ")).collect();
    l.iter().filter_map(|l| key(l, "start ")).filter(|k| !ends.contains(k)).collect()
}

/// `(wall start, wall end)` of each run that ended.
fn spans(l: &[String]) -> Vec<(f64, f64)> {
    let stamp = |l: &str, what: &str| {
        let rest = l.strip_prefix(what)?;
        let (key, t) = rest.rsplit_once(' ')?;
        Some((key.to_string(), t.parse::<f64>().ok()?))
    };
    let ends: Vec<(String, f64)> = l.iter().filter_map(|l| stamp(l, "end ")).collect();
    let find = |k: &str| ends.iter().find(|(e, _)| e == k).map(|&(_, t)| t);
    l.iter().filter_map(|l| stamp(l, "start ")).filter_map(|(k, s)| Some((s, find(&k)?))).collect()
}

/// The checks of a stop that was one graceful request begun by `by`: exit `want`, one
/// "stopping gracefully" line, nothing forced, no run cut.
fn one_graceful_stop(sis: &Sis, code: i32, want: i32, by: &str, events: &Path) -> Outcome {
    let (err, runs) = (sis.err(), lines(events));
    ensure!(code == want, "exit {code}, want {want}{}", sis.show());
    let graceful = format!("INFO {by}: stopping 2 workers gracefully");
    ensure!(err.matches(&graceful).count() == 1, "not one {graceful:?} line{}", sis.show());
    // A forced stop says `stopping 2 workers at once`; two signals taken in one turn are
    // `2 INT and TERM at once: the same request`, a graceful stop still.
    let forced = err.lines().any(|l| l.contains(": stopping ") && l.ends_with(" at once"));
    ensure!(!forced && err.contains("master stopped (0 killed"), "a forced stop{}", sis.show());
    ensure!(starts(&runs) >= 2, "runs: {runs:?}");
    ensure!(cut(&runs).is_empty(), "runs cut by the stop: {:?}\n{runs:?}{}", cut(&runs), sis.show());
    Ok(())
}

/// The DEBUG line saying a second signal was the same request, if there is one; an error if
/// it is there but not worded as `SIG N ms after the FIRST that began the stop: ...`.
fn same_request(err: &str, sig: &str, first: &str) -> Result<Option<String>, String> {
    let Some(line) = err.lines().find(|l| l.contains("the same request")) else { return Ok(None) };
    let text = line.split_once(" DEBUG ").map(|(_, t)| t).unwrap_or("");
    let tail = format!(" ms after the {first} that began the stop: the same request");
    let ms = text.strip_prefix(&format!("{sig} ")).and_then(|t| t.strip_suffix(&tail)).and_then(|m| m.parse().ok());
    ensure!(ms.is_some_and(|m: f64| m < 1000.0), "the DEBUG line reads {line:?}");
    Ok(Some(text.to_string()))
}

/// As GNU `timeout` does: TERM to sisyphus, then at once TERM to its process group (its own;
/// not ours), 20 times, each with both workers' 300 ms runs in progress.
pub fn double_term() -> Outcome {
    let dir = Dir::new("doubleterm")?;
    let script = dir.script("run.sh", RUN)?;
    // SAFETY: no preconditions.
    let ours = unsafe { libc::getpgrp() };
    let (mut same, mut took) = (0, Vec::new());
    for trial in 0..20 {
        let events = dir.join(&format!("events{trial}"));
        let e = events.to_string_lossy();
        let mut sis = Sis::start(&dir, &format!("t{trial}"), &["-v", "-w", "2", "--", &script, &e, "0.3"])?;
        // SAFETY: no preconditions.
        let group = unsafe { libc::getpgid(sis.pid) };
        ensure!(group == sis.pid && group != ours, "sisyphus {} in group {group}, we are in {ours}", sis.pid);
        sis.wait_file("both workers' first runs", &events, 10 * SEC, |l| starts(l) == 2)?;
        let t0 = Instant::now();
        kill(sis.pid, libc::SIGTERM);
        kill(-group, libc::SIGTERM);
        let code = sis.wait(10 * SEC)?;
        took.push(t0.elapsed().as_millis().to_string());
        one_graceful_stop(&sis, code, 0, "TERM", &events).map_err(|e| format!("trial {trial}: {e}"))?;
        same += same_request(&sis.err(), "TERM", "TERM")?.is_some() as usize;
        nothing_left()?;
    }
    // Two TERMs the master takes in one turn are one stop with nothing to say about the
    // second; the kernel may also merge them into one pending signal.
    println!("       20 x exit 0, no run cut; DEBUG line in {same} of 20; exit after {} ms", took.join(", "));
    Ok(())
}

/// The second signal once the first one's stop has begun (so in a later turn of the master),
/// well within the second: the DEBUG line names both.
pub fn second_signal_within_a_second(first: i32, first_name: &str) -> Outcome {
    let dir = Dir::new("samerequest")?;
    let (script, events) = (dir.script("run.sh", RUN)?, dir.join("events"));
    let e = events.to_string_lossy();
    let mut sis = Sis::start(&dir, "same", &["-v", "-w", "2", "--", &script, &e, "0.6"])?;
    sis.wait_file("both workers' first runs", &events, 10 * SEC, |l| starts(l) == 2)?;
    let t0 = Instant::now();
    kill(sis.pid, first);
    let began = format!("INFO {first_name}: stopping 2 workers gracefully");
    sis.wait_err("the graceful stop", 5 * SEC, |e| e.contains(&began))?;
    ensure!(sis.child.try_wait().ok().flatten().is_none(), "sisyphus exited before the TERM{}", sis.show());
    kill(-sis.pid, libc::SIGTERM);
    let gap = t0.elapsed();
    let code = sis.wait(10 * SEC)?;
    one_graceful_stop(&sis, code, 0, first_name, &events)?;
    let line = same_request(&sis.err(), "TERM", first_name)?;
    ensure!(line.is_some(), "no DEBUG line for the TERM {gap:?} after the {first_name}{}", sis.show());
    println!("       {}", line.unwrap_or_default());
    nothing_left()
}

/// The real `timeout`: TERM to sisyphus, then to its own group. `timeout` exits 124, or with
/// `--preserve-status` sisyphus's own status, 0: the runs in progress were not cut.
pub fn real_timeout() -> Outcome {
    if std::process::Command::new("timeout").arg("--version").output().is_err() {
        return Err("SKIP: no `timeout` binary".into());
    }
    let dir = Dir::new("timeout")?;
    let script = dir.script("run.sh", RUN)?;
    for (tag, preserve, want) in [("plain", false, 124), ("preserve", true, 0)] {
        let events = dir.join(&format!("events-{tag}"));
        let e = events.to_string_lossy();
        let mut wrapper = vec!["timeout", "-s", "TERM"];
        if preserve {
            wrapper.push("--preserve-status");
        }
        wrapper.push("0.5");
        let (cmd, out, err) = under(&dir, tag, &wrapper, &["-v", "-w", "2", "--", &script, &e, "0.3"])?;
        let mut sis = Sis::spawn(cmd, out, err)?;
        let code = sis.wait(10 * SEC)?;
        one_graceful_stop(&sis, code, want, "TERM", &events).map_err(|e| format!("{}: {e}", wrapper.join(" ")))?;
        // Some run was in progress at the TERM, and ran to its end.
        let err = sis.err();
        let term = err.lines().find(|l| l.contains("TERM: stopping")).and_then(log_time).unwrap_or(0.0);
        let spans = spans(&lines(&events));
        let across = spans.iter().filter(|&&(s, e)| s < term && e > term).count();
        ensure!(across > 0, "no run was in progress at the TERM ({term}): {spans:?}");
        let same = same_request(&err, "TERM", "TERM")?;
        println!("       {}: exit {code}; {across} runs ran on past the TERM; {same:?}", wrapper.join(" "));
        nothing_left()?;
    }
    Ok(())
}

/// A process as `/proc/PID/stat` has it: its process group, start time (clock ticks after
/// boot: a pid reused by another process has another) and state letter.
fn stat(pid: Pid) -> Option<(Pid, u64, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = text.get(text.rfind(')')? + 2..)?.split(' ').collect();
    Some((f.get(2)?.parse().ok()?, f.get(19)?.parse().ok()?, f.first()?.chars().next()?))
}

/// Live processes, anywhere, in one of `groups`.
fn live_in(groups: &BTreeSet<Pid>) -> Vec<Pid> {
    let pids = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    let pids = pids.filter_map(|e| e.file_name().to_str()?.parse::<Pid>().ok());
    pids.filter(|&p| stat(p).is_some_and(|(g, _, s)| groups.contains(&g) && s != 'Z')).collect()
}

/// Waits for sisyphus's exit while reaping the orphans its pool leaves us (as a subreaper, or
/// init, would); looks every 100 µs.
fn wait_reaping(sis: &mut Sis, timeout: Duration) -> Result<i32, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut status = 0;
        // SAFETY: valid out-pointer.
        match unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } {
            pid if pid == sis.pid => {
                let code =
                    if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) };
                sis.code = Some(code);
                return Ok(code);
            }
            pid if pid > 0 => continue,
            _ if Instant::now() >= deadline => return Err(format!("sisyphus did not exit{}", sis.show())),
            _ => std::thread::sleep(Duration::from_micros(100)),
        }
    }
}

/// Hung runs (`sleep 30`); TERM begins a graceful stop; `second`, sent `after` the first
/// (1.5 s for a second TERM, at once for QUIT), stops at once: exit 3, the WARN line, and at
/// the moment sisyphus's exit is seen no process that was in the pool's groups is alive.
pub fn forced_stop(strategy: &str, second: i32, after: Duration, warn: &str) -> Outcome {
    let dir = Dir::new("forced")?;
    let (script, pids) = (dir.script("hang.sh", HANG)?, dir.join("pids"));
    let p = pids.to_string_lossy();
    let mut sis = Sis::start(&dir, "forced", &["-w", "2", "--strategy", strategy, "--", &script, &p])?;
    // Both `sleep`s have exec'd.
    let sleeping = |l: &[String]| {
        let sleeps: Vec<Pid> = l.iter().filter_map(|l| l.split(' ').nth(1)?.parse().ok()).collect();
        sleeps.len() == 2
            && sleeps.iter().all(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c == "sleep\n"))
    };
    sis.wait_file("both runs in `sleep 30`", &pids, 10 * SEC, sleeping)?;
    let big = |p: &Pid| {
        let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        comm == "dd\n" && status_field(*p, "VmRSS:").is_ok_and(|kb| kb >= 128 << 10)
    };
    let dds = || descendants_of(sis.pid).iter().filter(|(p, _)| big(p)).count();
    sis.until("both `dd`s holding 128 MB", 10 * SEC, || dds() == 2)?;
    let pool: Vec<(Pid, Pid, u64)> = descendants_of(sis.pid)
        .into_iter()
        .filter_map(|(p, _)| stat(p).filter(|s| s.2 != 'Z').map(|(g, t, _)| (p, g, t)))
        .collect();
    let groups: BTreeSet<Pid> = pool.iter().map(|&(_, g, _)| g).filter(|&g| g != sis.pid).collect();
    let runs: Vec<Pid> = lines(&pids).iter().flat_map(|l| l.split(' ').filter_map(|p| p.parse().ok())).collect();
    ensure!(runs.iter().all(|r| pool.iter().any(|&(p, _, _)| p == *r)), "runs {runs:?} not in the pool {pool:?}");
    let t0 = Instant::now();
    sis.signal(libc::SIGTERM);
    sis.wait_err("the graceful stop", 5 * SEC, |e| e.contains("TERM: stopping 2 workers gracefully"))?;
    // The delay under test, not a wait for an event.
    std::thread::sleep(after.saturating_sub(t0.elapsed()));
    let same = |&(p, _, t): &(Pid, Pid, u64)| stat(p).is_some_and(|(_, t2, s)| t2 == t && s != 'Z');
    ensure!(pool.iter().all(same), "the graceful stop ended a process of the pool{}", sis.show());
    let t1 = Instant::now();
    sis.signal(second);
    let code = wait_reaping(&mut sis, 10 * SEC)?;
    let took = t1.elapsed();
    let alive: Vec<(Pid, Pid, u64)> = pool.iter().copied().filter(same).collect();
    let stray = live_in(&groups);
    ensure!(code == 3, "exit {code}, want 3{}", sis.show());
    let err = sis.err();
    ensure!(err.contains(&format!("WARN {warn}: stopping 2 workers at once")), "no {warn:?} line{}", sis.show());
    ensure!(took < SEC, "exit {took:?} after the {warn}: the pool's groups took the whole second");
    let (n, g) = (pool.len(), groups.len());
    if alive.is_empty() && stray.is_empty() {
        let took = took.as_secs_f64() * 1e3;
        println!("       {n} processes in {g} groups, none alive at the exit, {took:.1} ms after the {warn}");
        return nothing_left();
    }
    Err(format!(
        "{} processes of the pool still alive at sisyphus's exit: {alive:?}; in the groups {groups:?}: {stray:?}{}",
        alive.len(),
        sis.show()
    ))
}
