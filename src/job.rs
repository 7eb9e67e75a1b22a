//! What users implement, and what their code is told about where it runs.

use std::fmt;
use std::time::Instant;

use crate::log::{self, Level};
use crate::table;

/// The error type `setup` and `perform` return: anything that is an error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A unit of work to run again and again.
///
/// `setup` runs once in each worker process, `perform` in a loop after it. With
/// [`Strategy::Forking`](crate::Strategy::Forking) each perform runs in a fresh child forked
/// from the worker, so it sees the state `setup` built but its own changes to `self` are lost
/// when it ends; with [`Strategy::Simple`](crate::Strategy::Simple) they persist.
///
/// ```
/// use sisyphus::{BoxError, Context, Job};
///
/// struct Sweep { dir: std::path::PathBuf }
///
/// impl Job for Sweep {
///     fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
///         std::fs::create_dir_all(&self.dir)?;
///         Ok(())
///     }
///     fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
///         for entry in std::fs::read_dir(&self.dir)? {
///             if ctx.stop_requested() { break; }
///             let _ = entry?;
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Job {
    /// Prepares a worker: open connections, load configuration.
    ///
    /// # Errors
    /// An `Err` (or a panic) ends the worker before its first perform: its text is logged at
    /// WARN and the master starts another after a backoff (with
    /// [`Master::daemonize`](crate::Master::daemonize), before the pool was ever up, the start
    /// fails instead).
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let _ = ctx;
        Ok(())
    }

    /// Does one unit of work.
    ///
    /// # Errors
    /// An `Err` is logged at WARN and the loop goes on, after the perform backoff
    /// ([`Master::perform_backoff`](crate::Master::perform_backoff)); a panic is logged at
    /// ERROR and ends the process it ran in (the worker, or only the perform child when
    /// forking).
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError>;
}

/// Where a `setup` or `perform` call runs.
///
/// Built by the worker loop; build one yourself with [`Context::new`] to unit-test a `Job`
/// without forking:
///
/// ```
/// use sisyphus::{BoxError, Context, Job};
///
/// struct Counter(u64);
/// impl Job for Counter {
///     fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
///         self.0 += ctx.iteration();
///         Ok(())
///     }
/// }
///
/// let mut job = Counter(0);
/// for i in 0..4 {
///     job.perform(&Context::new(0, i)).unwrap();
/// }
/// assert_eq!(job.0, 6);
/// assert!(Context::new(0, 0).with_stop_requested(true).stop_requested());
/// assert_eq!(Context::new(2, 0).with_workers(4).workers(), 4);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Context {
    worker: usize,
    workers: usize,
    iteration: u64,
    stop: bool,
    scheduled: Option<Instant>,
}

impl Context {
    /// A context for worker slot `worker` (of `worker + 1`) and perform number `iteration`.
    pub fn new(worker: usize, iteration: u64) -> Self {
        Context { worker, workers: worker + 1, iteration, stop: false, scheduled: None }
    }

    /// The same context, with [`workers`](Context::workers) set to `n` (at least
    /// `worker() + 1`).
    pub fn with_workers(self, n: usize) -> Self {
        Context { workers: n.max(self.worker + 1), ..self }
    }

    /// How many workers the pool was configured with ([`Master::workers`](crate::Master::workers)),
    /// so that slot [`worker`](Context::worker) can take its share of the work: `worker()` is
    /// always below it (a slot that TTIN, or [`Master::start_worker`](crate::Master::start_worker),
    /// added beyond the configured count sees `worker() + 1`). Shares cut this way fit a pool that keeps its size: after TTIN an added
    /// slot's share overlaps others', and after TTOU a retired slot's share is left undone.
    ///
    /// ```
    /// use sisyphus::{BoxError, Context, Job};
    ///
    /// struct Shards;
    /// impl Job for Shards {
    ///     fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
    ///         for shard in (0..16).filter(|s| s % ctx.workers() == ctx.worker()) {
    ///             let _ = shard; // this worker's shards: 1, 4, 7, 10, 13 for worker 1 of 3
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// Shards.perform(&Context::new(1, 0).with_workers(3)).unwrap();
    /// ```
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Logs a line of the job's own through the master's logger, as the crate's lines are: in
    /// the same file or stream, in the same format with this process's pid, cut and escaped
    /// the same way, and following a log rotation (USR1) as they do. From any other thread
    /// than the one that runs `setup` and `perform` (a [`Logger`](crate::Logger) need not be
    /// thread-safe), and outside a worker (a `Context` made with [`Context::new`] in a unit
    /// test), the line goes to standard error in the same format.
    ///
    /// ```
    /// use sisyphus::{BoxError, Context, Job, Level};
    ///
    /// struct Sweep;
    /// impl Job for Sweep {
    ///     fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
    ///         ctx.log(Level::Info, format_args!("swept {} files", 3));
    ///         Ok(())
    ///     }
    /// }
    /// Sweep.perform(&Context::new(0, 0)).unwrap();
    /// ```
    pub fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        log::job_log(level, args);
    }

    /// The same context, with [`scheduled`](Context::scheduled) set to `at`.
    pub fn with_scheduled(self, at: Instant) -> Self {
        Context { scheduled: Some(at), ..self }
    }

    /// With [`Master::interval`](crate::Master::interval) or [`Master::cron`](crate::Master::cron),
    /// when this perform was due on the worker's schedule (within a few microseconds; with a
    /// splay, the start it moved to): the time a "every 30 s" or "at 02:30" job is about,
    /// however late the perform actually started. After an overrun, a suspension or a missed
    /// start caught up, the schedule is re-anchored, and this is the actual start. `None`
    /// without a schedule, and in `setup`.
    pub fn scheduled(&self) -> Option<Instant> {
        self.scheduled
    }

    /// The same context, with [`stop_requested`](Context::stop_requested) forced to `yes`.
    pub fn with_stop_requested(self, yes: bool) -> Self {
        Context { stop: yes, ..self }
    }

    /// The worker's slot, `0..n`. A slot keeps its number when its worker is replaced, so it
    /// can pick a shard or a port.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// How many performs this worker started before this one (0 during `setup` and the first
    /// perform). It starts again from 0 in a replacement worker.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// Whether this worker was asked to stop, however it was asked: INT or TERM to the master
    /// (or to the master's process group), a retirement by TTOU, the restart limit or
    /// `max_failures`, or INT or TERM sent to the worker or its perform child itself. A long
    /// perform may check it to end early; nothing is signalled to what the perform runs. The
    /// loop does not start another perform once it is set. It reads memory shared with the
    /// master: no system call.
    pub fn stop_requested(&self) -> bool {
        self.stop || table::own_stop_requested()
    }
}
