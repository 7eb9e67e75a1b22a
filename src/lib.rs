//! Run a job in a pool of pre-forked worker processes, again and again, until told to stop.
//!
//! A [`Master`] forks N workers. Each runs the job's [`setup`](Job::setup) once, then
//! [`perform`](Job::perform) in a loop: in the worker itself ([`Strategy::Simple`]) or in a
//! fresh child forked for every perform ([`Strategy::Forking`], the default). The master
//! replaces workers that die, with exponential backoff for those that die young, and is
//! steered with Unix signals:
//!
//! | signal to the master | effect |
//! |---|---|
//! | `INT`, `TERM` | graceful stop: each worker finishes its current perform and exits; nothing the perform started is signalled; at the stop timeout the rest are SIGKILLed with their process groups |
//! | another `INT`/`TERM` within 1 s of the one that began the stop | nothing more: it is the same request (`timeout` and `kill -TERM -PGID` send two), logged at DEBUG |
//! | a second `INT`/`TERM` later than that, or `QUIT` | immediate stop: every worker, perform child and what they started in their groups is SIGKILLed |
//! | `TTIN` | one worker more |
//! | `TTOU` | one worker fewer (never below 0): the highest slot is stopped gracefully and not replaced |
//! | `CHLD` | reap; replace workers that died unasked |
//! | `USR1` | reopen the logs: the master's first, then each worker's between two performs |
//! | `HUP` | rolling restart: one slot at a time, each replacement reruns `setup` |
//! | `USR2`, `WINCH`, `ALRM`, `IO` | logged and ignored; `PIPE` ignored |
//!
//! ```no_run
//! use sisyphus::{BoxError, Context, Job, Master};
//!
//! struct Hello;
//! impl Job for Hello {
//!     fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
//!         println!("worker {} says hello for the {}th time", ctx.worker(), ctx.iteration());
//!         std::thread::sleep(std::time::Duration::from_secs(1));
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> Result<(), sisyphus::Error> {
//!     Master::new(Hello).workers(2).run()?;
//!     Ok(())
//! }
//! ```
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
mod pace;
mod signal;
mod table;
// The runs' health, pool-wide (a capability of its own).
mod health;
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

/// The README's examples, compiled and run as doctests so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
