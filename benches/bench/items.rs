//! The items: the configuration, and the rows each numbered item adds to the table.

use std::time::Duration;

use sisyphus::Strategy;

use crate::perf::SyscallMethod;
use crate::samplers::{
    Counts, IDLE_WORKERS, Runner, counts, direct_ns, fork_rate, idle_wakeups, respawn_ms, scale_up_ms, simple_ns,
    startup, stop_ms,
};
use crate::sys::{now_ns, ns_to_ms};
use crate::table::{Goal, Row, median};
use crate::{MS, SEC};

pub(crate) struct Cfg {
    pub(crate) quick: bool,
    /// Samples per figure for whole-run measurements.
    pub(crate) runs: usize,
    /// Samples per figure for per-event latencies (respawn, scale-up).
    pub(crate) samples: usize,
    /// Measuring window of a throughput sample.
    pub(crate) window: Duration,
    simple_n: u64,
    fork_n: u64,
    sizes: &'static [usize],
    pub(crate) idle_window: Duration,
    pub(crate) idle_windows: usize,
    pub(crate) method: SyscallMethod,
}

impl Cfg {
    pub(crate) fn new(quick: bool) -> Self {
        let method = SyscallMethod::detect();
        if quick {
            Cfg {
                quick,
                runs: 3,
                samples: 10,
                window: 250 * MS,
                simple_n: 1_000_000,
                fork_n: 500,
                sizes: &[64, 256],
                idle_window: SEC,
                idle_windows: 3,
                method,
            }
        } else {
            Cfg {
                quick,
                runs: 5,
                samples: 20,
                window: SEC,
                simple_n: 10_000_000,
                fork_n: 2000,
                sizes: &[64, 256, 1024],
                idle_window: 2 * SEC,
                idle_windows: 5,
                method,
            }
        }
    }
}

/// Samples of sisyphus and of its baseline.
type Pair<T> = (Vec<T>, Vec<T>);

/// Measurements more than one item uses.
#[derive(Default)]
pub(crate) struct Cache {
    /// Forking no-op performs/s with nothing resident: (sisyphus, bare) per run.
    fork0: Option<(Vec<f64>, Vec<f64>)>,
    /// Start-up of 1,000 forking workers: (ms, master RSS KiB) per run, sisyphus then bare.
    startup: Option<Pair<(f64, f64)>>,
}

/// Runs `f` `runs` times, alternating which of the pair goes first to even out drift.
pub(crate) fn paired<T>(runs: usize, mut f: impl FnMut(bool) -> Result<T, String>) -> Result<(Vec<T>, Vec<T>), String> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for run in 0..runs {
        if run % 2 == 0 {
            a.push(f(false)?);
            b.push(f(true)?);
        } else {
            b.push(f(true)?);
            a.push(f(false)?);
        }
    }
    Ok((a, b))
}

fn fork0(cfg: &Cfg, cache: &mut Cache) -> Result<(Vec<f64>, Vec<f64>), String> {
    if cache.fork0.is_none() {
        cache.fork0 = Some(paired(cfg.runs, |bare| fork_rate(cfg, 0, bare))?);
    }
    Ok(cache.fork0.clone().expect("just measured"))
}

pub(crate) fn item1(cfg: &Cfg, cache: &mut Cache) -> Result<Vec<Row>, String> {
    let (sis, bare) = fork0(cfg, cache)?;
    let mut rows = vec![
        Row::new(1, "forking: no-op performs/s, 1 worker", "/s", sis)
            .base(median(&bare))
            .goal(Goal::RatioAtLeast(0.95)),
    ];
    let runner = |bare| if bare { Runner::BareFork } else { Runner::Master(Strategy::Forking, None) };
    let (s, b) = paired(cfg.runs, |bare| counts(cfg, cfg.fork_n, runner(bare)))?;
    let col = |v: &[Counts], f: fn(&Counts) -> f64| v.iter().map(f).collect::<Vec<f64>>();
    for (what, unit, f) in [
        ("forking: allocations per perform, worker", "count", (|c: &Counts| c.allocs) as fn(&Counts) -> f64),
        ("forking: allocations per perform child, before perform", "count", |c| c.child_allocs),
        ("forking: syscalls per perform, worker", "count", |c| c.syscalls),
        ("forking: syscalls per perform child (incl. exit)", "count", |c| c.child_syscalls),
        ("forking: page faults per perform, worker + child", "count", |c| c.faults),
    ] {
        rows.push(Row::new(1, what, unit, col(&s, f)).base(median(&col(&b, f))));
    }
    Ok(rows)
}

