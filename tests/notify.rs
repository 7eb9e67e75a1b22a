//! systemd's `sd_notify`, black-box: the master is pointed (`NOTIFY_SOCKET`) at a real
//! `UnixDatagram` this test binds, and every datagram is stamped on arrival with the same
//! monotonic clock the jobs stamp their events with.

mod support;

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sisyphus::{BoxError, Context, Job, Master, Strategy};
use support::*;

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

/// 3 forking workers with staggered ~100 ms setups and 300 ms performs: the start, a HUP roll
/// and a TERM, each message checked in order against what the workers recorded.
fn ready_reload_stop() -> Outcome {
    let ev = Events::new("order");
    let mut l = Listener::path("order")?;
    let hold = std::env::temp_dir().join(format!("sisyphus-test-{}-hold", getpid()));
    let _ = std::fs::remove_file(&hold);
    let mut job = Svc::new(&ev);
    (job.setup, job.stagger, job.perform, job.hold) = (100 * MS, 60 * MS, 300 * MS, Some(hold.clone()));
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), None, None);
        Master::new(job).workers(3).logger(ev.logger()).run()
    });

    // The start: 0, 1, 2 workers up, then READY=1 and the running status, in one turn.
    let running = status("running", 3, 3);
    l.wait("READY=1 and the running status", 10 * SEC, |l| l.has(&running))?;
    let start: Vec<String> = vec![
        status("starting", 0, 3),
        status("starting", 1, 3),
        status("starting", 2, 3),
        "READY=1".into(),
        running.clone(),
    ];
    ensure!(l.messages() == start, "the start's datagrams: {:?}, want {start:?}", l.messages());
    let ready = l.when("READY=1", 0).unwrap_or(0);
    let ups = event_stamps(&ev, "up ");
    ensure!(ups.len() == 3, "setups done: {:?}", ev.lines());
    let last_up = ups.iter().copied().max().unwrap_or(0);
    ensure!(ready > last_up, "READY=1 arrived {:.1} ms before the last setup was done", ms_from(ready, last_up));
    ensure!(ev.has("log INFO ready: 3 workers up in "), "no ready line: {:?}", ev.lines());
    println!("       READY=1 {:.2} ms after the last of 3 setups was done", ms(ready - last_up));

    // HUP: RELOADING=1 with the monotonic time, the roll slot by slot, then READY=1 again.
    let n0 = l.got.len();
    let hup_us = mono_ns() / 1000;
    kill(master, libc::SIGHUP);
    l.wait("the running status after the roll", 10 * SEC, |l| l.got[n0..].iter().any(|(_, m)| *m == running))?;
    let roll: Vec<&str> = l.messages()[n0..].to_vec();
    let reloading = roll.first().copied().unwrap_or("");
    let usec: u64 = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .and_then(|u| u.parse().ok())
        .ok_or_else(|| format!("the first datagram after HUP: {reloading:?}"))?;
    let arrived_us = l.got[n0].0 / 1000;
    ensure!(
        (hup_us..=arrived_us).contains(&usec),
        "MONOTONIC_USEC={usec}, not between the HUP ({hup_us}) and its arrival ({arrived_us})"
    );
    let (rr3, rr2) = (status("rolling restart", 3, 3), status("rolling restart", 2, 3));
    let want: Vec<&str> = vec![&rr3, &rr2, &rr3, &rr2, &rr3, &rr2, "READY=1", &running];
    ensure!(roll[1..] == want[..], "the roll's datagrams: {roll:?}, want RELOADING then {want:?}");
    let ready2 = l.when("READY=1", n0).unwrap_or(0);
    let ups = event_stamps(&ev, "up ");
    ensure!(ups.len() == 6, "setups done after the roll: {:?}", ev.lines());
    let done = event_stamps(&ev, "log INFO rolling restart done: 3 workers replaced");
    ensure!(done.len() == 1 && ready2 > done[0] && ready2 > ups[5], "READY=1 before the roll's end: {:?}", ev.lines());
    println!(
        "       MONOTONIC_USEC {:.2} ms after the HUP; roll of 3 workers: READY=1 {:.0} ms after RELOADING=1",
        (usec - hup_us) as f64 / 1e3,
        ms(ready2 - l.got[n0].0)
    );

    // TERM with every worker in a held perform: STOPPING=1 comes while all three still run.
    // Every perform in flight is held from now on; a worker between two performs starts one.
    std::fs::write(&hold, "").map_err(|e| e.to_string())?;
    let held = |ev: &Events| {
        let lines = ev.lines();
        (0..3).all(|s| {
            let last = lines.iter().rev().find_map(|l| l.strip_prefix(&format!("perform {s} ")));
            last.is_some_and(|rest| !lines.contains(&format!("done {s} {rest}")))
        })
    };
    l.wait("every worker in a held perform", 5 * SEC, |_| held(&ev))?;
    let workers = live_children(master);
    ensure!(workers.len() == 3, "workers: {workers:?}");
    let n1 = l.got.len();
    let term = mono_ns();
    kill(master, libc::SIGTERM);
    l.wait("STOPPING=1", 5 * SEC, |l| l.got[n1..].iter().any(|(_, m)| m == "STOPPING=1"))?;
    let stopping = l.when("STOPPING=1", n1).unwrap_or(0);
    ensure!(workers.iter().all(|&w| alive(w)), "a worker exited before STOPPING=1 arrived");
    l.wait("the stopping status", 5 * SEC, |l| l.got[n1..].iter().any(|(_, m)| *m == status("stopping", 3, 3)))?;
    std::fs::remove_file(&hold).map_err(|e| e.to_string())?;
    let code = l.wait_exit(master, 15 * SEC)?;
    l.drain();
    ensure!(code == 0 && ev.has("run ok killed=0"), "master exit {code}:\n{}", ev.lines().join("\n"));
    let first_done = event_stamps(&ev, "done ").into_iter().filter(|&t| t > term).min().unwrap_or(0);
    ensure!(stopping < first_done, "STOPPING=1 arrived {:.1} ms after a perform ended", ms_from(first_done, stopping));
    // STOPPING=1, then the status counting down to 0/3, and nothing else.
    let tail: Vec<&str> = l.messages()[n1..].to_vec();
    ensure!(tail.len() >= 3 && tail[0] == "STOPPING=1" && tail[1] == status("stopping", 3, 3), "{tail:?}");
    let ups: Vec<usize> = tail[1..]
        .iter()
        .map(|m| {
            m.strip_prefix("STATUS=stopping: ").and_then(|r| r.split('/').next()?.parse().ok()).unwrap_or(usize::MAX)
        })
        .collect();
    ensure!(
        ups.windows(2).all(|w| w[1] < w[0]) && tail.last() == Some(&status("stopping", 0, 3).as_str()),
        "the stop's datagrams: {tail:?}"
    );
    ensure!(l.count("READY=1") == 2, "{:?}", l.messages());
    ensure!(!ev.has("cannot notify"), "a notification failed: {:?}", ev.lines());
    println!("       STOPPING=1 {:.2} ms after TERM, with all 3 workers still in their performs", ms(stopping - term));
    assert_nothing_left(&ev, master)
}

