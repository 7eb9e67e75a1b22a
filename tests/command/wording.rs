//! The command's own words: its log lines say "run" where the library's say "perform".

use crate::support::*;
use crate::{Dir, Sis, ensure, nothing_left};

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
