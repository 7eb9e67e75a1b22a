//! The `sisyphus` command, run as a process: bad input, help, what COMMAND inherits (its
//! variables, signal dispositions and mask, descriptors), pacing, `--prefix`, `--stop-signal`,
//! exit statuses, `--pidfile` and `--daemonize`, and how failed runs are logged and paced.
//! See tests/README.md.

mod support;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::*;

fn main() {
    run_scenarios(&[
        ("bad_input_exits_2_and_starts_nothing", bad_input),
        ("help_fits_80_columns_and_version_prints_the_version", help_and_version),
        ("forking_command_gets_the_worker_environment", || environment("forking")),
        ("simple_command_gets_the_worker_environment", || environment("simple")),
        ("forking_command_gets_default_dispositions_and_the_startup_mask", || dispositions("forking")),
        ("simple_command_gets_default_dispositions_and_the_startup_mask", || dispositions("simple")),
        ("command_gets_every_ignored_signal_back_to_default", every_ignored_signal),
        ("forking_command_holds_only_its_stdio", || descriptors("forking")),
        ("simple_command_holds_only_its_stdio", || descriptors("simple")),
        ("interval_paces_command_starts", pacing),
        ("forking_prefix_relays_whole_lines", || prefix("forking")),
        ("simple_prefix_relays_whole_lines", || prefix("simple")),
        ("forking_stop_signal_reaches_every_running_command", || stop_signal("forking", false)),
        ("simple_stop_signal_reaches_every_running_command", || stop_signal("simple", false)),
        ("forking_prefix_stop_signal_reaches_commands_and_relays_their_last_lines", || stop_signal("forking", true)),
        ("simple_prefix_stop_signal_reaches_commands_and_relays_their_last_lines", || stop_signal("simple", true)),
        ("forking_without_stop_signal_commands_run_to_their_end", || no_stop_signal("forking")),
        ("simple_without_stop_signal_commands_run_to_their_end", || no_stop_signal("simple")),
        ("a_held_pidfile_exits_1_naming_the_holder", pidfile_held),
        ("the_restart_limit_exits_1", restart_limit),
        ("forking_a_stop_that_kills_a_run_exits_3", || stop_timeout("forking")),
        ("simple_a_stop_that_kills_a_run_exits_3", || stop_timeout("simple")),
        ("daemonize_launcher_exits_0_once_workers_are_up_and_command_output_goes_to_the_log", daemonize),
        ("daemonize_with_a_failing_setup_exits_1", daemonize_fails),
        ("forking_command_killed_by_a_signal_is_logged_with_its_name", || killed_by_signal("forking", false)),
        ("simple_command_killed_by_a_signal_is_logged_with_its_name", || killed_by_signal("simple", false)),
        ("forking_prefix_command_killed_by_a_signal_is_logged_with_its_name", || killed_by_signal("forking", true)),
        ("forking_failing_command_backs_off", || backoff("forking")),
        ("simple_failing_command_backs_off", || backoff("simple")),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Helpers

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A scenario's own directory under the (canonical) temporary directory, removed when dropped,
/// so that `/proc/PID/fd` links compare equal to the paths in it.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Result<Dir, String> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = std::fs::canonicalize(std::env::temp_dir()).unwrap_or_else(|_| std::env::temp_dir());
        let path = tmp.join(format!("sisyphus-cmd-{}-{n}-{name}", getpid()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        Ok(Dir(path))
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `p` of a file in this directory, as text for a script or an argument.
    fn at(&self, name: &str) -> String {
        self.join(name).to_string_lossy().into_owned()
    }

    /// An executable `#!/bin/sh` script with `body`.
    fn script(&self, name: &str, body: &str) -> Result<String, String> {
        let path = self.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
        Ok(path.to_string_lossy().into_owned())
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Lines of a file, empty if it is missing.
fn lines(path: &Path) -> Vec<String> {
    read(path).lines().map(str::to_string).collect()
}

fn wall_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// The command line to start `sisyphus ARGS` with: its own process group, killed if we die,
/// stdin on /dev/null, stdout and stderr to files of `dir` (named after `tag`), no service
/// manager variables, and no descriptor above 2 but those it opens itself.
fn sisyphus(dir: &Dir, tag: &str, args: &[&str]) -> Result<(Command, PathBuf, PathBuf), String> {
    let (out, err) = (dir.join(&format!("{tag}.out")), dir.join(&format!("{tag}.err")));
    let file = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sisyphus"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(file(&out)?)
        .stderr(file(&err)?)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .process_group(0);
    // SAFETY: prctl and fcntl/close_range are async-signal-safe and touch no memory.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // Whatever this test inherited (a job server's pipe...) must not reach sisyphus;
            // close-on-exec rather than closed, so std's exec-error pipe keeps working.
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) != 0 {
                for fd in 3..4096 {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            Ok(())
        })
    };
    Ok((cmd, out, err))
}

/// A running (or finished) sisyphus, with where its output goes.
struct Sis {
    child: Child,
    pid: Pid,
    out: PathBuf,
    err: PathBuf,
    /// Its `--log-file`, if any.
    log: Option<PathBuf>,
    code: Option<i32>,
}

impl Sis {
    fn start(dir: &Dir, tag: &str, args: &[&str]) -> Result<Sis, String> {
        let (cmd, out, err) = sisyphus(dir, tag, args)?;
        Sis::spawn(cmd, out, err)
    }

    fn spawn(mut cmd: Command, out: PathBuf, err: PathBuf) -> Result<Sis, String> {
        let child = cmd.spawn().map_err(|e| format!("spawning sisyphus: {e}"))?;
        Ok(Sis { pid: child.id() as Pid, child, out, err, log: None, code: None })
    }

    fn logging_to(mut self, log: &Path) -> Sis {
        self.log = Some(log.to_owned());
        self
    }

    fn out(&self) -> String {
        read(&self.out)
    }

    fn err(&self) -> String {
        read(&self.err)
    }

    /// Its stdout, stderr and log file, to show with a failure.
    fn show(&self) -> String {
        let log = self.log.as_deref().map(|l| format!("\n--- log ---\n{}", read(l))).unwrap_or_default();
        format!("\n--- stdout ---\n{}\n--- stderr ---\n{}{log}", self.out(), self.err())
    }

    /// The line saying a run failed because COMMAND could not be run at all: no wait for a
    /// run to do something need go on then.
    fn cannot_run(&self) -> Option<String> {
        let log = self.log.as_deref().map(read).unwrap_or_default();
        [self.err(), log]
            .iter()
            .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
            .find(|l| l.contains("perform failed: cannot run"))
    }

    fn signal(&self, sig: i32) {
        if self.code.is_none() {
            kill(self.pid, sig);
        }
    }

    /// Its exit code (or 128 + the signal that killed it), waiting at most `timeout`.
    fn wait(&mut self, timeout: Duration) -> Result<i32, String> {
        if let Some(code) = self.code {
            return Ok(code);
        }
        let child = &mut self.child;
        let got = wait_for(&format!("sisyphus {} to exit", self.pid), timeout, || match child.try_wait() {
            Ok(Some(s)) => Some(s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))),
            _ => None,
        });
        match got {
            Ok(code) => {
                self.code = Some(code);
                Ok(code)
            }
            Err(e) => Err(format!("{e}{}", self.show())),
        }
    }

    /// INT, then exit 0 within a few seconds.
    fn stop(&mut self) -> Outcome {
        self.signal(libc::SIGINT);
        let code = self.wait(10 * SEC)?;
        ensure!(code == 0, "exit {code} after INT{}", self.show());
        Ok(())
    }

    /// Waits until `pred` holds, failing at once if COMMAND cannot be run.
    fn until(&self, what: &str, timeout: Duration, pred: impl Fn() -> bool) -> Outcome {
        let got = wait_for(what, timeout, || if pred() { Some(Ok(())) } else { self.cannot_run().map(Err) });
        match got {
            Ok(Ok(())) => Ok(()),
            Ok(Err(line)) => Err(format!("waiting for {what}, COMMAND could not be run: {line}{}", self.show())),
            Err(e) => Err(format!("{e}{}", self.show())),
        }
    }

    /// Waits until `pred` holds over the stdout text.
    fn wait_out(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> Outcome {
        self.until(what, timeout, || pred(&self.out()))
    }

    /// Waits until `pred` holds over the stderr text.
    fn wait_err(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> Outcome {
        self.until(what, timeout, || pred(&self.err()))
    }

    /// Waits until `pred` holds over the lines of the file at `path`.
    fn wait_file(&self, what: &str, path: &Path, timeout: Duration, pred: impl Fn(&[String]) -> bool) -> Outcome {
        self.until(what, timeout, || pred(&lines(path)))
            .map_err(|e| format!("{e}\n--- {} ---\n{}", path.display(), read(path)))
    }
}

fn reap_orphans() {
    // SAFETY: waitpid with a valid out-pointer (null is allowed).
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

/// The end of every scenario, once every sisyphus it started has been waited for: whatever it
/// left (orphans reparented to us, the runner being a subreaper) is gone and reaped.
fn nothing_left() -> Outcome {
    wait_for("every process sisyphus started to be gone", 5 * SEC, || {
        reap_orphans();
        descendants().is_empty().then_some(())
    })
    .map_err(|e| format!("{e}: left {:?}", descendants()))
}

/// A bound datagram socket to point `NOTIFY_SOCKET` at.
struct Notify {
    sock: UnixDatagram,
    path: PathBuf,
}

impl Notify {
    fn bind(dir: &Dir) -> Result<Notify, String> {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).map_err(|e| format!("binding {}: {e}", path.display()))?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(Notify { sock, path })
    }

    /// Every datagram queued so far.
    fn received(&self) -> Vec<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        got
    }
}

/// `KEY=VALUE` lines of an `env` dump.
fn env_map(text: &str) -> BTreeMap<String, String> {
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A hexadecimal mask field of a `/proc/PID/status` text (`SigBlk:`).
fn mask(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Seconds since the first of `date +%s.%N` stamps, one a line, as ms gaps between neighbours.
fn gaps_ms(stamps: &[String]) -> Vec<f64> {
    let t: Vec<f64> = stamps.iter().filter_map(|l| l.trim().parse().ok()).collect();
    t.windows(2).map(|w| (w[1] - w[0]) * 1000.0).collect()
}

// ---------------------------------------------------------------------------------------------
// 1, 2: bad input, help, version

fn bad_input() -> Outcome {
    let dir = Dir::new("bad")?;
    let marker = dir.at("marker");
    let touch = format!("touch {marker}");
    let notify = dir.at("nobody.sock");
    let no_exec = dir.join("not-executable");
    std::fs::write(&no_exec, "#!/bin/sh\ntouch marker\n").map_err(|e| e.to_string())?;
    std::fs::set_permissions(&no_exec, std::fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())?;
    let (no_exec, a_dir) = (no_exec.to_string_lossy().into_owned(), dir.0.to_string_lossy().into_owned());
    let cmd = |opts: &[&str]| -> Vec<String> {
        opts.iter().map(|s| s.to_string()).chain(["sh", "-c", &touch].map(String::from)).collect()
    };
    let setup = |command: &[&str]| -> Vec<String> {
        ["--setup", &touch].iter().map(|s| s.to_string()).chain(command.iter().map(|s| s.to_string())).collect()
    };
    // (arguments, NOTIFY_SOCKET, exit code, words the one line must hold)
    let cases: Vec<(Vec<String>, bool, i32, Vec<&str>)> = vec![
        (cmd(&["--bogus"]), false, 2, vec!["--bogus"]),
        (vec![], false, 2, vec!["COMMAND"]),
        (vec!["-w".into(), "2".into()], false, 2, vec!["COMMAND"]),
        (cmd(&["--interval", "30"]), false, 2, vec!["--interval", "30", "unit"]),
        (cmd(&["--interval", "5M"]), false, 2, vec!["--interval", "5M", "unit"]),
        (cmd(&["--interval", "0s"]), false, 2, vec!["--interval", "0s", "zero"]),
        (cmd(&["-w", "four"]), false, 2, vec!["--workers", "four", "not a number"]),
        (cmd(&["--workers", "5000"]), false, 2, vec!["--workers", "5000", "out of range"]),
        (cmd(&["--daemonize"]), true, 2, vec!["--daemonize", "NOTIFY_SOCKET"]),
        (cmd(&["--spread"]), false, 2, vec!["--spread", "--interval"]),
        (cmd(&["--perform-timeout", "30s", "--stop-timeout", "10s"]), false, 2, vec!["perform", "stop", "30s", "10s"]),
        (setup(&["no-such-command-sisyphus-test"]), false, 127, vec!["no-such-command-sisyphus-test", "not found"]),
        (setup(&["/nonexistent/sisyphus-test"]), false, 127, vec!["/nonexistent/sisyphus-test"]),
        (setup(&[no_exec.as_str()]), false, 126, vec![no_exec.as_str(), "not an executable"]),
        (setup(&[a_dir.as_str()]), false, 126, vec![a_dir.as_str(), "not an executable"]),
    ];
    let mut summary = Vec::new();
    for (i, (args, with_notify, want, words)) in cases.iter().enumerate() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (mut cmd, out, err) = sisyphus(&dir, &format!("case{i}"), &args)?;
        if *with_notify {
            cmd.env("NOTIFY_SOCKET", &notify);
        }
        let t0 = Instant::now();
        let mut sis = Sis::spawn(cmd, out, err)?;
        let code = sis.wait(5 * SEC)?;
        let took = t0.elapsed();
        let (stdout, stderr) = (sis.out(), sis.err());
        let what = format!("sisyphus {args:?}: exit {code}, stdout {stdout:?}, stderr {stderr:?}");
        ensure!(code == *want, "{what}: want exit {want}");
        ensure!(stdout.is_empty(), "{what}: stdout not empty");
        ensure!(stderr.ends_with('\n') && stderr.lines().count() == 1, "{what}: not exactly one line");
        ensure!(stderr.starts_with("sisyphus: "), "{what}: no 'sisyphus: ' prefix");
        for w in words {
            ensure!(stderr.contains(w), "{what}: does not name {w:?}");
        }
        if *want == 2 {
            ensure!(stderr.contains("--help"), "{what}: does not point to --help");
        }
        ensure!(took < 2 * SEC, "{what}: took {took:?}");
        ensure!(!Path::new(&marker).exists(), "{what}: something ran (the marker exists)");
        ensure!(descendants().is_empty(), "{what}: left {:?}", descendants());
        summary.push(format!("{}", took.as_millis()));
    }
    println!("       {} cases, each exited in {} ms", cases.len(), summary.join("/"));
    nothing_left()
}

fn help_and_version() -> Outcome {
    let dir = Dir::new("help")?;
    for flag in ["--help", "-h"] {
        let mut sis = Sis::start(&dir, "help", &[flag])?;
        let code = sis.wait(5 * SEC)?;
        let (out, err) = (sis.out(), sis.err());
        ensure!(code == 0 && err.is_empty(), "{flag}: exit {code}, stderr {err:?}");
        ensure!(out.starts_with("Usage: sisyphus "), "{flag}: {out}");
        ensure!(out.contains("Examples"), "{flag}: no Examples:\n{out}");
        let wide: Vec<&str> = out.lines().filter(|l| l.chars().count() > 80).collect();
        ensure!(wide.is_empty(), "{flag}: lines over 80 columns: {wide:?}");
        ensure!(!out.contains('\t'), "{flag}: a tab makes columns unpredictable");
    }
    for flag in ["-V", "--version"] {
        let mut sis = Sis::start(&dir, "version", &[flag])?;
        let code = sis.wait(5 * SEC)?;
        let (out, err) = (sis.out(), sis.err());
        let want = format!("sisyphus {}\n", env!("CARGO_PKG_VERSION"));
        ensure!(code == 0 && err.is_empty() && out == want, "{flag}: exit {code}, stdout {out:?}, stderr {err:?}");
    }
    nothing_left()
}

// ---------------------------------------------------------------------------------------------
// 3-5: what COMMAND inherits

fn environment(strategy: &str) -> Outcome {
    let dir = Dir::new("env")?;
    let notify = Notify::bind(&dir)?;
    let d = dir.0.to_string_lossy();
    let script = dir.script(
        "dump.sh",
        &format!(
            "f={d}/env-$SISYPHUS_WORKER-$SISYPHUS_ITERATION\n\
             echo \"$SISYPHUS_WORKER $SISYPHUS_ITERATION\" >> {d}/order\n\
             env > $f.tmp && mv $f.tmp $f.env\n"
        ),
    )?;
    let (mut cmd, out, err) =
        sisyphus(&dir, "paced", &["-w", "2", "--interval", "200ms", "--strategy", strategy, "--", &script])?;
    cmd.env("NOTIFY_SOCKET", &notify.path).env("WATCHDOG_USEC", "10000000");
    let mut sis = Sis::spawn(cmd, out, err)?;
    let want: Vec<PathBuf> =
        (0..2).flat_map(|w| (0..3).map(move |i| (w, i))).map(|(w, i)| dir.join(&format!("env-{w}-{i}.env"))).collect();
    sis.wait_err("iterations 0-2 of both workers", 10 * SEC, |_| want.iter().all(|p| p.exists()))?;
    let now = wall_secs();
    sis.stop()?;
    let datagrams = notify.received();
    ensure!(datagrams.iter().any(|d| d == "READY=1"), "NOTIFY_SOCKET was not in use: {datagrams:?}");
    for w in 0..2 {
        for i in 0..3 {
            let env = env_map(&read(&dir.join(&format!("env-{w}-{i}.env"))));
            let sis_vars: BTreeMap<_, _> = env.iter().filter(|(k, _)| k.starts_with("SISYPHUS_")).collect();
            let names: Vec<&str> = sis_vars.keys().map(|k| k.as_str()).collect();
            let want_names = [
                "SISYPHUS_ITERATION",
                "SISYPHUS_MASTER_PID",
                "SISYPHUS_SCHEDULED_AT",
                "SISYPHUS_WORKER",
                "SISYPHUS_WORKERS",
            ];
            ensure!(names == want_names, "worker {w} run {i}: SISYPHUS_ variables {sis_vars:?}");
            let get = |k: &str| env.get(k).map(String::as_str).unwrap_or("");
            ensure!(get("SISYPHUS_WORKER") == w.to_string(), "{sis_vars:?}");
            ensure!(get("SISYPHUS_WORKERS") == "2", "{sis_vars:?}");
            ensure!(get("SISYPHUS_ITERATION") == i.to_string(), "{sis_vars:?}");
            ensure!(get("SISYPHUS_MASTER_PID") == sis.pid.to_string(), "master {}: {sis_vars:?}", sis.pid);
            let at: f64 = get("SISYPHUS_SCHEDULED_AT").parse().map_err(|_| format!("{sis_vars:?}"))?;
            let recent = (at - now).abs() < 5.0;
            ensure!(recent, "SISYPHUS_SCHEDULED_AT {at} vs now {now:.0}");
            for var in ["NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC"] {
                ensure!(!env.contains_key(var), "worker {w} run {i} sees {var}={}", get(var));
            }
        }
    }
    // Per worker, iterations in the order the runs started: 0, 1, 2...
    let order = lines(&dir.join("order"));
    for w in 0..2 {
        let its: Vec<u64> = order
            .iter()
            .filter_map(|l| l.split_once(' '))
            .filter(|(slot, _)| *slot == w.to_string())
            .filter_map(|(_, i)| i.parse().ok())
            .collect();
        ensure!(its.iter().enumerate().all(|(k, &i)| i == k as u64), "worker {w} iterations: {its:?}");
    }
    // Without an interval, no schedule to tell.
    let again = Dir::new("env-no-interval")?;
    let d = again.0.to_string_lossy();
    let script = again.script("dump.sh", &format!("env > {d}/env.tmp && mv -f {d}/env.tmp {d}/env\n"))?;
    let mut sis = Sis::start(&again, "free", &["--strategy", strategy, "--", &script])?;
    let env_file = again.join("env");
    sis.wait_err("a run", 10 * SEC, |_| env_file.exists())?;
    sis.stop()?;
    let env = env_map(&read(&env_file));
    ensure!(env.get("SISYPHUS_WORKER").map(String::as_str) == Some("0"), "{env:?}");
    ensure!(!env.contains_key("SISYPHUS_SCHEDULED_AT"), "SISYPHUS_SCHEDULED_AT without --interval");
    nothing_left()
}

/// Sets `sig`'s disposition with the system call itself: glibc's `signal` refuses 32 and 33,
/// which it keeps for itself. Async-signal-safe.
fn set_disposition(sig: i32, handler: libc::sighandler_t) {
    /// The kernel's `struct sigaction` (x86_64, aarch64).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction { handler, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: a valid struct of the kernel's layout and size 8 for its mask; no old action asked.
    unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, &act, std::ptr::null_mut::<KernelSigaction>(), 8usize) };
}

/// Every signal but KILL and STOP, 1 to 64.
fn every_signal() -> impl Iterator<Item = i32> {
    (1..=64).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP)
}

/// How sisyphus is started: from a clean slate (a test binary that cargo started with glibc's
/// `posix_spawn` has 32 and 33 ignored), then USR2 blocked and HUP ignored, as by `nohup` from a
/// shell that blocked USR2; with `all`, every signal ignored instead of just HUP.
fn launch_with_odd_signals(cmd: &mut Command, all: bool) {
    // SAFETY: sigprocmask and rt_sigaction are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            every_signal().for_each(|sig| set_disposition(sig, libc::SIG_DFL));
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR2);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            match all {
                true => every_signal().for_each(|sig| set_disposition(sig, libc::SIG_IGN)),
                false => set_disposition(libc::SIGHUP, libc::SIG_IGN),
            }
            Ok(())
        })
    };
}

