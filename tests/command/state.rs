//! The run state file (`--state`): whole and readable whatever instant the master is SIGKILLed
//! at, its counts carried on across masters, a bad one set aside at start; and `--status`,
//! which reads it and answers with its exit status.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sisyphus::RunState;

use crate::support::*;
use crate::{Dir, Sis, ensure, nothing_left, read};

/// The state file at `path`: `None` while there is none, an error if it does not parse.
pub fn state_at(path: &Path) -> Result<Option<RunState>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.parse().map(Some).map_err(|e| format!("{} does not parse: {e}\n{text}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// Waits until the state file at `path` was written by `sis`'s master and `pred` holds over it.
pub fn wait_state(sis: &Sis, path: &Path, what: &str, pred: impl Fn(&RunState) -> bool) -> Result<RunState, String> {
    let got = std::cell::RefCell::new(None);
    sis.until(what, 10 * SEC, || match state_at(path) {
        Ok(Some(s)) if s.master_pid == sis.pid as u32 && pred(&s) => {
            *got.borrow_mut() = Some(Ok(s));
            true
        }
        Err(e) => {
            *got.borrow_mut() = Some(Err(e));
            true
        }
        _ => false,
    })
    .map_err(|e| format!("{e}\n--- state ---\n{}", read(path)))?;
    got.into_inner().expect("set when true")
}

/// `after` goes on from `before`: the same file (created at the same time), no count lower.
fn goes_on(before: &RunState, after: &RunState) -> Result<(), String> {
    let counts = |s: &RunState| {
        let [ok, failed, timeout, killed] = s.performs;
        [ok, failed, timeout, killed, s.restarts, s.timeouts, s.late_starts]
    };
    ensure!(before.created == after.created, "created changed: {:?} then {:?}", before.created, after.created);
    let (b, a) = (counts(before), counts(after));
    ensure!(b.iter().zip(&a).all(|(b, a)| a >= b), "a count went back: {b:?} then {a:?}\n{before}\n{after}");
    Ok(())
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Reads the file at `path` as fast as it can, 200 µs apart, until `stop`: every read parses,
/// and goes on from the one before; once there, the file never goes missing. Returns the
/// reads and how many of them differed from the one before.
fn read_continually(path: &Path, stop: &AtomicBool) -> Result<(u64, u64), String> {
    let (mut reads, mut changes, mut last): (u64, u64, Option<RunState>) = (0, 0, None);
    while !stop.load(Ordering::Relaxed) {
        match state_at(path).map_err(|e| format!("read {reads}: {e}"))? {
            Some(state) => {
                if let Some(last) = &last {
                    goes_on(last, &state).map_err(|e| format!("read {reads}: {e}"))?;
                    changes += u64::from(*last != state);
                }
                (reads, last) = (reads + 1, Some(state));
            }
            None => ensure!(last.is_none(), "read {reads}: the file went missing"),
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok((reads, changes))
}

/// `sisyphus --state F -w 2 -- true`, SIGKILLed (with its workers' groups) at a random instant
/// 0-300 ms after its start (every other round 0-5 ms), 200 times in a row, while a thread reads the file continually:
/// every read, and the file after each kill, parses; no count ever goes back; no file is set
/// aside. A graceful last run carries the counts on and says it stopped.
pub fn sigkill_storm() -> Outcome {
    let dir = Dir::new("killstorm")?;
    let path = dir.join("state");
    let file = dir.at("state");
    let seed = std::env::var("SISYPHUS_STATE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(mono_ns() | 1);
    let mut rng = Rng(seed);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || read_continually(&path, &stop))
    };
    let storm = (|| {
        let args = ["--state", &file, "-w", "2", "--", "true"];
        let (mut last, mut own, mut mid_write, mut delays) = (None::<RunState>, 0, 0, 0u64);
        let started = Instant::now();
        for round in 0..200 {
            let mut sis = Sis::start(&dir, "storm", &args)?;
            if round == 0 {
                sis.until("the state file", 10 * SEC, || path.exists())?;
            }
            // Every other round within its first 5 ms, where it reads the file (or sets it
            // aside) and writes its first.
            let range = if round % 2 == 0 { 300_001 } else { 5_001 };
            let delay = Duration::from_micros(rng.next() % range);
            delays += delay.as_micros() as u64;
            let _ = std::fs::remove_file(dir.join("state.tmp"));
            // The instant of the kill, at random: not a wait for anything.
            std::thread::sleep(delay);
            // The master first, at that instant; then its workers' groups (each worker leads
            // one), reparented to this runner by then if the master had forked them.
            kill(-sis.pid, libc::SIGKILL);
            for (pid, _) in descendants() {
                kill(-pid, libc::SIGKILL);
            }
            let code = sis.wait(5 * SEC)?;
            ensure!(code == 128 + libc::SIGKILL, "round {round} (seed {seed}): exit {code}{}", sis.show());
            nothing_left()?;
            let state = state_at(&path).map_err(|e| format!("round {round} (seed {seed}): {e}"))?;
            let state = state.ok_or_else(|| format!("round {round}: no state file"))?;
            if let Some(last) = &last {
                goes_on(last, &state).map_err(|e| format!("round {round} (seed {seed}): {e}"))?;
            }
            own += usize::from(state.master_pid == sis.pid as u32);
            // Killed between writing `state.tmp` and renaming it.
            mid_write += usize::from(dir.join("state.tmp").exists());
            ensure!(!sis.err().contains("state file"), "round {round}: the file was refused{}", sis.show());
            last = Some(state);
        }
        let last = last.unwrap_or_default();
        ensure!(!dir.join("state.bad").exists(), "a file was set aside: {}", read(&dir.join("state.bad")));
        // A graceful run: the counts go on, and the file says it stopped.
        let mut sis = Sis::start(&dir, "last", &args)?;
        let first = wait_state(&sis, &path, "the last master's first write", |_| true)?;
        goes_on(&last, &first)?;
        sis.stop()?;
        let end = state_at(&path)?.unwrap_or_default();
        goes_on(&first, &end)?;
        ensure!(end.master_stopped.is_some() && end.slots.iter().all(|s| s.state == "stopped"), "{end}");
        ensure!(end.performs[0] > last.performs[0], "no perform counted after the storm: {end}");
        println!(
            "       seed {seed}: 200 kills in {:.1} s (mean delay {} µs), {own} after the killed master's first write, \
             {mid_write} between a write and its rename; {} ok performs counted",
            started.elapsed().as_secs_f64(),
            delays / 200,
            end.performs[0]
        );
        nothing_left()
    })();
    stop.store(true, Ordering::Relaxed);
    let read = reader.join().map_err(|_| "the reader panicked".to_string())?;
    storm?;
    let (reads, changes) = read.map_err(|e| format!("the reader (seed {seed}): {e}"))?;
    println!("       the reader: {reads} reads, all whole, {changes} changes seen");
    ensure!(reads > 1000 && changes > 100, "the reader saw too little: {reads} reads, {changes} changes");
    Ok(())
}

/// `sisyphus ARGS` to its end (within 5 s): its exit code, stdout and stderr.
fn run_to_end(dir: &Dir, tag: &str, args: &[&str]) -> Result<(i32, String, String), String> {
    let mut sis = Sis::start(dir, tag, args)?;
    let code = sis.wait(5 * SEC)?;
    Ok((code, sis.out(), sis.err()))
}

/// `sisyphus --status FILE OPTIONS`: exit `want`, and a last stdout line starting with `verdict`.
fn status_is(dir: &Dir, file: &str, options: &[&str], want: i32, verdict: &str) -> Outcome {
    let args: Vec<&str> = ["--status", file].iter().chain(options).copied().collect();
    let (code, out, err) = run_to_end(dir, "status", &args)?;
    let last = out.lines().last().unwrap_or_default();
    ensure!(
        code == want && last.starts_with(verdict) && err.is_empty(),
        "{args:?}: exit {code} (want {want}), last line {last:?} (want {verdict}...)\n--- stdout ---\n{out}--- stderr ---\n{err}"
    );
    Ok(())
}

/// Polls `sisyphus --status FILE OPTIONS` until it exits `want`.
fn status_becomes(dir: &Dir, file: &str, options: &[&str], want: i32, verdict: &str) -> Outcome {
    let mut last = String::new();
    let got = wait_for(&format!("--status {options:?} to exit {want}"), 10 * SEC, || {
        match status_is(dir, file, options, want, verdict) {
            Ok(()) => Some(()),
            Err(e) => {
                last = e;
                None
            }
        }
    });
    got.map_err(|e| format!("{e}; last: {last}"))
}

/// `--status` exits 0 for a running, healthy pool; 1 once its last success is older than
/// `--max-age`, or when `--max-failures` runs or more failed in a row (as the master counts
/// them), or with no success ever once `--max-age` has passed since the master started; 3 once
/// its master is gone, SIGKILLed or stopped; 2 for a file that is
/// missing, not a state file, or cut short, with one `sisyphus: --status PATH: ...` line.
pub fn status_exit_codes() -> Outcome {
    let dir = Dir::new("status")?;
    let (ok, failing) = (dir.at("ok.state"), dir.at("failing.state"));
    // One success, then nothing for an hour.
    let mut sis = Sis::start(&dir, "ok", &["--state", &ok, "--interval", "1h", "--", "true"])?;
    let state = wait_state(&sis, &dir.join("ok.state"), "a success", |s| s.last_success().is_some())?;
    let success = state.last_success().unwrap_or(std::time::UNIX_EPOCH);
    status_is(&dir, &ok, &[], 0, "OK")?;
    status_is(&dir, &ok, &["--max-age", "1h", "--max-failures", "1"], 0, "OK")?;
    // A stale success: --max-age 1s exceeded, while the master runs.
    status_becomes(&dir, &ok, &["--max-age", "1s"], 1, "UNHEALTHY: no run succeeded within 1s")?;
    let age = std::time::SystemTime::now().duration_since(success).unwrap_or_default();
    ensure!(age > SEC, "unhealthy {age:?} after the success, before --max-age 1s");
    status_is(&dir, &ok, &["--max-age", "1h"], 0, "OK")?;
    // Every run fails: --max-failures in a row, and never a success.
    let mut bad = Sis::start(&dir, "failing", &["--state", &failing, "--", "sh", "-c", "exit 1"])?;
    status_becomes(&dir, &failing, &["--max-failures", "2"], 1, "UNHEALTHY: ")?;
    let state = state_at(&dir.join("failing.state"))?.unwrap_or_default();
    ensure!(state.failures_in_a_row() >= 2 && state.last_success().is_none(), "{state}");
    status_is(&dir, &failing, &["--max-failures", "1000"], 0, "OK")?;
    // No success yet: healthy while the master is younger than --max-age (a nightly job just
    // deployed), unhealthy once it is older.
    status_is(&dir, &failing, &["--max-age", "1h"], 0, "OK")?;
    status_becomes(&dir, &failing, &["--max-age", "1s"], 1, "UNHEALTHY: no run succeeded within 1s")?;
    status_is(&dir, &failing, &[], 0, "OK")?;
    // A SIGKILLed master (its workers follow it): gone, whatever else holds.
    kill(-sis.pid, libc::SIGKILL);
    let code = sis.wait(5 * SEC)?;
    ensure!(code == 128 + libc::SIGKILL, "exit {code}{}", sis.show());
    status_becomes(&dir, &ok, &[], 3, &format!("UNKNOWN: the master (pid {}) is gone", sis.pid))?;
    status_is(&dir, &ok, &["--max-age", "1s"], 3, "UNKNOWN: ")?;
    // One stopped gracefully.
    bad.stop()?;
    status_is(&dir, &failing, &["--max-failures", "1000"], 3, "UNKNOWN: ")?;
    nothing_left()?;
    // Unreadable: missing, foreign, cut short.
    let text = read(&dir.join("failing.state"));
    std::fs::write(dir.join("foreign"), "{\"not\": \"a state file\"}\n").map_err(|e| e.to_string())?;
    std::fs::write(dir.join("cut"), &text[..text.len() / 2]).map_err(|e| e.to_string())?;
    for (name, why) in [("missing", "No such file"), ("foreign", "line 1"), ("cut", "")] {
        let path = dir.at(name);
        let (code, out, err) = run_to_end(&dir, "status", &["--status", &path])?;
        let want = format!("sisyphus: --status {path}: ");
        let one = err.lines().count() == 1 && err.starts_with(&want) && err.contains(why);
        ensure!(code == 2 && out.is_empty() && one, "{name}: exit {code}\n--- stdout ---\n{out}--- stderr ---\n{err}");
    }
    nothing_left()
}

/// A file at `--state` that is not a state file (garbage, a real one cut short, bytes that are
/// not UTF-8 text) is renamed
/// `PATH.bad`, said in one WARN line, and the start goes on afresh.
pub fn a_bad_state_file_is_set_aside() -> Outcome {
    let dir = Dir::new("setaside")?;
    let (path, bad) = (dir.join("state"), dir.join("state.bad"));
    let file = dir.at("state");
    let args = ["--state", &file, "--", "true"];
    let mut first = Sis::start(&dir, "first", &args)?;
    wait_state(&first, &path, "performs counted", |s| s.performs[0] > 10)?;
    first.stop()?;
    let good = read(&path);
    let cut = good[..good.len() / 2].to_string();
    let not_text = [b"sisyphus-state 1\n".as_slice(), &[0xff, 0xfe], b" garbage\n"].concat();
    let cases = [("garbage", b"garbage\n\0\x01".to_vec()), ("cut", cut.into_bytes()), ("not_utf8", not_text)];
    for (tag, bytes) in cases {
        let _ = std::fs::remove_file(&bad);
        std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let started = std::time::SystemTime::now();
        let mut sis = Sis::start(&dir, tag, &args)?;
        sis.until("the file set aside", 10 * SEC, || bad.exists())?;
        let state = wait_state(&sis, &path, "a fresh file", |_| true)?;
        ensure!(state.created.is_some_and(|c| c >= started - SEC), "{tag}: not afresh: {state}");
        let kept = std::fs::read(&bad).map_err(|e| e.to_string())?;
        ensure!(kept == bytes, "{tag}: state.bad holds {:?}, not {text:?}", String::from_utf8_lossy(&kept));
        sis.stop()?;
        let warns: Vec<String> = sis.err().lines().filter(|l| l.contains(" WARN ")).map(str::to_string).collect();
        let want = format!("WARN state file {file}: ");
        let end = format!("; set aside as {file}.bad; starting afresh");
        ensure!(
            warns.len() == 1 && warns[0].contains(&want) && warns[0].ends_with(&end),
            "{tag}: WARN lines {warns:?}{}",
            sis.show()
        );
        ensure!(state_at(&path)?.is_some_and(|s| s.performs[0] > 0), "{tag}: {}", read(&path));
    }
    nothing_left()
}

/// A state file whose master is a zombie (dead, not yet reaped by its parent), a pid that
/// `kill(pid, 0)` still finds: `--status` says it is gone, exit 3.
pub fn status_sees_a_zombie_master_as_gone() -> Outcome {
    let dir = Dir::new("zombie")?;
    let mut child = std::process::Command::new("true").spawn().map_err(|e| format!("spawning true: {e}"))?;
    let pid = child.id() as Pid;
    wait_for("true to be a zombie", 5 * SEC, || (state(pid) == Some('Z')).then_some(()))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let t = format!("{}.{:03}", now.as_secs(), now.subsec_millis());
    let text = format!(
        "sisyphus-state 1\nname zombie\ncreated {t}\nmaster {pid} {t} -\nschedule none\nperforms 1 0 0 0\n\
         restarts 0\ntimeouts 0\nlate_starts 0\nslot 0 up - {t} {t} ok {t} 0 -\nend\n"
    );
    std::fs::write(dir.join("state"), text).map_err(|e| e.to_string())?;
    let verdict = status_is(&dir, &dir.at("state"), &[], 3, &format!("UNKNOWN: the master (pid {pid}) is gone"));
    let _ = child.wait();
    verdict?;
    nothing_left()
}

/// Files of the run state that cannot work are refused before anything starts (exit 2, one
/// line naming the option): one path for two files (the state file and the pidfile, the
/// metrics file or the log file), a state file in a folder that does not exist, a folder given
/// as the state file; and `--status` with an option for a pool.
pub fn state_paths_that_cannot_work_are_refused() -> Outcome {
    let dir = Dir::new("paths")?;
    let (f, missing, folder) = (dir.at("f"), dir.at("nowhere/state"), dir.at(""));
    std::fs::create_dir(dir.join("sub")).map_err(|e| e.to_string())?;
    let (round_about, beside, named) = (dir.at("sub/../f"), dir.at("f.tmp"), dir.at("my-interval-jobs/state"));
    let cases: [(&[&str], &str); 10] = [
        (&["--state", &f, "--metrics", &round_about], "is --state's path too"),
        (&["--pidfile", &beside, "--state", &f], "is --pidfile's path too (or its .tmp or .bad)"),
        // A path is shown as given, not read for option names.
        (&["--state", &named], "my-interval-jobs/state\": there is no directory"),
        (&["--pidfile", &f, "--state", &f], "--state "),
        (&["--state", &f, "--metrics", &f], "--metrics "),
        (&["--log-file", &f, "--state", &f], "--log-file and --state name one file"),
        (&["--log-file", &f, "--pidfile", &f], "--log-file and --pidfile name one file"),
        (&["--state", &missing], "there is no directory"),
        (&["--metrics", &folder], "is a directory"),
        (&["--status", &f, "--interval", "1s"], "--status reads a state file and starts nothing"),
    ];
    for (args, says) in cases {
        let args: Vec<&str> = args.iter().copied().chain(["--interval", "1s", "--", "true"]).collect();
        let args = if args[0] == "--status" { &args[..4] } else { &args[..] };
        let (code, out, err) = run_to_end(&dir, "paths", args)?;
        ensure!(
            code == 2
                && out.is_empty()
                && err.starts_with("sisyphus: ")
                && err.contains(says)
                && err.lines().count() == 1,
            "{args:?}: exit {code}, stderr {err:?} (want 2 and {says:?})"
        );
        ensure!(!Path::new(&f).exists() && !Path::new(&beside).exists(), "{args:?} left {f}");
    }
    nothing_left()
}
