//! systemd's `sd_notify`, black-box: the master is pointed (`NOTIFY_SOCKET`) at a real
//! `UnixDatagram` this test binds, and every datagram is stamped on arrival with the same
//! monotonic clock the jobs stamp their events with.
//!
//! This file holds the scenario table and what the scenarios share; the modules below hold the
//! scenarios, by concern.

#[path = "../support/mod.rs"]
mod support;

mod messages;
mod socket;
mod watchdog;

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sisyphus::{BoxError, Context, Job};
use support::*;

use messages::{abstract_socket, extend_timeout, ready_reload_stop, ready_with_8_workers};
use socket::{absent_listener, bad_notify_socket, no_notify_socket, worker_environment};
use watchdog::{watchdog, watchdog_pid_master, watchdog_pid_other};

fn main() {
    run_scenarios(&[
        ("path_socket_ready_reload_stop_in_order", ready_reload_stop),
        ("abstract_socket_gets_ready_a_restart_and_stopping", abstract_socket),
        ("watchdog_keeps_time_and_stops_with_the_master", watchdog),
        ("watchdog_pid_of_another_process_means_no_keep_alives", watchdog_pid_other),
        ("watchdog_pid_of_the_master_means_keep_alives", watchdog_pid_master),
        ("workers_see_no_service_variables_nor_the_socket", worker_environment),
        ("setup_timeout_extends_the_start_and_each_roll_step", extend_timeout),
        ("without_notify_socket_nothing_is_opened", no_notify_socket),
        ("an_absent_listener_is_warned_about_once", absent_listener),
        ("a_bad_notify_socket_fails_run_before_any_fork", bad_notify_socket),
        ("ready_with_8_workers", ready_with_8_workers),
    ]);
}

/// `STATUS=` as the master words it, with no restarts, timeouts or late starts.
fn status(phase: &str, up: usize, target: usize) -> String {
    restarted(phase, up, target, 0)
}

/// `STATUS=` after `restarts` restarts.
fn restarted(phase: &str, up: usize, target: usize, restarts: u32) -> String {
    format!("STATUS={phase}: {up}/{target} workers up; {restarts} restarts, 0 timeouts, 0 late starts")
}

/// A socket the master is told about, and every datagram received on it, stamped on arrival
/// (`mono_ns`). A datagram is received within a few µs of its arrival as long as a `wait` or
/// `pump` runs, so an arrival stamp is an upper bound of when it was sent.
struct Listener {
    sock: UnixDatagram,
    /// The value for `NOTIFY_SOCKET`.
    addr: String,
    path: Option<PathBuf>,
    got: Vec<(u64, String)>,
}

