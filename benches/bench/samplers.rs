//! Samplers: each takes one measurement in processes of its own, and sweeps them up.

use std::time::Duration;

use sisyphus::Strategy;

use crate::children::{BareWork, bare_fork_loop, bare_supervisor, direct_loop, spawn_master};
use crate::items::Cfg;
use crate::job::{Act, Spec};
use crate::procfs::{Pid, status_field};
use crate::procs::{Proc, with_proc};
use crate::records::{COUNT, RETURNED, SETUP, START, TICK};
use crate::sys::{after, kill, now_ns, ns_to_ms};
use crate::{MS, SEC};

/// Performs per second: from the first TICK after iteration 0 (warm-up) to the first TICK at
/// least `window` later.
pub(crate) fn tick_rate(p: &mut Proc, window: Duration) -> Result<f64, String> {
    let deadline = after(4 * window + 20 * SEC);
    let first = p.expect("a tick after the first", deadline, |r| r.kind == TICK && r.a > 0)?;
    loop {
        let r = p.expect("a tick", deadline, |r| r.kind == TICK)?;
        if r.t - first.t >= window.as_nanos() as u64 {
            return Ok((r.a - first.a) as f64 * 1e9 / (r.t - first.t) as f64);
        }
    }
}

/// The TICK mask for a forking perform loop over `mib` resident MiB: about 20 ms per tick.
fn fork_tick_mask(mib: usize) -> u64 {
    match mib {
        0 => 255,
        1..=64 => 63,
        65..=256 => 15,
        _ => 3,
    }
}

/// Forking-strategy (or bare fork loop) performs per second with `mib` MiB resident.
pub(crate) fn fork_rate(cfg: &Cfg, mib: usize, bare: bool) -> Result<f64, String> {
    let spec = Spec { mib, ..Spec::new(Act::Tick { mask: fork_tick_mask(mib) }, cfg.method) };
    let p = if bare { bare_fork_loop(spec)? } else { spawn_master(spec, 1, Strategy::Forking, None)? };
    with_proc(p, |p| {
        p.setups(1, 30 * SEC)?;
        tick_rate(p, cfg.window)
    })
}

pub(crate) const SIMPLE_TICK_MASK: u64 = (1 << 20) - 1;

/// ns per perform of a simple-strategy worker loop (`timeout`: with a perform timeout).
pub(crate) fn simple_ns(cfg: &Cfg, timeout: Option<Duration>) -> Result<f64, String> {
    let spec = Spec::new(Act::Tick { mask: SIMPLE_TICK_MASK }, cfg.method);
    let p = spawn_master(spec, 1, Strategy::Simple, timeout)?;
    with_proc(p, |p| {
        p.setups(1, 10 * SEC)?;
        Ok(1e9 / tick_rate(p, cfg.window)?)
    })
}

/// ns per direct call of the same perform.
pub(crate) fn direct_ns(cfg: &Cfg) -> Result<f64, String> {
    let p = direct_loop(Spec::new(Act::Tick { mask: SIMPLE_TICK_MASK }, cfg.method))?;
    with_proc(p, |p| {
        p.setups(1, 10 * SEC)?;
        Ok(1e9 / tick_rate(p, cfg.window)?)
    })
}

/// Allocations and syscalls over `n` performs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counts {
    /// Allocations in the loop process per perform.
    pub(crate) allocs: f64,
    /// Allocations in a perform child before `perform` was called (forking only).
    pub(crate) child_allocs: f64,
    /// Syscalls of the loop process per perform.
    pub(crate) syscalls: f64,
    /// Syscalls of a perform child per perform (forking only; NaN when not measurable).
    pub(crate) child_syscalls: f64,
    /// Page faults of the loop process and its perform children per perform (NaN when not
    /// measurable).
    pub(crate) faults: f64,
}

/// Which loop runs the performs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Runner {
    Master(Strategy, Option<Duration>),
    BareFork,
    Direct,
}

