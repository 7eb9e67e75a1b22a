//! The API's newer parts, seen from outside: `Master::name` in `/proc/PID/comm`,
//! `Context::workers`, `Context::log` through the master's `FileLogger` across a rotation,
//! and the settings refused before anything forks. See tests/README.md.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sisyphus::{BoxError, Context, Error, FileLogger, Job, Level, Master, Signal, Strategy};
use support::*;

fn main() {
    run_scenarios(&[
        ("name_names_workers_and_perform_children", name_names_workers),
        ("a_long_name_is_cut_so_that_the_slot_stays_visible", long_names_are_cut),
        ("a_bad_name_is_refused_before_anything_forks", bad_name_refused),
        ("context_workers_is_the_pool_size", context_workers),
        ("forking_job_lines_reach_the_log_file_and_follow_a_rotation", || job_log(Strategy::Forking)),
        ("simple_job_lines_reach_the_log_file_and_follow_a_rotation", || job_log(Strategy::Simple)),
        ("a_stop_signal_with_the_simple_strategy_is_refused", stop_signal_with_simple_refused),
    ]);
}

/// Records `setup SLOT PID WORKERS` and `perform SLOT ITER PID WORKERS PPID` (so `setup_pids`
/// and `performs` read them), then sleeps 20 ms. With `log`, each perform also logs through
/// `Context::log`: `job line SLOT ITER` at INFO, a DEBUG line (below the logger's level), and
/// in its first perform a WARN line with a newline in it; and `setup` logs `job setup SLOT`.
#[derive(Clone)]
struct Tell {
    ev: Events,
    log: bool,
}

impl Job for Tell {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.ev.add(&format!("setup {} {} {}", ctx.worker(), getpid(), ctx.workers()));
        if self.log {
            ctx.log(Level::Info, format_args!("job setup {}", ctx.worker()));
        }
        Ok(())
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let (slot, iter) = (ctx.worker(), ctx.iteration());
        // SAFETY: no preconditions.
        let ppid = unsafe { libc::getppid() };
        self.ev.add(&format!("perform {slot} {iter} {} {} {ppid}", getpid(), ctx.workers()));
        if self.log {
            ctx.log(Level::Info, format_args!("job line {slot} {iter}"));
            ctx.log(Level::Debug, format_args!("job debug line {slot} {iter}"));
            if iter == 0 {
                ctx.log(Level::Warn, format_args!("job note\nforged {slot}"));
            }
        }
        std::thread::sleep(20 * MS);
        Ok(())
    }
}

/// `/proc/PID/comm`, without its newline ("" once the process is gone).
fn comm(pid: Pid) -> String {
    let bytes = std::fs::read(format!("/proc/{pid}/comm")).unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end_matches('\n').to_string()
}

fn name_names_workers() -> Outcome {
    names_seen("sweep", "sweep", 2, |slot, kind| format!("sweep-{kind}{slot}"))
}

fn long_names_are_cut() -> Outcome {
    // 16 bytes: cut to 12 before `-wN`, to 11 before `-w10`; each whole name is 15 bytes.
    let long = |slot, kind| match slot {
        0..10 => format!("nightly-arch-{kind}{slot}"),
        _ => format!("nightly-arc-{kind}{slot}"),
    };
    names_seen("long", "nightly-archiver", 11, long)?;
    // 20 bytes: byte 12 falls inside `語` (bytes 11-13), so the cut goes back to its start.
    names_seen("utf8", "sync-日本語-jobs", 1, |slot, kind| format!("sync-日本-{kind}{slot}"))
}

