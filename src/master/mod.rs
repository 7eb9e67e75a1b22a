//! The master: the public API. Its decisions are the supervisor's; the driver carries them
//! out.

// `api` before `options`: rustdoc lists the impls of submodules in the order they are
// declared, so that `new` and `run` come first on `Master`'s page.
mod api;
mod driver;
mod options;
mod schedule;
mod service;
mod state;

use std::path::PathBuf;

use crate::config::Config;
use crate::health::Health;
use crate::job::Job;
use crate::log::Logger;
use crate::supervisor::Supervisor;
use crate::table::Beats;

/// Runs a [`Job`] in a pool of pre-forked worker processes.
///
/// Supervised, with [`run`](Master::run): the master forks the workers, replaces those that
/// die, and is steered by signals until it is stopped (see [Signals](crate#signals) in the crate docs).
///
/// ```no_run
/// use sisyphus::{BoxError, Context, Job, Master, Strategy};
/// use std::time::Duration;
///
/// struct Tick;
/// impl Job for Tick {
///     fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
///         println!("worker {} tick {}", ctx.worker(), ctx.iteration());
///         std::thread::sleep(Duration::from_secs(1));
///         Ok(())
///     }
/// }
///
/// let shutdown = Master::new(Tick).workers(2).strategy(Strategy::Simple).run()?;
/// assert!(!shutdown.forced());
/// # Ok::<(), sisyphus::Error>(())
/// ```
///
/// Unmonitored, as the original gem's `start_worker`/`stop_worker`/`stop_all`: no run loop,
/// no restarts, and the caller's own children are left alone.
///
/// ```no_run
/// # use sisyphus::{BoxError, Context, Job, Master};
/// # struct Tick;
/// # impl Job for Tick { fn perform(&mut self, _: &Context) -> Result<(), BoxError> { Ok(()) } }
/// let mut master = Master::new(Tick);
/// let pid = master.start_worker()?;
/// master.start_worker()?;
/// assert_eq!(master.worker_count(), 2);
/// assert!(master.stop_worker(pid)?);
/// master.stop_all()?;
/// # Ok::<(), sisyphus::Error>(())
/// ```
pub struct Master<J: Job> {
    job: J,
    config: Config,
    logger: Box<dyn Logger>,
    /// The tables shared with the workers, once mapped.
    beats: Option<(Beats, Health)>,
    /// The workers of the unmonitored API.
    unmonitored: Option<Supervisor>,
    pidfile: Option<PathBuf>,
    daemon: bool,
}
