//! Hosting a master without a supervisor: the pidfile (written before any fork, held by an
//! `flock` that a second master respects, taken over from a dead master, left alone when
//! replaced), `daemonize` (the launcher exits 0 once every worker is up, or 1 with the daemon's
//! error), and a master that is PID 1 of a new PID namespace. See tests/README.md.

mod support;

use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sisyphus::{BoxError, Context, Error, FileLogger, Job, Master, NullLogger, Shutdown};
use support::*;

fn main() {
    run_scenarios(&[
        ("pidfile_is_written_and_removed", written_and_removed),
        ("a_held_pidfile_refuses_a_second_master", held_refuses_a_second),
        ("concurrent_starts_one_winner_100_of_100", concurrent_starts),
        ("a_sigkilled_masters_pidfile_is_taken_over", sigkilled_taken_over),
        ("a_symlinked_pidfile_is_refused", symlink_refused),
        ("a_replaced_pidfile_is_not_removed", replaced_not_removed),
        ("daemon_launcher_exits_0_once_every_worker_is_up", daemon_up),
        ("daemon_launcher_exits_1_with_the_error_when_setup_fails", daemon_setup_fails),
        ("daemon_launcher_reports_a_held_pidfile", daemon_held),
        ("daemonize_is_refused_under_notify_socket", daemon_under_notify_socket),
        ("pid1_in_a_new_pid_namespace_stops_gracefully_on_term_and_reaps_orphans", pid1),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Helpers

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh path in the (canonical) temporary directory, unique to this run and this call, so
/// that `/proc/PID/fd` links compare equal to it. The runner removes leftover files.
fn temp_path(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::fs::canonicalize(std::env::temp_dir()).unwrap_or_else(|_| std::env::temp_dir());
    dir.join(format!("sisyphus-test-{}-{name}-{n}", getpid()))
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// What a pidfile holding `pid` contains.
fn pid_line(pid: Pid) -> Option<String> {
    Some(format!("{pid}\n"))
}

/// Where the descriptors of `/proc/{who}/fd` point (`who` is a pid or `self`).
fn fd_targets(who: &str) -> Vec<PathBuf> {
    std::fs::read_dir(format!("/proc/{who}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .collect()
}

fn fd_target(pid: Pid, fd: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()
}

/// A text field of /proc/PID/status, trimmed (`Umask:` gives `0022`).
fn status_text(pid: Pid, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string())
}

/// Whether `pid` has a handler for `sig`: a master is ready for TERM once it has.
fn catches(pid: Pid, sig: i32) -> bool {
    status_text(pid, "SigCgt:")
        .and_then(|mask| u64::from_str_radix(&mask, 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

/// (process group, session) of `pid`.
fn pgid_sid(pid: Pid) -> Option<(Pid, Pid)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split(' ').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

/// Reaps our child `pid` if it has exited: its exit code, or 128 + signal.
fn exited(pid: Pid) -> Option<i32> {
    let mut status = 0;
    // SAFETY: valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    (r == pid).then(|| if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) })
}

/// Reaps whatever was reparented to us and died (the runner is a subreaper).
fn reap_orphans() {
    // SAFETY: waitpid with a null status pointer.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

/// Waits until nothing is left below us, reaping what was reparented to us. Only once every
/// child whose exit code matters has been waited for.
fn wait_all_gone(what: &str) -> Outcome {
    wait_for(what, 5 * SEC, || {
        reap_orphans();
        descendants().is_empty().then_some(())
    })
    .map_err(|e| format!("{e}: left {:?}", descendants()))
}

/// In a forked child: points stderr at a new file `path`.
fn redirect_stderr(path: &Path) -> bool {
    let Ok(file) = std::fs::File::create(path) else { return false };
    // SAFETY: dup2 of a descriptor we own onto 2.
    unsafe { libc::dup2(file.as_raw_fd(), 2) != -1 }
}

/// In a forked child: makes sure no service manager seems to be listening.
fn no_notify_socket() {
    // SAFETY: the forked child is single-threaded.
    unsafe { std::env::remove_var("NOTIFY_SOCKET") };
}

/// Records how `run` ended, in the process it returned in, as `{who} PID KIND TEXT`: KIND is
/// `ok` (TEXT `killed=N`), `held:PID` or `held:none`, `config`, `io:KIND`, `startfailed` or
/// `other`, TEXT the error's `Display`. Returns the exit code for that process: 0, 7, 8, 9,
/// 10 or 2.
fn report(ev: &Events, who: &str, result: Result<Shutdown, Error>) -> i32 {
    let (kind, code, text) = match &result {
        Ok(s) => ("ok".to_string(), 0, format!("killed={}", s.killed)),
        Err(e) => {
            let (kind, code) = match e {
                Error::PidfileHeld { pid: Some(pid), .. } => (format!("held:{pid}"), 7),
                Error::PidfileHeld { pid: None, .. } => ("held:none".into(), 7),
                Error::Config(_) => ("config".into(), 8),
                Error::Io(_, io) => (format!("io:{:?}", io.kind()), 9),
                Error::StartFailed(_) => ("startfailed".into(), 10),
                _ => ("other".into(), 2),
            };
            (kind, code, e.to_string())
        }
    };
    ev.add(&format!("{who} {} {kind} {text}", getpid()));
    code
}

/// The words of the first `{who} ` line.
fn reported(ev: &Events, who: &str) -> Result<Vec<String>, String> {
    ev.find(&format!("{who} ")).into_iter().next().ok_or_else(|| format!("no `{who}` line: {:?}", ev.lines()))
}

/// The masters of the workers that ran `setup` (the PPID of each `setup SLOT PID PPID`).
fn masters_seen(ev: &Events) -> Vec<Pid> {
    let mut pids: Vec<Pid> = ev.find("setup ").iter().filter_map(|w| w.get(3)?.parse().ok()).collect();
    pids.dedup();
    pids
}

/// TERM to `master`, which must exit 0 with `run` Ok and remove `pidfile`.
fn term_and_check(ev: &Events, master: Pid, pidfile: &Path) -> Outcome {
    kill(master, libc::SIGTERM);
    let code = wait_exit(master, 15 * SEC)?;
    ensure!(code == 0 && ev.has("run ok killed=0"), "master exit {code}:\n{}", ev.lines().join("\n"));
    ensure!(!pidfile.exists(), "the pidfile is still there after the stop: {:?}", read(pidfile));
    Ok(())
}

/// A job that records `setup SLOT PID PPID`, then (with a pidfile) `pidfile SLOT CONTENT
/// holds=BOOL` (CONTENT debug-quoted, or `absent`; whether this process has a descriptor on
/// it), fails with "db down" in the `failing` slot, sleeps `setup_ms` × (slot + 1) and records
/// `ready SLOT PID`. Each perform records `perform SLOT PID holds=BOOL` and takes 20 ms.
#[derive(Clone, Debug)]
struct Host {
    ev: Events,
    pidfile: Option<PathBuf>,
    setup_ms: u64,
    failing: Option<usize>,
}

impl Host {
    fn new(ev: &Events) -> Self {
        Host { ev: ev.clone(), pidfile: None, setup_ms: 0, failing: None }
    }

    fn pidfile(mut self, path: &Path) -> Self {
        self.pidfile = Some(path.to_path_buf());
        self
    }

    fn holds(&self) -> bool {
        self.pidfile.as_ref().is_some_and(|p| fd_targets("self").contains(p))
    }
}

impl Job for Host {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let slot = ctx.worker();
        // SAFETY: no preconditions.
        let ppid = unsafe { libc::getppid() };
        self.ev.add(&format!("setup {slot} {} {ppid}", getpid()));
        if let Some(path) = &self.pidfile {
            let content = read(path).map_or("absent".to_string(), |c| format!("{c:?}"));
            self.ev.add(&format!("pidfile {slot} {content} holds={}", self.holds()));
        }
        if self.failing == Some(slot) {
            return Err("db down".into());
        }
        std::thread::sleep(Duration::from_millis(self.setup_ms * (slot as u64 + 1)));
        self.ev.add(&format!("ready {slot} {}", getpid()));
        Ok(())
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.ev.add(&format!("perform {} {} holds={}", ctx.worker(), getpid(), self.holds()));
        std::thread::sleep(20 * MS);
        Ok(())
    }
}

/// A master of `job` with a 100 ms interval, logging to `ev`.
fn hosted(ev: &Events, job: Host, pidfile: &Path) -> Master<Host> {
    Master::new(job).interval(100 * MS).logger(ev.logger()).pidfile(pidfile)
}

// ---------------------------------------------------------------------------------------------
// Pidfile

fn written_and_removed() -> Outcome {
    let ev = Events::new("written");
    let pidfile = temp_path("written.pid");
    let job = Host::new(&ev).pidfile(&pidfile);
    let master = spawn_master(&ev, || {
        // No umask: the mode seen is the mode the file was created with.
        // SAFETY: umask has no preconditions.
        unsafe { libc::umask(0) };
        hosted(&ev, job, &pidfile).workers(2).run()
    });
    ev.wait("2 workers ready and performing", 10 * SEC, |ev| {
        ev.count("ready ") == 2 && ev.count("perform 0 ") > 0 && ev.count("perform 1 ") > 0
    })?;
    let want = format!("{:?}", format!("{master}\n"));
    let seen = ev.find("pidfile ");
    ensure!(seen.len() == 2, "setup lines: {:?}", ev.lines());
    for w in &seen {
        // The file held the master's pid when each worker's setup began: written before any fork.
        ensure!(w[2] == want && w[3] == "holds=false", "a worker's setup saw {w:?}; want {want}, holds=false");
    }
    ensure!(masters_seen(&ev) == [master], "workers' parents {:?}", masters_seen(&ev));
    let performs = ev.find("perform ");
    ensure!(performs.iter().all(|w| w[3] == "holds=false"), "a perform child holds the pidfile: {performs:?}");
    ensure!(read(&pidfile) == pid_line(master), "pidfile holds {:?}, master is {master}", read(&pidfile));
    let mode = std::fs::metadata(&pidfile).map_err(|e| e.to_string())?.permissions().mode() & 0o7777;
    ensure!(mode == 0o644, "pidfile mode {mode:o} under umask 0");
    // The master holds it (the check can see it), no worker does.
    ensure!(fd_targets(&master.to_string()).contains(&pidfile), "the master has no descriptor on {pidfile:?}");
    let workers = live_children(master);
    ensure!(workers.len() == 2, "workers {workers:?}");
    for w in &workers {
        ensure!(!fd_targets(&w.to_string()).contains(&pidfile), "worker {w} holds the pidfile");
    }
    term_and_check(&ev, master, &pidfile)?;
    assert_nothing_left(&ev, master)?;
    println!("       {pidfile:?} held {master} (mode {mode:o}), read by both setups; removed at the stop");
    Ok(())
}

fn held_refuses_a_second() -> Outcome {
    let ev = Events::new("held1");
    let ev2 = Events::new("held2");
    let pidfile = temp_path("held.pid");
    let first = spawn_master(&ev, || hosted(&ev, Host::new(&ev), &pidfile).run());
    ev.wait("the first master's worker", 10 * SEC, |ev| ev.count("ready ") == 1)?;
    let t0 = Instant::now();
    let second = fork_child(|| {
        let code = report(&ev2, "second", hosted(&ev2, Host::new(&ev2), &pidfile).workers(2).run());
        record_left(&ev2);
        code
    });
    let code = wait_exit(second, 5 * SEC)?;
    let took = t0.elapsed();
    let w = reported(&ev2, "second")?;
    let line = w.join(" ");
    ensure!(code == 7 && w[2] == format!("held:{first}"), "second master exit {code}: {line}");
    let path = pidfile.display().to_string();
    ensure!(line.contains(&format!("pid {first}")) && line.contains(&path), "message names neither: {line}");
    ensure!(took < SEC, "the refusal took {took:?}");
    ensure!(ev2.has("left 0") && ev2.count("setup ") == 0, "the second master forked: {:?}", ev2.lines());
    ensure!(!ev2.lines().iter().any(|l| l.contains(" started (pid")), "a worker was started: {:?}", ev2.lines());
    ensure!(read(&pidfile) == pid_line(first), "pidfile now holds {:?}, first is {first}", read(&pidfile));
    ensure!(alive(first) && ev.count("setup ") == 1, "the first master was disturbed: {:?}", ev.lines());
    term_and_check(&ev, first, &pidfile)?;
    assert_nothing_left(&ev, first)?;
    println!("       refused in {:.1} ms: {}", took.as_secs_f64() * 1e3, w[3..].join(" "));
    Ok(())
}

/// A job that does nothing, once an hour.
struct Idle;

impl Job for Idle {
    fn perform(&mut self, _: &Context) -> Result<(), BoxError> {
        Ok(())
    }
}

fn concurrent_starts() -> Outcome {
    const ROUNDS: usize = 100;
    let ev = Events::new("race");
    let pidfile = temp_path("race.pid");
    let t0 = Instant::now();
    // What the loser said held the file: the winner; nobody (it read the file between the
    // winner's truncation and its write); or, over a stale file, the stale pid (it read the file
    // between the winner's lock and its write). The last is wrong, since that pid holds nothing,
    // but `PidfileHeld::pid` is documented as what the file said: counted, not failed.
    let (mut named_winner, mut named_none, mut named_stale) = (0, 0, 0);
    for round in 0..ROUNDS {
        let stale = round % 2 == 1;
        let workers = (round / 2) % 2;
        let _ = std::fs::remove_file(&pidfile);
        if stale {
            // A live stranger's pid (ours), no lock: must be taken over, not trusted.
            std::fs::write(&pidfile, format!("{}\n", getpid())).map_err(|e| e.to_string())?;
        }
        let mut barrier = [0; 2];
        // SAFETY: a valid array of two descriptors.
        ensure!(unsafe { libc::pipe(barrier.as_mut_ptr()) } == 0, "pipe: {}", std::io::Error::last_os_error());
        let racer = || {
            let (ev, path) = (ev.clone(), pidfile.clone());
            fork_child(move || {
                let mut byte = 0u8;
                // SAFETY: closing our copy of the write end, then reading into a valid byte
                // until end of file: the test closes the last write end to release both racers.
                unsafe {
                    libc::close(barrier[1]);
                    while libc::read(barrier[0], (&raw mut byte).cast(), 1) != 0
                        && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                    {
                    }
                    libc::close(barrier[0]);
                }
                let master = Master::new(Idle).workers(workers).interval(3600 * SEC).logger(NullLogger);
                report(&ev, &format!("r{round}"), master.pidfile(path).run())
            })
        };
        let (a, b) = (racer(), racer());
        // SAFETY: closing our two ends: both racers go at once.
        unsafe {
            libc::close(barrier[0]);
            libc::close(barrier[1]);
        }
        let tally = format!("one winner in {round} of {} rounds before this one", round + 1);
        let lost = wait_for("one racer to lose", 5 * SEC, || [a, b].into_iter().find_map(|p| Some((p, exited(p)?))));
        let (loser, code) =
            lost.map_err(|e| format!("round {round}: {e} ({tally}): {:?}", ev.find(&format!("r{round} "))))?;
        let winner = if loser == a { b } else { a };
        let said = reported(&ev, &format!("r{round}"))?;
        ensure!(code == 7, "round {round}: the loser exited {code}: {said:?} ({tally})");
        // The winner keeps running: its pid in the file, its TERM handler in place.
        let up = wait_for("the winner's pid in the pidfile", 5 * SEC, || {
            if let Some(code) = exited(winner) {
                return Some(Err(format!("round {round}: the winner exited too, with {code}")));
            }
            (read(&pidfile) == pid_line(winner) && catches(winner, libc::SIGTERM)).then_some(Ok(()))
        });
        up.and_then(|r| r).map_err(|e| format!("{e} ({tally}); pidfile {:?}", read(&pidfile)))?;
        // The loser names the winner: never the stale pid the winner had yet to replace.
        match said[2].strip_prefix("held:") {
            Some(p) if p == winner.to_string() => named_winner += 1,
            Some("none") => named_none += 1,
            Some(p) if stale && p == getpid().to_string() => named_stale += 1,
            _ => return Err(format!("round {round}: the loser said {said:?}; winner {winner}")),
        }
        ensure!(named_none + named_stale == 0, "round {round}: the loser named {:?}, not the winner {winner}", said[2]);
        kill(winner, libc::SIGTERM);
        let code = wait_exit(winner, 10 * SEC)?;
        ensure!(code == 0, "round {round}: the winner exited {code} after TERM ({tally})");
        ensure!(!pidfile.exists(), "round {round}: the winner left its pidfile ({tally})");
    }
    wait_all_gone("the racers' processes")?;
    println!(
        "       one winner in {ROUNDS} of {ROUNDS} rounds ({:.1} s); the loser named the winner {named_winner} \
         times, no pid {named_none} times, the stale pid {named_stale} times",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn sigkilled_taken_over() -> Outcome {
    let ev = Events::new("takeover-a");
    let pidfile = temp_path("takeover.pid");
    let a = spawn_master(&ev, || hosted(&ev, Host::new(&ev), &pidfile).workers(2).run());
    ev.wait("A's 2 workers", 10 * SEC, |ev| ev.count("ready ") == 2)?;
    let workers: Vec<Pid> = ev.find("setup ").iter().map(|w| w[2].parse().unwrap_or(0)).collect();
    kill(a, libc::SIGKILL);
    let code = wait_exit(a, 5 * SEC)?;
    ensure!(code == 128 + libc::SIGKILL, "A exited {code}");
    // Its workers follow it by their death signal (and are reparented to us to be reaped).
    wait_for("A's workers to die with it", 5 * SEC, || {
        reap_orphans();
        workers.iter().all(|&w| state(w).is_none()).then_some(())
    })?;
    ensure!(read(&pidfile) == pid_line(a), "after A's SIGKILL the pidfile holds {:?}", read(&pidfile));
    let evb = Events::new("takeover-b");
    let t0 = Instant::now();
    let b = spawn_master(&evb, || hosted(&evb, Host::new(&evb).pidfile(&pidfile), &pidfile).workers(2).run());
    evb.wait("B's 2 workers", 10 * SEC, |ev| ev.count("ready ") == 2 || ev.has("run err"))?;
    let took = t0.elapsed();
    ensure!(!evb.has("run err"), "B could not start: {:?}", evb.lines());
    ensure!(read(&pidfile) == pid_line(b), "B runs, the pidfile holds {:?}; A was {a}, B is {b}", read(&pidfile));
    let want = format!("{:?}", format!("{b}\n"));
    ensure!(evb.find("pidfile ").iter().all(|w| w[2] == want), "B's workers saw {:?}", evb.find("pidfile "));
    term_and_check(&evb, b, &pidfile)?;
    assert_nothing_left(&evb, b)?;
    println!("       A ({a}) SIGKILLed, its file left with its pid; B ({b}) up with the file in {took:.1?}");
    Ok(())
}

fn symlink_refused() -> Outcome {
    let target = temp_path("symlink-target");
    std::fs::write(&target, "precious\n").map_err(|e| e.to_string())?;
    let link = temp_path("symlink.pid");
    let nowhere = temp_path("symlink-nowhere");
    let dangling = temp_path("dangling.pid");
    for (to, path) in [(&target, &link), (&nowhere, &dangling)] {
        std::os::unix::fs::symlink(to, path).map_err(|e| e.to_string())?;
    }
    let mut messages = Vec::new();
    for (path, what) in [(&link, "a symlink to a file"), (&dangling, "a dangling symlink")] {
        let ev = Events::new("symlink");
        let pid = fork_child(|| {
            let code = report(&ev, "main", hosted(&ev, Host::new(&ev), path).run());
            record_left(&ev);
            code
        });
        let code = wait_exit(pid, 5 * SEC)?;
        let w = reported(&ev, "main")?;
        let eloop = w.join(" ").ends_with("a symbolic link, which a pidfile must not be");
        ensure!(code == 9 && w[2] == "io:FilesystemLoop" && eloop, "{what}: exit {code}, {w:?}");
        ensure!(ev.has("left 0") && ev.count("setup ") == 0, "{what}: forked: {:?}", ev.lines());
        let kept = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        ensure!(kept, "{what}: the symlink is gone");
        messages.push(w[3..].join(" "));
    }
    ensure!(read(&target).as_deref() == Some("precious\n"), "the target now holds {:?}", read(&target));
    ensure!(!nowhere.exists(), "the dangling symlink's target was created");
    println!("       refused: {}", messages[0]);
    Ok(())
}

fn replaced_not_removed() -> Outcome {
    let ev = Events::new("replaced");
    let pidfile = temp_path("replaced.pid");
    let moved = temp_path("replaced-moved");
    let master = spawn_master(&ev, || hosted(&ev, Host::new(&ev), &pidfile).run());
    ev.wait("the worker", 10 * SEC, |ev| ev.count("ready ") == 1)?;
    std::fs::rename(&pidfile, &moved).map_err(|e| e.to_string())?;
    std::fs::write(&pidfile, "someone else's\n").map_err(|e| e.to_string())?;
    kill(master, libc::SIGTERM);
    let code = wait_exit(master, 15 * SEC)?;
    ensure!(code == 0 && ev.has("run ok killed=0"), "exit {code}: {:?}", ev.lines());
    ensure!(read(&pidfile).as_deref() == Some("someone else's\n"), "the new file: {:?}", read(&pidfile));
    // Its own file, renamed away, is no longer at the path: not its to find and remove.
    ensure!(read(&moved) == pid_line(master), "the renamed file: {:?}", read(&moved));
    assert_nothing_left(&ev, master)?;
    // And a pidfile deleted under a running master: the stop neither fails nor recreates it.
    let ev = Events::new("removed");
    let _ = std::fs::remove_file(&pidfile);
    let master = spawn_master(&ev, || hosted(&ev, Host::new(&ev), &pidfile).run());
    ev.wait("the worker", 10 * SEC, |ev| ev.count("ready ") == 1)?;
    std::fs::remove_file(&pidfile).map_err(|e| e.to_string())?;
    term_and_check(&ev, master, &pidfile)?;
    assert_nothing_left(&ev, master)
}

// ---------------------------------------------------------------------------------------------
// Daemon

fn daemon_up() -> Outcome {
    let ev = Events::new("daemon");
    let dir = temp_path("daemon-dir");
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    let result = daemon_up_in(&ev, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn daemon_up_in(ev: &Events, dir: &Path) -> Outcome {
    // Relative paths, against the launcher's working directory.
    let (pid_name, log_name) =
        (format!("sisyphus-test-{}-d.pid", getpid()), format!("sisyphus-test-{}-d.log", getpid()));
    let (pidfile, log) = (dir.join(&pid_name), dir.join(&log_name));
    let mut job = Host::new(ev).pidfile(&pidfile);
    // 60, 120 and 180 ms: the launcher must wait for the slowest.
    job.setup_ms = 60;
    let launcher = fork_child(|| {
        if std::env::set_current_dir(dir).is_err() {
            return 3;
        }
        no_notify_socket();
        // The daemon must set its own umask.
        // SAFETY: umask has no preconditions.
        unsafe { libc::umask(0o077) };
        let Ok(logger) = FileLogger::new(&log_name) else { return 4 };
        ev.add(&format!("launch {}", getpid()));
        let result = Master::new(job).workers(3).logger(logger).pidfile(&pid_name).daemonize().run();
        // Only the daemon gets here; its stderr is the log file.
        eprintln!("daemon: run returned {result:?}");
        let code = report(ev, "daemon", result);
        record_left(ev);
        code
    });
    let code = wait_exit(launcher, 15 * SEC)?;
    let exited = mono_ns();
    // What the world looks like the moment the launcher is gone.
    let (content, ready) = (read(&pidfile), ev.count("ready "));
    ensure!(code == 0, "launcher exit {code}: {:?}", ev.lines());
    ensure!(ready == 3, "the launcher exited with {ready} of 3 workers through setup: {:?}", ev.lines());
    let masters = masters_seen(ev);
    let &[daemon] = masters.as_slice() else { return Err(format!("workers' parents: {masters:?}")) };
    ensure!(content == pid_line(daemon), "at the launcher's exit the pidfile held {content:?}; daemon {daemon}");
    let launched = ev.stamped().into_iter().find(|(_, l)| l.starts_with("launch ")).map_or(0, |(t, _)| t);
    let last_ready = ev.stamped().into_iter().filter(|(_, l)| l.starts_with("ready ")).map(|(t, _)| t).max();
    let ms = |t: u64| t.saturating_sub(launched) as f64 / 1e6;
    // The daemon.
    let me = getpid();
    ensure!(daemon != launcher && alive(daemon), "daemon {daemon}, launcher {launcher}");
    ensure!(parent_of(daemon) == Some(me), "the daemon's parent is {:?}, not the subreaper {me}", parent_of(daemon));
    let (pgid, sid) = pgid_sid(daemon).ok_or("no stat for the daemon")?;
    let (_, my_sid) = pgid_sid(me).ok_or("no stat for us")?;
    ensure!(
        sid == pgid && sid != daemon && sid != launcher && sid != my_sid,
        "daemon {daemon}: pgid {pgid}, sid {sid}; launcher {launcher}, our sid {my_sid}"
    );
    // The session's leader (the intermediate child) is gone: nobody there can take a terminal.
    ensure!(state(sid).is_none(), "the session leader {sid} is still there ({:?})", state(sid));
    let cwd = std::fs::read_link(format!("/proc/{daemon}/cwd")).ok();
    ensure!(cwd.as_deref() == Some(Path::new("/")), "the daemon's cwd is {cwd:?}");
    let stdio: Vec<_> = (0..3).map(|fd| fd_target(daemon, fd)).collect();
    let want = [Some(PathBuf::from("/dev/null")), Some(log.clone()), Some(log.clone())];
    ensure!(stdio == want, "the daemon's fds 0-2: {stdio:?}");
    let umask = status_text(daemon, "Umask:");
    ensure!(umask.as_deref() == Some("0022"), "the daemon's umask: {umask:?}");
    let mode = std::fs::metadata(&pidfile).map_err(|e| e.to_string())?.permissions().mode() & 0o7777;
    ensure!(mode == 0o644, "pidfile mode {mode:o}");
    let want = format!("{:?}", format!("{daemon}\n"));
    ensure!(ev.find("pidfile ").iter().all(|w| w[2] == want && w[3] == "holds=false"), "{:?}", ev.find("pidfile "));
    for name in [&pid_name, &log_name] {
        ensure!(!Path::new("/").join(name).exists(), "/{name} was created: a relative path resolved after chdir");
    }
    // The stop: the daemon is our child now (we are a subreaper), so we get its exit code.
    kill(daemon, libc::SIGTERM);
    let code = wait_exit(daemon, 15 * SEC)?;
    ensure!(code == 0 && ev.has(&format!("daemon {daemon} ok killed=0")), "daemon exit {code}: {:?}", ev.lines());
    ensure!(ev.has("left 0"), "the daemon's run returned with children left");
    ensure!(!pidfile.exists(), "the pidfile is still there");
    let text = read(&log).unwrap_or_default();
    ensure!(text.contains("master stopped") && text.contains("daemon: run returned Ok"), "log:\n{text}");
    wait_all_gone("the daemon's processes")?;
    println!(
        "       launcher exited 0 at {:.0} ms (last of 3 setups done at {:.0} ms); daemon {daemon}: sid {sid}, cwd /, umask 0022",
        ms(exited),
        ms(last_ready.unwrap_or(0))
    );
    Ok(())
}

fn daemon_setup_fails() -> Outcome {
    let ev = Events::new("daemonfail");
    let (pidfile, log, stderr) =
        (temp_path("daemonfail.pid"), temp_path("daemonfail.log"), temp_path("daemonfail.err"));
    let mut job = Host::new(&ev);
    job.setup_ms = 50;
    job.failing = Some(1);
    let t0 = Instant::now();
    let launcher = fork_child(|| {
        if !redirect_stderr(&stderr) {
            return 3;
        }
        no_notify_socket();
        let Ok(logger) = FileLogger::new(&log) else { return 4 };
        let result = Master::new(job).workers(3).logger(logger).pidfile(&pidfile).daemonize().run();
        eprintln!("daemon: run returned {result:?}");
        let code = report(&ev, "daemon", result);
        record_left(&ev);
        code
    });
    let code = wait_exit(launcher, 15 * SEC)?;
    let took = t0.elapsed();
    let said = read(&stderr).unwrap_or_default();
    ensure!(code == 1, "launcher exit {code}, stderr {said:?}");
    ensure!(said.contains("daemon failed to start") && said.contains("db down"), "launcher's stderr: {said:?}");
    let masters = masters_seen(&ev);
    let &[daemon] = masters.as_slice() else { return Err(format!("workers' parents: {masters:?}")) };
    let code = wait_exit(daemon, 15 * SEC)?;
    let w = reported(&ev, "daemon")?;
    ensure!(code == 10 && w[2] == "startfailed" && w.join(" ").contains("db down"), "daemon exit {code}: {w:?}");
    ensure!(ev.has("left 0"), "the daemon's run returned with children left");
    ensure!(!pidfile.exists(), "the pidfile is still there");
    let text = read(&log).unwrap_or_default();
    ensure!(text.contains("daemon: run returned Err(StartFailed("), "the daemon's stderr is not the log:\n{text}");
    wait_all_gone("the daemon's processes")?;
    println!("       launcher exited 1 after {:.0} ms: {}", took.as_secs_f64() * 1e3, said.trim_end());
    Ok(())
}

fn daemon_held() -> Outcome {
    let ev = Events::new("daemonheld");
    let ev2 = Events::new("daemonheld2");
    let (pidfile, stderr) = (temp_path("daemonheld.pid"), temp_path("daemonheld.err"));
    let first = spawn_master(&ev, || hosted(&ev, Host::new(&ev), &pidfile).run());
    ev.wait("the first master's worker", 10 * SEC, |ev| ev.count("ready ") == 1)?;
    let launcher = fork_child(|| {
        if !redirect_stderr(&stderr) {
            return 3;
        }
        no_notify_socket();
        let result = Master::new(Host::new(&ev2)).logger(NullLogger).pidfile(&pidfile).daemonize().run();
        let code = report(&ev2, "daemon", result);
        record_left(&ev2);
        code
    });
    let code = wait_exit(launcher, 15 * SEC)?;
    let said = read(&stderr).unwrap_or_default();
    ensure!(code == 1, "launcher exit {code}, stderr {said:?}");
    ensure!(
        said.contains("daemon failed to start") && said.contains(&format!("locked by pid {first}")),
        "launcher's stderr: {said:?}"
    );
    let w = reported(&ev2, "daemon")?;
    let daemon: Pid = w[1].parse().unwrap_or(0);
    ensure!(daemon != launcher && w[2] == format!("held:{first}"), "launcher {launcher}: {w:?}");
    let code = wait_exit(daemon, 5 * SEC)?;
    ensure!(code == 7 && ev2.has("left 0") && ev2.count("setup ") == 0, "daemon exit {code}: {:?}", ev2.lines());
    ensure!(read(&pidfile) == pid_line(first) && alive(first), "the first master's pidfile: {:?}", read(&pidfile));
    term_and_check(&ev, first, &pidfile)?;
    assert_nothing_left(&ev, first)?;
    println!("       launcher exited 1: {}", said.trim_end());
    Ok(())
}

fn daemon_under_notify_socket() -> Outcome {
    let ev = Events::new("notify");
    let pidfile = temp_path("notify.pid");
    let child = fork_child(|| {
        // SAFETY: the forked child is single-threaded.
        unsafe { std::env::set_var("NOTIFY_SOCKET", "@sisyphus-test-nobody-listens") };
        let cwd = || std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
        ev.add(&format!("before {} {}", getpid(), cwd()));
        let result = hosted(&ev, Host::new(&ev), &pidfile).workers(2).daemonize().run();
        let code = report(&ev, "main", result);
        ev.add(&format!("after {} {}", getpid(), cwd()));
        record_left(&ev);
        code
    });
    let code = wait_exit(child, 5 * SEC)?;
    let w = reported(&ev, "main")?;
    let line = w.join(" ");
    ensure!(code == 8 && w[2] == "config" && line.contains("NOTIFY_SOCKET"), "exit {code}: {line}");
    let (before, after) = (ev.find("before "), ev.find("after "));
    // Same process, same working directory: it did not detach.
    let same = before.len() == 1 && after.len() == 1 && before[0][1..] == after[0][1..];
    ensure!(w[1] == child.to_string() && same, "run returned elsewhere: child {child}, {before:?} then {after:?}");
    ensure!(ev.has("left 0") && ev.count("setup ") == 0, "something was forked: {:?}", ev.lines());
    ensure!(!pidfile.exists(), "the pidfile was created");
    wait_all_gone("anything the refused daemonize left")?;
    println!("       refused: {}", w[3..].join(" "));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// PID 1

/// Each worker's first three performs leave an orphan that outlives its perform: two by a
/// double fork, whose grandchild leaves the perform's process group (which dies with the
/// perform), records `orphan HOSTPID NSPID ppid=PPID` once adopted and lives 200 ms; one by
/// `sh -c 'setsid sleep 0.2 &'`, recorded as `shorphan NSPID`. Performs record `perform SLOT
/// ITER` and `done SLOT ITER`.
struct Orphans(Events);

impl Orphans {
    fn double_fork(&self) {
        // SAFETY: forks of a single-threaded perform child; the middle child only forks and
        // _exits, the grandchild waits, writes one line, sleeps and _exits.
        unsafe {
            let middle = libc::fork();
            if middle == 0 {
                let middle = libc::getpid();
                if libc::fork() == 0 {
                    libc::setsid();
                    let _ = wait_for("adoption", SEC, || (libc::getppid() != middle).then_some(()));
                    let host = std::fs::read_link("/proc/self").ok().and_then(|p| p.to_str()?.parse::<Pid>().ok());
                    self.0.add(&format!("orphan {} {} ppid={}", host.unwrap_or(0), libc::getpid(), libc::getppid()));
                    std::thread::sleep(200 * MS);
                    libc::_exit(0);
                }
                libc::_exit(0);
            }
            libc::waitpid(middle, std::ptr::null_mut(), 0);
        }
    }
}

impl Job for Orphans {
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let (slot, i) = (ctx.worker(), ctx.iteration());
        self.0.add(&format!("perform {slot} {i}"));
        match i {
            0 | 1 => self.double_fork(),
            2 => {
                let out = std::process::Command::new("sh")
                    .args(["-c", "setsid sleep 0.2 >/dev/null 2>&1 & echo $!"])
                    .output()?;
                self.0.add(&format!("shorphan {}", String::from_utf8_lossy(&out.stdout).trim()));
            }
            _ => {}
        }
        std::thread::sleep(30 * MS);
        self.0.add(&format!("done {slot} {i}"));
        Ok(())
    }
}

fn pid1() -> Outcome {
    let ev = Events::new("pid1");
    let outer = fork_child(|| {
        // SAFETY: unshare in a single-threaded child; our next child is PID 1 of a new namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
            ev.add(&format!("unshare failed: {}", std::io::Error::last_os_error()));
            return 3;
        }
        let init = fork_child(|| {
            ev.add(&format!("pid1 {}", getpid()));
            let result = Master::new(Orphans(ev.clone())).workers(2).logger(ev.logger()).run();
            report(&ev, "main", result)
        });
        wait_exit(init, 60 * SEC).unwrap_or(4)
    });
    ev.wait("the master as PID 1", 10 * SEC, |ev| ev.has("pid1 ") || ev.has("unshare failed"))?;
    // SAFETY: no preconditions.
    let uid = unsafe { libc::geteuid() };
    ensure!(!ev.has("unshare failed"), "no PID namespace (we are uid {uid}): {:?}", ev.lines());
    ensure!(ev.lines().iter().any(|l| l == "pid1 1"), "the master is not PID 1: {:?}", ev.lines());
    let init = wait_for("the PID 1 master's host pid", 5 * SEC, || live_children(outer).first().copied())?;
    let nspid = status_text(init, "NSpid:");
    ensure!(nspid.as_deref().is_some_and(|n| n.ends_with("\t1") || n.ends_with(" 1")), "NSpid of {init}: {nspid:?}");
    ev.wait("4 double-forked and 2 shell orphans", 10 * SEC, |ev| {
        ev.count("orphan ") == 4 && ev.count("shorphan ") == 2
    })?;
    let orphans = ev.find("orphan ");
    ensure!(orphans.iter().all(|w| w[3] == "ppid=1"), "orphans not adopted by PID 1: {orphans:?}");
    let hosts: Vec<Pid> = orphans.iter().map(|w| w[1].parse().unwrap_or(0)).collect();
    let mut ns_pids: Vec<String> = orphans.iter().map(|w| w[2].clone()).collect();
    ns_pids.extend(ev.find("shorphan ").iter().map(|w| w[1].clone()));
    ensure!(hosts.iter().all(|&h| h > 1) && ns_pids.iter().all(|p| p.parse::<Pid>().is_ok()), "{:?}", ev.lines());
    // Once their 200 ms are up, PID 1 has reaped every one of them: no zombie left under it.
    let t0 = Instant::now();
    ev.wait("every orphan reaped by PID 1", 5 * SEC, |ev| {
        hosts.iter().all(|&h| state(h).is_none())
            && zombie_children(init).is_empty()
            && ns_pids.iter().all(|p| ev.has(&format!("log DEBUG reaped pid {p}, not a worker: exited with code 0")))
    })?;
    let reaped_after = t0.elapsed();
    ensure!(
        !ev.has("died") && !ev.has("failed to start") && ev.count("log INFO worker ") == 2,
        "an orphan was taken for a worker: {:?}",
        ev.lines()
    );
    kill(init, libc::SIGTERM);
    let code = wait_exit(outer, 15 * SEC)?;
    ensure!(code == 0 && ev.has("main 1 ok killed=0"), "exit {code}: {:?}", ev.lines());
    ensure!(ev.count("perform ") == ev.count("done "), "a perform was cut: {:?}", ev.lines());
    wait_all_gone("the namespace's processes")?;
    println!(
        "       PID 1 (host pid {init}) reaped 6 orphans ({:.0} ms after the last was recorded), then stopped on TERM with exit 0",
        reaped_after.as_secs_f64() * 1e3
    );
    Ok(())
}