fn dispositions(strategy: &str) -> Outcome {
    let dir = Dir::new("sig")?;
    let (mut cmd, out, err) =
        sisyphus(&dir, "status", &["--strategy", strategy, "--interval", "1h", "--", "cat", "/proc/self/status"])?;
    launch_with_odd_signals(&mut cmd, false);
    let mut sis = Sis::spawn(cmd, out, err)?;
    // CapInh follows the signal lines: the run's status is all there.
    sis.wait_out("COMMAND's /proc/self/status", 10 * SEC, |o| o.contains("\nCapInh:"))?;
    let master_status = std::fs::read_to_string(format!("/proc/{}/status", sis.pid)).unwrap_or_default();
    sis.stop()?;
    let status = sis.out();
    let (ign, blk, cgt) = (mask(&status, "SigIgn:"), mask(&status, "SigBlk:"), mask(&status, "SigCgt:"));
    ensure!(ign == Some(0), "COMMAND ignores {ign:x?} (want none: SIGPIPE and HUP back to default)");
    ensure!(cgt == Some(0), "COMMAND catches {cgt:x?}");
    ensure!(blk == Some(bit(libc::SIGUSR2)), "COMMAND blocks {blk:x?}, want exactly USR2 ({:x})", bit(libc::SIGUSR2));
    // Sisyphus itself ignores PIPE (Rust does), so COMMAND's default is its doing.
    let master_ign = mask(&master_status, "SigIgn:");
    let pipe_ignored = master_ign.is_some_and(|m| m & bit(libc::SIGPIPE) != 0);
    ensure!(pipe_ignored, "sisyphus itself does not ignore PIPE: {master_ign:x?}");
    // A real SIGPIPE: `yes` must die of it, silently, rather than report EPIPE.
    let pipe = "yes | head -n1 >/dev/null; echo done";
    let mut sis = Sis::start(&dir, "pipe", &["--strategy", strategy, "--interval", "1h", "--", "sh", "-c", pipe])?;
    sis.wait_out("the run to finish", 10 * SEC, |o| o == "done\n")?;
    sis.stop()?;
    let err = sis.err();
    ensure!(!err.contains("Broken pipe") && !err.contains("yes:"), "SIGPIPE ignored in COMMAND:\n{err}");
    ensure!(sis.out() == "done\n", "stdout {:?}", sis.out());
    println!(
        "       COMMAND: SigIgn {:x}, SigCgt {:x}, SigBlk {:x}",
        ign.unwrap_or(0),
        cgt.unwrap_or(0),
        blk.unwrap_or(0)
    );
    nothing_left()
}

