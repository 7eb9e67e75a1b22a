//! Failed runs: how they are logged and paced.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use crate::support::*;
use crate::{Dir, Sis, ensure, gaps_ms, lines, nothing_left, reap_orphans, sisyphus};

pub fn killed_by_signal(strategy: &str, relay: bool) -> Outcome {
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
    // In the command's words: a run, not a perform.
    let want = if strategy == "forking" { "worker 0: run (pid " } else { "worker 0: run failed: sh was killed by" };
    ensure!(line.contains(want), "{line:?} does not say {want:?}");
    ensure!(err.lines().filter(|l| l.contains("killed by signal")).count() == 1, "{err}");
    println!("       {}", line.split_once(' ').map_or(line, |(_, rest)| rest));
    nothing_left()
}

pub fn backoff(strategy: &str) -> Outcome {
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

/// A worker killed from outside (the OOM killer, `kill -9`) takes its run down whole: COMMAND
/// and what COMMAND started.
pub fn worker_killed(strategy: &str, relay: bool) -> Outcome {
    let dir = Dir::new("killworker")?;
    let bg = dir.join("bg");
    // The first run starts a child and waits; the replacement worker's run ends at once.
    let b = bg.display();
    let script = dir.script("bg.sh", &format!("[ -s {b} ] && exit 0\nsleep 30 &\necho $$ $! >> {b}\nwait\n"))?;
    let mut args = vec!["--strategy", strategy, "--interval", "1h"];
    if relay {
        args.push("--prefix");
    }
    args.extend(["--", &script]);
    let mut sis = Sis::start(&dir, "killworker", &args)?;
    let ran = |l: &[String]| {
        let pids: Vec<Pid> = l.first()?.split(' ').filter_map(|p| p.parse().ok()).collect();
        (pids.len() == 2 && state(pids[1]).is_some()).then(|| (pids[0], pids[1]))
    };
    sis.wait_file("a run with a child", &bg, 10 * SEC, |l| ran(l).is_some())?;
    let (shell, sleep) = ran(&lines(&bg)).ok_or("no run")?;
    let worker = live_children(sis.pid);
    ensure!(worker.len() == 1, "workers: {worker:?}");
    kill(worker[0], libc::SIGKILL);
    let left = wait_for("the run and its child to die with the worker", 5 * SEC, || {
        reap_orphans();
        (!alive(shell) && !alive(sleep)).then_some(())
    });
    sis.stop()?;
    left.map_err(|e| format!("{e}: COMMAND {shell} alive {}, its child {sleep} alive {}", alive(shell), alive(sleep)))?;
    nothing_left()
}

/// A `--prefix` relay dies by its COMMAND's signal, to say how the run ended, but leaves the
/// core dump to COMMAND: no second one of its own.
pub fn relay_leaves_the_core_to_command() -> Outcome {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if pattern.trim() != "core" {
        return Err(format!(
            "SKIP: core_pattern is {:?}, not a file in the crashing process's directory",
            pattern.trim()
        ));
    }
    let dir = Dir::new("core")?;
    std::fs::create_dir(dir.join("sub")).map_err(|e| e.to_string())?;
    let args = ["--prefix", "--interval", "1h", "--", "sh", "-c", "cd sub && kill -SEGV $$"];
    let (mut cmd, out, err) = sisyphus(&dir, "dump", &args)?;
    cmd.current_dir(&dir.0);
    // As large a core as the hard limit allows.
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into a valid struct.
    unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) };
    if limit.rlim_max < 1 << 20 {
        return Err(format!("SKIP: the hard core size limit is {} bytes", limit.rlim_max));
    }
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let all = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            libc::setrlimit(libc::RLIMIT_CORE, &all);
            Ok(())
        })
    };
    let mut sis = Sis::spawn(cmd, out, err)?;
    sis.wait_err("the run's end logged", 10 * SEC, |e| e.contains("killed by signal SEGV"))?;
    sis.stop()?;
    let cores = |d: &std::path::Path| -> Vec<String> {
        let names = std::fs::read_dir(d).into_iter().flatten().flatten();
        names.map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("core")).collect()
    };
    let (command_cores, ours) = (cores(&dir.join("sub")), cores(&dir.0));
    ensure!(!command_cores.is_empty(), "COMMAND left no core: the test cannot tell");
    ensure!(ours.is_empty(), "a core dump where sisyphus runs: {ours:?}");
    nothing_left()
}

/// A script whose `#!` interpreter is missing fails each run with a line naming the script and
/// the interpreter, whatever the strategy; rewritten with CRLF line endings while sisyphus runs
/// (the start refuses those), the line names the carriage return and the way out.
pub fn missing_interpreter(strategy: &str, relay: bool) -> Outcome {
    let dir = Dir::new("interp")?;
    let script = dir.join("interp.sh");
    std::fs::write(&script, "#!/nonexistent/sisyphus-shell\necho ran\n").map_err(|e| e.to_string())?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let s = script.to_string_lossy().into_owned();
    let mut args = vec!["--strategy", strategy];
    if relay {
        args.push("--prefix");
    }
    args.extend(["--", &s]);
    let mut sis = Sis::start(&dir, "interp", &args)?;
    let failed = |needle: &str| {
        let needle = needle.to_string();
        move |l: &String| l.contains("run failed") && l.contains(&needle)
    };
    let missing = wait_for("a run failed for its interpreter", 10 * SEC, || {
        lines(&sis.err).into_iter().find(failed("/nonexistent/sisyphus-shell"))
    });
    std::fs::write(&script, "#!/bin/sh\r\necho ran\r\n").map_err(|e| e.to_string())?;
    let crlf = wait_for("a run failed for CRLF", 10 * SEC, || lines(&sis.err).into_iter().find(failed("dos2unix")));
    sis.stop()?;
    let (missing, crlf) =
        (missing.map_err(|e| format!("{e}{}", sis.show()))?, crlf.map_err(|e| format!("{e}{}", sis.show()))?);
    ensure!(missing.contains(&format!("cannot run {s}")) && missing.contains("interpreter"), "{missing:?}");
    ensure!(crlf.contains(&format!("cannot run {s}")) && crlf.contains("CRLF"), "{crlf:?}");
    for line in [missing, crlf] {
        println!("       {}", line.split_once(" WARN ").map_or(line.as_str(), |(_, l)| l));
    }
    nothing_left()
}
