//! `daemonize`: the launcher exits 0 once every worker is up, or 1 with the daemon's error,
//! and is refused under a service manager.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::support::*;
use crate::{
    Host, ensure, fd_target, hosted, masters_seen, no_notify_socket, pgid_sid, pid_line, read, redirect_stderr, report,
    reported, status_text, temp_path, term_and_check, wait_all_gone,
};
use sisyphus::{FileLogger, Master, NullLogger};

pub fn daemon_up() -> Outcome {
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

pub fn daemon_setup_fails() -> Outcome {
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

pub fn daemon_held() -> Outcome {
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

pub fn daemon_under_notify_socket() -> Outcome {
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
