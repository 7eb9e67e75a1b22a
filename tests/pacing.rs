//! Cron-like loops: fixed-rate pacing on an interval or a calendar schedule, and backoff after
//! failed performs.

mod support;

use std::time::{Duration, Instant};

use sisyphus::{BoxError, Context, Cron, FileLogger, Job, Master, Strategy};
use support::*;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn main() {
    run_scenarios(&[
        ("forking_interval_paces_without_drift", || no_drift(Strategy::Forking)),
        ("simple_interval_paces_without_drift", || no_drift(Strategy::Simple)),
        ("an_overrun_warns_once_and_re_anchors", overrun),
        ("a_suspended_worker_performs_once_then_re_anchors", suspension),
        ("forking_graceful_stop_ends_the_interval_wait_at_once", || stop_while_waiting(Strategy::Forking)),
        ("simple_graceful_stop_ends_the_interval_wait_at_once", || stop_while_waiting(Strategy::Simple)),
        ("forking_failed_performs_back_off_and_a_success_resets", || backoff(Strategy::Forking)),
        ("simple_failed_performs_back_off_and_a_success_resets", || backoff(Strategy::Simple)),
        ("no_perform_backoff_retries_at_once", no_backoff),
        ("pacing_settings_are_checked", bad_settings),
        ("max_performs_recycles_without_backoff_or_a_death", recycling),
        ("spread_starts_give_each_slot_its_own_phase", spread),
        ("forking_hup_rolls_one_slot_at_a_time", || hup_roll(Strategy::Forking)),
        ("simple_hup_rolls_one_slot_at_a_time", || hup_roll(Strategy::Simple)),
        ("a_replacement_failing_setup_stops_the_roll", hup_roll_fails),
        ("align_to_clock_starts_on_wall_clock_multiples", align),
        ("forking_usr1_reopens_the_log_file_master_first_then_workers", || usr1_rotation(Strategy::Forking)),
        ("simple_usr1_reopens_the_log_file_master_first_then_workers", || usr1_rotation(Strategy::Simple)),
        ("forking_cron_starts_on_the_even_second_marks", || cron_marks(Strategy::Forking)),
        ("simple_cron_starts_on_the_even_second_marks", || cron_marks(Strategy::Simple)),
        ("a_cron_overrun_warns_once_without_a_burst", cron_overrun),
    ]);
}

/// Records `ready SLOT WALL_US` at the end of `setup`; then, for each perform, `start ITER
/// LATE_US PID SLOT WALL_MS WALL_US SCHEDULED_WALL_US` (lateness against `Context::scheduled`,
/// the wall clock, and the scheduled start on the wall clock), sleeps `work(iter)`, then fails
/// while `iter < failing`.
struct Paced {
    ev: Events,
    work: fn(u64) -> Duration,
    failing: u64,
}

/// The wall clock, in µs since the Unix epoch.
fn wall_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros() as i64
}

impl Job for Paced {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.ev.add(&format!("ready {} {}", ctx.worker(), wall_us()));
        Ok(())
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let (mono, wall) = (Instant::now(), wall_us());
        let late = ctx.scheduled().map_or(-1, |s| mono.duration_since(s).as_micros() as i64);
        let scheduled = if late < 0 { -1 } else { wall - late };
        let (iter, me, slot, wall_ms) = (ctx.iteration(), getpid(), ctx.worker(), wall / 1000);
        self.ev.add(&format!("start {iter} {late} {me} {slot} {wall_ms} {wall} {scheduled}"));
        let end = Instant::now() + (self.work)(ctx.iteration());
        while Instant::now() < end && !ctx.stop_requested() {
            std::thread::sleep(end - Instant::now());
        }
        if ctx.iteration() < self.failing { Err("failing on purpose".into()) } else { Ok(()) }
    }
}

/// Within 25 ms: far more than scheduling noise, far less than a period.
fn near(ms: f64, want: f64) -> bool {
    (ms - want).abs() < 25.0
}

fn paced(ev: &Events, work: fn(u64) -> Duration, failing: u64) -> Paced {
    Paced { ev: ev.clone(), work, failing }
}