/// Started with every signal ignored (1 to 64: glibc's own 32 and 33, and SIGRTMAX, included),
/// COMMAND still gets every one back to its default, in both strategies.
fn every_ignored_signal() -> Outcome {
    let dir = Dir::new("sigall")?;
    for strategy in ["simple", "forking"] {
        let args = ["--strategy", strategy, "--interval", "1h", "--", "cat", "/proc/self/status"];
        let (mut cmd, out, err) = sisyphus(&dir, strategy, &args)?;
        launch_with_odd_signals(&mut cmd, true);
        let mut sis = Sis::spawn(cmd, out, err)?;
        sis.wait_out("COMMAND's /proc/self/status", 10 * SEC, |o| o.contains("\nCapInh:"))?;
        sis.stop()?;
        let ign = mask(&sis.out(), "SigIgn:").unwrap_or(u64::MAX);
        let still: Vec<i32> = every_signal().filter(|&s| ign & bit(s) != 0).collect();
        ensure!(still.is_empty(), "{strategy}: COMMAND still ignores signals {still:?} (SigIgn {ign:x})");
    }
    nothing_left()
}

fn descriptors(strategy: &str) -> Outcome {
    let dir = Dir::new("fds")?;
    let notify = Notify::bind(&dir)?;
    let (pidfile, log) = (dir.join("sis.pid"), dir.join("sis.log"));
    let (p, l) = (pidfile.to_string_lossy().into_owned(), log.to_string_lossy().into_owned());
    let args = [
        "--strategy",
        strategy,
        "--interval",
        "1h",
        "--pidfile",
        &p,
        "--log-file",
        &l,
        "--",
        "ls",
        "-l",
        "/proc/self/fd",
    ];
    let (mut cmd, out, err) = sisyphus(&dir, "fds", &args)?;
    cmd.env("NOTIFY_SOCKET", &notify.path);
    let mut sis = Sis::spawn(cmd, out.clone(), err.clone())?.logging_to(&log);
    sis.wait_out("the listing", 10 * SEC, |o| o.lines().any(|l| l.contains(" 2 -> ")))?;
    let pid_text = read(&pidfile);
    sis.stop()?;
    ensure!(pid_text == format!("{}\n", sis.pid), "pidfile held {pid_text:?} while it ran");
    ensure!(!pidfile.exists(), "the pidfile is still there");
    ensure!(read(&log).contains("master stopped"), "log:\n{}", read(&log));
    let datagrams = notify.received();
    ensure!(datagrams.iter().any(|d| d == "READY=1"), "NOTIFY_SOCKET was not in use: {datagrams:?}");
    let listing = sis.out();
    let fds: BTreeMap<i32, String> = listing
        .lines()
        .filter_map(|l| l.split_once(" -> "))
        .filter_map(|(left, target)| Some((left.split_whitespace().last()?.parse().ok()?, target.to_string())))
        .collect();
    let show = || format!("COMMAND's descriptors: {fds:?}\n{listing}");
    let target = |fd: i32| fds.get(&fd).map(String::as_str);
    let path = |p: &Path| p.to_string_lossy().into_owned();
    ensure!(target(0) == Some("/dev/null"), "{}", show());
    ensure!(target(1) == Some(&path(&out)) && target(2) == Some(&path(&err)), "stdio: {}", show());
    let others: Vec<(&i32, &String)> = fds.iter().filter(|&(&fd, _)| fd > 2).collect();
    // `ls` itself holds /proc/PID/fd open while it lists it.
    let own = |t: &str| t.starts_with("/proc/") && t.ends_with("/fd");
    ensure!(others.len() == 1 && own(others[0].1), "more than stdio: {}", show());
    for t in fds.values() {
        ensure!(t != &p && t != &l && !t.starts_with("socket:") && !t.starts_with("pipe:"), "{t}: {}", show());
    }
    nothing_left()
}

