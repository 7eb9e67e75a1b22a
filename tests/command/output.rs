//! When runs start (`--interval`) and how their output comes through (`--prefix`).

use std::collections::BTreeMap;
use std::fs::File;
use std::process::{Command, Stdio};

use crate::support::*;
use crate::{Dir, Sis, ensure, gaps_ms, lines, nothing_left, read, sisyphus};

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

/// Lines longer than a pipe takes in one write, from 4 workers at once, through a pipe: each
/// goes out in pieces, each piece a whole prefixed line of its own worker, none mixed. To a
/// file (stderr here), which takes any write whole, they go out whole.
pub fn prefix_long_lines_through_a_pipe() -> Outcome {
    const LEN: usize = 10_000;
    const LINES: usize = 40;
    let dir = Dir::new("longlines")?;
    let script = dir.script(
        "long.sh",
        &format!(
            "awk -v w=\"$SISYPHUS_WORKER\" 'BEGIN {{ x = w; while (length(x) < {LEN}) x = x x;\n\
                 x = substr(x, 1, {LEN}); for (i = 0; i < {LINES}; i++) print x;\n\
                 print x > \"/dev/stderr\" }}'\n"
        ),
    )?;
    let args = ["-w", "4", "--prefix", "--interval", "1h", "--", &script];
    let (mut cmd, out, err) = sisyphus(&dir, "long", &args)?;
    let piped = dir.join("piped");
    let file = File::create(&piped).map_err(|e| e.to_string())?;
    let mut cat = Command::new("cat").stdin(Stdio::piped()).stdout(file).spawn().map_err(|e| e.to_string())?;
    cmd.stdout(cat.stdin.take().ok_or("no pipe")?);
    let mut sis = Sis::spawn(cmd, out, err)?;
    let chars = |text: &str, w: usize| text.bytes().filter(|&b| b == b'0' + w as u8).count();
    let whole = |text: &str| (0..4).all(|w| chars(text, w) >= LEN * LINES);
    sis.until("every worker's lines", 10 * SEC, || whole(&read(&piped)))?;
    sis.stop()?;
    let sis_err = sis.err();
    drop(sis);
    wait_exit(cat.id() as Pid, 5 * SEC)?;
    let text = read(&piped);
    let mut longest = 0;
    for line in text.lines() {
        let Some((w, rest)) = line.strip_prefix("[w").and_then(|r| r.split_once("] ")) else {
            return Err(format!("an unprefixed line: {:?}...", &line[..line.len().min(40)]));
        };
        let digit = w.bytes().next().filter(|_| w.len() == 1).ok_or(format!("prefix [w{w}]"))?;
        ensure!(!rest.is_empty() && rest.bytes().all(|b| b == digit), "worker {w}'s line holds another's bytes");
        longest = longest.max(line.len() + 1);
    }
    for w in 0..4 {
        let lines = text.lines().filter(|l| l.starts_with(&format!("[w{w}] "))).count();
        let got = chars(&text, w) - lines;
        ensure!(got == LEN * LINES, "worker {w}: {got} of its bytes, want {}", LEN * LINES);
    }
    ensure!(longest <= 4096, "a write of {longest} bytes: a pipe mixes those");
    let err = sis_err;
    for w in 0..4 {
        let whole = format!("[w{w}] {}", w.to_string().repeat(LEN));
        ensure!(
            err.lines().any(|l| l == whole),
            "worker {w}'s stderr line is not whole in a file:\n{}",
            &err[..err.len().min(300)]
        );
    }
    println!(
        "       4 workers x {LINES} lines of {LEN} bytes: pieces of at most {longest} bytes, none mixed; whole in a file"
    );
    nothing_left()
}

/// A replaced worker keeps its slot's schedule: recycled by `--max-performs`, rolled by HUP,
/// or after a crash, the next run still starts one interval after the last, not at once.
pub fn pacing_survives_replacement() -> Outcome {
    let dir = Dir::new("pace-replaced")?;
    let starts = dir.join("starts");
    // The fifth run kills its worker.
    let s = starts.display();
    let body = format!("date +%s.%N >> {s}\n[ \"$(wc -l < {s})\" -eq 5 ] && kill -KILL $PPID\nexit 0\n");
    let script = dir.script("run.sh", &body)?;
    let args = ["--max-performs", "2", "--interval", "300ms", "--strategy", "simple", "--", &script];
    let mut sis = Sis::start(&dir, "pace", &args)?;
    sis.wait_file("3 runs", &starts, 10 * SEC, |l| l.len() >= 3)?;
    sis.signal(libc::SIGHUP);
    sis.wait_file("8 runs", &starts, 10 * SEC, |l| l.len() >= 8)?;
    sis.stop()?;
    let gaps = gaps_ms(&lines(&starts)[..8]);
    ensure!(gaps.iter().all(|g| (250.0..450.0).contains(g)), "start gaps (ms): {gaps:?}{}", sis.show());
    let err = sis.err();
    ensure!(err.contains("rolling restart") || err.contains("HUP"), "no roll logged:\n{err}");
    ensure!(err.contains("killed by signal KILL"), "the worker was not killed:\n{err}");
    let shown: Vec<String> = gaps.iter().map(|g| format!("{g:.1}")).collect();
    println!("       every 300 ms through 2 recycles, a HUP roll and a crash: gaps {} ms", shown.join(", "));
    nothing_left()
}