/// Start times in ms since the first start, by iteration.
fn starts(ev: &Events) -> Vec<f64> {
    let stamps: Vec<u64> = ev.stamped().into_iter().filter(|(_, l)| l.starts_with("start ")).map(|(t, _)| t).collect();
    stamps.iter().map(|t| (t - stamps[0]) as f64 / 1e6).collect()
}

fn no_drift(strategy: Strategy) -> Outcome {
    let ev = Events::new("drift");
    let job = paced(&ev, |_| 30 * MS, 0);
    let master = spawn_master(&ev, || Master::new(job).strategy(strategy).interval(100 * MS).logger(ev.logger()).run());
    ev.wait("8 performs", 10 * SEC, |ev| ev.count("start ") >= 8)?;
    let s = starts(&ev);
    // Each start k is due at k x 100 ms after the first, whatever the 30 ms performs add: a
    // drift would make every gap 130 ms. A busy machine may stall a perform past the next due
    // start (then one late start, one WARN, and the schedule re-anchors): a few gaps may be
    // off, none may be a burst.
    let gaps: Vec<f64> = s.windows(2).take(7).map(|w| w[1] - w[0]).collect();
    let on_time = gaps.iter().filter(|g| near(**g, 100.0)).count();
    ensure!(on_time >= 5 && gaps.iter().all(|g| *g >= 50.0), "starts (ms): {s:?}");
    let lates: Vec<i64> = ev.find("start ").iter().filter_map(|w| w.get(2)?.parse().ok()).collect();
    let stalled = lates.iter().filter(|&&us| !(0..25_000).contains(&us)).count();
    ensure!(stalled <= 2, "lateness against scheduled (µs): {lates:?}");
    let warns = ev.lines().into_iter().filter(|l| l.contains("late (")).count();
    ensure!(warns <= 1, "WARNs for scheduling noise: {:?}", ev.lines());
    println!("       start 7 at {:.2} ms (due 700); lateness p-max {} µs", s[7], lates.iter().max().unwrap_or(&0));
    stop_and_check(&ev, master).map(drop)
}

fn overrun() -> Outcome {
    let ev = Events::new("overrun");
    let job = paced(&ev, |i| if i == 2 { 250 * MS } else { 10 * MS }, 0);
    let master = spawn_master(&ev, || Master::new(job).interval(100 * MS).logger(ev.logger()).run());
    ev.wait("6 performs", 10 * SEC, |ev| ev.count("start ") >= 6)?;
    let s = starts(&ev);
    // 2 ran from 200 to 450: 3 starts at once, then the schedule counts from there. Counted
    // from start 2, not 0: the first start lags its schedule by up to a few ms (the worker's
    // first fork), which a bound counted from it would take for an early start 3.
    let after_2 = s[3] - s[2];
    ensure!((250.0..280.0).contains(&after_2), "start 3 {after_2:.1} ms after start 2: {s:?}");
    // Re-anchored, the next start is 100 ms after it (on the old schedule: 50 ms); the one
    // after may come late on a busy machine, but not early.
    ensure!(near(s[4] - s[3], 100.0) && (75.0..190.0).contains(&(s[5] - s[4])), "no re-anchor: {s:?}");
    let warns: Vec<String> =
        ev.lines().into_iter().filter(|l| l.starts_with("log WARN") && l.contains("late")).collect();
    ensure!(warns.len() == 1 && warns[0].contains("perform started 1"), "{warns:?}");
    println!("       overrun of 150 ms: next start at {:.1} ms, then {:.1} ms later; {}", s[3], s[4] - s[3], warns[0]);
    stop_and_check(&ev, master)?;
    ensure!(
        ev.has("master stopped (0 killed, performs late on schedule: 1)"),
        "the late start not counted: {:?}",
        ev.lines()
    );
    Ok(())
}