// ---------------------------------------------------------------------------------------------
// 6, 7: pacing and --prefix

fn pacing() -> Outcome {
    let dir = Dir::new("pace")?;
    let starts = dir.join("starts");
    let script = dir.script("run.sh", &format!("date +%s.%N >> {}\nsleep 0.1\n", starts.display()))?;
    let mut sis = Sis::start(&dir, "pace", &["-w", "1", "--interval", "300ms", "--", &script])?;
    sis.wait_file("5 runs", &starts, 10 * SEC, |l| l.len() >= 5)?;
    sis.stop()?;
    let gaps = gaps_ms(&lines(&starts)[..5]);
    ensure!(gaps.len() == 4 && gaps.iter().all(|g| (250.0..450.0).contains(g)), "start gaps (ms): {gaps:?}");
    let shown: Vec<String> = gaps.iter().map(|g| format!("{g:.1}")).collect();
    println!("       100 ms runs every 300 ms: gaps {} ms", shown.join(", "));
    nothing_left()
}

/// The 100-character line `i` of worker `w`: `w-iii-` and x's.
fn payload(w: u32, i: u32) -> String {
    format!("{w}-{i:03}-{}", "x".repeat(94))
}

fn prefix(strategy: &str) -> Outcome {
    let dir = Dir::new("prefix")?;
    let script = dir.script(
        "talk.sh",
        "printf 'abc'; sleep 0.01; printf 'def\\n'\n\
         awk -v w=\"$SISYPHUS_WORKER\" 'BEGIN { x = sprintf(\"%94s\", \"\"); gsub(/ /, \"x\", x);\n\
             for (i = 0; i < 200; i++) printf \"%d-%03d-%s\\n\", w, i, x }'\n\
         printf 'err-%s\\n' \"$SISYPHUS_WORKER\" >&2\n\
         printf 'tail'; sleep 0.01; printf 'piece'\n",
    )?;
    let args = ["-w", "4", "--prefix", "--strategy", strategy, "--interval", "100ms", "--", &script];
    let mut sis = Sis::start(&dir, "prefix", &args)?;
    let runs_of = |out: &str, w: u32| out.lines().filter(|l| *l == format!("[w{w}] tailpiece")).count();
    sis.wait_out("3 runs of each worker", 15 * SEC, |o| (0..4).all(|w| runs_of(o, w) >= 3))?;
    sis.stop()?;
    let (out, err) = (sis.out(), sis.err());
    ensure!(out.ends_with('\n'), "stdout ends in an unfinished line");
    let mut per_worker: BTreeMap<u32, BTreeMap<String, usize>> = BTreeMap::new();
    for line in out.lines() {
        let parsed = line
            .strip_prefix("[w")
            .and_then(|r| r.split_once("] "))
            .and_then(|(w, rest)| Some((w.parse::<u32>().ok().filter(|w| *w < 4)?, rest)));
        let Some((w, rest)) = parsed else { return Err(format!("unprefixed stdout line {line:?}")) };
        let known = rest == "abcdef" || rest == "tailpiece" || (0..200).any(|i| rest == payload(w, i));
        ensure!(known, "[w{w}]: not one of worker {w}'s whole lines: {line:?}");
        *per_worker.entry(w).or_default().entry(rest.to_string()).or_default() += 1;
    }
    let mut counts = Vec::new();
    for w in 0..4 {
        let seen = per_worker.get(&w).cloned().unwrap_or_default();
        let runs = seen.get("abcdef").copied().unwrap_or(0);
        ensure!(runs >= 3, "worker {w} ran {runs} times");
        ensure!(seen.get("tailpiece") == Some(&runs), "worker {w}: {runs} runs, tails {:?}", seen.get("tailpiece"));
        for i in 0..200 {
            let n = seen.get(&payload(w, i)).copied().unwrap_or(0);
            ensure!(n == runs, "worker {w}: line {i} relayed {n} times in {runs} runs");
        }
        let err_lines = err.lines().filter(|l| l.contains("err-")).collect::<Vec<_>>();
        let mine = err_lines.iter().filter(|l| **l == format!("[w{w}] err-{w}")).count();
        ensure!(mine == runs, "worker {w}: {mine} stderr lines for {runs} runs:\n{err}");
        counts.push(runs);
    }
    let stray: Vec<&str> = err.lines().filter(|l| l.contains("err-") && !l.starts_with("[w")).collect();
    ensure!(stray.is_empty(), "unprefixed stderr lines from COMMAND: {stray:?}");
    ensure!(!out.contains("err-"), "COMMAND's stderr reached stdout");
    println!("       runs per worker {counts:?}: every line whole and prefixed, 202 per run on stdout, 1 on stderr");
    nothing_left()
}