/// Runs `workers` forking workers under `name`, performs sleeping 300 ms: the worker of each
/// slot k must call itself `want(k, 'w')`, a perform child of it caught while it runs
/// `want(k, 'p')`, and every process below the master one of those names; the master keeps its own.
fn names_seen(tag: &str, name: &str, workers: usize, want: impl Fn(usize, char) -> String) -> Outcome {
    let ev = Events::new(tag);
    let probe = Probe { pause: 10 * MS, ..Probe::new(&ev).perform(Act::Sleep(300 * MS)) };
    let name = name.to_string();
    let master = spawn_master(&ev, || Master::new(probe).name(name).workers(workers).logger(ev.logger()).run());
    ev.wait("every worker's setup", 10 * SEC, |ev| ev.count("setup ") == workers)?;
    let names: BTreeSet<String> = (0..workers).flat_map(|k| [want(k, 'w'), want(k, 'p')]).collect();
    ensure!(names.iter().all(|n| n.len() <= 15), "expected names over 15 bytes: {names:?}");
    for slot in 0..workers {
        let worker = setup_pids(&ev, slot)[0];
        ensure!(parent_of(worker) == Some(master), "slot {slot}'s worker {worker} is not the master's child");
        ensure!(comm(worker) == want(slot, 'w'), "slot {slot}'s worker calls itself {:?}", comm(worker));
        // A fresh perform child has its worker's name until it names itself.
        let mut seen = BTreeSet::new();
        wait_for(&format!("a perform child of slot {slot} named {:?}", want(slot, 'p')), 5 * SEC, || {
            let named = live_children(worker).into_iter().map(comm).filter(|c| !c.is_empty());
            seen.extend(named);
            seen.contains(&want(slot, 'p')).then_some(())
        })
        .map_err(|e| format!("{e}; its children were called {seen:?}"))?;
        ensure!(seen.iter().all(|c| *c == want(slot, 'p') || *c == want(slot, 'w')), "slot {slot}: {seen:?}");
    }
    let below: BTreeSet<String> = descendants_of(master).into_iter().map(|(p, _)| comm(p)).collect();
    let strays: Vec<_> = below.iter().filter(|c| !c.is_empty() && !names.contains(*c)).collect();
    ensure!(strays.is_empty(), "processes below the master called {strays:?}; expected only {names:?}");
    ensure!(!names.contains(&comm(master)), "the master renamed itself {:?}", comm(master));
    let killed = stop_and_check(&ev, master)?;
    ensure!(killed == 0, "the stop killed {killed} workers");
    Ok(())
}

/// Records how a call ended: `call TAG ok`, `call TAG config WHY` or `call TAG other ERROR`.
fn record<T>(ev: &Events, tag: &str, result: Result<T, Error>) {
    match result {
        Ok(_) => ev.add(&format!("call {tag} ok")),
        Err(Error::Config(why)) => ev.add(&format!("call {tag} config {why}")),
        Err(e) => ev.add(&format!("call {tag} other {e:?}")),
    }
}

/// What `record` wrote for `tag`: `ok`, `config WHY` or `other ERROR`.
fn recorded(ev: &Events, tag: &str) -> Result<String, String> {
    let prefix = format!("call {tag} ");
    let got = ev.lines().into_iter().find_map(|l| l.strip_prefix(&prefix).map(str::to_string));
    got.ok_or_else(|| format!("no outcome recorded for {tag}: {:?}", ev.lines()))
}

/// Runs `calls` in a forked child of its own, then checks it forked nothing: no `setup` ran,
/// it had no child left, and nothing is left below us.
fn in_a_child(ev: &Events, calls: impl FnOnce(&Events)) -> Outcome {
    let ev2 = ev.clone();
    let child = fork_child(move || {
        calls(&ev2);
        record_left(&ev2);
        0
    });
    let code = wait_exit(child, 10 * SEC)
        .map_err(|e| format!("{e}: a call did not return (did it start a pool?) {:?}", ev.lines()))?;
    ensure!(code == 0, "the calling process exited {code}: {:?}", ev.lines());
    ensure!(ev.count("setup ") == 0 && ev.has("left 0"), "something was forked: {:?}", ev.lines());
    ensure!(descendants().is_empty(), "left below us: {:?}", descendants());
    Ok(())
}

