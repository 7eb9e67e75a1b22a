//! The job.

use std::hint::black_box;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use libc::c_int;
use sisyphus::{BoxError, Context, Job};

use crate::alloc::{ALLOCS, COUNTING, FORKED_AT, on_fork_child, pthread_atfork};
use crate::perf::{Counters, SyscallMethod};
use crate::records::{COUNT, LATE, Rec, SETUP, TICK, send};
use crate::samplers::STORM_DELAY;
use crate::sys::{getpid, now_ns, sleep_unless_signalled};

/// How often a sleeping perform looks at `stop_requested`.
const NAP: Duration = Duration::from_millis(5);

/// What a perform does. All but `Sleep` and `Nap` are no-ops apart from rare reports.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Act {
    /// Nothing at all, from the first perform on (for paced workers).
    Nothing,
    /// Reports its start and its lateness against `Context::scheduled` (LATE), every perform.
    Late,
    /// Nothing, after a first perform that sleeps `STORM_DELAY`.
    Noop,
    /// Reports a TICK every `mask + 1` iterations (a power of two, so no division per perform).
    Tick { mask: u64 },
    /// Reports a COUNT at iterations `k1` and `k2`; counts allocations only with `allocs`.
    Count { k1: u64, k2: u64, allocs: bool },
    /// Sleeps, unless a stop was requested before it began.
    Sleep(Duration),
    /// Sleeps in naps of `NAP`, ended early by a stop request: a long perform that looks at
    /// `stop_requested`, since a graceful stop signals nothing the perform runs.
    Nap(Duration),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub(crate) act: Act,
    /// MiB that `setup` allocates and touches, to stay resident in the worker.
    pub(crate) mib: usize,
    pub(crate) method: SyscallMethod,
}

impl Spec {
    pub(crate) fn new(act: Act, method: SyscallMethod) -> Self {
        Spec { act, mib: 0, method }
    }
}

/// The job every measurement runs, in a sisyphus worker or in a bare baseline loop alike.
pub(crate) struct BenchJob {
    tx: c_int,
    spec: Spec,
    /// Keeps the touched memory resident; never read.
    _resident: Vec<u8>,
    counters: Option<Counters>,
}

impl BenchJob {
    pub(crate) fn new(tx: c_int, spec: Spec) -> Self {
        BenchJob { tx, spec, _resident: Vec::new(), counters: None }
    }

    #[cold]
    #[inline(never)]
    fn tick(&self, ctx: &Context) {
        send(self.tx, Rec::new(TICK, ctx.worker(), ctx.iteration(), 0, 0));
    }

    /// The lateness is read first thing, as `Instant::now() - ctx.scheduled()`. The record's
    /// time is the same instant in CLOCK_MONOTONIC ns (`Instant`'s clock), converted through
    /// a pair of readings taken less than 10 µs apart, so a preemption cannot skew it.
    fn late(&self, ctx: &Context) {
        let now = Instant::now();
        let late = ctx.scheduled().map_or(u64::MAX, |s| now.saturating_duration_since(s).as_nanos() as u64);
        let t = loop {
            let (t1, i, t2) = (now_ns(), Instant::now(), now_ns());
            if t2 - t1 < 10_000 {
                break t1 - i.saturating_duration_since(now).as_nanos() as u64;
            }
        };
        send(self.tx, Rec { t, ..Rec::new(LATE, ctx.worker(), ctx.iteration(), late, 0) });
    }

    #[cold]
    #[inline(never)]
    fn count(&self, ctx: &Context) {
        let allocs = ALLOCS.load(Relaxed);
        let (own, tree, faults) = self.counters.map_or((u64::MAX, u64::MAX, u64::MAX), |c| c.read());
        let since_fork = allocs.wrapping_sub(FORKED_AT.load(Relaxed));
        send(self.tx, Rec { d: faults, e: since_fork, ..Rec::new(COUNT, ctx.worker(), allocs, own, tree) });
    }
}

impl Job for BenchJob {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        if self.spec.mib > 0 {
            let mut mem = vec![0u8; self.spec.mib << 20];
            // Write every page, so each is resident and private rather than the shared zero page.
            for page in mem.chunks_mut(4096) {
                page[0] = 1;
            }
            self._resident = black_box(mem);
        }
        if let Act::Count { allocs, .. } = self.spec.act {
            COUNTING.store(allocs, Relaxed);
            // SAFETY: registers a handler that only stores to an atomic; no other thread exists.
            unsafe { pthread_atfork(None, None, Some(on_fork_child)) };
            self.counters = Some(Counters::open(self.spec.method));
        }
        send(self.tx, Rec::new(SETUP, ctx.worker(), getpid() as u64, 0, 0));
        Ok(())
    }

    // Never inlined, so the worker loop and the direct-call baseline both pay one real call.
    #[inline(never)]
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        match self.spec.act {
            Act::Nothing => {}
            Act::Late => self.late(ctx),
            Act::Noop => {
                if ctx.iteration() == 0 && !ctx.stop_requested() {
                    sleep_unless_signalled(STORM_DELAY)
                }
            }
            Act::Tick { mask } => {
                if ctx.iteration() & mask == 0 {
                    self.tick(ctx)
                }
            }
            Act::Count { k1, k2, .. } => {
                if ctx.iteration() == k1 || ctx.iteration() == k2 {
                    self.count(ctx)
                }
            }
            Act::Sleep(d) | Act::Nap(d) => {
                // The first perform of slot i sleeps i/8 of a period longer, so that the
                // workers' performs are out of phase, as they drift apart in production.
                let phase = if ctx.iteration() == 0 { d * (ctx.worker() % 8) as u32 / 8 } else { Duration::ZERO };
                let nap = if matches!(self.spec.act, Act::Nap(_)) { NAP } else { d + phase };
                let end = std::time::Instant::now() + d + phase;
                while !ctx.stop_requested() && std::time::Instant::now() < end {
                    sleep_unless_signalled(nap)
                }
            }
        }
        Ok(())
    }
}
