//! Run a job in a pool of pre-forked worker processes, again and again, until told to stop.
//!
//! A [`Master`] forks N workers. Each runs the job's [`setup`](Job::setup) once, then
//! [`perform`](Job::perform) in a loop: in the worker itself ([`Strategy::Simple`]) or in a
//! fresh child forked for every perform ([`Strategy::Forking`], the default), every time or on
//! a schedule. The master replaces workers that die, with exponential backoff for those that
//! die young, kills performs that overrun their timeout, and is steered with Unix signals
//! (INT or TERM: a graceful stop; TTIN and TTOU: one worker more or fewer; HUP: a rolling
//! restart). It is a Rust take on the Ruby gem of the same name, without that gem's defects
//! (TTOU undone at once, TERM orphaning every worker, no backoff, no timeouts). The package
//! also builds the `sisyphus` command, which runs any program that way (its reference is its
//! man page, `doc/sisyphus.1`).
//!
//! ```no_run
//! use sisyphus::{BoxError, Context, FileLogger, Job, Level, Master};
//! use std::time::Duration;
//!
//! struct PollQueue;
//!
//! impl Job for PollQueue {
//!     fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
//!         // Runs once per worker: open connections, read configuration.
//!         ctx.log(Level::Info, format_args!("worker {} of {} ready", ctx.worker(), ctx.workers()));
//!         Ok(())
//!     }
//!
//!     fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
//!         // Runs again and again. An Err is logged, and the next perform waits a backoff.
//!         if !ctx.stop_requested() {
//!             std::thread::sleep(Duration::from_secs(1));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> Result<(), sisyphus::Error> {
//!     let log = FileLogger::new("poll-queue.log")?;
//!     let shutdown = Master::new(PollQueue).name("pollq").workers(4).logger(log).run()?;
//!     eprintln!("stopped; {} worker(s) had to be killed", shutdown.killed);
//!     Ok(())
//! }
//! ```
//!
//! [`run`](Master::run) blocks until the master is stopped by a signal. A job logs with
//! [`ctx.log(level, format_args!(..))`](Context::log): through the master's logger, into the
//! same file in the same format (with the pid of the process that logged), following a log
//! rotation as the crate's own lines do. [`ctx.workers()`](Context::workers) is the pool's
//! size, so slot [`ctx.worker()`](Context::worker) can take its share of the work.
//! [`name("pollq")`](Master::name) makes the workers `pollq-wN` in `ps` (default
//! `sisyphus-wN`).
//!
//! Settings, all on [`Master`]: [`workers(n)`](Master::workers),
//! [`strategy(..)`](Master::strategy), [`logger(..)`](Master::logger),
//! [`name(..)`](Master::name), [`stop_timeout(d)`](Master::stop_timeout) (default 25 s),
//! [`setup_timeout(d)`](Master::setup_timeout), [`perform_timeout(d)`](Master::perform_timeout),
//! [`max_restarts(n, within)`](Master::max_restarts), [`max_failures(n)`](Master::max_failures),
//! [`interval(d)`](Master::interval) (and `cron`, `splay`: see [Schedules](#schedules)),
//! [`perform_backoff(base, max)`](Master::perform_backoff),
//! [`max_performs(n)`](Master::max_performs), [`stop_signal(Signal::TERM)`](Master::stop_signal)
//! (forking: sent to a running perform when a graceful stop begins),
//! [`pidfile(path)`](Master::pidfile), [`daemonize()`](Master::daemonize) (see
//! [Under systemd, Kubernetes, or on a plain host](#under-systemd-kubernetes-or-on-a-plain-host)),
//! and `state_file`, `catch_up`, `metrics_file` (see
//! [Run state on disk](#run-state-on-disk-catch-up-and-metrics)). Without `run`,
//! [`start_worker`](Master::start_worker), [`stop_worker(pid)`](Master::stop_worker),
//! [`stop_all`](Master::stop_all) and [`worker_count`](Master::worker_count) manage workers by
//! hand, as the original gem's API, with no restarts and without touching the caller's other
//! children.
//!
//! The sections below are the library's reference: [Strategies](#strategies),
//! [Signals](#signals), [Exits and restarts](#exits-and-restarts),
//! [Timeouts and restart limits](#timeouts-and-restart-limits), [Schedules](#schedules),
//! [Logging](#logging), [What your code may do](#what-your-code-may-do),
//! [Under systemd, Kubernetes, or on a plain host](#under-systemd-kubernetes-or-on-a-plain-host)
//! (sd_notify, the pidfile, daemon mode),
//! [Reliability](#reliability-the-faults-it-survives) and [Performance](#performance).
//!
//! # The model, and its limits
//! - The master is single-threaded and runs no user code but the logger; its signal handlers
//!   only count the signal and write a byte to a self-pipe, and its loop sleeps in `poll` until
//!   a signal or the nearest deadline. Forking a multi-threaded process is refused (see
//!   [`Master::allow_threads`]), checked before every fork; a forking worker whose `setup` left
//!   threads running refuses to fork performs.
//! - Its decisions are a state machine over plain data, unit-tested without a process; a
//!   driver carries them out.
//! - A stop or a timeout is a request written into the worker's slot of shared memory, with a
//!   `SIGURG` to wake a worker that waits: no disposition that `setup` or `perform` sets can
//!   switch it off, and a graceful stop signals nothing a perform started.
//! - Each worker leads its own process group, and each perform child another, so a forced end
//!   kills everything a perform started. A terminal's Ctrl-C therefore reaches only the
//!   master, which stops the workers gracefully; the flip side is that Ctrl-Z stops only the
//!   master.
//! - Workers die with the master, even when it is SIGKILLed (Linux: `PR_SET_PDEATHSIG`;
//!   elsewhere a worker checks between performs, and at least once a second while it waits).
//! - A [`Logger`] must not block; one that panics loses its line.
//! - A worker exits 0 when asked to stop, 3 when `setup` failed, 70 when its master was gone
//!   as it started, and 101 after a panic; a perform child exits 0, 1 (`Err`) or 101 (panic).
//!
// The reference, one chapter per file (markdown, so that it reads well outside rustdoc too).
#![doc = include_str!("../doc/strategies.md")]
#![doc = include_str!("../doc/signals.md")]
#![doc = include_str!("../doc/exits.md")]
#![doc = include_str!("../doc/timeouts.md")]
#![doc = include_str!("../doc/schedules.md")]
#![doc = include_str!("../doc/logging.md")]
#![doc = include_str!("../doc/your-code.md")]
#![doc = include_str!("../doc/hosting.md")]
#![doc = include_str!("../doc/reliability.md")]
//!
//! # Performance
//!
//! Measured by `cargo bench --bench bench`; the figures, the machine, the methods and the
//! headlines are in the repository's `BENCHMARKS.md`. In short: the simple strategy adds about
//! 62 ns per perform and no system call; a forking perform costs a `fork` and a `waitpid`
//! (0.79 of a bare loop doing the same), plus about 30 ms per GiB the worker keeps resident; an
//! idle master does not wake.
#![deny(unsafe_op_in_unsafe_fn)]
// docs.rs (`--cfg docsrs`, nightly rustdoc): a badge on what needs a cargo feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