fn suspension() -> Outcome {
    let ev = Events::new("suspend");
    let job = paced(&ev, |_| 5 * MS, 0);
    let master =
        spawn_master(&ev, || Master::new(job).strategy(Strategy::Simple).interval(100 * MS).logger(ev.logger()).run());
    ev.wait("3 performs", 10 * SEC, |ev| ev.count("start ") >= 3)?;
    let worker = live_children(master).first().copied().ok_or("no worker")?;
    kill(worker, libc::SIGSTOP);
    // The suspension itself: half a second, i.e. five missed periods.
    std::thread::sleep(500 * MS);
    let resumed = mono_ns();
    kill(worker, libc::SIGCONT);
    let starts_after = |ev: &Events| -> Vec<u64> {
        ev.stamped().into_iter().filter(|(t, l)| l.starts_with("start ") && *t >= resumed).map(|(t, _)| t).collect()
    };
    ev.wait("two performs after the resume", 5 * SEC, |ev| starts_after(ev).len() >= 2)?;
    let after = starts_after(&ev);
    let first_ms = (after[0] - resumed) as f64 / 1e6;
    let gap_ms = (after[1] - after[0]) as f64 / 1e6;
    let prompt = first_ms < 30.0;
    ensure!(prompt, "first perform {first_ms:.1} ms after the resume");
    ensure!(near(gap_ms, 100.0), "no burst: the next one {gap_ms:.1} ms later");
    ensure!(ev.has("late (the last one overran"), "the late start not logged");
    println!("       after SIGCONT: one perform at {first_ms:.1} ms, the next {gap_ms:.1} ms later");
    stop_and_check(&ev, master).map(drop)
}

fn stop_while_waiting(strategy: Strategy) -> Outcome {
    let ev = Events::new("idlestop");
    let job = paced(&ev, |_| Duration::ZERO, 0);
    let master =
        spawn_master(&ev, || Master::new(job).strategy(strategy).interval(3600 * SEC).logger(ev.logger()).run());
    ev.wait("the first perform", 10 * SEC, |ev| ev.count("start ") == 1)?;
    // Let the worker settle into its hour-long wait.
    std::thread::sleep(50 * MS);
    let t0 = Instant::now();
    kill(master, libc::SIGINT);
    let code = wait_exit(master, 10 * SEC)?;
    let took = t0.elapsed();
    ensure!(code == 0 && ev.has("run ok killed=0"), "exit {code}: {:?}", ev.lines());
    ensure!(took < SEC, "the stop took {took:?} with the worker in a 1 h wait");
    println!("       worker idle in a 1 h interval: stopped in {:.1} ms", took.as_secs_f64() * 1e3);
    assert_nothing_left(&ev, master)
}

fn backoff(strategy: Strategy) -> Outcome {
    let ev = Events::new("backoff");
    let job = paced(&ev, |_| Duration::ZERO, 4);
    let master = spawn_master(&ev, || {
        Master::new(job).strategy(strategy).perform_backoff(50 * MS, 200 * MS).logger(ev.logger()).run()
    });
    ev.wait("7 performs", 10 * SEC, |ev| ev.count("start ") >= 7)?;
    let s = starts(&ev);
    let gaps: Vec<f64> = s.windows(2).map(|w| w[1] - w[0]).take(6).collect();
    // Failures 0-3 wait 50, 100, 200 (the cap), 200 ms; then 4 succeeds and 5 follows at once.
    for (gap, want) in gaps.iter().zip([50.0, 100.0, 200.0, 200.0, 0.0, 0.0]) {
        ensure!(*gap >= want - 2.0 && *gap < want + 60.0, "gaps {gaps:?} ms, want 50, 100, 200, 200, 0, 0");
    }
    ensure!(setup_count(&ev) <= 1, "the worker was replaced");
    println!("       gaps after failures: {:?} ms", gaps.iter().map(|g| g.round()).collect::<Vec<_>>());
    stop_and_check(&ev, master).map(drop)
}

fn setup_count(ev: &Events) -> usize {
    ev.count("log INFO worker 0 started")
}