fn abstract_socket() -> Outcome {
    let ev = Events::new("abstract");
    let mut l = Listener::abstract_name()?;
    let job = Svc::new(&ev);
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), None, None);
        Master::new(job).workers(2).strategy(Strategy::Simple).logger(ev.logger()).run()
    });
    l.wait("READY=1", 10 * SEC, |l| l.has("READY=1"))?;
    // Trivial setups may be done before the first status is sent.
    ensure!(l.messages().first().is_some_and(|m| m.starts_with("STATUS=starting: ")), "{:?}", l.messages());
    // A worker killed: the status counts the restart, and the pool up again.
    let up = restarted("running", 2, 2, 1);
    l.wait("the running status", 5 * SEC, |l| l.has(&status("running", 2, 2)))?;
    let n0 = l.got.len();
    let worker = live_children(master).first().copied().ok_or("no worker")?;
    kill(worker, libc::SIGKILL);
    l.wait("the status after the restart", 5 * SEC, |l| l.has(&up))?;
    let after = l.messages()[n0..].to_vec();
    let down = restarted("running", 1, 2, 1);
    ensure!(after == [up.as_str()] || after == [down.as_str(), up.as_str()], "after a worker's SIGKILL: {after:?}");
    stop(&ev, master, Some(&mut l), 1, libc::SIGINT)?;
    let m = l.messages();
    let (ready, stopping) = (m.iter().position(|&x| x == "READY=1"), m.iter().position(|&x| x == "STOPPING=1"));
    ensure!(l.count("READY=1") == 1 && l.count("STOPPING=1") == 1 && ready < stopping, "{m:?}");
    ensure!(m.last() == Some(&restarted("stopping", 0, 2, 1).as_str()), "{m:?}");
    Ok(())
}