// ---------------------------------------------------------------------------------------------
// 8: --stop-signal

fn stop_signal(strategy: &str, relay: bool) -> Outcome {
    let dir = Dir::new("stopsig")?;
    let events = dir.join("events");
    let e = events.display();
    // The background `sleep` has exec'd before the run says it started: a TERM reaching dash's
    // child between its fork and exec runs dash's handler and is lost, and that `sleep` would
    // keep running (and hold the output pipe of a --prefix relay).
    let script = dir.script(
        "trap.sh",
        &format!(
            "trap 'echo \"got-term $SISYPHUS_WORKER\" >> {e}; echo \"bye $SISYPHUS_WORKER\"; exit 0' TERM\n\
             sleep 30 &\n\
             until read name < /proc/$!/comm && [ \"$name\" = sleep ]; do :; done\n\
             echo \"started $SISYPHUS_WORKER\" >> {e}\n\
             wait\n"
        ),
    )?;
    // The stop timeout only bounds a failure: a pass takes milliseconds.
    let mut args =
        vec!["-w", "2", "--stop-signal", "TERM", "--strategy", strategy, "--interval", "1h", "--stop-timeout", "2s"];
    if relay {
        args.push("--prefix");
    }
    args.extend(["--", &script]);
    let mut sis = Sis::start(&dir, "stopsig", &args)?;
    let count = |l: &[String], what: &str| l.iter().filter(|l| l.starts_with(what)).count();
    sis.wait_file("both runs started", &events, 10 * SEC, |l| count(l, "started ") == 2)?;
    let t0 = Instant::now();
    sis.signal(libc::SIGINT);
    sis.wait_file("TERM in both runs", &events, SEC, |l| count(l, "got-term ") == 2)?;
    let took = t0.elapsed();
    let code = sis.wait(10 * SEC)?;
    let exited = t0.elapsed();
    ensure!(code == 0, "exit {code}:\n{}", sis.err());
    let mut got: Vec<String> = sis.out().lines().map(str::to_string).collect();
    got.sort();
    let want: Vec<String> =
        if relay { vec!["[w0] bye 0".into(), "[w1] bye 1".into()] } else { vec!["bye 0".into(), "bye 1".into()] };
    ensure!(got == want, "COMMANDs' last lines: {got:?}, want {want:?}");
    println!(
        "       TERM reached both runs {:.1} ms after INT; exit 0 after {:.1} ms",
        took.as_secs_f64() * 1e3,
        exited.as_secs_f64() * 1e3
    );
    nothing_left()
}

