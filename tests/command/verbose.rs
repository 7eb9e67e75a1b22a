//! `-v`: a line as each run starts and one as it ends; and a failed run's line says when the
//! next run comes.

use crate::support::*;
use crate::{Dir, Sis, ensure};

/// Runs that succeed and fail in turn, every 150 ms: with `-v`, each run's start line (how
/// long after its due time) and end line (duration, outcome); each failure's WARN line ends
/// with `next in`. Without `-v`, neither per-run line.
pub fn verbose_lines(strategy: &str) -> Outcome {
    let dir = Dir::new("verbose")?;
    let command = ["sh", "-c", "exit $(( SISYPHUS_ITERATION % 2 ))"];
    let mut args = vec!["-v", "-w", "1", "--interval", "150ms", "--strategy", strategy, "--"];
    args.extend(command);
    let mut sis = Sis::start(&dir, strategy, &args)?;
    sis.wait_err("4 runs ended", 10 * SEC, |e| e.contains("worker 0: run 3 ended after "))?;
    sis.stop()?;
    let err = sis.err();
    let line = |needle: &str| err.lines().find(|l| l.contains(needle)).map(str::to_string);
    for i in 0..4 {
        let start = line(&format!(" DEBUG worker 0: run {i} starts, "));
        ensure!(start.is_some_and(|l| l.ends_with(" after its due time")), "no start line for run {i}:\n{err}");
        let end = line(&format!(" DEBUG worker 0: run {i} ended after ")).unwrap_or_default();
        let outcome = end.rsplit_once(": ").map(|(_, o)| o).unwrap_or_default();
        let want_failed =
            if strategy == "forking" { ") exited with code 1" } else { "run failed: sh exited with code 1" };
        match i % 2 {
            0 => ensure!(outcome == "ok", "run {i} ended {outcome:?}, not ok:\n{err}"),
            _ => ensure!(end.ends_with(want_failed), "run {i}'s end line lacks {want_failed:?}: {end:?}\n{err}"),
        }
    }
    let warns: Vec<&str> = err.lines().filter(|l| l.contains(" WARN worker 0: ")).collect();
    ensure!(warns.len() >= 2, "fewer than 2 failure lines:\n{err}");
    ensure!(
        warns.iter().all(|l| l.contains("exited with code 1; next in ")),
        "a failure line lacks `next in`: {warns:?}"
    );
    // A run, by its pid when it is a child of the worker: `run (pid N) exited with code 1`.
    let failed =
        if strategy == "forking" { "WARN worker 0: run (pid " } else { "WARN worker 0: run failed: sh exited" };
    ensure!(warns.iter().all(|l| l.contains(failed)), "a failure line does not say {failed:?}: {warns:?}");
    // Without -v: the failure lines, and no per-run line.
    let mut quiet = Sis::start(&dir, &format!("{strategy}-quiet"), &args[1..])?;
    quiet.wait_err("a failed run", 10 * SEC, |e| e.contains("exited with code 1; next in "))?;
    quiet.stop()?;
    ensure!(!quiet.err().contains(" starts"), "per-run lines without -v:\n{}", quiet.err());
    crate::nothing_left()
}
