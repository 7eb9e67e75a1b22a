//! The command's own words: its log lines say "run" where the library's say "perform"; the
//! last line counts late runs only on a schedule; runs back to back with no schedule are said
//! once for the pool.

use crate::health::log_time;
use crate::support::*;
use crate::{Dir, Sis, ensure, lines, nothing_left, wall_secs};

/// The back-to-back line, after `worker N: `.
const BACK_TO_BACK: &str = "runs are back to back: ";
const BACK_TO_BACK_END: &str = " in the last second (no --interval or --cron); options after COMMAND go to COMMAND";

/// `-v --interval 100ms --perform-timeout 400ms`, a COMMAND that fails once, overruns the
/// interval once, hangs once past its timeout, then succeeds; USR1; INT. Each of those lines
/// says "run" (a forking run by its pid, `run (pid N)`), the last line counts `runs late on
/// schedule`, and no line says "perform" but to name the perform timeout.
pub fn says_run(strategy: &str) -> Outcome {
    let dir = Dir::new("wording")?;
    let (step, ok) = (dir.at("step"), dir.join("ok"));
    let body = format!(
        "n=$(cat {step} 2>/dev/null || echo 0)\necho $((n + 1)) > {step}\n\
         case $n in\n0) exit 3 ;;\n1) sleep 0.25 ;;\n2) exec sleep 30 ;;\n*) echo $n >> {} ;;\nesac\n",
        ok.display()
    );
    let script = dir.script("steps.sh", &body)?;
    let args = ["-v", "--interval", "100ms", "--perform-timeout", "400ms", "--strategy", strategy, "--", &script];
    let mut sis = Sis::start(&dir, strategy, &args)?;
    sis.wait_file("2 runs after the hung one", &ok, 10 * SEC, |l| l.len() >= 2)?;
    sis.signal(libc::SIGUSR1);
    sis.wait_err("the USR1 line", 5 * SEC, |e| e.contains("USR1: log reopened"))?;
    sis.stop()?;
    let err = sis.err();
    let has = |needle: &str| err.lines().any(|l| l.contains(needle));
    let failed = match strategy {
        "forking" => "WARN worker 0: run (pid ".to_string(),
        _ => format!("WARN worker 0: run failed: {script} exited with code 3; next in "),
    };
    let killing = if strategy == "forking" { "; killing its run" } else { "; killing the worker" };
    for want in [
        failed.as_str(),
        "exited with code 3; next in ",
        "DEBUG worker 0: run 0 starts, ",
        "DEBUG worker 0: run 0 ended after ",
        "WARN worker 0: run started ",
        "ERROR worker 0 (pid ",
        "perform timeout: running ",
        killing,
        "INFO USR1: log reopened; 1 worker to reopen theirs between runs",
    ] {
        ensure!(has(want), "no line says {want:?}{}", sis.show());
    }
    let perform: Vec<&str> = err.lines().filter(|l| l.replace("perform timeout", "").contains("perform")).collect();
    ensure!(perform.is_empty(), "lines that say perform: {perform:#?}");
    let last = err.lines().last().unwrap_or_default();
    let late = last.split_once(" INFO master stopped (0 killed, runs late on schedule: ");
    let late = late.and_then(|(_, n)| n.strip_suffix(')')?.parse::<u64>().ok());
    ensure!(late.is_some_and(|n| n >= 1), "the last line does not count the late run: {last:?}{}", sis.show());
    println!("       {}", last.split_once(" INFO ").map_or(last, |(_, l)| l));
    nothing_left()
}

