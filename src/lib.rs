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
//! | `INT`, `TERM` | graceful stop: each worker finishes its current perform and exits; at the stop timeout the rest are SIGKILLed |
//! | second `INT`/`TERM`, or `QUIT` | immediate stop: every worker and perform child is SIGKILLed |
//! | `TTIN` | one worker more |
//! | `TTOU` | one worker fewer (never below 0): the highest slot is stopped gracefully and not replaced |
//! | `CHLD` | reap; replace workers that died unasked |
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
//! - The master is single-threaded and runs no user code but the logger; its signal handlers only count
//!   the signal and write a byte to a self-pipe, and its loop sleeps in `poll` until a signal
//!   or the nearest deadline. Forking a multi-threaded process is refused (see
//!   [`Master::allow_threads`]).
//! - Each worker leads its own process group, so the master can stop or kill a worker together
//!   with its perform child. A terminal's Ctrl-C therefore reaches only the master, which stops
//!   the workers gracefully; the flip side is that Ctrl-Z stops only the master.
//! - Workers die with the master, even when it is SIGKILLed (Linux: `PR_SET_PDEATHSIG`;
//!   elsewhere the worker checks between performs).
//! - A worker exits 0 when asked to stop, 3 when `setup` returned `Err`, and 101 after a panic;
//!   a perform child exits 0, 1 (`Err`) or 101 (panic).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

#[cfg(not(unix))]
compile_error!("sisyphus forks processes and needs a Unix system");

mod beat;
mod driver;
mod error;
mod job;
mod log;
mod master;
mod supervisor;
mod sys;
mod worker;

pub use error::{Error, Shutdown};
pub use job::{BoxError, Context, Job};
pub use log::{Level, Logger, NullLogger, StderrLogger};
pub use master::Master;
pub use supervisor::Strategy;

/// The README's examples, compiled and run as doctests so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