fn bad_name_refused() -> Outcome {
    let ev = Events::new("badname");
    let bad = ["a/b", "", "/", "tab\there", "new\nline", "bell\u{7}", "del\u{7f}"];
    in_a_child(&ev, |ev| {
        for (i, name) in bad.iter().enumerate() {
            let master = || Master::new(Probe::new(ev)).name(*name).workers(2).logger(ev.logger());
            record(ev, &format!("validate{i}"), master().validate());
            record(ev, &format!("run{i}"), master().run());
            record(ev, &format!("start_worker{i}"), master().start_worker());
        }
    })?;
    for (i, name) in bad.iter().enumerate() {
        for call in ["validate", "run", "start_worker"] {
            let got = recorded(&ev, &format!("{call}{i}"))?;
            let (quoted, what) = (format!("{name:?}"), format!("{call} with name {name:?}"));
            ensure!(got.starts_with("config "), "{what}: not Error::Config but {got}");
            ensure!(got.contains("name") && got.contains(&quoted), "{what}: {got:?} does not name name {quoted}");
        }
    }
    println!("       {}", recorded(&ev, "run0")?);
    Ok(())
}

fn context_workers() -> Outcome {
    let ev = Events::new("workers");
    let job = Tell { ev: ev.clone(), log: false };
    let master = spawn_master(&ev, || Master::new(job).workers(3).logger(ev.logger()).run());
    let performing = |slot: usize, n: usize| move |ev: &Events| performs(ev, slot).len() >= n;
    ev.wait("3 performs in each of slots 0-2", 10 * SEC, |ev| (0..3).all(|s| performing(s, 3)(ev)))?;
    for slot in [3, 4] {
        kill(master, libc::SIGTTIN);
        ev.wait(&format!("slot {slot} added by TTIN performing"), 10 * SEC, performing(slot, 3))?;
    }
    // Down to 2 live workers: a replacement in slot 1 still sees the configured 3.
    // One at a time: signals sent together may arrive as one.
    for left in [4, 3, 2] {
        kill(master, libc::SIGTTOU);
        wait_for(&format!("{left} workers left"), 10 * SEC, || (live_children(master).len() == left).then_some(()))?;
    }
    let first = setup_pids(&ev, 1)[0];
    kill(first, libc::SIGKILL);
    // Its performs ran in it (simple) or in its children (forking).
    ev.wait("2 performs of slot 1's replacement", 10 * SEC, |ev| {
        let Some(&new) = setup_pids(ev, 1).get(1) else { return false };
        let by = |w: &Vec<String>| w[3].parse() == Ok(new) || w[5].parse() == Ok(new);
        ev.find("perform 1 ").iter().filter(|w| by(w)).count() >= 2
    })?;
    let killed = stop_and_check(&ev, master)?;
    ensure!(killed == 0, "the stop killed {killed} workers");
    // Slots 0-2 are the configured pool; slot k added beyond it sees k + 1.
    let mut seen: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for w in ev.find("setup ").into_iter().chain(ev.find("perform ")) {
        let at = if w[0] == "setup" { 3 } else { 4 };
        let (slot, workers) = (w[1].parse::<usize>().unwrap_or(99), w[at].clone());
        seen.entry(slot).or_default().insert(format!("{} {workers}", w[0]));
    }
    let want = |slot: usize| -> BTreeSet<String> {
        let n = if slot < 3 { 3 } else { slot + 1 };
        [format!("setup {n}"), format!("perform {n}")].into()
    };
    for slot in 0..5 {
        ensure!(seen.get(&slot) == Some(&want(slot)), "slot {slot} saw workers() as {:?}", seen.get(&slot));
    }
    ensure!(seen.len() == 5, "slots seen: {:?}", seen.keys());
    Ok(())
}

/// A job line of the log file: `TIMESTAMP PID INFO job line SLOT ITER`.
#[derive(Debug)]
struct JobLine {
    pid: Pid,
    slot: usize,
    iter: u64,
}

