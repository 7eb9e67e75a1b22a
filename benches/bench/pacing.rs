//! Items 10-12, interval pacing (issue 8): how late paced performs start against their
//! schedule, and the drift; a paced worker's wake-ups per interval; the stop of workers idle
//! in a long interval. Baselines: a plain loop that sleeps to each next absolute deadline,
//! and the bare supervisor, measured in the same run.

use std::time::{Duration, Instant};

use sisyphus::{Context, Job, Strategy};

use crate::children::{BareWork, bare_supervisor, spawn_configured};
use crate::items::{Cfg, paired};
use crate::job::{Act, BenchJob, Spec};
use crate::procfs::{Pid, status_field};
use crate::procs::{Proc, spawn, with_proc};
use crate::records::LATE;
use crate::samplers::timed_stop;
use crate::sys::{after, die_with, exit_now, fork, getpid, kill, now_ns, ns_to_ms};
use crate::table::{Goal, Row, median};
use crate::{MS, SEC};

/// Workers of the lateness and wake-up items.
const WORKERS: usize = 4;
/// The interval of the lateness item.
const TICK: Duration = Duration::from_millis(10);
/// Ticks per lateness sample (p50 and p99 over this many ticks of every worker).
const BLOCK: u64 = 1000;
/// The interval of the wake-up item.
const WAKE_TICK: Duration = Duration::from_millis(200);
/// Workers of the stop item, and their interval.
const STOP_WORKERS: usize = 64;
const HOUR: Duration = Duration::from_secs(3600);

/// A sisyphus master whose `workers` run `act`, paced at `interval`.
fn paced(cfg: &Cfg, act: Act, workers: usize, strategy: Strategy, interval: Duration) -> Result<Proc, String> {
    spawn_configured(Spec::new(act, cfg.method), workers, strategy, move |m| m.interval(interval))
}

/// The baseline: `workers` processes (children of one that only waits), each runs the job's
/// `setup`, then calls `perform` in a plain loop that sleeps with `std::thread::sleep` until
/// the next absolute deadline, start + k × `interval`, which it passes as the scheduled start.
fn sleep_loops(cfg: &Cfg, act: Act, workers: usize, interval: Duration) -> Result<Proc, String> {
    let spec = Spec::new(act, cfg.method);
    spawn(move |tx| {
        let middle = getpid();
        for slot in 0..workers {
            match fork() {
                -1 => return 1,
                0 => {}
                _ => continue,
            }
            die_with(middle);
            let mut job = BenchJob::new(tx, spec);
            let _ = job.setup(&Context::new(slot, 0));
            let start = Instant::now();
            for k in 0u32.. {
                let due = start + interval * k;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let _ = job.perform(&Context::new(slot, k as u64).with_scheduled(due));
            }
            exit_now(0)
        }
        loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        }
    })
}

/// Per worker, (actual start, ns late) of its performs 0 to `last`.
type Starts = Vec<Vec<(u64, u64)>>;

/// CPU time stolen from this VM by the host, all CPUs, in USER_HZ ticks (10 ms): the 8th
/// figure of /proc/stat's `cpu` line.
fn steal_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines().next().and_then(|l| l.split_whitespace().nth(8)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Collects every worker's LATE records up to iteration `last`, and the steal time at every
/// `BLOCK`th start of worker 0.
fn starts(p: &mut Proc, last: u64, interval: Duration) -> Result<(Starts, Vec<u64>), String> {
    let mut steal = Vec::new();
    let deadline = after(interval * last as u32 * 3 / 2 + 30 * SEC);
    let mut slots: Starts = (0..WORKERS).map(|_| Vec::with_capacity(last as usize + 1)).collect();
    while slots.iter().any(|s| (s.len() as u64) <= last) {
        let r = p.expect("a paced perform", deadline, |r| r.kind == LATE)?;
        let Some(s) = slots.get_mut(r.slot as usize) else { return Err(format!("a record from slot {}", r.slot)) };
        if s.len() as u64 > last {
            continue;
        }
        if r.a != s.len() as u64 || r.b == u64::MAX {
            return Err(format!("worker {}: perform {} (late {}) after {} performs", r.slot, r.a, r.b, s.len()));
        }
        s.push((r.t, r.b));
        if r.slot == 0 && r.a % BLOCK == 0 {
            steal.push(steal_ticks());
        }
    }
    Ok((slots, steal))
}

/// The nearest-rank percentile `q` of `v`, in µs.
fn percentile_us(v: &mut [u64], q: f64) -> f64 {
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1] as f64 / 1e3
}

/// Lateness figures of one run of ticks 0 to `last`.
struct Accuracy {
    /// p50 and p99 per block of `BLOCK` ticks (all workers), from tick 1 (tick 0 is due when
    /// it starts).
    p50: Vec<f64>,
    p99: Vec<f64>,
    /// Per worker: (start of tick `last` - start of tick 0) - `last` × interval, µs.
    drift: Vec<f64>,
    /// Per worker: how often its schedule was re-anchored (`reanchors`).
    reanchored: Vec<f64>,
    /// Per block: ms per s that the host stole from the VM (both CPUs).
    steal: Vec<f64>,
}

