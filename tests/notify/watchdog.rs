//! Keep-alives (`WATCHDOG=1`): on time, for whom `WATCHDOG_PID` names, until the master stops.

use std::time::Duration;

use crate::support::*;
use crate::{Listener, Svc, ensure, ms, service_env, stop};
use sisyphus::{Master, Strategy};

/// The middle of sorted `v` (0 for none).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub fn watchdog() -> Outcome {
    let ev = Events::new("watchdog");
    let mut l = Listener::path("watchdog")?;
    let job = Svc::new(&ev);
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), Some("200000"), None);
        Master::new(job).strategy(Strategy::Simple).logger(ev.logger()).run()
    });
    l.wait("READY=1", 10 * SEC, |l| l.has("READY=1"))?;
    // One second of keep-alives, every 100 ms (half of WATCHDOG_USEC).
    let from = mono_ns();
    l.pump(SEC);
    let beats: Vec<u64> = l.stamps("WATCHDOG=1").into_iter().filter(|&t| t >= from).collect();
    let gaps: Vec<f64> = beats.windows(2).map(|w| ms(w[1] - w[0])).collect();
    ensure!((8..=13).contains(&beats.len()), "{} WATCHDOG=1 in 1 s; gaps {gaps:.1?} ms", beats.len());
    ensure!(gaps.iter().all(|g| (60.0..250.0).contains(g)), "gaps between WATCHDOG=1: {gaps:.1?} ms");
    let (lo, hi) = gaps.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &g| (lo.min(g), hi.max(g)));
    println!(
        "       WATCHDOG_USEC=200000: {} keep-alives in 1 s, median gap {:.1} ms ({lo:.1}-{hi:.1})",
        beats.len(),
        median(&gaps)
    );

    // A wedged master misses its keep-alives: none while it is stopped.
    let stop_at = mono_ns();
    kill(master, libc::SIGSTOP);
    l.wait("the master to be stopped", 5 * SEC, |_| state(master) == Some('T'))?;
    // What it sent before it stopped is in the queue now; anything later would be new.
    l.drain();
    let stopped_from = mono_ns();
    l.pump((400 * MS).saturating_sub(Duration::from_nanos(stopped_from - stop_at)));
    let cont = mono_ns();
    kill(master, libc::SIGCONT);
    let during: Vec<f64> = l
        .stamps("WATCHDOG=1")
        .into_iter()
        .filter(|&t| t > stopped_from && t <= cont)
        .map(|t| ms(t - stop_at))
        .collect();
    ensure!(during.is_empty(), "WATCHDOG=1 while the master was stopped, at {during:.1?} ms into the stop");
    let after = |l: &Listener| l.stamps("WATCHDOG=1").into_iter().filter(|&t| t > cont).collect::<Vec<_>>();
    l.wait("two WATCHDOG=1 after SIGCONT", 2 * SEC, |l| after(l).len() >= 2)?;
    let a = after(&l);
    // Due during the stop: sent once at the resume, then no burst.
    ensure!(
        ms(a[0] - cont) < 100.0 && ms(a[1] - a[0]) > 60.0,
        "after SIGCONT: {:.1} ms, then {:.1} ms",
        ms(a[0] - cont),
        ms(a[1] - a[0])
    );
    println!(
        "       SIGSTOP {:.0} ms: no WATCHDOG=1 meanwhile; the next {:.1} ms after SIGCONT, then {:.1} ms later",
        ms(cont - stop_at),
        ms(a[0] - cont),
        ms(a[1] - a[0])
    );
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)
}

pub fn watchdog_pid_other() -> Outcome {
    let ev = Events::new("wdother");
    let mut l = Listener::path("wdother")?;
    let job = Svc::new(&ev);
    let addr = l.addr.clone();
    // Another process's watchdog: this runner's pid, certainly not the master's.
    let other = getpid().to_string();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), Some("200000"), Some(&other));
        Master::new(job).logger(ev.logger()).run()
    });
    l.wait("READY=1", 10 * SEC, |l| l.has("READY=1"))?;
    l.pump(500 * MS);
    ensure!(l.count("WATCHDOG=1") == 0, "WATCHDOG=1 for another pid's watchdog: {:?}", l.messages());
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)?;
    ensure!(l.count("WATCHDOG=1") == 0, "WATCHDOG=1 for another pid's watchdog: {:?}", l.messages());
    Ok(())
}

pub fn watchdog_pid_master() -> Outcome {
    let ev = Events::new("wdself");
    let mut l = Listener::path("wdself")?;
    let job = Svc::new(&ev);
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        let me = getpid().to_string();
        service_env(Some(&addr), Some("200000"), Some(&me));
        Master::new(job).logger(ev.logger()).run()
    });
    l.wait("READY=1", 10 * SEC, |l| l.has("READY=1"))?;
    let from = mono_ns();
    l.pump(500 * MS);
    let beats = l.stamps("WATCHDOG=1").into_iter().filter(|&t| t >= from).count();
    ensure!((3..=7).contains(&beats), "{beats} WATCHDOG=1 in 500 ms at WATCHDOG_USEC=200000: {:?}", l.messages());
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)
}
