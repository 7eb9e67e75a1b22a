//! A logger that forwards to the `log` crate's facade, with the `log` cargo feature.

use std::fmt;

use super::{Level, Logger};

/// Forwards each event to the [`log`](::log) crate's facade, with the target `"sisyphus"`:
/// [`Level::Error`], `Warn`, `Info` and `Debug` become the `log` levels of the same names. Only
/// with the `log` cargo feature; the default build depends on `libc` alone.
///
/// ```toml
/// sisyphus-prefork = { version = "0.1", features = ["log"] }
/// ```
///
/// The backend is yours to install, in `main` before [`Master::run`](crate::Master::run)
/// (`env_logger::init()`, `log::set_logger`, ...); forked workers and perform children inherit
/// it. Until one is installed the facade drops every line. `LogFacade` has no level of its own:
/// it sends every event that passes [`log::max_level`](::log::max_level), and the backend
/// filters the rest.
///
/// The crate's rules for a [`Logger`] apply to the backend, since it is what runs:
/// - It must not block. While it blocks, the master reaps nothing, enforces no timeout and
///   answers no signal. A backend that formats a line and writes it to standard error under a
///   lock is fine as long as something reads standard error; unlike [`StderrLogger`](
///   crate::StderrLogger), it waits when that is a full pipe nobody reads.
/// - It must start no thread. The master refuses to fork while other threads exist, and a
///   forking worker refuses to fork performs: a backend that hands lines to a thread of its
///   own (most asynchronous ones) stops the pool from starting workers, and with the forking
///   strategy from running performs. See [`Master::allow_threads`](crate::Master::allow_threads).
///
/// [`reopen`](Logger::reopen) does nothing: the facade has no way to ask a backend to reopen
/// its files, so rotate them through the backend's own means. A logger of your own that
/// implements `reopen` is the other way.
#[cfg_attr(docsrs, doc(cfg(feature = "log")))]
#[derive(Clone, Copy, Debug, Default)]
pub struct LogFacade;

impl LogFacade {
    /// The target of every record: `"sisyphus"`.
    pub const TARGET: &'static str = "sisyphus";
}

impl Logger for LogFacade {
    fn enabled(&self, level: Level) -> bool {
        level < Level::Debug || ::log::max_level() >= ::log::LevelFilter::Debug
    }

    fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        let level = match level {
            Level::Error => ::log::Level::Error,
            Level::Warn => ::log::Level::Warn,
            Level::Info => ::log::Level::Info,
            Level::Debug => ::log::Level::Debug,
        };
        if level <= ::log::STATIC_MAX_LEVEL && level <= ::log::max_level() {
            ::log::logger().log(&::log::Record::builder().level(level).target(Self::TARGET).args(args).build());
        }
    }
}