/// The middle of sorted `v` (0 for none).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn watchdog() -> Outcome {
    let ev = Events::new("watchdog");
    let mut l = Listener::path("watchdog")?;
    let job = Svc::new(&ev);
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), Some("200000"), None);
        Master::new(job).strategy(Strategy::Simple).logger(ev.logger()).run()
    });
    l.wait("READY=1", 10 * SEC, |l| l.has("READY=1"))?;
    // One second of keep-alives, every 100 ms (half of WATCHDOG_USEC).
    let from = mono_ns();
    l.pump(SEC);
    let beats: Vec<u64> = l.stamps("WATCHDOG=1").into_iter().filter(|&t| t >= from).collect();
    let gaps: Vec<f64> = beats.windows(2).map(|w| ms(w[1] - w[0])).collect();
    ensure!((8..=13).contains(&beats.len()), "{} WATCHDOG=1 in 1 s; gaps {gaps:.1?} ms", beats.len());
    ensure!(gaps.iter().all(|g| (60.0..250.0).contains(g)), "gaps between WATCHDOG=1: {gaps:.1?} ms");
    let (lo, hi) = gaps.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &g| (lo.min(g), hi.max(g)));
    println!(
        "       WATCHDOG_USEC=200000: {} keep-alives in 1 s, median gap {:.1} ms ({lo:.1}-{hi:.1})",
        beats.len(),
        median(&gaps)
    );

    // A wedged master misses its keep-alives: none while it is stopped.
    let stop_at = mono_ns();
    kill(master, libc::SIGSTOP);
    l.wait("the master to be stopped", 5 * SEC, |_| state(master) == Some('T'))?;
    // What it sent before it stopped is in the queue now; anything later would be new.
    l.drain();
    let stopped_from = mono_ns();
    l.pump((400 * MS).saturating_sub(Duration::from_nanos(stopped_from - stop_at)));
    let cont = mono_ns();
    kill(master, libc::SIGCONT);
    let during: Vec<f64> = l
        .stamps("WATCHDOG=1")
        .into_iter()
        .filter(|&t| t > stopped_from && t <= cont)
        .map(|t| ms(t - stop_at))
        .collect();
    ensure!(during.is_empty(), "WATCHDOG=1 while the master was stopped, at {during:.1?} ms into the stop");
    let after = |l: &Listener| l.stamps("WATCHDOG=1").into_iter().filter(|&t| t > cont).collect::<Vec<_>>();
    l.wait("two WATCHDOG=1 after SIGCONT", 2 * SEC, |l| after(l).len() >= 2)?;
    let a = after(&l);
    // Due during the stop: sent once at the resume, then no burst.
    ensure!(
        ms(a[0] - cont) < 100.0 && ms(a[1] - a[0]) > 60.0,
        "after SIGCONT: {:.1} ms, then {:.1} ms",
        ms(a[0] - cont),
        ms(a[1] - a[0])
    );
    println!(
        "       SIGSTOP {:.0} ms: no WATCHDOG=1 meanwhile; the next {:.1} ms after SIGCONT, then {:.1} ms later",
        ms(cont - stop_at),
        ms(a[0] - cont),
        ms(a[1] - a[0])
    );
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)
}

fn watchdog_pid_other() -> Outcome {
    let ev = Events::new("wdother");
    let mut l = Listener::path("wdother")?;
    let job = Svc::new(&ev);
    let addr = l.addr.clone();
    // Another process's watchdog: this runner's pid, certainly not the master's.
    let other = getpid().to_string();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), Some("200000"), Some(&other));
        Master::new(job).logger(ev.logger()).run()
    });
    l.wait("READY=1", 10 * SEC, |l| l.has("READY=1"))?;
    l.pump(500 * MS);
    ensure!(l.count("WATCHDOG=1") == 0, "WATCHDOG=1 for another pid's watchdog: {:?}", l.messages());
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)?;
    ensure!(l.count("WATCHDOG=1") == 0, "WATCHDOG=1 for another pid's watchdog: {:?}", l.messages());
    Ok(())
}

fn watchdog_pid_master() -> Outcome {
    let ev = Events::new("wdself");
    let mut l = Listener::path("wdself")?;
    let job = Svc::new(&ev);
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        let me = getpid().to_string();
        service_env(Some(&addr), Some("200000"), Some(&me));
        Master::new(job).logger(ev.logger()).run()
    });
    l.wait("READY=1", 10 * SEC, |l| l.has("READY=1"))?;
    let from = mono_ns();
    l.pump(500 * MS);
    let beats = l.stamps("WATCHDOG=1").into_iter().filter(|&t| t >= from).count();
    ensure!((3..=7).contains(&beats), "{beats} WATCHDOG=1 in 500 ms at WATCHDOG_USEC=200000: {:?}", l.messages());
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)
}