/// Counts over `n` performs. They include what the measurement itself does between its two
/// readings (a few syscalls), which the baselines, measured the same way, include too. With a
/// forking loop, allocations are counted in a run of their own: writing the count in a perform
/// child costs a page fault, which must not show in the others.
pub(crate) fn counts(cfg: &Cfg, n: u64, runner: Runner) -> Result<Counts, String> {
    let forking = matches!(runner, Runner::BareFork | Runner::Master(Strategy::Forking, _));
    let with_allocs = count_run(cfg, n, runner, true)?;
    if !forking {
        return Ok(with_allocs);
    }
    let rest = count_run(cfg, n, runner, false)?;
    Ok(Counts { allocs: with_allocs.allocs, child_allocs: with_allocs.child_allocs, ..rest })
}

fn count_run(cfg: &Cfg, n: u64, runner: Runner, allocs: bool) -> Result<Counts, String> {
    let k1 = 1000;
    let spec = Spec::new(Act::Count { k1, k2: k1 + n, allocs }, cfg.method);
    let forking = matches!(runner, Runner::BareFork | Runner::Master(Strategy::Forking, _));
    let p = match runner {
        Runner::Master(strategy, timeout) => spawn_master(spec, 1, strategy, timeout)?,
        Runner::BareFork => bare_fork_loop(spec)?,
        Runner::Direct => direct_loop(spec)?,
    };
    with_proc(p, |p| {
        p.setups(1, 10 * SEC)?;
        let deadline = after(120 * SEC);
        let c1 = p.expect("the first count", deadline, |r| r.kind == COUNT)?;
        let c2 = p.expect("the second count", deadline, |r| r.kind == COUNT)?;
        let per = |a: u64, b: u64| if a == u64::MAX || b == u64::MAX { f64::NAN } else { (b - a) as f64 / n as f64 };
        // A perform child's count is the loop process's at the fork plus its own since (`e`).
        let (allocs, child_allocs) =
            if forking { (per(c1.a - c1.e, c2.a - c2.e), (c1.e + c2.e) as f64 / 2.0) } else { (per(c1.a, c2.a), 0.0) };
        let syscalls = per(c1.b, c2.b);
        let child_syscalls = if forking { per(c1.c, c2.c) - syscalls } else { 0.0 };
        let faults = per(c1.d, c2.d);
        Ok(Counts { allocs, child_allocs, syscalls, child_syscalls, faults })
    })
}

/// ms from SIGKILL to a worker until its replacement finished `setup`, one sample per slot.
pub(crate) fn respawn_ms(cfg: &Cfg, bare: bool) -> Result<Vec<f64>, String> {
    const SLOTS: usize = 20;
    let p = if bare {
        bare_supervisor(SLOTS, BareWork::IdleChild)?
    } else {
        spawn_master(Spec::new(Act::Sleep(SEC), cfg.method), SLOTS, Strategy::Forking, None)?
    };
    with_proc(p, |p| {
        let mut pids = [0; SLOTS];
        for r in p.setups(SLOTS, 20 * SEC)? {
            pids[r.slot as usize] = r.a as Pid;
        }
        std::thread::sleep(50 * MS);
        let mut out = Vec::new();
        // A different slot each time: a slot's first death is replaced at once, later ones back off.
        for (slot, pid) in pids.iter_mut().enumerate().take(cfg.samples.min(SLOTS)) {
            let t0 = now_ns();
            kill(*pid, libc::SIGKILL);
            let r =
                p.expect("the replacement's setup", after(10 * SEC), |r| r.kind == SETUP && r.slot as usize == slot)?;
            out.push(ns_to_ms(r.t - t0));
            *pid = r.a as Pid;
            std::thread::sleep(20 * MS);
        }
        Ok(out)
    })
}

/// ms from SIGTTIN to the master until the new worker finished `setup`.
pub(crate) fn scale_up_ms(cfg: &Cfg, bare: bool) -> Result<Vec<f64>, String> {
    let p = if bare {
        bare_supervisor(1, BareWork::IdleChild)?
    } else {
        spawn_master(Spec::new(Act::Sleep(SEC), cfg.method), 1, Strategy::Forking, None)?
    };
    with_proc(p, |p| {
        p.setups(1, 10 * SEC)?;
        std::thread::sleep(50 * MS);
        let mut out = Vec::new();
        for slot in 1..=cfg.samples {
            let t0 = now_ns();
            kill(p.pid, libc::SIGTTIN);
            let r =
                p.expect("the new worker's setup", after(10 * SEC), |r| r.kind == SETUP && r.slot as usize == slot)?;
            out.push(ns_to_ms(r.t - t0));
            std::thread::sleep(20 * MS);
        }
        Ok(out)
    })
}