fn no_stop_signal(strategy: &str) -> Outcome {
    let dir = Dir::new("nostopsig")?;
    let events = dir.join("events");
    let e = events.display();
    let script = dir.script(
        "sleep.sh",
        &format!(
            "trap 'echo \"got-signal $SISYPHUS_WORKER\" >> {e}; exit 0' TERM INT HUP\n\
             echo \"start $SISYPHUS_WORKER $(date +%s.%N)\" >> {e}\n\
             sleep 1\n\
             echo \"end $SISYPHUS_WORKER $(date +%s.%N)\" >> {e}\n"
        ),
    )?;
    let args = ["-w", "2", "--strategy", strategy, "--interval", "1h", "--", &script];
    let mut sis = Sis::start(&dir, "nostopsig", &args)?;
    let count = |l: &[String], what: &str| l.iter().filter(|l| l.starts_with(what)).count();
    sis.wait_file("both runs started", &events, 10 * SEC, |l| count(l, "start ") == 2)?;
    sis.signal(libc::SIGINT);
    let code = sis.wait(10 * SEC)?;
    let at_exit = lines(&events);
    ensure!(code == 0, "exit {code}:\n{}", sis.err());
    ensure!(count(&at_exit, "got-signal") == 0, "a run was signalled: {at_exit:?}");
    ensure!(count(&at_exit, "end ") == 2, "sisyphus exited before both runs ended: {at_exit:?}");
    for w in 0..2 {
        let stamp = |what: &str| {
            at_exit.iter().find_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f.len() == 3 && f[0] == what && f[1] == w.to_string()).then(|| f[2].parse::<f64>().ok()).flatten()
            })
        };
        let (Some(start), Some(end)) = (stamp("start"), stamp("end")) else { return Err(format!("{at_exit:?}")) };
        let full = end - start >= 0.95;
        ensure!(full, "worker {w}'s `sleep 1` took {:.3} s", end - start);
    }
    nothing_left()
}

