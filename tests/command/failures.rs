//! Failed runs: how they are logged and paced.

use std::os::unix::process::CommandExt;

use crate::support::*;
use crate::{Dir, Sis, ensure, gaps_ms, lines, nothing_left, sisyphus};

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
