//! Exit statuses: a held pidfile, the restart limit, a stop that kills a run.

use std::path::Path;
use std::time::Instant;

use crate::support::*;
use crate::{Dir, Sis, ensure, nothing_left, read};

pub fn pidfile_held() -> Outcome {
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

pub fn restart_limit() -> Outcome {
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

pub fn stop_timeout(strategy: &str) -> Outcome {
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

/// Signals with no meaning to the master, which would end it silently by their default
/// action, leaving its pidfile: each is logged and ignored, and the pool goes on.
pub fn stray_signals_are_ignored() -> Outcome {
    let dir = Dir::new("stray")?;
    let pidfile = dir.join("sis.pid");
    let p = pidfile.to_string_lossy().into_owned();
    let mut sis = Sis::start(&dir, "stray", &["--pidfile", &p, "--interval", "1h", "--", "true"])?;
    let want = format!("{}\n", sis.pid);
    sis.wait_err("the pidfile", 10 * SEC, |_| read(&pidfile) == want)?;
    for (sig, name) in
        [(libc::SIGUSR2, "USR2"), (libc::SIGWINCH, "WINCH"), (libc::SIGALRM, "ALRM"), (libc::SIGIO, "IO")]
    {
        sis.signal(sig);
        let line = format!("SIG{name} ignored");
        sis.wait_err(&format!("{line} logged"), 5 * SEC, |e| e.contains(&line))?;
    }
    sis.stop()?;
    ensure!(!pidfile.exists(), "the pidfile outlived its sisyphus");
    nothing_left()
}