fn no_backoff() -> Outcome {
    let ev = Events::new("nobackoff");
    let job = paced(&ev, |_| Duration::ZERO, u64::MAX);
    let master = spawn_master(&ev, || {
        Master::new(job).strategy(Strategy::Simple).no_perform_backoff().logger(ev.logger()).run()
    });
    let t0 = Instant::now();
    ev.wait("20 failed performs", 10 * SEC, |ev| ev.count("start ") >= 20)?;
    ensure!(t0.elapsed() < 2 * SEC, "20 performs took {:?} without backoff", t0.elapsed());
    stop_and_check(&ev, master).map(drop)
}

fn bad_settings() -> Outcome {
    for (name, master) in [
        ("interval 5 ms", Master::new(paced(&Events::new("bad1"), |_| MS, 0)).interval(5 * MS)),
        ("backoff base > max", Master::new(paced(&Events::new("bad2"), |_| MS, 0)).perform_backoff(SEC, 100 * MS)),
    ] {
        let ev = Events::new("badrun");
        let pid = spawn_master(&ev, move || master.run());
        let code = wait_exit(pid, 10 * SEC)?;
        ensure!(code == 2 && ev.has("run err "), "{name}: {:?}", ev.lines());
        ensure!(!ev.has("start "), "{name}: a perform ran");
    }
    Ok(())
}

fn recycling() -> Outcome {
    let ev = Events::new("recycle");
    let job = paced(&ev, |_| MS, 0);
    let master = spawn_master(&ev, || {
        let m = Master::new(job).workers(2).strategy(Strategy::Simple).max_performs(8);
        m.max_restarts(1, 60 * SEC).logger(ev.logger()).run()
    });
    // Lines read once every recycle logged so far has its replacement's `started` line too
    // (the master logs it just after, in the same turn): 2 at start-up, one per recycle.
    let count = |lines: &[(u64, String)], what: &str| lines.iter().filter(|(_, l)| l.contains(what)).count();
    let lines = wait_for("6 recycles, each replaced", 10 * SEC, || {
        let lines = ev.stamped();
        let recycled = count(&lines, "(max_performs): replacing it");
        (recycled >= 6 && count(&lines, " started (pid ") >= 2 + recycled).then_some(lines)
    })
    .map_err(|e| format!("{e}\n--- events ---\n{}", ev.lines().join("\n")))?;
    ensure!(
        !ev.has("died") && !ev.has("restarting in") && !ev.has("giving up") && !ev.has("ended unasked"),
        "{lines:?}"
    );
    // Performs per worker (simple strategy: the worker's pid), for the workers recycled.
    let mut performs = std::collections::HashMap::<String, u64>::new();
    for (_, l) in lines.iter().filter(|(_, l)| l.starts_with("start ")) {
        *performs.entry(l.split_whitespace().nth(3).unwrap_or("").to_string()).or_default() += 1;
    }
    let mut counts = Vec::new();
    for (i, (t, l)) in lines.iter().enumerate().filter(|(_, (_, l))| l.contains("(max_performs): replacing it")) {
        let pid = l.split("(pid ").nth(1).and_then(|t| t.split(')').next()).unwrap_or("");
        counts.push(performs.get(pid).copied().unwrap_or(0));
        // Replaced in the same turn: no backoff.
        let slot = l.split_whitespace().nth(3).unwrap_or("?");
        let started = format!("log INFO worker {slot} started");
        let replaced = lines[i + 1..].iter().find(|(_, m)| m.starts_with(&started)).map(|(u, _)| u - t);
        ensure!(replaced.is_some_and(|ns| ns < 50_000_000), "slot {slot} not replaced at once: {replaced:?} ns");
    }
    ensure!(counts.iter().all(|c| (8..=10).contains(c)), "performs per recycled worker: {counts:?}");
    println!("       performs per recycled worker (max_performs 8): {counts:?}");
    stop_and_check(&ev, master).map(drop)
}