pub(crate) fn item2(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let timeout = Some(Duration::from_secs(25));
    let (mut loop_ns, mut direct, mut timed, mut overhead, mut overhead_timed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut plain_counts, mut timed_counts, mut direct_counts) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..cfg.runs {
        let (w, d, t) = if run % 2 == 0 {
            let w = simple_ns(cfg, None)?;
            let d = direct_ns(cfg)?;
            (w, d, simple_ns(cfg, timeout)?)
        } else {
            let t = simple_ns(cfg, timeout)?;
            let d = direct_ns(cfg)?;
            (simple_ns(cfg, None)?, d, t)
        };
        loop_ns.push(w);
        direct.push(d);
        timed.push(t);
        overhead.push(w - d);
        overhead_timed.push(t - d);
        plain_counts.push(counts(cfg, cfg.simple_n, Runner::Master(Strategy::Simple, None))?);
        timed_counts.push(counts(cfg, cfg.simple_n, Runner::Master(Strategy::Simple, timeout))?);
        direct_counts.push(counts(cfg, cfg.simple_n, Runner::Direct)?);
    }
    let n = cfg.simple_n as f64;
    // Totals over the n performs beyond those of the direct calls in the same run, which are
    // the measurement's own (reading the counters, sending the record).
    let total = |v: &[Counts], f: fn(&Counts) -> f64| {
        v.iter().zip(&direct_counts).map(|(c, d)| ((f(c) - f(d)) * n).round()).collect::<Vec<f64>>()
    };
    let direct_total =
        |f: fn(&Counts) -> f64| median(&direct_counts.iter().map(|d| (f(d) * n).round()).collect::<Vec<_>>());
    let direct_median = median(&direct);
    let per = format!("{}M performs", cfg.simple_n / 1_000_000);
    Ok(vec![
        Row::new(2, "simple: ns per perform in the worker loop", "ns", loop_ns).base(direct_median),
        Row::new(2, "simple: loop overhead per perform (worker - direct)", "ns", overhead).goal(Goal::Below(100.0)),
        Row::new(
            2,
            format!("simple: allocations in {per}, beyond direct calls"),
            "count",
            total(&plain_counts, |c| c.allocs),
        )
        .base(direct_total(|c| c.allocs))
        .goal(Goal::AllAtMost(0.0)),
        Row::new(
            2,
            format!("simple: syscalls in {per}, beyond direct calls"),
            "count",
            total(&plain_counts, |c| c.syscalls),
        )
        .base(direct_total(|c| c.syscalls))
        .goal(Goal::AllAtMost(0.0)),
        Row::new(2, "simple+timeout: ns per perform in the worker loop", "ns", timed).base(direct_median),
        Row::new(2, "simple+timeout: loop overhead per perform", "ns", overhead_timed),
        Row::new(
            2,
            format!("simple+timeout: allocations in {per}, beyond direct"),
            "count",
            total(&timed_counts, |c| c.allocs),
        )
        .base(direct_total(|c| c.allocs)),
        Row::new(
            2,
            format!("simple+timeout: syscalls in {per}, beyond direct"),
            "count",
            total(&timed_counts, |c| c.syscalls),
        )
        .base(direct_total(|c| c.syscalls)),
    ])
}

pub(crate) fn item3(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let sis = respawn_ms(cfg, false)?;
    let bare = respawn_ms(cfg, true)?;
    Ok(vec![
        Row::new(3, "respawn: SIGKILL a worker -> replacement's setup done", "ms", sis)
            .base(median(&bare))
            .goal(Goal::Below(2.0)),
    ])
}

pub(crate) fn item4(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let sis = scale_up_ms(cfg, false)?;
    let bare = scale_up_ms(cfg, true)?;
    Ok(vec![
        Row::new(4, "scale-up: SIGTTIN to the master -> new worker's setup done", "ms", sis)
            .base(median(&bare))
            .goal(Goal::Below(1.0)),
    ])
}

pub(crate) fn item5(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    // No 512 simple no-op workers: 512 spinning processes on 2 cores starve the master, so
    // starting them takes some 10 s per sample, and the stop measures only the scheduler.
    let cases = [
        (Strategy::Forking, true, 1),
        (Strategy::Forking, true, 64),
        (Strategy::Forking, true, 512),
        (Strategy::Simple, true, 1),
        (Strategy::Simple, true, 64),
        (Strategy::Forking, false, 1),
        (Strategy::Forking, false, 64),
        (Strategy::Forking, false, 512),
    ];
    for (strategy, busy, n) in cases {
        let started = now_ns();
        let (sis, bare) = paired(cfg.runs, |bare| stop_ms(cfg, n, strategy, busy, bare))?;
        eprintln!("bench:     {n} {strategy:?} busy={busy}: {:.1} s", ns_to_ms(now_ns() - started) / 1000.0);
        let goal = if n == 512 { Goal::Below(100.0) } else { Goal::Info };
        let kind = if strategy == Strategy::Forking { "forking" } else { "simple" };
        let perform = if busy { "no-op" } else { "sleeping" };
        let what = format!("graceful stop: SIGINT -> run returns, {n} {kind} {perform}");
        rows.push(Row::new(5, what, "ms", sis).base(median(&bare)).goal(goal));
    }
    Ok(rows)
}

