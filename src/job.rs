//! What users implement, and what their code is told about where it runs.

use std::time::Instant;

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
    /// Prepares a worker: open connections, load configuration. An `Err` or a panic ends the
    /// worker before its first perform; the master starts another after a backoff.
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let _ = ctx;
        Ok(())
    }

    /// Does one unit of work. An `Err` is logged and the loop goes on, after the perform
    /// backoff ([`Master::perform_backoff`](crate::Master::perform_backoff)); a panic is logged and
    /// ends the process it ran in (the worker, or only the perform child when forking).
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
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Context {
    worker: usize,
    iteration: u64,
    stop: bool,
    scheduled: Option<Instant>,
}

impl Context {
    /// A context for worker slot `worker` and perform number `iteration`.
    pub fn new(worker: usize, iteration: u64) -> Self {
        Context { worker, iteration, stop: false, scheduled: None }
    }

    /// The same context, with [`scheduled`](Context::scheduled) set to `at`.
    pub fn with_scheduled(self, at: Instant) -> Self {
        Context { scheduled: Some(at), ..self }
    }

    /// With [`Master::interval`](crate::Master::interval), when this perform was due on the
    /// worker's fixed-rate schedule (within a few microseconds): the time a "every 30 s" job
    /// is about, however late the perform actually started. After an overrun or a suspension
    /// the schedule is re-anchored, and this is the actual start. `None` without an interval,
    /// and in `setup`.
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
    /// (or to the master's process group), a retirement by TTOU, the restart limit, or INT or
    /// TERM sent to the worker or its perform child itself. A long perform may check it to end
    /// early; nothing is signalled to what the perform runs. The loop does not start another
    /// perform once it is set. It reads memory shared with the master: no system call.
    pub fn stop_requested(&self) -> bool {
        self.stop || crate::worker::stop_requested()
    }
}
