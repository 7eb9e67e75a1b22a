//! The demo: a job on a schedule. Two workers each tick every 2 s, their starts spread over the
//! interval (so the pool ticks once a second), until Ctrl-C.
//!
//! `cargo run --example ticker` (`-- simple` for the simple strategy), then Ctrl-C (graceful
//! stop) or, from another terminal, `kill -TTIN <master pid>` (one worker more), `kill -TTOU
//! <master pid>` (one fewer), `kill -HUP <master pid>` (rolling restart), `kill -QUIT <master
//! pid>` (immediate stop).

use std::time::{Duration, Instant};

use sisyphus::{BoxError, Context, Job, Level, Master, Strategy};

struct Ticker;

impl Job for Ticker {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        ctx.log(Level::Info, format_args!("worker {} of {} ready", ctx.worker(), ctx.workers()));
        Ok(())
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        // When this run was due on the schedule, and how late it started.
        let late = ctx.scheduled().map_or(Duration::ZERO, |due| Instant::now().saturating_duration_since(due));
        let (worker, n) = (ctx.worker(), ctx.iteration());
        ctx.log(
            Level::Info,
            format_args!("worker {worker} tick {n}, {:.1} ms after its due time", late.as_secs_f64() * 1e3),
        );
        Ok(())
    }
}

fn main() {
    let strategy = match std::env::args().nth(1).as_deref() {
        Some("simple") => Strategy::Simple,
        _ => Strategy::Forking,
    };
    let master = Master::new(Ticker)
        .name("ticker")
        .workers(2)
        .strategy(strategy)
        .interval(Duration::from_secs(2))
        .spread_starts()
        .perform_timeout(Duration::from_secs(1));
    match master.run() {
        Ok(shutdown) => println!("stopped ({} killed)", shutdown.killed),
        Err(e) => {
            eprintln!("ticker: {e}");
            std::process::exit(1);
        }
    }
}