// ---------------------------------------------------------------------------------------------
// 9, 10: exit statuses, pidfile, daemon

fn pidfile_held() -> Outcome {
    let dir = Dir::new("pidfile")?;
    let pidfile = dir.join("sis.pid");
    let (p, marker) = (pidfile.to_string_lossy().into_owned(), dir.at("marker"));
    let mut first = Sis::start(&dir, "first", &["--pidfile", &p, "--interval", "1h", "--", "true"])?;
    let want = format!("{}\n", first.pid);
    first.wait_err("the pidfile", 10 * SEC, |_| read(&pidfile) == want)?;
    let touch = format!("touch {marker}");
    let mut second = Sis::start(&dir, "second", &["--pidfile", &p, "--", "sh", "-c", &touch])?;
    let code = second.wait(5 * SEC)?;
    let err = second.err();
    ensure!(code == 1, "second sisyphus exit {code}: {err}");
    let last = err.lines().last().unwrap_or("");
    ensure!(
        last.starts_with("sisyphus: ") && last.contains(&format!("locked by pid {}", first.pid)),
        "second sisyphus's stderr does not name pid {}:\n{err}",
        first.pid
    );
    ensure!(second.out().is_empty(), "stdout {:?}", second.out());
    ensure!(!Path::new(&marker).exists(), "the second sisyphus ran COMMAND");
    ensure!(read(&pidfile) == want, "the pidfile changed: {:?}", read(&pidfile));
    first.stop()?;
    ensure!(!pidfile.exists(), "the pidfile outlived its sisyphus");
    println!("       {last}");
    nothing_left()
}

fn restart_limit() -> Outcome {
    let dir = Dir::new("limit")?;
    let marker = dir.at("marker");
    let touch = format!("touch {marker}");
    let args = ["--max-restarts", "2/10s", "--setup", "exit 3", "--", "sh", "-c", &touch];
    let t0 = Instant::now();
    let mut sis = Sis::start(&dir, "limit", &args)?;
    let code = sis.wait(10 * SEC)?;
    let took = t0.elapsed();
    let err = sis.err();
    ensure!(code == 1, "exit {code}:\n{err}");
    ensure!(err.contains("restart limit"), "stderr does not mention the restart limit:\n{err}");
    let failed = err.lines().filter(|l| l.contains(") failed to start: ")).count();
    ensure!(failed == 3, "{failed} failed starts, want 3 (2 restarts allowed):\n{err}");
    let last = err.lines().last().unwrap_or("");
    ensure!(last.starts_with("sisyphus: ") && last.contains("exited with code 3"), "last line {last:?}");
    ensure!(!Path::new(&marker).exists(), "COMMAND ran");
    println!("       gave up after {} ms: {last}", took.as_millis());
    nothing_left()
}

fn stop_timeout(strategy: &str) -> Outcome {
    let dir = Dir::new("stoptimeout")?;
    let events = dir.join("events");
    let run = format!("echo started >> {}; exec sleep 30", events.display());
    let args = ["--strategy", strategy, "--stop-timeout", "200ms", "--", "sh", "-c", &run];
    let mut sis = Sis::start(&dir, "stoptimeout", &args)?;
    sis.wait_file("the run", &events, 10 * SEC, |l| l.len() == 1)?;
    let t0 = Instant::now();
    sis.signal(libc::SIGINT);
    let code = sis.wait(10 * SEC)?;
    let took = t0.elapsed();
    ensure!(code == 3, "exit {code}, want 3 (a run was killed):\n{}", sis.err());
    ensure!(took >= 190 * MS && took < 3 * SEC, "the stop took {took:?} with a 200 ms stop timeout");
    println!("       `sleep 30` killed, exit 3, {} ms after INT", took.as_millis());
    nothing_left()
}