/// A log file rotated under the master: renamed away, then USR1. The master's line about it
/// is the first in the new file, each worker follows between two performs (every perform
/// fails, so each logs a line), and nothing more goes to the old file.
fn usr1_rotation(strategy: Strategy) -> Outcome {
    let ev = Events::new("usr1");
    let path = std::env::temp_dir().join(format!("sisyphus-test-{}-usr1.log", getpid()));
    let old = path.with_extension("log.1");
    let _ = std::fs::remove_file(&path);
    let job = paced(&ev, |_| Duration::ZERO, u64::MAX);
    let log_path = path.clone();
    let master = spawn_master(&ev, move || {
        let logger = FileLogger::new(&log_path).map_err(|e| sisyphus::Error::Io("log file", e))?;
        let m = Master::new(job).workers(2).strategy(strategy).interval(20 * MS).no_perform_backoff();
        m.logger(logger).run()
    });
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    let failed_in =
        |text: &str, slot: usize| text.lines().any(|l| l.contains(&format!("worker {slot}: perform failed")));
    wait_for("both workers logging", 10 * SEC, || {
        (failed_in(&read(&path), 0) && failed_in(&read(&path), 1)).then_some(())
    })?;
    std::fs::rename(&path, &old).map_err(|e| e.to_string())?;
    kill(master, libc::SIGUSR1);
    wait_for("both workers in the new file", 5 * SEC, || {
        let new = read(&path);
        (failed_in(&new, 0) && failed_in(&new, 1)).then_some(())
    })?;
    let new = read(&path);
    let first = new.lines().next().unwrap_or("");
    ensure!(first.contains("USR1: log reopened; 2 workers"), "first line of the new file: {first}");
    let old_len = read(&old).len();
    // Several 20 ms periods: the old file must not grow any more.
    std::thread::sleep(200 * MS);
    ensure!(read(&old).len() == old_len, "lines still go to the rotated file");
    ensure!(new.lines().all(|l| !l.contains("dropped")), "lines were dropped: {new}");
    let _ = (std::fs::remove_file(&path), std::fs::remove_file(&old));
    // The log file's descriptor is the master's own: stop it without the descriptor count.
    kill(master, libc::SIGINT);
    let code = wait_exit(master, 10 * SEC)?;
    ensure!(code == 0 && ev.has("run ok killed=0"), "exit {code}: {:?}", ev.lines());
    assert_nothing_left(&ev, master)
}

/// (monotonic ns, wall ms) of each start of `slot`.
fn slot_starts(ev: &Events, slot: &str) -> Vec<(u64, u64)> {
    ev.stamped()
        .into_iter()
        .filter_map(|(t, l)| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.first() == Some(&"start") && w.get(4) == Some(&slot)).then(|| (t, w[5].parse().unwrap_or(0)))
        })
        .collect()
}

fn spread() -> Outcome {
    let ev = Events::new("spread");
    let job = paced(&ev, |_| MS, 0);
    let master =
        spawn_master(&ev, || Master::new(job).workers(4).interval(200 * MS).spread_starts().logger(ev.logger()).run());
    ev.wait("3 performs in every slot", 10 * SEC, |ev| (0..4).all(|k| slot_starts(ev, &k.to_string()).len() >= 3))?;
    let zero = slot_starts(&ev, "0")[2].0;
    let mut phases = Vec::new();
    for k in 1..4u64 {
        let t = slot_starts(&ev, &k.to_string())[2].0;
        // Slot k runs k x 50 ms after slot 0, modulo the 200 ms period.
        let phase = ((t + 400_000_000 - zero) % 200_000_000) as f64 / 1e6;
        phases.push(phase);
        ensure!(near(phase, 50.0 * k as f64), "slot {k} at phase {phase:.1} ms; phases {phases:?}");
    }
    println!("       phases of slots 1-3 against slot 0 (200 ms interval): {phases:.1?} ms");
    stop_and_check(&ev, master).map(drop)
}