impl Listener {
    /// Bound to a path under the temporary directory (the runner removes it at the end too).
    fn path(name: &str) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("sisyphus-test-{}-{name}.sock", getpid()));
        let _ = std::fs::remove_file(&path);
        let sock = UnixDatagram::bind(&path).map_err(|e| format!("binding {}: {e}", path.display()))?;
        Ok(Listener { sock, addr: path.to_string_lossy().into_owned(), path: Some(path), got: Vec::new() })
    }

    /// Bound to the abstract address `@sisyphus-test-PID-N`.
    fn abstract_name() -> Result<Self, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("sisyphus-test-{}-{}", getpid(), N.fetch_add(1, Ordering::Relaxed));
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).map_err(|e| e.to_string())?;
        let sock = UnixDatagram::bind_addr(&addr).map_err(|e| format!("binding @{name}: {e}"))?;
        Ok(Listener { sock, addr: format!("@{name}"), path: None, got: Vec::new() })
    }

    /// Receives one datagram if one comes within `within` (at least 1 µs).
    fn recv(&mut self, within: Duration) {
        let mut buf = [0u8; 4096];
        let _ = self.sock.set_read_timeout(Some(within.max(Duration::from_micros(1))));
        if let Ok(n) = self.sock.recv(&mut buf) {
            self.got.push((mono_ns(), String::from_utf8_lossy(&buf[..n]).into_owned()));
        }
    }

    /// Receives whatever is already queued, without waiting.
    fn drain(&mut self) {
        let _ = self.sock.set_nonblocking(true);
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.sock.recv(&mut buf) {
            self.got.push((mono_ns(), String::from_utf8_lossy(&buf[..n]).into_owned()));
        }
        let _ = self.sock.set_nonblocking(false);
    }

    /// Receives for `d` (a measurement window, not a wait for something to happen).
    fn pump(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while let Some(left) = end.checked_duration_since(Instant::now()).filter(|l| !l.is_zero()) {
            self.recv(left.min(2 * MS));
        }
    }

    /// Receives until `pred` holds, or fails after `timeout` listing what came.
    fn wait(&mut self, what: &str, timeout: Duration, mut pred: impl FnMut(&Listener) -> bool) -> Outcome {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(self) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}; datagrams: {:?}",
                    self.messages()
                ));
            }
            self.recv((deadline - now).min(2 * MS));
        }
    }

    fn messages(&self) -> Vec<&str> {
        self.got.iter().map(|(_, m)| m.as_str()).collect()
    }

    fn has(&self, message: &str) -> bool {
        self.got.iter().any(|(_, m)| m == message)
    }

    fn count(&self, message: &str) -> usize {
        self.got.iter().filter(|(_, m)| m == message).count()
    }

    /// The arrival of the first `message` at or after index `from`.
    fn when(&self, message: &str, from: usize) -> Option<u64> {
        self.got[from..].iter().find(|(_, m)| m == message).map(|&(t, _)| t)
    }

    /// Arrival stamps of every `message`.
    fn stamps(&self, message: &str) -> Vec<u64> {
        self.got.iter().filter(|(_, m)| m == message).map(|&(t, _)| t).collect()
    }

    /// Waits for our child `pid` to exit while receiving; its exit code.
    fn wait_exit(&mut self, pid: Pid, timeout: Duration) -> Result<i32, String> {
        let mut code = None;
        self.wait(&format!("pid {pid} to exit"), timeout, |_| {
            code = code.or_else(|| reaped(pid));
            code.is_some()
        })?;
        code.ok_or_else(|| "no exit code".into())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Reaps our child `pid` if it has exited: its exit code, or 128 + signal.
fn reaped(pid: Pid) -> Option<i32> {
    let mut status = 0;
    // SAFETY: valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    (r == pid).then(|| if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) })
}

/// In the forked master, before `run`: systemd's three variables as given, `None` unset (the
/// runner's own environment must not leak in, should it run under systemd itself).
fn service_env(notify: Option<&str>, watchdog_usec: Option<&str>, watchdog_pid: Option<&str>) {
    for (var, value) in [("NOTIFY_SOCKET", notify), ("WATCHDOG_USEC", watchdog_usec), ("WATCHDOG_PID", watchdog_pid)] {
        // SAFETY: called in the forked master child before `run`; it has exactly one thread,
        // so nothing else reads or writes the environment meanwhile.
        unsafe {
            match value {
                Some(v) => std::env::set_var(var, v),
                None => std::env::remove_var(var),
            }
        }
    }
}

/// `pid`'s socket descriptors: (fd, `socket:[inode]`).
fn sockets(pid: Pid) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten() {
        let Ok(link) = std::fs::read_link(entry.path()) else { continue };
        let link = link.to_string_lossy().into_owned();
        if link.starts_with("socket:") {
            out.push((entry.file_name().to_string_lossy().parse().unwrap_or(-1), link));
        }
    }
    out
}

/// The sockets `pid` holds that this runner does not (a forked master inherits the runner's
/// listener: that one is ours, not its).
fn own_sockets(pid: Pid) -> Vec<(i32, String)> {
    let ours: Vec<String> = sockets(getpid()).into_iter().map(|(_, l)| l).collect();
    sockets(pid).into_iter().filter(|(_, l)| !ours.contains(l)).collect()
}

/// The `flags:` of `pid`'s descriptor `fd` (octal in /proc).
fn fd_flags(pid: Pid, fd: i32) -> Option<u32> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
    u32::from_str_radix(flags.trim(), 8).ok()
}