/// How often a worker's schedule moved: its offset from the grid of tick 0 (scheduled start
/// k - scheduled start 0 - k × interval) changed by more than 100 µs and stayed there at the
/// next tick. A single start off the grid is a measurement's hiccup, not a re-anchor.
fn reanchors(s: &[(u64, u64)], tick: i64) -> usize {
    let offset = |k: usize| (s[k].0 - s[k].1) as i64 - (s[0].0 - s[0].1) as i64 - k as i64 * tick;
    let mut level = 0;
    let mut moves = 0;
    for k in 1..s.len() - 1 {
        let o = offset(k);
        if (o - level).abs() > 100_000 && (offset(k + 1) - o).abs() <= 100_000 {
            level = o;
            moves += 1;
        }
    }
    moves
}

/// Runs `WORKERS` workers (or the baseline loops) for ticks 0 to `last` at `TICK`.
fn accuracy(cfg: &Cfg, strategy: Strategy, last: u64, bare: bool) -> Result<Accuracy, String> {
    let p = if bare {
        sleep_loops(cfg, Act::Late, WORKERS, TICK)?
    } else {
        paced(cfg, Act::Late, WORKERS, strategy, TICK)?
    };
    // No wait for the setups first: that would skip the LATE records that come with them.
    let (slots, steal_at) = with_proc(p, |p| starts(p, last, TICK))?;
    let block_s = (TICK * BLOCK as u32).as_secs_f64();
    let steal = steal_at.windows(2).map(|w| (w[1] - w[0]) as f64 * 10.0 / block_s).collect();
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for b in 0..last / BLOCK {
        let range = (1 + b * BLOCK) as usize..=((b + 1) * BLOCK) as usize;
        let mut late: Vec<u64> = slots.iter().flat_map(|s| s[range.clone()].iter().map(|x| x.1)).collect();
        p50.push(percentile_us(&mut late, 0.50));
        p99.push(percentile_us(&mut late, 0.99));
    }
    let tick = TICK.as_nanos() as i64;
    let drift =
        slots.iter().map(|s| ((s[last as usize].0 - s[0].0) as i64 - last as i64 * tick) as f64 / 1e3).collect();
    let reanchored = slots.iter().map(|s| reanchors(s, tick) as f64).collect();
    Ok(Accuracy { p50, p99, drift, reanchored, steal })
}

pub(crate) fn item10(cfg: &Cfg) -> Result<Vec<Row>, String> {
    // One long run each (100 s in full mode): the drift needs all its ticks in one schedule.
    let last = if cfg.quick { BLOCK } else { 10 * BLOCK };
    let sis = accuracy(cfg, Strategy::Simple, last, false)?;
    let bare = accuracy(cfg, Strategy::Simple, last, true)?;
    let fork = accuracy(cfg, Strategy::Forking, BLOCK, false)?;
    let what = |s: &str| format!("interval 10 ms, 4 {s}");
    let ticks = if last >= 1000 { format!("{},{:03}", last / 1000, last % 1000) } else { last.to_string() };
    Ok(vec![
        Row::new(10, what("simple: start lateness p50, 1,000 ticks"), "µs", sis.p50).base(median(&bare.p50)),
        Row::new(10, what("simple: start lateness p99, 1,000 ticks"), "µs", sis.p99)
            .base(median(&bare.p99))
            .goal(Goal::Below(1000.0)),
        Row::new(10, what(&format!("simple: drift after {ticks} ticks")), "µs", sis.drift)
            .base(median(&bare.drift))
            .goal(Goal::Below(1000.0)),
        Row::new(10, what(&format!("simple: re-anchors in {ticks} ticks")), "count", sis.reanchored)
            .base(median(&bare.reanchored))
            .goal(Goal::AllAtMost(0.0)),
        Row::new(10, "interval 10 ms, 4 simple: host steal time in the same blocks", "ms/s", sis.steal)
            .base(median(&bare.steal)),
        Row::new(10, what("forking: start lateness p50, 1,000 ticks"), "µs", fork.p50).base(median(&bare.p50)),
        Row::new(10, what("forking: start lateness p99, 1,000 ticks"), "µs", fork.p99).base(median(&bare.p99)),
    ])
}