/// How long no-op workers wait after `setup` before they start their storm of performs, so that
/// hundreds of them come up in a fraction of a second instead of fighting the master for the CPU.
pub(crate) const STORM_DELAY: Duration = Duration::from_millis(200);

/// ms from SIGINT to the master until `run` returned, with `n` workers running a no-op perform
/// (`busy`), or a perform that sleeps until the stop request interrupts it.
pub(crate) fn stop_ms(cfg: &Cfg, n: usize, strategy: Strategy, busy: bool, bare: bool) -> Result<f64, String> {
    // A sleeping perform ends early on the stop request, which it sees within a 5 ms nap (the
    // bare baseline's workers are woken by TERM at once).
    let act = if busy { Act::Noop } else { Act::Nap(2 * SEC) };
    let p = if bare {
        bare_supervisor(n, BareWork::like(strategy, busy))?
    } else {
        spawn_master(Spec::new(act, cfg.method), n, strategy, None)?
    };
    // Let every worker get into its loop.
    timed_stop(p, n, if busy { STORM_DELAY + 100 * MS } else { 100 * MS })
}

/// ms from SIGINT to master `p`, once its `n` workers are up and `settle` has passed, until
/// `run` returned; an error unless it returned `Ok` with nothing killed and exit 0.
pub(crate) fn timed_stop(p: Proc, n: usize, settle: Duration) -> Result<f64, String> {
    with_proc(p, |p| {
        p.setups(n, 60 * SEC)?;
        std::thread::sleep(settle);
        let t0 = now_ns();
        kill(p.pid, libc::SIGINT);
        let r = p.expect("run to return", after(40 * SEC), |r| r.kind == RETURNED)?;
        let code = p.wait_exit(10 * SEC)?;
        if r.a != 0 || r.b != 0 || code != 0 {
            return Err(format!("unclean stop: exit code {code}, {} killed", r.b));
        }
        Ok(ns_to_ms(r.t - t0))
    })
}

/// ms from just before `run` until all `n` workers finished `setup`, and the master's VmRSS in
/// KiB once they have.
pub(crate) fn startup(cfg: &Cfg, n: usize, strategy: Strategy, bare: bool) -> Result<(f64, f64), String> {
    let p = if bare {
        bare_supervisor(n, BareWork::like(strategy, false))?
    } else {
        spawn_master(Spec::new(Act::Sleep(SEC), cfg.method), n, strategy, None)?
    };
    with_proc(p, |p| {
        let start = p.expect("start", after(10 * SEC), |r| r.kind == START)?;
        let last = p.setups(n, 60 * SEC)?.iter().map(|r| r.t).max().unwrap_or(start.t);
        // Let the master go back to sleep before reading its RSS.
        std::thread::sleep(100 * MS);
        let rss = status_field(p.pid, "VmRSS:")?;
        Ok((ns_to_ms(last - start.t), rss as f64))
    })
}

/// The master's voluntary context switches (wake-ups) per window, with 8 workers whose perform
/// sleeps 1 s.
pub(crate) fn idle_wakeups(cfg: &Cfg, timeout: Option<Duration>) -> Result<Vec<f64>, String> {
    let p = spawn_master(Spec::new(Act::Sleep(SEC), cfg.method), IDLE_WORKERS, Strategy::Forking, timeout)?;
    with_proc(p, |p| {
        p.setups(IDLE_WORKERS, 10 * SEC)?;
        std::thread::sleep(500 * MS);
        let mut prev = status_field(p.pid, "voluntary_ctxt_switches:")?;
        let mut out = Vec::new();
        for _ in 0..cfg.idle_windows {
            std::thread::sleep(cfg.idle_window);
            let now = status_field(p.pid, "voluntary_ctxt_switches:")?;
            out.push((now - prev) as f64);
            prev = now;
        }
        Ok(out)
    })
}

pub(crate) const IDLE_WORKERS: usize = 8;