/// The end of a scenario whose master is running with a notification socket: no zombie, its
/// descriptors as before `run` plus the self-pipe and `extra` (the socket), then `sig`, exit 0
/// with `run` returning `Ok` and nothing killed, nothing left, no failed notification.
fn stop(ev: &Events, master: Pid, mut l: Option<&mut Listener>, extra: usize, sig: i32) -> Outcome {
    wait_for("no zombie workers", 5 * SEC, || zombie_children(master).is_empty().then_some(()))?;
    let before: usize = ev.find("fds before ").first().and_then(|w| w[2].parse().ok()).unwrap_or(0);
    let now = open_fds(master);
    // `before` counted the descriptor used to count them.
    ensure!(now == before - 1 + 2 + extra, "master has {now} descriptors; {} before run, +2 +{extra}", before - 1);
    kill(master, sig);
    let code = match l.as_deref_mut() {
        Some(l) => l.wait_exit(master, 15 * SEC)?,
        None => wait_exit(master, 15 * SEC)?,
    };
    ensure!(code == 0 && ev.has("run ok killed=0"), "master exit {code}:\n{}", ev.lines().join("\n"));
    if let Some(l) = l {
        l.drain();
        ensure!(!ev.has("cannot notify"), "a notification failed: {:?}", ev.lines());
        // One STOPPING=1, and after it only the stop's status and keep-alives.
        let m = l.messages();
        let at = m.iter().position(|&x| x == "STOPPING=1");
        let after_ok =
            at.is_some_and(|i| m[i + 1..].iter().all(|x| x.starts_with("STATUS=stopping: ") || *x == "WATCHDOG=1"));
        ensure!(l.count("STOPPING=1") == 1 && after_ok, "the stop's datagrams: {m:?}");
    }
    assert_nothing_left(ev, master)
}

/// Records `setup SLOT PID` and, after `setup + stagger x SLOT`, `up SLOT PID`; `perform SLOT
/// ITER PID`, then after `perform` (and for as long as the `hold` file exists) `done SLOT ITER
/// PID`. With `env`, `setup` and `perform` record what they see of systemd's variables
/// (`env WHERE SLOT NOTIFY_SOCKET=.. WATCHDOG_USEC=.. WATCHDOG_PID=..`, `-` for unset), what a
/// `sh -c env` they run sees (`subenv WHERE SLOT` and the variables found, or `-`), and
/// `perform` the sockets it holds (`sockets perform SLOT socket:[..] ..`).
#[derive(Clone)]
struct Svc {
    ev: Events,
    setup: Duration,
    stagger: Duration,
    perform: Duration,
    hold: Option<PathBuf>,
    env: bool,
}

const SERVICE_VARS: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

impl Svc {
    fn new(ev: &Events) -> Self {
        Svc { ev: ev.clone(), setup: Duration::ZERO, stagger: Duration::ZERO, perform: 20 * MS, hold: None, env: false }
    }

    fn record_env(&self, site: &str, slot: usize) {
        let seen: Vec<String> =
            SERVICE_VARS.iter().map(|v| format!("{v}={}", std::env::var(v).unwrap_or_else(|_| "-".into()))).collect();
        self.ev.add(&format!("env {site} {slot} {}", seen.join(" ")));
        let out = std::process::Command::new("sh").args(["-c", "env"]).output();
        let found = match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                let found: Vec<&str> = SERVICE_VARS
                    .iter()
                    .copied()
                    .filter(|v| text.lines().any(|l| l.starts_with(&format!("{v}="))))
                    .collect();
                if found.is_empty() { "-".to_string() } else { found.join(" ") }
            }
            other => format!("failed {other:?}"),
        };
        self.ev.add(&format!("subenv {site} {slot} {found}"));
    }
}

fn sleep_for(d: Duration) {
    let end = Instant::now() + d;
    while let Some(left) = end.checked_duration_since(Instant::now()).filter(|l| !l.is_zero()) {
        std::thread::sleep(left);
    }
}

impl Job for Svc {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let slot = ctx.worker();
        self.ev.add(&format!("setup {slot} {}", getpid()));
        if self.env {
            self.record_env("setup", slot);
        }
        sleep_for(self.setup + self.stagger * slot as u32);
        self.ev.add(&format!("up {slot} {}", getpid()));
        Ok(())
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let (slot, iter) = (ctx.worker(), ctx.iteration());
        self.ev.add(&format!("perform {slot} {iter} {}", getpid()));
        if self.env {
            self.record_env("perform", slot);
            let held: Vec<String> = sockets(getpid()).into_iter().map(|(_, l)| l).collect();
            self.ev.add(&format!("sockets perform {slot} {}", held.join(" ")));
        }
        sleep_for(self.perform);
        while self.hold.as_ref().is_some_and(|h| h.exists()) {
            std::thread::sleep(MS);
        }
        self.ev.add(&format!("done {slot} {iter} {}", getpid()));
        Ok(())
    }
}

/// Stamps of the event lines starting with `prefix`.
fn event_stamps(ev: &Events, prefix: &str) -> Vec<u64> {
    ev.stamped().into_iter().filter(|(_, l)| l.starts_with(prefix)).map(|(t, _)| t).collect()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// From `a` to `b` in ms, negative when `b` came first.
fn ms_from(a: u64, b: u64) -> f64 {
    (b as f64 - a as f64) / 1e6
}