/// `-w 3`, a quick COMMAND followed by `--interval 30s`, which goes to COMMAND: one INFO line
/// a second or so after the start, `worker N: runs are back to back: K in the last second (no
/// --interval or --cron); options after COMMAND go to COMMAND` with K at least 10; worker 1
/// SIGKILLed and replaced, the replacement's first 2.5 s of runs add no second line.
pub fn back_to_back(strategy: &str, relay: bool) -> Outcome {
    let dir = Dir::new("backtoback")?;
    let runs = dir.join("runs");
    let script = dir.script("sweep.sh", &format!("date +%s.%N >> {}\n", runs.display()))?;
    let mut args = vec!["-w", "3", "--strategy", strategy];
    if relay {
        args.push("--prefix");
    }
    args.extend(["--", &script, "--interval", "30s"]);
    let t0 = wall_secs();
    let mut sis = Sis::start(&dir, "backtoback", &args)?;
    sis.wait_err("the back-to-back line", 10 * SEC, |e| e.contains(BACK_TO_BACK))?;
    let started = |e: &str| -> Vec<Pid> {
        let pid = |l: &str| l.split_once("INFO worker 1 started (pid ")?.1.strip_suffix(')')?.parse().ok();
        e.lines().filter_map(pid).collect()
    };
    let first = *started(&sis.err()).first().ok_or_else(|| format!("no worker 1{}", sis.show()))?;
    kill(first, libc::SIGKILL);
    sis.wait_err("worker 1 replaced", 5 * SEC, |e| started(e).len() == 2)?;
    let replaced = wall_secs();
    let after = |l: &[String]| l.last().and_then(|t| t.trim().parse::<f64>().ok()).is_some_and(|t| t > replaced + 2.5);
    sis.wait_file("runs 2.5 s after the replacement", &runs, 10 * SEC, after)?;
    sis.stop()?;
    let err = sis.err();
    let said: Vec<&str> = err.lines().filter(|l| l.contains(BACK_TO_BACK)).collect();
    ensure!(said.len() == 1, "{} back-to-back lines, want 1: {said:#?}", said.len());
    let line = said[0];
    let count = line.split_once(BACK_TO_BACK).and_then(|(head, tail)| {
        let worker = head.split_once(" INFO worker ")?.1.strip_suffix(": ")?.parse::<usize>().ok()?;
        (worker < 3).then_some(())?;
        tail.strip_suffix(BACK_TO_BACK_END)?.parse::<u64>().ok()
    });
    ensure!(count.is_some_and(|k| k >= 10), "not the back-to-back line, or under 10 runs: {line:?}");
    let at = log_time(line).map(|t| t - t0);
    ensure!(at.is_some_and(|s| (1.0..3.0).contains(&s)), "said {at:?} s after the start: {line:?}");
    println!("       {}", line.split_once(" INFO ").map_or(line, |(_, l)| l));
    nothing_left()
}

/// Quick runs on a schedule (`--interval 10ms -w 2`) and slow runs without one (about 6 a
/// second): 2.5 s of runs and no back-to-back line; the last line counts late runs on the
/// schedule and is `master stopped (0 killed)` without one.
pub fn not_back_to_back() -> Outcome {
    let dir = Dir::new("notbacktoback")?;
    let (quick, slow) = (dir.join("quick"), dir.join("slow"));
    let q = dir.script("quick.sh", &format!("date +%s.%N >> {}\n", quick.display()))?;
    let s = dir.script("slow.sh", &format!("date +%s.%N >> {}\nsleep 0.15\n", slow.display()))?;
    let t0 = wall_secs();
    let mut scheduled = Sis::start(&dir, "scheduled", &["-w", "2", "--interval", "10ms", "--", &q])?;
    let mut unscheduled = Sis::start(&dir, "slow", &["--", &s])?;
    let after = |l: &[String]| l.last().and_then(|t| t.trim().parse::<f64>().ok()).is_some_and(|t| t > t0 + 2.5);
    scheduled.wait_file("scheduled runs 2.5 s in", &quick, 10 * SEC, after)?;
    unscheduled.wait_file("slow runs 2.5 s in", &slow, 10 * SEC, after)?;
    let n = lines(&quick).len();
    ensure!(n >= 200, "{n} scheduled runs in 2.5 s: not quick enough to test anything");
    scheduled.stop()?;
    unscheduled.stop()?;
    for sis in [&scheduled, &unscheduled] {
        ensure!(!sis.err().contains(BACK_TO_BACK), "a back-to-back line{}", sis.show());
    }
    let last = |sis: &Sis| sis.err().lines().last().unwrap_or_default().to_string();
    let (on, off) = (last(&scheduled), last(&unscheduled));
    ensure!(on.contains(" INFO master stopped (0 killed, runs late on schedule: "), "on a schedule: {on:?}");
    ensure!(off.ends_with(" INFO master stopped (0 killed)"), "with none: {off:?}");
    println!("       {}", off.split_once(" INFO ").map_or(off.as_str(), |(_, l)| l));
    nothing_left()
}