/// The job lines of `text`, each checked for the logger's format and a timestamp from this run.
fn job_lines(text: &str, since_ms: u64) -> Result<Vec<JobLine>, String> {
    let now_ms = unix_ms() + 1000;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.contains(" job line ")) {
        let w: Vec<&str> = line.split(' ').collect();
        let at = w.first().and_then(|t| parse_utc_ms(t));
        let ok = w.len() == 7 && at.is_some_and(|t| t + 1000 >= since_ms && t <= now_ms) && w[2] == "INFO";
        ensure!(ok && w[3..5] == ["job", "line"], "not in the logger's format, or not from this run: {line:?}");
        let (pid, slot, iter) = (w[1].parse(), w[5].parse(), w[6].parse());
        let (Ok(pid), Ok(slot), Ok(iter)) = (pid, slot, iter) else { return Err(format!("bad numbers: {line:?}")) };
        out.push(JobLine { pid, slot, iter });
    }
    Ok(out)
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// `2026-11-28T09:15:02.123Z` as Unix milliseconds.
fn parse_utc_ms(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    let shape = b.len() == 24 && b[23] == b'Z' && [4, 7, 10, 13, 16, 19].map(|i| b[i]) == *b"--T::.";
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    // Howard Hinnant's days_from_civil.
    let yy = if m <= 2 { y - 1 } else { y };
    let (era, yoe) = (yy.div_euclid(400), yy.rem_euclid(400));
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    shape.then_some((((days * 24 + hh) * 60 + mm) * 60 + ss) as u64 * 1000 + ms as u64)
}

fn job_log(strategy: Strategy) -> Outcome {
    let ev = Events::new("joblog");
    let path = std::env::temp_dir().join(format!("sisyphus-test-{}-job.log", getpid()));
    let old = path.with_extension("log.1");
    let _ = (std::fs::remove_file(&path), std::fs::remove_file(&old));
    let (job, log_path, since) = (Tell { ev: ev.clone(), log: true }, path.clone(), unix_ms());
    let master = spawn_master(&ev, move || {
        // `?` on an io::Error: `From<io::Error> for sisyphus::Error`.
        let logger = FileLogger::new(&log_path)?;
        Master::new(job).workers(2).strategy(strategy).logger(logger).run()
    });
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let each_has = |p: &Path, n: usize| {
        let lines = job_lines(&read(p), since).unwrap_or_default();
        (0..2).all(|s| lines.iter().filter(|l| l.slot == s).count() >= n)
    };
    wait_for("3 job lines of each worker in the log file", 10 * SEC, || each_has(&path, 3).then_some(()))?;
    std::fs::rename(&path, &old).map_err(|e| e.to_string())?;
    kill(master, libc::SIGUSR1);
    wait_for("a job line of each worker in the new file", 5 * SEC, || each_has(&path, 1).then_some(()))?;
    // Both workers have reopened and their earlier performs are over: nothing more goes there.
    let old_text = read(&old);
    wait_for("4 job lines of each worker in the new file", 5 * SEC, || each_has(&path, 4).then_some(()))?;
    kill(master, libc::SIGINT);
    let code = wait_exit(master, 10 * SEC)?;
    ensure!(code == 0 && ev.has("run ok killed=0"), "exit {code}: {:?}", ev.lines());
    assert_nothing_left(&ev, master)?;
    let (old_now, new_text) = (read(&old), read(&path));
    let show = format!("\n--- {} ---\n{old_now}--- {} ---\n{new_text}", old.display(), path.display());
    ensure!(old_now == old_text, "the renamed file grew after both workers wrote to the new one:{show}");
    let (in_old, in_new) = (job_lines(&old_now, since)?, job_lines(&new_text, since)?);
    let master_pid = master;
    for slot in 0..2 {
        let worker = setup_pids(&ev, slot);
        ensure!(worker.len() == 1, "slot {slot} was set up {} times", worker.len());
        let performed: BTreeMap<u64, Pid> = performs(&ev, slot).into_iter().collect();
        let iters = |lines: &[JobLine]| lines.iter().filter(|l| l.slot == slot).map(|l| l.iter).collect::<Vec<_>>();
        let (old_iters, new_iters) = (iters(&in_old), iters(&in_new));
        let all: Vec<u64> = old_iters.iter().chain(&new_iters).copied().collect();
        let once: BTreeSet<u64> = all.iter().copied().collect();
        let keys: BTreeSet<u64> = performed.keys().copied().collect();
        ensure!(all.len() == once.len() && once == keys, "slot {slot}: job lines of {all:?}, performs {keys:?}{show}");
        let (last_old, first_new) = (old_iters.iter().max(), new_iters.iter().min());
        ensure!(last_old < first_new && last_old.is_some(), "slot {slot}: old {old_iters:?}, new {new_iters:?}");
        for line in in_old.iter().chain(&in_new).filter(|l| l.slot == slot) {
            let ran_in = performed[&line.iter];
            let what = format!("slot {slot} iteration {} logged as pid {}", line.iter, line.pid);
            ensure!(line.pid == ran_in && line.pid != master_pid, "{what}; it ran in {ran_in}, master {master_pid}");
            match strategy {
                Strategy::Simple => ensure!(line.pid == worker[0], "{what}, not as its worker {}", worker[0]),
                _ => ensure!(line.pid != worker[0], "{what}: its worker, not its perform child"),
            }
        }
        let setup_line = format!(" INFO job setup {slot}");
        let setups: Vec<&str> = old_now.lines().filter(|l| l.ends_with(&setup_line)).collect();
        let by = setups.first().and_then(|l| l.split(' ').nth(1)?.parse::<Pid>().ok());
        ensure!(setups.len() == 1 && by == Some(worker[0]), "slot {slot}'s setup line: {setups:?}{show}");
        let note = format!(" WARN job note\\nforged {slot}");
        ensure!(old_now.lines().filter(|l| l.ends_with(&note)).count() == 1, "no escaped note of slot {slot}{show}");
    }
    let both = format!("{old_now}{new_text}");
    ensure!(!both.contains("job debug"), "a DEBUG line passed the INFO logger{show}");
    ensure!(!both.lines().any(|l| l.starts_with("forged")), "a newline in a job line forged a line{show}");
    let n = (in_old.len(), in_new.len());
    println!("       job lines: {} in the rotated file, {} in the new one", n.0, n.1);
    let _ = (std::fs::remove_file(&path), std::fs::remove_file(&old));
    Ok(())
}