fn daemonize() -> Outcome {
    let dir = Dir::new("daemon")?;
    let (pidfile, log, up) = (dir.join("sis.pid"), dir.join("sis.log"), dir.join("up"));
    let (p, l) = (pidfile.to_string_lossy().into_owned(), log.to_string_lossy().into_owned());
    let setup = format!("sleep 0.2; echo \"up $SISYPHUS_WORKER\" >> {}", up.display());
    let args = [
        "--daemonize",
        "--pidfile",
        &p,
        "--log-file",
        &l,
        "-w",
        "2",
        "--setup",
        &setup,
        "--",
        "sh",
        "-c",
        "echo run; sleep 0.2",
    ];
    let t0 = Instant::now();
    let mut launcher = Sis::start(&dir, "launcher", &args)?.logging_to(&log);
    let code = launcher.wait(10 * SEC)?;
    let took = t0.elapsed();
    // What the world looks like the moment the launcher is gone.
    let (ups, pid_text) = (lines(&up), read(&pidfile));
    ensure!(code == 0, "launcher exit {code}: {}\n--- log ---\n{}", launcher.err(), read(&log));
    ensure!(ups.len() == 2, "the launcher exited with {} of 2 setups done: {ups:?}", ups.len());
    let daemon: Pid = pid_text.trim().parse().map_err(|_| format!("pidfile holds {pid_text:?}"))?;
    ensure!(pid_text == format!("{daemon}\n"), "pidfile {pid_text:?}");
    ensure!(daemon != launcher.pid && alive(daemon), "daemon {daemon}, launcher {}", launcher.pid);
    let workers = live_children(daemon);
    ensure!(workers.len() == 2, "the daemon's children: {workers:?}");
    ensure!(
        launcher.out().is_empty() && launcher.err().is_empty(),
        "launcher: {:?} {:?}",
        launcher.out(),
        launcher.err()
    );
    // COMMAND's stdout is the daemon's: the log file.
    launcher
        .wait_file("COMMAND's lines in the log", &log, 10 * SEC, |l| l.iter().filter(|l| *l == "run").count() >= 4)?;
    let text = read(&log);
    ensure!(text.contains("ready: 2 workers up"), "log:\n{text}");
    // The daemon is our child now (the runner is a subreaper).
    kill(daemon, libc::SIGTERM);
    let code = wait_exit(daemon, 10 * SEC)?;
    ensure!(code == 0, "daemon exit {code}:\n{}", read(&log));
    ensure!(!pidfile.exists(), "the pidfile outlived the daemon");
    ensure!(read(&log).contains("master stopped"), "log:\n{}", read(&log));
    println!("       launcher exited 0 after {} ms (200 ms setups), daemon {daemon}", took.as_millis());
    nothing_left()
}

fn daemonize_fails() -> Outcome {
    let dir = Dir::new("daemonfail")?;
    let (pidfile, log) = (dir.join("sis.pid"), dir.join("sis.log"));
    let (p, l, marker) = (pidfile.to_string_lossy().into_owned(), log.to_string_lossy().into_owned(), dir.at("marker"));
    let touch = format!("touch {marker}");
    let args =
        ["--daemonize", "--pidfile", &p, "--log-file", &l, "-w", "2", "--setup", "exit 4", "--", "sh", "-c", &touch];
    let mut launcher = Sis::start(&dir, "launcher", &args)?;
    let code = launcher.wait(10 * SEC)?;
    let err = launcher.err();
    ensure!(code == 1, "launcher exit {code}: {err}\n--- log ---\n{}", read(&log));
    ensure!(err.contains("daemon failed to start"), "launcher stderr: {err:?}");
    ensure!(err.contains("exited with code 4"), "launcher stderr lacks the reason: {err:?}");
    ensure!(err.lines().count() == 1, "launcher stderr: {err:?}");
    ensure!(launcher.out().is_empty(), "launcher stdout: {:?}", launcher.out());
    nothing_left()?;
    ensure!(!pidfile.exists(), "the failed daemon left its pidfile");
    ensure!(!Path::new(&marker).exists(), "COMMAND ran");
    println!("       {}", err.trim_end());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 11, 12: failed runs

fn killed_by_signal(strategy: &str, relay: bool) -> Outcome {
    let dir = Dir::new("segv")?;
    let mut args = vec!["--strategy", strategy, "--interval", "1h"];
    if relay {
        args.push("--prefix");
    }
    args.extend(["--", "sh", "-c", "kill -SEGV $$"]);
    let (mut cmd, out, err) = sisyphus(&dir, "segv", &args)?;
    // No core file, anywhere.
    cmd.current_dir(&dir.0);
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            Ok(())
        })
    };
    let mut sis = Sis::spawn(cmd, out, err)?;
    sis.wait_err("the run's end logged", 10 * SEC, |e| e.contains("killed by signal"))?;
    sis.stop()?;
    let err = sis.err();
    let line = err.lines().find(|l| l.contains("killed by signal")).unwrap_or("");
    ensure!(line.contains("killed by signal SEGV"), "the signal is not named: {line:?}");
    ensure!(err.lines().filter(|l| l.contains("killed by signal")).count() == 1, "{err}");
    println!("       {}", line.split_once(' ').map_or(line, |(_, rest)| rest));
    nothing_left()
}

fn backoff(strategy: &str) -> Outcome {
    let dir = Dir::new("backoff")?;
    let starts = dir.join("starts");
    let script = dir.script("fail.sh", &format!("date +%s.%N >> {}\nexit 3\n", starts.display()))?;
    let mut sis = Sis::start(&dir, "backoff", &["--strategy", strategy, "--", &script])?;
    sis.wait_file("4 runs", &starts, 10 * SEC, |l| l.len() >= 4)?;
    sis.stop()?;
    let gaps = gaps_ms(&lines(&starts)[..4]);
    for (k, (g, want)) in gaps.iter().zip([100.0, 200.0, 400.0]).enumerate() {
        ensure!(*g >= want - 10.0 && *g < want + 150.0, "gap {k}: {g:.1} ms, want about {want} ms: {gaps:?}");
    }
    let err = sis.err();
    let failures = err.lines().filter(|l| l.contains("exited with code 3")).count();
    ensure!(failures >= 4, "{failures} lines say 'exited with code 3' for 4 failed runs:\n{err}");
    ensure!(err.matches("started (pid").count() == 1, "the worker was replaced:\n{err}");
    let shown: Vec<String> = gaps.iter().map(|g| format!("{g:.1}")).collect();
    println!("       gaps {} ms", shown.join(", "));
    nothing_left()
}