fn align() -> Outcome {
    let ev = Events::new("align");
    let job = paced(&ev, |_| MS, 0);
    let master = spawn_master(&ev, || Master::new(job).interval(100 * MS).align_to_clock().logger(ev.logger()).run());
    ev.wait("4 performs", 10 * SEC, |ev| slot_starts(ev, "0").len() >= 4)?;
    let offsets: Vec<u64> = slot_starts(&ev, "0").iter().map(|&(_, wall)| wall % 100).collect();
    // Each start falls just after a multiple of 100 ms on the wall clock.
    ensure!(offsets.iter().all(|&o| o < 20), "wall-clock ms past the 100 ms marks: {offsets:?}");
    println!("       ms past the wall-clock marks: {offsets:?}");
    stop_and_check(&ev, master).map(drop)
}

/// Records `setup SLOT PID`, then `ready SLOT PID` 100 ms later (failing instead while the
/// file `fail` exists), and `perform`/`done SLOT PID` around 50 ms performs.
struct Rolled {
    ev: Events,
    fail: std::path::PathBuf,
}

impl Job for Rolled {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.ev.add(&format!("setup {} {}", ctx.worker(), getpid()));
        std::thread::sleep(100 * MS);
        if self.fail.exists() {
            return Err("the new configuration is bad".into());
        }
        self.ev.add(&format!("ready {} {}", ctx.worker(), getpid()));
        Ok(())
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.ev.add(&format!("perform {} {}", ctx.worker(), getpid()));
        std::thread::sleep(50 * MS);
        self.ev.add(&format!("done {} {}", ctx.worker(), getpid()));
        Ok(())
    }
}

fn rolled(ev: &Events) -> Rolled {
    let fail = std::env::temp_dir().join(format!("sisyphus-test-{}-fail", getpid()));
    let _ = std::fs::remove_file(&fail);
    Rolled { ev: ev.clone(), fail }
}

/// The time of the first line starting with `prefix`, in ns.
fn when(ev: &Events, prefix: &str) -> Option<u64> {
    ev.stamped().into_iter().find(|(_, l)| l.starts_with(prefix)).map(|(t, _)| t)
}

fn hup_roll(strategy: Strategy) -> Outcome {
    let ev = Events::new("hup");
    let job = rolled(&ev);
    let master = spawn_master(&ev, || Master::new(job).workers(3).strategy(strategy).logger(ev.logger()).run());
    ev.wait("3 ready workers", 10 * SEC, |ev| ev.count("ready ") == 3)?;
    let t0 = Instant::now();
    kill(master, libc::SIGHUP);
    ev.wait("the roll to end", 10 * SEC, |ev| ev.has("rolling restart done: 3 workers replaced"))?;
    let took = t0.elapsed();
    ensure!(ev.count("ready ") == 6, "setup did not rerun in every slot: {:?}", ev.lines());
    // Slot by slot: the old worker stops, and the next slot's old worker is asked only after
    // this slot's replacement is ready, so the slots' down times never overlap.
    let mut last_ready = 0;
    for slot in 0..3 {
        let stopped = when(&ev, &format!("log INFO worker {slot} (pid")).ok_or("no stop line")?;
        let ready: Vec<u64> = ev
            .stamped()
            .into_iter()
            .filter(|(_, l)| l.starts_with(&format!("ready {slot} ")))
            .map(|(t, _)| t)
            .collect();
        ensure!(stopped > last_ready, "slot {slot} went down before slot {} was ready again", slot.max(1) - 1);
        last_ready = ready[1];
    }
    let (started, done) = (ev.count("perform "), ev.count("done "));
    ensure!(started <= done + 3, "performs cut: {started} started, {done} done");
    println!("       HUP roll of 3 workers (100 ms setups, 50 ms performs): {:.0} ms", took.as_secs_f64() * 1e3);
    stop_and_check(&ev, master).map(drop)
}

