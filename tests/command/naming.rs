//! `--name`: what the workers call themselves in `ps`, and the names refused.

use std::path::Path;
use std::time::Instant;

use crate::support::*;
use crate::{Dir, Sis, ensure, lines, nothing_left, sisyphus};

/// `/proc/PID/comm`, without its newline ("" once the process is gone).
fn comm(pid: Pid) -> String {
    let bytes = std::fs::read(format!("/proc/{pid}/comm")).unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end_matches('\n').to_string()
}

pub fn name_option() -> Outcome {
    let dir = Dir::new("name")?;
    let runs = dir.join("runs");
    // $PPID: the worker, which forked the run (forking) or started it (simple).
    let script =
        dir.script("run.sh", &format!("echo \"run $SISYPHUS_WORKER $PPID\" >> {}\nexec sleep 0.2\n", runs.display()))?;
    for strategy in ["forking", "simple"] {
        let _ = std::fs::remove_file(&runs);
        let args = ["--name", "sweep", "-w", "2", "--strategy", strategy, "--", &script];
        let mut sis = Sis::start(&dir, strategy, &args)?;
        let ran = |l: &[String], n: usize| l.iter().any(|l| l.starts_with(&format!("run {n} ")));
        sis.wait_file("a run of each worker", &runs, 10 * SEC, |l| ran(l, 0) && ran(l, 1))?;
        for slot in 0..2 {
            let line = lines(&runs).into_iter().find(|l| l.starts_with(&format!("run {slot} "))).unwrap_or_default();
            let worker: Pid = line.rsplit(' ').next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let want = format!("sweep-w{slot}");
            ensure!(parent_of(worker) == Some(sis.pid), "{strategy}: run of slot {slot} from {worker}, not a worker");
            ensure!(comm(worker) == want, "{strategy}: worker {slot} calls itself {:?}, want {want:?}", comm(worker));
        }
        let mut workers: Vec<String> = live_children(sis.pid).into_iter().map(comm).collect();
        workers.sort();
        ensure!(workers == ["sweep-w0", "sweep-w1"], "{strategy}: sisyphus's children are called {workers:?}");
        ensure!(comm(sis.pid) == "sisyphus", "{strategy}: sisyphus calls itself {:?}", comm(sis.pid));
        sis.stop()?;
        nothing_left()?;
    }
    bad_names(&dir)
}

/// `--name ''`, `a/b` and one with a tab: exit 2 at once with one line naming `--name` and the
/// value, nothing run, no log file created.
fn bad_names(dir: &Dir) -> Outcome {
    let marker = dir.at("marker");
    let log = dir.join("never.log");
    let (touch, log_arg) = (format!("touch {marker}"), log.to_string_lossy().into_owned());
    for (i, name) in ["", "a/b", "tab\there"].into_iter().enumerate() {
        let args = ["--name", name, "--log-file", &log_arg, "--setup", &touch, "--", "sh", "-c", &touch];
        let (cmd, out, err) = sisyphus(dir, &format!("bad{i}"), &args)?;
        let t0 = Instant::now();
        let mut sis = Sis::spawn(cmd, out, err)?;
        let code = sis.wait(5 * SEC).map_err(|e| format!("--name {name:?} was not refused: {e}"))?;
        let took = t0.elapsed();
        let (stdout, stderr) = (sis.out(), sis.err());
        let what = format!("--name {name:?}: exit {code}, stdout {stdout:?}, stderr {stderr:?}");
        ensure!(code == 2 && stdout.is_empty(), "{what}: want exit 2 and nothing on stdout");
        ensure!(stderr.starts_with("sisyphus: ") && stderr.lines().count() == 1, "{what}: not one sisyphus line");
        ensure!(stderr.contains(&format!("--name {name:?}")), "{what}: does not name --name and its value");
        ensure!(stderr.contains("--help") && took < 2 * SEC, "{what}: took {took:?}, or no pointer to --help");
        ensure!(!Path::new(&marker).exists() && !log.exists(), "{what}: something ran, or the log was created");
        ensure!(descendants().is_empty(), "{what}: left {:?}", descendants());
    }
    nothing_left()
}
