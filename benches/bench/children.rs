//! What runs in the children: a sisyphus master, and the baselines without the library.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use libc::c_int;
use sisyphus::{Context, Job, Master, NullLogger, Strategy};

use crate::SEC;
use crate::job::{BenchJob, Spec};
use crate::procfs::Pid;
use crate::procs::{Proc, spawn};
use crate::records::{RETURNED, Rec, SETUP, START, send};
use crate::samplers::STORM_DELAY;
use crate::sys::{die_with, exit_now, fork, getpid, kill, sigset, sleep_unless_signalled};

/// A master running `spec` in `workers` workers. It records START just before `run` and
/// RETURNED just after.
pub(crate) fn spawn_master(
    spec: Spec,
    workers: usize,
    strategy: Strategy,
    perform_timeout: Option<Duration>,
) -> Result<Proc, String> {
    spawn_configured(spec, workers, strategy, move |m| match perform_timeout {
        Some(t) => m.perform_timeout(t),
        None => m,
    })
}

/// The same, with further settings made by `configure`.
pub(crate) fn spawn_configured(
    spec: Spec,
    workers: usize,
    strategy: Strategy,
    configure: impl FnOnce(Master<BenchJob>) -> Master<BenchJob>,
) -> Result<Proc, String> {
    spawn(move |tx| {
        let master = Master::new(BenchJob::new(tx, spec)).workers(workers).strategy(strategy).logger(NullLogger);
        let master = configure(master);
        send(tx, Rec::new(START, 0, 0, 0, 0));
        let (code, killed) = match master.run() {
            Ok(shutdown) => (0, shutdown.killed as u64),
            Err(e) => {
                eprintln!("bench: run failed: {e}");
                (1, 0)
            }
        };
        send(tx, Rec::new(RETURNED, 0, code, killed, 0));
        code as i32
    })
}

/// The forking baseline, no library: fork, the same perform in the child, `_exit`, `waitpid`.
/// It runs in a grandchild of the bench, the depth of a worker: each fork generation lengthens
/// the anon_vma chains that every fork copies, so depth alone changes the cost of a fork.
pub(crate) fn bare_fork_loop(spec: Spec) -> Result<Proc, String> {
    spawn(move |tx| {
        let middle = getpid();
        match fork() {
            -1 => return 1,
            0 => die_with(middle),
            _ => loop {
                // Stands in for the master: waits to be killed with everything below it.
                // SAFETY: pause has no preconditions.
                unsafe { libc::pause() };
            },
        }
        let mut job = BenchJob::new(tx, spec);
        let _ = job.setup(&Context::new(0, 0));
        for i in 0u64.. {
            match fork() {
                -1 => return 1,
                0 => {
                    let _ = job.perform(&Context::new(0, i));
                    exit_now(0)
                }
                pid => {
                    let mut status = 0;
                    // SAFETY: valid out-pointer; the child exits at once, and the bench bounds us.
                    unsafe { libc::waitpid(pid, &mut status, 0) };
                }
            }
        }
        0
    })
}

/// The simple baseline: the same perform called in a plain loop.
pub(crate) fn direct_loop(spec: Spec) -> Result<Proc, String> {
    spawn(move |tx| {
        let mut job = BenchJob::new(tx, spec);
        let _ = job.setup(&Context::new(0, 0));
        for i in 0u64.. {
            let _ = black_box(&mut job).perform(&Context::new(0, i));
        }
        0
    })
}

/// What a bare supervisor's workers do after their "setup", until TERM sets their stop flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BareWork {
    /// Sleep, like a simple-strategy worker whose perform sleeps.
    Idle,
    /// Fork a child that sleeps and wait for it, like a forking-strategy worker whose perform
    /// sleeps.
    IdleChild,
    /// Spin, like a simple-strategy no-op perform loop.
    Spin,
    /// fork + `_exit` + `waitpid` in a loop, like a forking-strategy no-op perform loop.
    ForkLoop,
}

impl BareWork {
    /// The bare equivalent of a sisyphus worker of `strategy` whose perform is a no-op (`busy`)
    /// or sleeps.
    pub(crate) fn like(strategy: Strategy, busy: bool) -> Self {
        match (strategy, busy) {
            (Strategy::Simple, false) => BareWork::Idle,
            (Strategy::Simple, true) => BareWork::Spin,
            (_, false) => BareWork::IdleChild,
            (_, true) => BareWork::ForkLoop,
        }
    }
}