fn startup_runs(cfg: &Cfg, cache: &mut Cache) -> Result<Pair<(f64, f64)>, String> {
    if cache.startup.is_none() {
        cache.startup = Some(paired(cfg.runs, |bare| startup(cfg, 1000, Strategy::Forking, bare))?);
    }
    Ok(cache.startup.clone().expect("just measured"))
}

pub(crate) fn item6(cfg: &Cfg, cache: &mut Cache) -> Result<Vec<Row>, String> {
    let (sis, bare) = startup_runs(cfg, cache)?;
    let ms = |v: &[(f64, f64)]| v.iter().map(|s| s.0).collect::<Vec<f64>>();
    let (simple, simple_bare) = paired(cfg.runs, |bare| startup(cfg, 1000, Strategy::Simple, bare))?;
    Ok(vec![
        Row::new(6, "start-up: run -> 1,000 forking workers' setup done", "ms", ms(&sis))
            .base(median(&ms(&bare)))
            .goal(Goal::Below(1000.0)),
        Row::new(6, "start-up: run -> 1,000 simple workers' setup done", "ms", ms(&simple))
            .base(median(&ms(&simple_bare)))
            .goal(Goal::Below(1000.0)),
    ])
}

pub(crate) fn item7(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let idle = idle_wakeups(cfg, None)?;
    let timeout = 2 * SEC;
    let secs = cfg.idle_window.as_secs_f64();
    let timed: Vec<f64> = idle_wakeups(cfg, Some(timeout))?.iter().map(|w| w / secs).collect();
    let needed = IDLE_WORKERS as f64 / timeout.as_secs_f64();
    Ok(vec![
        Row::new(
            7,
            format!("idle master: wake-ups per {} s, {IDLE_WORKERS} workers, perform 1 s", cfg.idle_window.as_secs()),
            "count",
            idle,
        )
        .goal(Goal::AllAtMost(0.0)),
        Row::new(7, format!("idle master + perform_timeout 2 s: wake-ups, {IDLE_WORKERS} workers"), "/s", timed)
            .base(needed)
            .goal(Goal::AtMostBase),
    ])
}

pub(crate) fn item8(cfg: &Cfg, cache: &mut Cache) -> Result<Vec<Row>, String> {
    let (sis1000, bare1000) = startup_runs(cfg, cache)?;
    let (sis1, bare1) = paired(cfg.runs, |bare| startup(cfg, 1, Strategy::Forking, bare))?;
    let rss = |v: &[(f64, f64)]| v.iter().map(|s| s.1).collect::<Vec<f64>>();
    let (s1, b1, s1000, b1000) = (rss(&sis1), rss(&bare1), rss(&sis1000), rss(&bare1000));
    let per_worker = |big: &[f64], one: &[f64]| (median(big) - median(one)) * 1024.0 / 999.0;
    let (sis_per, bare_per) = (per_worker(&s1000, &s1), per_worker(&b1000, &b1));
    Ok(vec![
        Row::new(8, "footprint: master VmRSS, 1 worker", "KiB", s1).base(median(&b1)),
        Row::new(8, "footprint: master VmRSS, 1,000 workers", "KiB", s1000).base(median(&b1000)),
        Row::new(8, "footprint: master bookkeeping per worker (from medians)", "B", vec![sis_per]).base(bare_per),
    ])
}

pub(crate) fn item9(cfg: &Cfg, cache: &mut Cache) -> Result<Vec<Row>, String> {
    let us = |rates: &[f64]| rates.iter().map(|r| 1e6 / r).collect::<Vec<f64>>();
    let (sis0, bare0) = fork0(cfg, cache)?;
    let mut sizes = vec![(0, us(&sis0), us(&bare0))];
    for &mib in cfg.sizes {
        let (s, b) = paired(cfg.runs, |bare| fork_rate(cfg, mib, bare))?;
        sizes.push((mib, us(&s), us(&b)));
    }
    let mut rows: Vec<Row> = sizes
        .iter()
        .map(|(mib, s, b)| {
            Row::new(9, format!("forking: µs per no-op perform, {mib} MiB resident"), "µs", s.clone()).base(median(b))
        })
        .collect();
    let ((_, s0, b0), (mib, s, b)) = (&sizes[0], &sizes[sizes.len() - 1]);
    let gib = *mib as f64 / 1024.0;
    rows.push(
        Row::new(
            9,
            format!("forking: extra µs per perform per GiB resident (0-{mib} MiB)"),
            "µs",
            vec![(median(s) - median(s0)) / gib],
        )
        .base((median(b) - median(b0)) / gib),
    );
    Ok(rows)
}
