//! A cron-like job: two workers, each ticks once a second, until Ctrl-C.
//!
//! `cargo run --example ticker`, then Ctrl-C (graceful stop) or, from another terminal,
//! `kill -TTIN <master pid>` (one worker more), `kill -TTOU <master pid>` (one fewer),
//! `kill -QUIT <master pid>` (immediate stop).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sisyphus::{BoxError, Context, Job, Level, Master, Strategy};

struct Ticker;

impl Job for Ticker {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        ctx.log(Level::Info, format_args!("worker {} of {} ready", ctx.worker(), ctx.workers()));
        Ok(())
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        ctx.log(Level::Info, format_args!("worker {} tick {} at {secs}", ctx.worker(), ctx.iteration()));
        // Sleep in small steps so a stop request ends the wait early.
        for _ in 0..10 {
            if ctx.stop_requested() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

fn main() {
    let strategy = match std::env::args().nth(1).as_deref() {
        Some("simple") => Strategy::Simple,
        _ => Strategy::Forking,
    };
    match Master::new(Ticker).name("ticker").workers(2).strategy(strategy).run() {
        Ok(shutdown) => println!("stopped ({} killed)", shutdown.killed),
        Err(e) => {
            eprintln!("ticker: {e}");
            std::process::exit(1);
        }
    }
}
