//! The builder half of [`Master`]: every setting, each checked by `run` (or `start_worker`)
//! before anything forks.

use std::time::Duration;

use super::Master;
use crate::config::Strategy;
use crate::job::Job;
use crate::log::Logger;
use crate::signal::Signal;

impl<J: Job> Master<J> {
    /// How many workers `run` keeps (default 1; at most [`MAX_WORKERS`](crate::MAX_WORKERS),
    /// 4,096; 0 is allowed, TTIN adds).
    pub fn workers(mut self, n: usize) -> Self {
        self.config.workers = n;
        self
    }

    /// How performs run (default [`Strategy::Forking`]).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.config.strategy = strategy;
        self
    }

    /// Where the master and the workers log (default [`StderrLogger`](crate::StderrLogger) at
    /// INFO). See [`Logger`] for what a logger may and may not do.
    pub fn logger(mut self, logger: impl Logger + 'static) -> Self {
        self.logger = Box::new(logger);
        self
    }

    /// How long a graceful stop waits for a worker to finish its current perform before it
    /// ends the worker by force, with everything its perform started. Default 25 s, inside
    /// the 30 s Kubernetes gives a pod before its own SIGKILL; keep it under systemd's
    /// `TimeoutStopSec` (90 s) and `docker stop`'s 10 s where those apply. Also bounds how long
    /// a retired worker (TTOU) may take. At least 10 ms.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.config.stop_timeout = timeout;
        self
    }

    /// Kills a worker whose `setup` runs longer than `timeout`; that counts as a failed start
    /// (backoff applies). Default: none. At least 10 ms.
    pub fn setup_timeout(mut self, timeout: Duration) -> Self {
        self.config.setup_timeout = Some(timeout);
        self
    }

    /// Kills a perform that runs longer than `timeout`, with everything it started in its
    /// process group: with [`Strategy::Forking`] the perform child's group (the worker carries
    /// on); with [`Strategy::Simple`] the whole worker's group (the worker is replaced). Each
    /// perform's start is stamped into memory shared with the master, which sleeps until the
    /// nearest deadline; no signal disposition `setup` or `perform` sets can switch it off.
    /// Default: none. At least 10 ms and at most the stop timeout (a graceful stop would
    /// otherwise cut performs that are within their time).
    pub fn perform_timeout(mut self, timeout: Duration) -> Self {
        self.config.perform_timeout = Some(timeout);
        self
    }

    /// Gives up when workers die (or fail to start) more than `restarts` times within
    /// `within`: the master stops the rest gracefully and `run` returns
    /// [`Error::RestartLimit`](crate::Error::RestartLimit), so systemd's or Kubernetes'
    /// restart policy takes over. Default: no limit, only backoff.
    pub fn max_restarts(mut self, restarts: u32, within: Duration) -> Self {
        self.config.max_restarts = Some((restarts, within));
        self
    }

    /// Paces each worker's performs at a fixed rate: a perform starts at most once per
    /// `interval`, the first as soon as `setup` is done, each next one at the previous
    /// scheduled start plus `interval`, so the schedule does not drift by the performs' own
    /// length. A perform that overruns the interval is followed at once by the next, which
    /// re-anchors the schedule (no burst to catch up) and logs one WARN line with the lateness;
    /// the same after a suspension. A worker that replaces another in its slot (recycled by
    /// `max_performs`, rolled by HUP, restarted after a death, or brought back by TTIN after
    /// a TTOU) keeps the slot's schedule rather than starting on setup. The worker waits
    /// between performs (with the forking strategy the worker, not a perform child), and a
    /// graceful stop ends the wait at once.
    /// [`Context::scheduled`](crate::Context::scheduled) gives each perform its scheduled
    /// start. Default: none, each perform starts when the last one ends. At least 10 ms and at
    /// most a year.
    ///
    /// ```no_run
    /// # use sisyphus::{BoxError, Context, Job, Master};
    /// # use std::time::Duration;
    /// struct Sweep;
    /// impl Job for Sweep {
    ///     fn perform(&mut self, _: &Context) -> Result<(), BoxError> {
    ///         // Sweep a directory: runs every 30 s, however long it takes (up to 30 s).
    ///         Ok(())
    ///     }
    /// }
    /// Master::new(Sweep).interval(Duration::from_secs(30)).run()?;
    /// # Ok::<(), sisyphus::Error>(())
    /// ```
    pub fn interval(mut self, interval: Duration) -> Self {
        self.config.pacing.interval = Some(interval);
        self
    }

    /// With an [`interval`](Master::interval): spreads the workers' first performs over the
    /// interval, slot k of N at k × interval / N after its `setup`, so that N workers started
    /// together do not all fire at the same instant. Each slot keeps its phase: after an
    /// overrun its schedule resumes at its own next point. N is the configured
    /// [`workers`](Master::workers) count (a slot added by TTIN beyond it counts as N + 1).
    pub fn spread_starts(mut self) -> Self {
        self.config.pacing.spread = true;
        self
    }

    /// With an [`interval`](Master::interval): starts on multiples of the interval on the wall
    /// clock, "every 30 s at :00 and :30" (plus the spread, with
    /// [`spread_starts`](Master::spread_starts)). Only the first wait reads the wall clock;
    /// the schedule then runs on the monotonic clock, so a clock step does not move it (a
    /// worker that replaces another keeps its slot's schedule).
    pub fn align_to_clock(mut self) -> Self {
        self.config.pacing.align = true;
        self
    }

    /// After a failed perform (an `Err`, a panic, or a perform child that exits non-zero or
    /// is killed, by a perform timeout too), the worker waits `base` before the next one,
    /// twice as long after each further failure in a row, up to `max`; the first success
    /// ends the streak. With an [`interval`](Master::interval) the later of the two applies.
    /// On by default: 100 ms doubling to 30 s. Each at least 10 ms and at most a year, `base`
    /// at most `max`.
    pub fn perform_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.config.pacing.backoff = Some((base, max));
        self
    }

    /// No wait after failed performs: the next one starts at once (the behaviour before the backoff existed).
    pub fn no_perform_backoff(mut self) -> Self {
        self.config.pacing.backoff = None;
        self
    }

    /// Gives up when `n` performs in a row fail across the pool (an `Err`, a panic, a perform
    /// child that exits non-zero or is killed, a perform timeout; any success resets the
    /// count): the master stops the pool gracefully and `run` returns
    /// [`Error::Failing`](crate::Error::Failing), so that systemd's `Restart=on-failure`,
    /// Kubernetes or runit see a broken job rather than a pool whose workers all live. Once the
    /// count is reached no worker starts another perform. The master looks at the count when
    /// a worker says it changed, and at least once a second. Default: none; the failures are
    /// logged, backed off, and counted in `STATUS=`. At least 1. It applies to
    /// [`run`](Master::run), whose count starts at 0; the unmonitored API (`start_worker`) does
    /// not stop anything for it. With [`Strategy::Simple`](crate::Strategy::Simple), a
    /// perform that ends its worker (an abort, a fatal signal, `process::exit`) is a worker's
    /// death, counted by [`max_restarts`](Master::max_restarts), not here.
    pub fn max_failures(mut self, n: u64) -> Self {
        self.config.max_failures = Some(n);
        self
    }

    /// Recycles each worker after it has run about `n` performs: it finishes its last one,
    /// drops its job and exits cleanly, and the master replaces it at once (`setup` runs
    /// again). That is not a death: no backoff, no ERROR line, and it does not count toward
    /// [`max_restarts`](Master::max_restarts). So that workers started together do not all
    /// recycle at the same moment, each worker draws its own limit at random between `n` and
    /// `n + n/4` (as gunicorn's `max_requests_jitter`). Default: none. At least 1.
    pub fn max_performs(mut self, n: u64) -> Self {
        self.config.max_performs = Some(n);
        self
    }

    /// With [`Strategy::Forking`](crate::Strategy::Forking), sends `signal` (such as
    /// [`Signal::TERM`](crate::Signal::TERM)) to the running perform child's process group,
    /// once, when a graceful stop reaches its worker (INT, TERM, TTOU, a HUP roll), so that a
    /// long perform, or the program it `exec`s, can wind up early; the stop timeout still
    /// applies. A perform that dies by it is not a failure. Default: none, and the perform runs
    /// to its end. Refused ([`Error::Config`](crate::Error::Config)) with
    /// [`Strategy::Simple`](crate::Strategy::Simple), whose perform runs in the worker itself
    /// and sees [`Context::stop_requested`](crate::Context::stop_requested) instead; and for
    /// STOP, TSTP, TTIN and TTOU, which suspend, and URG, the crate's own.
    ///
    /// A program the perform child `exec`s must not miss it by coming too early: reset the
    /// signal to its default action, then check `stop_requested`, then `exec`.
    ///
    /// ```no_run
    /// # use sisyphus::{BoxError, Context, Job, Master, Signal};
    /// # struct Convert;
    /// # impl Job for Convert { fn perform(&mut self, _: &Context) -> Result<(), BoxError> { Ok(()) } }
    /// Master::new(Convert).stop_signal(Signal::TERM).run()?;
    /// # Ok::<(), sisyphus::Error>(())
    /// ```
    pub fn stop_signal(mut self, signal: Signal) -> Self {
        self.config.stop_signal = Some(signal);
        self
    }

    /// What the workers and perform children call themselves in `ps` and `top`: `NAME-wN` and
    /// `NAME-pN` for slot N (default `sisyphus`), so that two pools on one host can be told
    /// apart. The name is cut to fit the 15 bytes a Linux process name has, so that the slot
    /// stays visible (`a-long-name-w12`). It must not be empty, nor hold `/` or a control
    /// character ([`Error::Config`](crate::Error::Config)). Other systems keep the program's
    /// name.
    ///
    /// ```no_run
    /// # use sisyphus::{BoxError, Context, Job, Master};
    /// # struct Sweep;
    /// # impl Job for Sweep { fn perform(&mut self, _: &Context) -> Result<(), BoxError> { Ok(()) } }
    /// // ps shows sweep-w0, sweep-w1 and their perform children sweep-p0, sweep-p1.
    /// Master::new(Sweep).name("sweep").workers(2).run()?;
    /// # Ok::<(), sisyphus::Error>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// For the `sisyphus` command, whose users run a program: log lines say "run" where they
    /// say "perform" (`run 3 starts`, `run (pid 7295) exited with code 3`, `runs late on
    /// schedule`). Not part of the stable API.
    #[doc(hidden)]
    pub fn say_runs(mut self) -> Self {
        self.config.noun = crate::log::Noun::Run;
        self
    }

    /// Writes the master's pid to `path` and holds it with a lock while `run` runs, so that a
    /// second master refuses to start ([`Error::PidfileHeld`](crate::Error::PidfileHeld),
    /// naming the pid in the file) and nothing is forked. The lock is `flock` on the file
    /// itself, taken without waiting: the kernel drops it when the master dies, even by
    /// SIGKILL, so a stale file is simply taken over, never trusted by its pid (in a container
    /// pids start again from 1). Workers never hold or release it. At exit the file is removed,
    /// if it is still ours. Default: none.
    ///
    /// The file is written before any worker is forked, so an init script that reads it as
    /// soon as a [`daemonize`](Master::daemonize)d launcher exits finds the daemon's pid. To
    /// tell a live master from a stale file, try the lock (`flock -n 9 9<"$pidfile"` in a
    /// shell): opening the path with `flock -n PATH` would create the file just removed.
    pub fn pidfile(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.pidfile = Some(path.into());
        self
    }

    /// Makes `run` detach into a daemon first, for hosts without a supervisor (an init script,
    /// a shell): under systemd or Kubernetes, don't; they supervise the process as it is.
    ///
    /// The calling process becomes the launcher: it waits until the daemon has every initial
    /// worker up, then exits 0; or, if the daemon fails first, exits 1 with the daemon's error
    /// on its stderr, so a launch script learns the truth. A worker that fails its `setup` (or
    /// dies) before every worker is up ends the start: the daemon stops the rest and `run`
    /// returns [`Error::StartFailed`](crate::Error::StartFailed) there. The daemon (a
    /// grandchild, in a new session, so it can never take a terminal) runs from `/` with
    /// umask 022, stdin on `/dev/null`, and stdout and stderr appended to the logger's file
    /// ([`FileLogger`](crate::FileLogger)), or on `/dev/null` without one. A relative
    /// pidfile or log-file path is resolved before the `chdir`. The launcher waits as long as
    /// the `setup`s take: a [`setup_timeout`](Master::setup_timeout) bounds it. Refused with
    /// [`Error::Config`](crate::Error::Config) when `NOTIFY_SOCKET` is set: under systemd's
    /// `Type=notify` the launcher's exit would fail the unit, and together with
    /// [`allow_threads`](Master::allow_threads): the daemon is a forked copy of the calling
    /// thread alone.
    ///
    /// ```no_run
    /// # use sisyphus::{BoxError, Context, FileLogger, Job, Master};
    /// # struct Sweep;
    /// # impl Job for Sweep { fn perform(&mut self, _: &Context) -> Result<(), BoxError> { Ok(()) } }
    /// let log = FileLogger::new("/var/log/sweep.log").expect("log file");
    /// let result = Master::new(Sweep).logger(log).pidfile("/run/sweep.pid").daemonize().run();
    /// // Only the daemon gets here; the launcher has exited.
    /// if let Err(e) = result {
    ///     eprintln!("sweep: {e}"); // to the log file
    ///     std::process::exit(1);
    /// }
    /// ```
    pub fn daemonize(mut self) -> Self {
        self.daemon = true;
        self.config.must_come_up = true;
        self
    }

    /// Lets `run` and `start_worker` fork although the process has other threads, and lets a
    /// forking worker fork performs although `setup` left threads running.
    ///
    /// # Safety
    /// Forking copies only the calling thread. Any lock another thread holds at that moment
    /// (the allocator's, stdout's, one inside a library) stays locked forever in the child,
    /// which then deadlocks on first use. Call this only if no other thread can hold such a
    /// lock while the master or a worker forks, for example because they are all parked on a
    /// channel. Linux also ties each worker's life to the *thread* that forked it
    /// (`PR_SET_PDEATHSIG`): call `run` or `start_worker` from a thread that outlives the
    /// workers, such as `main`.
    pub unsafe fn allow_threads(mut self) -> Self {
        self.config.allow_threads = true;
        self
    }
}
