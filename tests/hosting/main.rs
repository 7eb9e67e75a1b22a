//! Hosting a master without a supervisor: the pidfile (written before any fork, held by an
//! `flock` that a second master respects, taken over from a dead master, left alone when
//! replaced), `daemonize` (the launcher exits 0 once every worker is up, or 1 with the daemon's
//! error), and a master that is PID 1 of a new PID namespace. See tests/README.md.
//!
//! This file holds the scenario table and what the scenarios share; the modules below hold the
//! scenarios, by concern.

#[path = "../support/mod.rs"]
mod support;

mod daemon;
mod pid1;
mod pidfile;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sisyphus::{BoxError, Context, Error, Job, Master, Shutdown};
use support::*;

use daemon::{daemon_held, daemon_setup_fails, daemon_under_notify_socket, daemon_up};
use pid1::pid1;
use pidfile::{
    concurrent_starts, held_refuses_a_second, replaced_not_removed, sigkilled_taken_over, symlink_refused,
    written_and_removed,
};

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
