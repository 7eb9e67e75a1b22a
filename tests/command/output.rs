//! When runs start (`--interval`) and how their output comes through (`--prefix`).

use std::collections::BTreeMap;

use crate::support::*;
use crate::{Dir, Sis, ensure, gaps_ms, lines, nothing_left};

pub fn pacing() -> Outcome {
    let dir = Dir::new("pace")?;
    let starts = dir.join("starts");
    let script = dir.script("run.sh", &format!("date +%s.%N >> {}\nsleep 0.1\n", starts.display()))?;
    let mut sis = Sis::start(&dir, "pace", &["-w", "1", "--interval", "300ms", "--", &script])?;
    sis.wait_file("5 runs", &starts, 10 * SEC, |l| l.len() >= 5)?;
    sis.stop()?;
    let gaps = gaps_ms(&lines(&starts)[..5]);
    ensure!(gaps.len() == 4 && gaps.iter().all(|g| (250.0..450.0).contains(g)), "start gaps (ms): {gaps:?}");
    let shown: Vec<String> = gaps.iter().map(|g| format!("{g:.1}")).collect();
    println!("       100 ms runs every 300 ms: gaps {} ms", shown.join(", "));
    nothing_left()
}

/// The 100-character line `i` of worker `w`: `w-iii-` and x's.
fn payload(w: u32, i: u32) -> String {
    format!("{w}-{i:03}-{}", "x".repeat(94))
}

pub fn prefix(strategy: &str) -> Outcome {
    let dir = Dir::new("prefix")?;
    let script = dir.script(
        "talk.sh",
        "printf 'abc'; sleep 0.01; printf 'def\\n'\n\
         awk -v w=\"$SISYPHUS_WORKER\" 'BEGIN { x = sprintf(\"%94s\", \"\"); gsub(/ /, \"x\", x);\n\
             for (i = 0; i < 200; i++) printf \"%d-%03d-%s\\n\", w, i, x }'\n\
         printf 'err-%s\\n' \"$SISYPHUS_WORKER\" >&2\n\
         printf 'tail'; sleep 0.01; printf 'piece'\n",
    )?;
    let args = ["-w", "4", "--prefix", "--strategy", strategy, "--interval", "100ms", "--", &script];
    let mut sis = Sis::start(&dir, "prefix", &args)?;
    let runs_of = |out: &str, w: u32| out.lines().filter(|l| *l == format!("[w{w}] tailpiece")).count();
    sis.wait_out("3 runs of each worker", 15 * SEC, |o| (0..4).all(|w| runs_of(o, w) >= 3))?;
    sis.stop()?;
    let (out, err) = (sis.out(), sis.err());
    ensure!(out.ends_with('\n'), "stdout ends in an unfinished line");
    let mut per_worker: BTreeMap<u32, BTreeMap<String, usize>> = BTreeMap::new();
    for line in out.lines() {
        let parsed = line
            .strip_prefix("[w")
            .and_then(|r| r.split_once("] "))
            .and_then(|(w, rest)| Some((w.parse::<u32>().ok().filter(|w| *w < 4)?, rest)));
        let Some((w, rest)) = parsed else { return Err(format!("unprefixed stdout line {line:?}")) };
        let known = rest == "abcdef" || rest == "tailpiece" || (0..200).any(|i| rest == payload(w, i));
        ensure!(known, "[w{w}]: not one of worker {w}'s whole lines: {line:?}");
        *per_worker.entry(w).or_default().entry(rest.to_string()).or_default() += 1;
    }
    let mut counts = Vec::new();
    for w in 0..4 {
        let seen = per_worker.get(&w).cloned().unwrap_or_default();
        let runs = seen.get("abcdef").copied().unwrap_or(0);
        ensure!(runs >= 3, "worker {w} ran {runs} times");
        ensure!(seen.get("tailpiece") == Some(&runs), "worker {w}: {runs} runs, tails {:?}", seen.get("tailpiece"));
        for i in 0..200 {
            let n = seen.get(&payload(w, i)).copied().unwrap_or(0);
            ensure!(n == runs, "worker {w}: line {i} relayed {n} times in {runs} runs");
        }
        let err_lines = err.lines().filter(|l| l.contains("err-")).collect::<Vec<_>>();
        let mine = err_lines.iter().filter(|l| **l == format!("[w{w}] err-{w}")).count();
        ensure!(mine == runs, "worker {w}: {mine} stderr lines for {runs} runs:\n{err}");
        counts.push(runs);
    }
    let stray: Vec<&str> = err.lines().filter(|l| l.contains("err-") && !l.starts_with("[w")).collect();
    ensure!(stray.is_empty(), "unprefixed stderr lines from COMMAND: {stray:?}");
    ensure!(!out.contains("err-"), "COMMAND's stderr reached stdout");
    println!("       runs per worker {counts:?}: every line whole and prefixed, 202 per run on stdout, 1 on stderr");
    nothing_left()
}