/// Voluntary context switches per interval: per worker (the mean of `WORKERS`) and of the
/// master (0 for the baseline's waiting parent), one sample per window.
fn wakeups(cfg: &Cfg, strategy: Strategy, bare: bool) -> Result<(Vec<f64>, Vec<f64>), String> {
    let per_window: u32 = if cfg.quick { 5 } else { 10 };
    let p = if bare {
        sleep_loops(cfg, Act::Nothing, WORKERS, WAKE_TICK)?
    } else {
        paced(cfg, Act::Nothing, WORKERS, strategy, WAKE_TICK)?
    };
    with_proc(p, |p| {
        let setups = p.setups(WORKERS, 10 * SEC)?;
        let pids: Vec<Pid> = setups.iter().map(|r| r.a as Pid).collect();
        let master = p.pid;
        let read = || -> Result<(u64, u64), String> {
            let mut workers = 0;
            for &pid in &pids {
                workers += status_field(pid, "voluntary_ctxt_switches:")?;
            }
            Ok((workers, status_field(master, "voluntary_ctxt_switches:")?))
        };
        // Every worker starts a perform right after its setup and then every interval; read
        // half-way between two starts (they are all within a few ms of each other), so each
        // window holds exactly `per_window` starts of each worker.
        let first = setups.iter().map(|r| r.t).max().unwrap_or_else(now_ns);
        let mut at = first + (WAKE_TICK * 5 / 2).as_nanos() as u64;
        let sleep_until = |at: u64| std::thread::sleep(Duration::from_nanos(at.saturating_sub(now_ns())));
        sleep_until(at);
        let mut prev = read()?;
        let (mut workers, mut masters) = (Vec::new(), Vec::new());
        for _ in 0..cfg.idle_windows {
            at += (WAKE_TICK * per_window).as_nanos() as u64;
            sleep_until(at);
            let now = read()?;
            workers.push((now.0 - prev.0) as f64 / (WORKERS as f64 * per_window as f64));
            masters.push((now.1 - prev.1) as f64 / per_window as f64);
            prev = now;
        }
        Ok((workers, masters))
    })
}

pub(crate) fn item11(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let (sis, master) = wakeups(cfg, Strategy::Simple, false)?;
    let (bare, _) = wakeups(cfg, Strategy::Simple, true)?;
    let (fork, _) = wakeups(cfg, Strategy::Forking, false)?;
    Ok(vec![
        Row::new(11, "interval 200 ms, simple no-op, worker: wake-ups/interval", "count", sis)
            .base(median(&bare))
            .goal(Goal::AllAtMost(1.0)),
        Row::new(11, "interval 200 ms, simple no-op, master: wake-ups/interval", "count", master)
            .goal(Goal::AllAtMost(0.0)),
        Row::new(11, "interval 200 ms, forking no-op, worker: wake-ups/interval", "count", fork).base(median(&bare)),
    ])
}

/// ms from SIGINT to the master until `run` returned, with `STOP_WORKERS` workers waiting in
/// a 1 h interval (the bare supervisor: workers asleep, woken by TERM).
fn idle_stop_ms(cfg: &Cfg, strategy: Strategy, bare: bool) -> Result<f64, String> {
    let p = if bare {
        bare_supervisor(STOP_WORKERS, BareWork::Idle)?
    } else {
        paced(cfg, Act::Nothing, STOP_WORKERS, strategy, HOUR)?
    };
    // Let every worker make its first perform and begin its wait.
    timed_stop(p, STOP_WORKERS, 200 * MS)
}

pub(crate) fn item12(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (strategy, kind) in [(Strategy::Simple, "simple"), (Strategy::Forking, "forking")] {
        let (sis, bare) = paired(cfg.runs, |bare| idle_stop_ms(cfg, strategy, bare))?;
        let what = format!("stop: SIGINT -> run returns, 64 {kind} idle in 1 h interval");
        rows.push(Row::new(12, what, "ms", sis).base(median(&bare)).goal(Goal::Below(50.0)));
    }
    Ok(rows)
}

/// Workers in the HUP roll item.
const ROLL_WORKERS: usize = 8;

/// ms from HUP to the master until the last of `ROLL_WORKERS` replacements finished `setup`,
/// the workers' performs sleeping 50 ms (each old worker finishes its perform first).
fn roll_ms(cfg: &Cfg, strategy: Strategy) -> Result<f64, String> {
    let p = spawn_configured(Spec::new(Act::Sleep(50 * MS), cfg.method), ROLL_WORKERS, strategy, |m| m)?;
    with_proc(p, |p| {
        p.setups(ROLL_WORKERS, 60 * SEC)?;
        // Let every worker get into its loop.
        std::thread::sleep(100 * MS);
        let t0 = now_ns();
        kill(p.pid, libc::SIGHUP);
        let replaced = p.setups(ROLL_WORKERS, 30 * SEC)?;
        Ok(ns_to_ms(replaced.last().map_or(t0, |r| r.t) - t0))
    })
}

pub(crate) fn item13(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (strategy, kind) in [(Strategy::Forking, "forking"), (Strategy::Simple, "simple")] {
        let samples = (0..cfg.runs).map(|_| roll_ms(cfg, strategy)).collect::<Result<Vec<_>, _>>()?;
        rows.push(Row::new(13, format!("HUP roll: 8 {kind} workers, 50 ms performs"), "ms", samples));
    }
    Ok(rows)
}