#[cfg(not(unix))]
compile_error!("sisyphus forks processes and needs a Unix system");

// The layers, lowest first: a module may use only those of the layers above its own
// (`.ci/check-layers` holds the table). `sys`: every libc call and `cfg(target_os)`.
mod sys;
// Data shared across the fork, and pure arithmetic.
mod error;
mod log;
mod signal;
mod table;
// Calendar schedules, and the runs' health, pool-wide (capabilities of their own).
mod cron;
mod health;
// When a worker starts its next perform; run state on disk (a capability of its own).
mod pace;
mod state;
// The settings and their checks.
mod config;
// What users implement.
mod job;
// Pure decisions over plain data, and the worker process: they never use each other.
mod supervisor;
mod worker;
// The driver that carries out the supervisor's decisions, and the public API.
mod master;

pub use config::{MAX_WORKERS, Strategy};
pub use cron::{Cron, LocalTime};
pub use error::{Error, Shutdown};
pub use job::{BoxError, Context, Job};
// `self::`: with the `log` feature, a bare `log` would also name the `log` crate.
pub use self::log::FileLogger;
#[cfg(feature = "log")]
#[cfg_attr(docsrs, doc(cfg(feature = "log")))]
pub use self::log::LogFacade;
pub use self::log::{Level, Logger, NullLogger, StderrLogger};
pub use master::Master;
pub use signal::Signal;
pub use state::{RunState, SlotState};

/// The README's examples, compiled and run as doctests so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