fn worker_environment() -> Outcome {
    let ev = Events::new("env");
    let mut l = Listener::path("env")?;
    let mut job = Svc::new(&ev);
    job.env = true;
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        let me = getpid().to_string();
        service_env(Some(&addr), Some("60000000"), Some(&me));
        Master::new(job).workers(2).logger(ev.logger()).run()
    });
    // The master did see all three: READY=1, and a keep-alive for its own pid.
    l.wait("READY=1 and WATCHDOG=1", 10 * SEC, |l| l.has("READY=1") && l.has("WATCHDOG=1"))?;
    l.wait("both workers' performs to record", 10 * SEC, |_| {
        (0..2).all(|slot| ev.count(&format!("sockets perform {slot} ")) > 0)
    })?;
    let clean = "NOTIFY_SOCKET=- WATCHDOG_USEC=- WATCHDOG_PID=-";
    for site in ["setup", "perform"] {
        for slot in 0..2 {
            let seen = ev.find(&format!("env {site} {slot} "));
            ensure!(!seen.is_empty() && seen.iter().all(|w| w[3..].join(" ") == clean), "{site} sees {seen:?}");
            let sub = ev.find(&format!("subenv {site} {slot} "));
            ensure!(!sub.is_empty() && sub.iter().all(|w| w[3..] == ["-"]), "`sh -c env` in {site} sees {sub:?}");
        }
    }
    // The master holds exactly one socket of its own, close-on-exec; no worker or perform has it.
    let own = own_sockets(master);
    ensure!(own.len() == 1, "the master's own sockets: {own:?} (all: {:?})", sockets(master));
    let (fd, inode) = own[0].clone();
    let flags = fd_flags(master, fd).ok_or("no fdinfo")?;
    ensure!(flags & libc::O_CLOEXEC as u32 != 0, "the notification socket (fd {fd}) is not close-on-exec: {flags:o}");
    let workers = live_children(master);
    ensure!(workers.len() == 2, "workers: {workers:?}");
    for w in workers {
        let held = sockets(w);
        ensure!(held.iter().all(|(_, s)| *s != inode), "worker {w} holds the master's {inode}: {held:?}");
    }
    let performs = ev.find("sockets perform");
    ensure!(performs.iter().all(|w| !w.contains(&inode)), "a perform child holds the master's {inode}: {performs:?}");
    println!("       master's notification socket: fd {fd}, flags {flags:o}; held by no worker or perform");
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)
}

fn extend_timeout() -> Outcome {
    let ev = Events::new("extend");
    let mut l = Listener::path("extend")?;
    let mut job = Svc::new(&ev);
    (job.setup, job.stagger) = (100 * MS, 100 * MS);
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), None, None);
        let m = Master::new(job).workers(2).setup_timeout(2 * SEC).stop_timeout(5 * SEC);
        m.logger(ev.logger()).run()
    });
    let running = status("running", 2, 2);
    l.wait("READY=1 and the running status", 10 * SEC, |l| l.has(&running))?;
    // The setup timeout plus the second the master allows to kill an overrun.
    let start: Vec<String> = vec![
        "EXTEND_TIMEOUT_USEC=3000000".into(),
        status("starting", 0, 2),
        status("starting", 1, 2),
        "READY=1".into(),
        running.clone(),
    ];
    ensure!(l.messages() == start, "the start's datagrams: {:?}, want {start:?}", l.messages());
    // Each roll step may take a perform's end (the stop timeout), a setup and that second.
    let n0 = l.got.len();
    kill(master, libc::SIGHUP);
    l.wait("the running status after the roll", 10 * SEC, |l| l.got[n0..].iter().any(|(_, m)| *m == running))?;
    let roll = l.messages()[n0..].to_vec();
    let (rr2, rr1, ext) =
        (status("rolling restart", 2, 2), status("rolling restart", 1, 2), "EXTEND_TIMEOUT_USEC=8000000");
    let want = [ext, &rr2, &rr1, ext, &rr2, &rr1, "READY=1", &running];
    ensure!(
        roll.len() == 9 && roll[0].starts_with("RELOADING=1\nMONOTONIC_USEC=") && roll[1..] == want[..],
        "the roll's datagrams: {roll:?}, want RELOADING then {want:?}"
    );
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)
}

