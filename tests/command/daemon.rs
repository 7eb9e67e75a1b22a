//! `--daemonize`: the launcher exits once the workers are up, or with the daemon's error.

use std::path::Path;
use std::time::Instant;

use crate::support::*;
use crate::{Dir, Sis, ensure, lines, nothing_left, read};

pub fn daemonize() -> Outcome {
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

pub fn daemonize_fails() -> Outcome {
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
    ensure!(err.starts_with("sisyphus: daemon failed to start"), "launcher stderr: {err:?}");
    ensure!(err.contains("exited with code 4"), "launcher stderr lacks the reason: {err:?}");
    ensure!(err.lines().count() == 1, "launcher stderr: {err:?}");
    ensure!(launcher.out().is_empty(), "launcher stdout: {:?}", launcher.out());
    nothing_left()?;
    ensure!(!pidfile.exists(), "the failed daemon left its pidfile");
    ensure!(!Path::new(&marker).exists(), "COMMAND ran");
    println!("       {}", err.trim_end());
    Ok(())
}

/// A relative COMMAND names the same file from the daemon, which works from `/`.
pub fn daemonize_relative_command() -> Outcome {
    let dir = Dir::new("daemonrel")?;
    let (pidfile, log, script) = (dir.join("sis.pid"), dir.join("sis.log"), dir.join("run.sh"));
    std::fs::write(&script, "#!/bin/sh\necho \"rel-run $(pwd)\"\nsleep 0.1\n").map_err(|e| e.to_string())?;
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let (p, l) = (pidfile.to_string_lossy().into_owned(), log.to_string_lossy().into_owned());
    let (mut cmd, out, err) =
        crate::sisyphus(&dir, "launcher", &["--daemonize", "--pidfile", &p, "--log-file", &l, "--", "./run.sh"])?;
    cmd.current_dir(dir.join(""));
    let mut launcher = Sis::spawn(cmd, out, err)?.logging_to(&log);
    let code = launcher.wait(10 * SEC)?;
    ensure!(code == 0, "launcher exit {code}: {}", launcher.err());
    launcher
        .wait_file("two runs in the log", &log, 10 * SEC, |l| l.iter().filter(|l| *l == "rel-run /").count() >= 2)?;
    ensure!(!read(&log).contains("cannot run"), "log:\n{}", read(&log));
    let daemon: Pid = read(&pidfile).trim().parse().map_err(|_| format!("pidfile {:?}", read(&pidfile)))?;
    kill(daemon, libc::SIGTERM);
    let code = wait_exit(daemon, 10 * SEC)?;
    ensure!(code == 0, "daemon exit {code}:\n{}", read(&log));
    nothing_left()
}
