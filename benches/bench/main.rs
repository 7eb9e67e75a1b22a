//! The sisyphus benchmark: every figure beside a baseline measured in the same run, printed as
//! one table on stdout (progress goes to stderr). BENCHMARKS.md explains each method.
//!
//! `cargo bench` runs it all (a few minutes); `cargo bench -- --quick`, or
//! `SISYPHUS_BENCH_QUICK=1 cargo bench`, a shorter version (about 1.5 minutes). Item numbers as
//! arguments (`cargo bench -- 3 5`) run only those items.
//!
//! Everything runs in processes forked from this single-threaded binary, as a user would run
//! them: a child becomes the master (`Master::new(job)...run()` with `NullLogger`), and the
//! jobs report events (setup done, perform checkpoints, counters) over a pipe created before the
//! fork, as fixed-size records written with one write(2) each and stamped with CLOCK_MONOTONIC,
//! so times compare across processes. The bench is a child subreaper; after every sample it
//! SIGKILLs and reaps every descendant, and every wait has a deadline.

mod alloc;
mod children;
mod command;
mod cron;
mod items;
mod job;
mod pacing;
mod perf;
// The /proc helpers the process tests use too.
#[path = "../../tests/support/procfs.rs"]
mod procfs;
mod procs;
mod records;
mod samplers;
mod state;
mod sys;
mod table;
mod watchdog;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use items::{Cache, Cfg, item1, item2, item3, item4, item5, item6, item7, item8, item9};
use pacing::{item10, item11, item12, item13};
use procs::{descendants, sweep};
use sys::{now_ns, ns_to_ms};
use table::{Row, print_table};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

/// The 1-, 5- and 15-minute load averages.
fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Raises RLIMIT_NPROC's soft limit to the hard one; returns the soft limit.
fn raise_nproc() -> libc::rlim_t {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut lim) };
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: a valid rlimit, within the hard limit.
        unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &lim) };
    }
    lim.rlim_cur
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var("SISYPHUS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let only: Vec<u8> = args.iter().filter_map(|a| a.parse().ok()).collect();
    // Orphans (perform children of killed workers, and everything of a killed master) are
    // reparented to us, so `sweep` can find, kill and reap them all.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let nproc = raise_nproc();
    // SAFETY: geteuid has no preconditions.
    if nproc < 3000 && unsafe { libc::geteuid() } != 0 {
        eprintln!("bench: RLIMIT_NPROC is {nproc}; 1,000 forking workers need about 2,100 processes");
    }
    let cfg = Cfg::new(quick);
    // Other load on the machine skews every figure; say how much there was.
    let load_before = loadavg();
    let mut cache = Cache::default();
    let mut rows = Vec::new();
    let started = now_ns();
    type Item = fn(&Cfg, &mut Cache) -> Result<Vec<Row>, String>;
    let items: [(u8, &str, Item); 19] = [
        (1, "forking throughput", item1),
        (2, "simple loop overhead", |c, _| item2(c)),
        (3, "respawn latency", |c, _| item3(c)),
        (4, "scale-up latency", |c, _| item4(c)),
        (5, "graceful stop latency", |c, _| item5(c)),
        (6, "start-up of 1,000 workers", item6),
        (7, "idle master wake-ups", |c, _| item7(c)),
        (8, "footprint", item8),
        (9, "fork cost against worker memory", item9),
        (10, "interval accuracy", |c, _| item10(c)),
        (11, "paced worker wake-ups", |c, _| item11(c)),
        (12, "stop of workers idle in an interval", |c, _| item12(c)),
        (13, "HUP rolling restart", |c, _| item13(c)),
        (14, "watchdog cost", |c, _| watchdog::item14(c)),
        (15, "sisyphus command: runs of /bin/true per second", |c, _| command::item15(c)),
        (16, "sisyphus command: start-up to the first run's output", |c, _| command::item16(c)),
        (17, "sisyphus command: stripped binary size", |c, _| command::item17(c)),
        (18, "calendar schedules: Cron::next_after", |c, _| cron::item18(c)),
        (19, "run state on disk: performs/s with and without a state file", |c, _| state::item19(c)),
    ];
    for (item, name, run) in items {
        if !only.is_empty() && !only.contains(&item) {
            continue;
        }
        eprintln!("bench: [{item}] {name} ({:.0} s elapsed)", ns_to_ms(now_ns() - started) / 1000.0);
        let result = catch_unwind(AssertUnwindSafe(|| run(&cfg, &mut cache)))
            .unwrap_or_else(|_| Err("panicked (see stderr)".into()));
        match result {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("bench: [{item}] {name} failed: {e}");
                rows.push(Row::error(item, name, e));
            }
        }
        if let Err(e) = sweep() {
            rows.push(Row::error(item, "cleanup", e));
        }
    }
    eprintln!("bench: done in {:.0} s", ns_to_ms(now_ns() - started) / 1000.0);
    print_table(&cfg, &rows, (load_before, loadavg()));
    let clean = sweep().is_ok() && descendants().is_empty();
    if !clean {
        eprintln!("bench: processes left behind: {:?}", descendants());
    }
    let failed = rows.iter().any(|r| r.error.is_some());
    std::process::exit(if failed || !clean { 1 } else { 0 });
}