fn no_notify_socket() -> Outcome {
    let ev = Events::new("nonotify");
    let job = Svc::new(&ev);
    let master = spawn_master(&ev, || {
        // A watchdog without a socket: nothing to feed.
        service_env(None, Some("200000"), None);
        Master::new(job).workers(2).logger(ev.logger()).run()
    });
    ev.wait("the pool to be up", 10 * SEC, |ev| ev.has("log INFO ready: 2 workers up in "))?;
    let own = own_sockets(master);
    ensure!(own.is_empty(), "the master holds sockets without NOTIFY_SOCKET: {own:?}");
    ensure!(!ev.has("cannot notify"), "{:?}", ev.lines());
    // Its descriptors: exactly those before `run` plus the self-pipe.
    stop_and_check(&ev, master).map(drop)
}

fn absent_listener() -> Outcome {
    let ev = Events::new("absent");
    let name = "absent";
    let path = std::env::temp_dir().join(format!("sisyphus-test-{}-{name}.sock", getpid()));
    let _ = std::fs::remove_file(&path);
    let job = Svc::new(&ev);
    let addr = path.to_string_lossy().into_owned();
    let master = spawn_master(&ev, || {
        // A keep-alive every 20 ms: many failed sends.
        service_env(Some(&addr), Some("40000"), None);
        Master::new(job).logger(ev.logger()).run()
    });
    let warn = "log WARN cannot notify the service manager (NOTIFY_SOCKET): ";
    ev.wait("the pool to be up", 10 * SEC, |ev| ev.has("log INFO ready: 1 worker up in "))?;
    // A measurement window: some 25 keep-alives fail meanwhile.
    std::thread::sleep(500 * MS);
    ensure!(alive(master), "the master is gone: {:?}", ev.lines());
    let warns = ev.count(warn);
    ensure!(warns == 1, "{warns} WARN lines for failed notifications: {:?}", ev.lines());
    // Someone listens again: the keep-alives arrive; gone again: one more WARN.
    let mut l = Listener::path(name)?;
    l.wait("WATCHDOG=1 once the socket is bound", 5 * SEC, |l| l.has("WATCHDOG=1"))?;
    drop(l);
    ev.wait("a second WARN line", 5 * SEC, |ev| ev.count(warn) == 2)?;
    std::thread::sleep(200 * MS);
    ensure!(ev.count(warn) == 2, "WARN lines: {:?}", ev.find(warn.trim_end()));
    println!(
        "       keep-alives every 20 ms into nobody for 500 ms, then again after a listener came and went: 2 WARN lines"
    );
    // The socket is still the master's own descriptor.
    stop(&ev, master, None, 1, libc::SIGTERM)
}

fn bad_notify_socket() -> Outcome {
    for value in ["vsock:2:1234", "run/notify.sock"] {
        let ev = Events::new("bad");
        let job = Svc::new(&ev);
        let t0 = Instant::now();
        let master = spawn_master(&ev, || {
            service_env(Some(value), None, None);
            Master::new(job).logger(ev.logger()).run()
        });
        let code = wait_exit(master, 5 * SEC)?;
        let took = t0.elapsed();
        let err = ev.find("run err ").first().map(|w| w.join(" ")).unwrap_or_default();
        ensure!(code == 2 && err.contains("NOTIFY_SOCKET"), "{value}: exit {code}: {:?}", ev.lines());
        ensure!(took < SEC, "{value}: run took {took:?} to fail");
        ensure!(!ev.has("setup ") && !ev.has("log INFO worker"), "{value}: a worker was forked: {:?}", ev.lines());
        assert_nothing_left(&ev, master)?;
        println!("       NOTIFY_SOCKET={value}: {err} ({:.1} ms)", took.as_secs_f64() * 1e3);
    }
    Ok(())
}

fn ready_with_8_workers() -> Outcome {
    let ev = Events::new("ready8");
    let mut l = Listener::path("ready8")?;
    let job = Svc::new(&ev);
    let addr = l.addr.clone();
    let t0 = mono_ns();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), None, None);
        Master::new(job).workers(8).logger(ev.logger()).run()
    });
    l.wait("READY=1", 10 * SEC, |l| l.has("READY=1"))?;
    let ready = l.when("READY=1", 0).unwrap_or(0);
    let ups = event_stamps(&ev, "up ");
    ensure!(ups.len() == 8 && ups.iter().all(|&t| t < ready), "READY=1 before 8 setups were done: {:?}", ev.lines());
    let logged = ev.lines().into_iter().find(|x| x.starts_with("log INFO ready: 8 workers up in ")).unwrap_or_default();
    ensure!(!logged.is_empty(), "no ready line: {:?}", ev.lines());
    println!(
        "       time to READY=1 with 8 workers: {:.1} ms (from the fork; the master logs \"{}\")",
        ms(ready - t0),
        logged.trim_start_matches("log INFO ")
    );
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)
}