fn hup_roll_fails() -> Outcome {
    let ev = Events::new("hupfail");
    let job = rolled(&ev);
    let fail = job.fail.clone();
    let master = spawn_master(&ev, || Master::new(job).workers(3).logger(ev.logger()).run());
    ev.wait("3 ready workers", 10 * SEC, |ev| ev.count("ready ") == 3)?;
    // The pids of slots 0, 1 and 2 (their ready lines come in any order).
    let old: Vec<Pid> = (0..3)
        .map(|slot| ev.find(&format!("ready {slot} ")).first().and_then(|w| w.get(2)?.parse().ok()).unwrap_or(0))
        .collect();
    std::fs::write(&fail, "").map_err(|e| e.to_string())?;
    kill(master, libc::SIGHUP);
    ev.wait("the roll to stop", 10 * SEC, |ev| ev.has("rolling restart stopped: worker 0's replacement"))?;
    ensure!(ev.has("log ERROR rolling restart stopped"), "not an ERROR: {:?}", ev.lines());
    // Slots 1 and 2 keep their old workers while slot 0 retries with backoff.
    ev.wait("slot 0 to retry", 10 * SEC, |ev| ev.count("setup 0 ") >= 3)?;
    ensure!(alive(old[1]) && alive(old[2]), "the slots not yet rolled lost their workers: {:?}", ev.lines());
    ensure!(ev.count("setup 1 ") == 1 && ev.count("setup 2 ") == 1, "slots 1 and 2 were rolled");
    let _ = std::fs::remove_file(&fail);
    stop_and_check(&ev, master).map(drop)
}

/// A calendar schedule's marks here: every even second of the wall clock, in µs.
const MARK_US: i64 = 2_000_000;
/// How late a start may be after its mark: generous, a loaded machine's stall (a start is
/// punctual to well under a millisecond when idle).
const CRON_LATE_US: i64 = 200_000;
/// How far `Context::scheduled`, read back on the wall clock, may be off the mark: the error
/// of converting it through the monotonic clock.
const CRON_CLOCKS_US: i64 = 5_000;

/// Each start on a calendar schedule: (slot, iteration, wall µs, scheduled wall µs).
fn cron_starts(ev: &Events) -> Vec<(String, u64, i64, i64)> {
    let parsed = |w: &Vec<String>| {
        Some((w.get(4)?.clone(), w[1].parse().ok()?, w.get(6)?.parse().ok()?, w.get(7)?.parse().ok()?))
    };
    ev.find("start ").iter().filter_map(parsed).collect()
}

/// The even-second mark at or before `wall_us`.
fn mark_of(wall_us: i64) -> i64 {
    wall_us.div_euclid(MARK_US) * MARK_US
}

fn every_2_s() -> Result<Cron, sisyphus::Error> {
    Cron::parse("*/2 * * * * *")
}

fn cron_marks(strategy: Strategy) -> Outcome {
    let ev = Events::new("cron");
    let job = paced(&ev, |_| 10 * MS, 0);
    let master = spawn_master(&ev, || {
        Master::new(job).workers(2).strategy(strategy).cron(every_2_s()?).logger(ev.logger()).run()
    });
    let of_slot = |ev: &Events, slot: &str| cron_starts(ev).into_iter().filter(|s| s.0 == slot).collect::<Vec<_>>();
    ev.wait("2 starts of each worker", 10 * SEC, |ev| of_slot(ev, "0").len() >= 2 && of_slot(ev, "1").len() >= 2)?;
    let mut shown = Vec::new();
    let mut marks_of = Vec::new();
    for slot in ["0", "1"] {
        let starts = of_slot(&ev, slot);
        let ready = ev.find(&format!("ready {slot} ")).first().and_then(|w| w.get(2)?.parse::<i64>().ok());
        let ready = ready.ok_or(format!("no ready line for slot {slot}: {:?}", ev.lines()))?;
        let marks: Vec<i64> = starts.iter().map(|s| mark_of(s.2)).collect();
        // None at start-up: the first start is at the first mark after `setup`.
        let first = marks[0] - ready;
        ensure!(
            first > 0 && first <= MARK_US + 1000,
            "slot {slot}: first start's mark {first} µs after setup: {starts:?}"
        );
        for (i, (_, iter, wall, scheduled)) in starts.iter().enumerate() {
            let (mark, late) = (marks[i], wall - marks[i]);
            ensure!(*iter == i as u64, "slot {slot}: iterations {starts:?}");
            ensure!(late < CRON_LATE_US, "slot {slot}: start {iter} {late} µs after its mark: {starts:?}");
            let off = scheduled - mark;
            ensure!(off.abs() < CRON_CLOCKS_US, "slot {slot}: start {iter} scheduled {off} µs off its mark");
            // One start per mark, none missed.
            ensure!(i == 0 || mark - marks[i - 1] == MARK_US, "slot {slot}: marks {marks:?}");
            shown.push(format!("{slot}/{iter} +{:.1} ms (scheduled {off:+} µs)", late as f64 / 1e3));
        }
        marks_of.push(marks);
    }
    // With two workers both run at each time.
    ensure!(marks_of[0].iter().any(|m| marks_of[1].contains(m)), "the workers share no mark: {marks_of:?}");
    ensure!(!ev.has("log WARN"), "a WARN line: {:?}", ev.lines());
    println!("       starts after their even-second mark: {}", shown.join(", "));
    let t0 = Instant::now();
    stop_and_check(&ev, master)?;
    let took = t0.elapsed();
    ensure!(took < SEC, "the stop took {took:?} with the workers waiting for the next mark");
    println!("       stopped in {:.1} ms while waiting for the next mark", took.as_secs_f64() * 1e3);
    Ok(())
}