/// The supervisor baseline: the least a pre-forking master must do, without the library. It
/// blocks its signals and takes them with sigtimedwait: CHLD reaps and re-forks the slot, TTIN
/// forks one more worker, INT sends TERM to every worker's process group, reaps them all and
/// returns. Its workers record SETUP first thing and stop as gracefully as sisyphus's: TERM sets
/// a flag that they check between "performs".
pub(crate) fn bare_supervisor(n: usize, work: BareWork) -> Result<Proc, String> {
    spawn(move |tx| {
        let set = sigset(&[libc::SIGCHLD, libc::SIGINT, libc::SIGTTIN]);
        // SAFETY: a zeroed sigset_t is a valid out-parameter for sigprocmask.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid sigsets.
        unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) };
        send(tx, Rec::new(START, 0, 0, 0, 0));
        let mut slots: Vec<Pid> = (0..n).map(|i| bare_worker(tx, i, work, &old)).collect();
        let mut stopping = false;
        loop {
            let ts = libc::timespec { tv_sec: 1, tv_nsec: 0 };
            // SAFETY: a valid set and timeout; no siginfo wanted.
            let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
            if sig == libc::SIGTTIN && !stopping {
                slots.push(bare_worker(tx, slots.len(), work, &old));
            } else if sig == libc::SIGINT && !stopping {
                stopping = true;
                for &pid in slots.iter().filter(|&&p| p > 0) {
                    kill(-pid, libc::SIGTERM);
                }
            }
            // Reap on every wake-up: pending CHLDs merge into one.
            loop {
                // SAFETY: waitpid with a null status pointer is allowed.
                let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
                if pid <= 0 {
                    break;
                }
                if let Some(i) = slots.iter().position(|&p| p == pid) {
                    slots[i] = if stopping { 0 } else { bare_worker(tx, i, work, &old) };
                }
            }
            if stopping && slots.iter().all(|&p| p == 0) {
                send(tx, Rec::new(RETURNED, 0, 0, 0, 0));
                return 0;
            }
        }
    })
}

/// A bare worker's stop flag, set by TERM.
static BARE_STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_bare_term(_: c_int) {
    BARE_STOP.store(true, Relaxed);
}

fn bare_stopped() -> bool {
    BARE_STOP.load(Relaxed)
}

/// Forks a bare worker in `slot`, leading its own process group; returns its pid.
fn bare_worker(tx: c_int, slot: usize, work: BareWork, mask: &libc::sigset_t) -> Pid {
    let parent = getpid();
    let pid = fork();
    if pid != 0 {
        // Also done by the child: whichever runs first, the group exists before it is signalled.
        // SAFETY: setpgid on our own child; failure (it already exited) is harmless.
        unsafe { libc::setpgid(pid, pid) };
        return pid;
    }
    // SAFETY: `act` is zeroed, then given an async-signal-safe handler and an empty mask;
    // setpgid makes us a group leader; the mask restored is the supervisor's from before.
    unsafe {
        libc::setpgid(0, 0);
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_bare_term as *const () as libc::sighandler_t;
        act.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGTERM, &act, std::ptr::null_mut());
        libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
    }
    die_with(parent);
    send(tx, Rec::new(SETUP, slot, getpid() as u64, 0, 0));
    let me = getpid();
    if matches!(work, BareWork::Spin | BareWork::ForkLoop) {
        sleep_unless_signalled(STORM_DELAY);
    }
    while !bare_stopped() {
        match work {
            // A TERM between the check and the sleep would cost a second; it never showed.
            BareWork::Idle => sleep_unless_signalled(SEC),
            BareWork::Spin => {
                black_box(0u64);
            }
            BareWork::IdleChild | BareWork::ForkLoop => match fork() {
                0 => {
                    die_with(me);
                    while work == BareWork::IdleChild && !bare_stopped() {
                        sleep_unless_signalled(SEC);
                    }
                    exit_now(0)
                }
                -1 => {}
                child => {
                    // SAFETY: waitpid with a null status pointer; SA_RESTART resumes it after TERM.
                    unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
                }
            },
        }
    }
    exit_now(0)
}
