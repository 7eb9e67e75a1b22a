//! What COMMAND inherits: its variables, signal dispositions and mask, and descriptors.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;
use crate::{Dir, Notify, Sis, bit, ensure, env_map, lines, mask, nothing_left, read, sisyphus, wall_secs};

pub fn environment(strategy: &str) -> Outcome {
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
    // A nested sisyphus's variables are replaced, and a schedule it had is not passed on.
    let (mut cmd, out, err) = sisyphus(&again, "free", &["--strategy", strategy, "--", &script])?;
    cmd.env("SISYPHUS_SCHEDULED_AT", "123").env("SISYPHUS_WORKER", "7");
    let mut sis = Sis::spawn(cmd, out, err)?;
    let env_file = again.join("env");
    sis.wait_err("a run", 10 * SEC, |_| env_file.exists())?;
    sis.stop()?;
    let env = env_map(&read(&env_file));
    ensure!(env.get("SISYPHUS_WORKER").map(String::as_str) == Some("0"), "{env:?}");
    ensure!(!env.contains_key("SISYPHUS_SCHEDULED_AT"), "SISYPHUS_SCHEDULED_AT without --interval");
    nothing_left()
}

/// A script without `#!`, as a shell runs it: with `/bin/sh`, its arguments passed on.
pub fn script_without_shebang(strategy: &str) -> Outcome {
    let dir = Dir::new("noshebang")?;
    let ran = dir.join("ran");
    let path = dir.join("plain");
    std::fs::write(&path, format!("echo \"$# $1 $2\" >> {}\n", ran.display())).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let p = path.to_string_lossy();
    let mut sis = Sis::start(&dir, "plain", &["--strategy", strategy, "--interval", "1h", "--", &p, "a b", "c"])?;
    sis.wait_file("a run", &ran, 10 * SEC, |l| !l.is_empty())?;
    sis.stop()?;
    let got = lines(&ran);
    ensure!(got == ["2 a b c"], "the script saw {got:?}");
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

pub fn dispositions(strategy: &str) -> Outcome {
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
pub fn every_ignored_signal() -> Outcome {
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

pub fn descriptors(strategy: &str) -> Outcome {
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