fn stop_signal_with_simple_refused() -> Outcome {
    let ev = Events::new("stopsig");
    in_a_child(&ev, |ev| {
        let simple = || Master::new(Probe::new(ev)).strategy(Strategy::Simple).logger(ev.logger());
        record(ev, "validate", simple().stop_signal(Signal::TERM).validate());
        record(ev, "run", simple().stop_signal(Signal::TERM).run());
        record(ev, "start_worker", simple().stop_signal(Signal::TERM).start_worker());
        // The order of the settings does not matter.
        let term = Signal::from_name("sigterm").unwrap_or(Signal::HUP);
        let reversed = Master::new(Probe::new(ev)).stop_signal(term).strategy(Strategy::Simple).logger(ev.logger());
        record(ev, "reversed_run", reversed.run());
        // With the forking strategy the same signal is fine.
        record(ev, "forking_validate", Master::new(Probe::new(ev)).stop_signal(Signal::TERM).validate());
    })?;
    for tag in ["validate", "run", "start_worker", "reversed_run"] {
        let got = recorded(&ev, tag)?;
        ensure!(got.starts_with("config "), "{tag}: not Error::Config but {got}");
        for word in ["stop_signal", "TERM", "simple", "stop_requested"] {
            ensure!(got.contains(word), "{tag}: {got:?} does not say {word:?}");
        }
    }
    let forking = recorded(&ev, "forking_validate")?;
    ensure!(forking == "ok", "stop_signal(TERM) with the forking strategy: {forking}");
    println!("       {}", recorded(&ev, "run")?);
    Ok(())
}