fn cron_overrun() -> Outcome {
    let ev = Events::new("cronover");
    let job = paced(&ev, |i| if i == 0 { 2500 * MS } else { 10 * MS }, 0);
    let master = spawn_master(&ev, || Master::new(job).cron(every_2_s()?).logger(ev.logger()).run());
    ev.wait("3 starts", 12 * SEC, |ev| ev.count("start ") >= 3)?;
    let s = cron_starts(&ev);
    let m0 = mark_of(s[0].2);
    ensure!(s[0].2 - m0 < CRON_LATE_US, "start 0 not on a mark: {s:?}");
    // 0 runs 2.5 s, past the next mark: 1 starts as it ends, late, its schedule re-anchored.
    let late1 = s[1].2 - (m0 + MARK_US);
    ensure!((480_000..1_400_000).contains(&late1), "start 1 {late1} µs after the mark it missed: {s:?}");
    let anchored = s[1].2 - s[1].3;
    ensure!(anchored.abs() < CRON_CLOCKS_US, "start 1 scheduled {anchored} µs before it started: {s:?}");
    // No burst: 2 waits for the next mark.
    let late2 = s[2].2 - (m0 + 2 * MARK_US);
    ensure!((0..CRON_LATE_US).contains(&late2), "start 2 {late2} µs after the mark m0 + 4 s: {s:?}");
    ensure!((s[2].3 - (m0 + 2 * MARK_US)).abs() < CRON_CLOCKS_US, "start 2 not scheduled on its mark: {s:?}");
    let warns: Vec<String> = ev.lines().into_iter().filter(|l| l.starts_with("log WARN")).collect();
    ensure!(warns.len() == 1 && warns[0].contains("worker 0: perform started "), "{warns:?}");
    // The lateness it names, in ms.
    let named = warns[0].split("started ").nth(1).and_then(|t| {
        let (n, rest) = t.split_once(' ')?;
        let n: f64 = n.parse().ok()?;
        Some(if rest.starts_with("ms late") {
            n
        } else if rest.starts_with("s late") {
            n * 1e3
        } else {
            return None;
        })
    });
    let named = named.ok_or(format!("no lateness in {warns:?}"))?;
    ensure!(
        (0.0..20.0).contains(&(named - late1 as f64 / 1e3).abs()),
        "WARN says {named} ms late, start 1 was {late1} µs: {warns:?}"
    );
    println!(
        "       2.5 s perform: next start {:.1} ms after the missed mark ({}), then {:.1} ms after the next",
        late1 as f64 / 1e3,
        warns[0].trim_start_matches("log WARN "),
        late2 as f64 / 1e3
    );
    stop_and_check(&ev, master)?;
    ensure!(ev.has("master stopped (0 killed, performs late on schedule: 1)"), "{:?}", ev.lines());
    Ok(())
}
