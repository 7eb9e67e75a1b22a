//! The master: forks workers, reaps them, acts on signals and deadlines. Its decisions are
//! `supervisor`'s; this module only carries them out.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::supervisor::{self, Config, Heartbeat, Kill, MAX_WORKERS, Overrun, Pool, RestartWindow, Verdict};
use crate::sys::{self, Beats, Exit, MasterSignals, Pid, Signal};
use crate::worker::{self, EXIT_SETUP_FAILED};
use crate::{Error, Job, Level, Logger, Shutdown, StderrLogger, Strategy};

const ALL_SIGNALS: [Signal; 6] = [Signal::Int, Signal::Term, Signal::Quit, Signal::Ttin, Signal::Ttou, Signal::Chld];

/// Runs a [`Job`] in a pool of pre-forked worker processes.
///
/// Supervised, with [`run`](Master::run): the master forks the workers, replaces those that
/// die, and is steered by signals until it is stopped (see the crate docs for the table).
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
    pool: Pool,
    beats: Option<Beats>,
}

impl<J: Job> fmt::Debug for Master<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Master")
            .field("config", &self.config)
            .field("workers", &self.pool.live())
            .finish_non_exhaustive()
    }
}

/// The run loop's state beside the pool.
struct State {
    /// Supervising (`run`): reap any child, start and restart workers. Otherwise only our own
    /// pids are reaped and nothing is started.
    monitored: bool,
    stopping: bool,
    killed: usize,
    /// Timeouts count from here at the earliest (the last return from a suspension).
    armed_from: Duration,
    /// When the last wait was planned to end.
    planned: Option<Duration>,
    fork_failures: u32,
    window: Option<RestartWindow>,
    gave_up: bool,
}

impl State {
    fn new(monitored: bool, config: &Config) -> Self {
        State {
            monitored,
            stopping: !monitored,
            killed: 0,
            armed_from: Duration::ZERO,
            planned: None,
            fork_failures: 0,
            window: config.max_restarts.map(|(n, within)| RestartWindow::new(n, within)),
            gave_up: false,
        }
    }
}

/// A duration for humans: `250 ms`, `31.2 s`.
struct Human(Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_millis() {
            ms if ms < 1000 => write!(f, "{ms} ms"),
            _ => write!(f, "{:.1} s", self.0.as_secs_f64()),
        }
    }
}

/// What follows a death, in words: `Some(delay)` is a restart.
struct Then(Option<Duration>);

impl fmt::Display for Then {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("not restarting"),
            Some(d) if d.is_zero() => f.write_str("restarting now"),
            Some(d) => write!(f, "restarting in {}", Human(d)),
        }
    }
}

/// How a process ended, in words.
struct Ended(Exit);

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Exit::Code(code) => write!(f, "exited with code {code}"),
            Exit::Signal(sig) => write!(f, "was killed by signal {}", sys::signal_name(sig)),
            Exit::Vanished => f.write_str("was reaped by someone else"),
        }
    }
}

impl<J: Job> Master<J> {
    /// A master for `job`: one worker, [`Strategy::Forking`], a 25 s stop timeout, no setup or
    /// perform timeout, no restart limit, logging to stderr at INFO.
    pub fn new(job: J) -> Self {
        Master {
            job,
            config: Config::default(),
            logger: Box::new(StderrLogger::default()),
            pool: Pool::default(),
            beats: None,
        }
    }

    /// How many workers `run` keeps (default 1; at most 4096; 0 is allowed, TTIN adds).
    pub fn workers(mut self, n: usize) -> Self {
        self.config.workers = n;
        self
    }

    /// How performs run (default [`Strategy::Forking`]).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.config.strategy = strategy;
        self
    }

    /// Where the master and the workers log (default [`StderrLogger`] at INFO).
    pub fn logger(mut self, logger: impl Logger + 'static) -> Self {
        self.logger = Box::new(logger);
        self
    }

    /// How long a graceful stop waits for a worker to finish its current perform before it
    /// SIGKILLs the worker and its perform child. Default 25 s, inside the 30 s Kubernetes
    /// gives a pod before its own SIGKILL; keep it under systemd's `TimeoutStopSec` (90 s) and
    /// `docker stop`'s 10 s where those apply. Also bounds how long a retired worker (TTOU) may
    /// take. At least 10 ms.
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

    /// Kills a perform that runs longer than `timeout`: with [`Strategy::Forking`] only the
    /// perform child (the worker carries on); with [`Strategy::Simple`] the whole worker, which
    /// is replaced. Each perform's start is stamped into memory shared with the master, which
    /// sleeps until the nearest deadline. Default: none. At least 10 ms and at most the stop
    /// timeout (a graceful stop would otherwise cut performs that are within their time).
    pub fn perform_timeout(mut self, timeout: Duration) -> Self {
        self.config.perform_timeout = Some(timeout);
        self
    }

    /// Gives up when workers die (or fail to start) more than `restarts` times within
    /// `within`: the master stops the rest gracefully and `run` returns
    /// [`Error::RestartLimit`], so systemd's or Kubernetes' restart policy takes over.
    /// Default: no limit, only backoff.
    pub fn max_restarts(mut self, restarts: u32, within: Duration) -> Self {
        self.config.max_restarts = Some((restarts, within));
        self
    }

    /// Lets `run` and `start_worker` fork although the process has other threads.
    ///
    /// # Safety
    /// Forking copies only the calling thread. Any lock another thread holds at that moment
    /// (the allocator's, stdout's, one inside a library) stays locked forever in the worker,
    /// which then deadlocks on first use. Call this only if no other thread can hold such a
    /// lock while the master forks, for example because they are all parked on a channel.
    /// Linux also ties each worker's life to the *thread* that forked it (`PR_SET_PDEATHSIG`):
    /// call `run` or `start_worker` from a thread that outlives the workers, such as `main`.
    pub unsafe fn allow_threads(mut self) -> Self {
        self.config.allow_threads = true;
        self
    }

    /// Supervises until stopped, then returns how the stop went. Blocks the calling thread.
    ///
    /// Starts the workers, restarts those that die (with backoff), and acts on INT/TERM
    /// (graceful stop; a second one stops at once), QUIT (immediate stop), TTIN/TTOU (one
    /// worker more/fewer) and CHLD. The signal dispositions and mask in place before the call
    /// are restored before it returns.
    pub fn run(mut self) -> Result<Shutdown, Error> {
        self.prepare()?;
        let signals = MasterSignals::install(&ALL_SIGNALS).map_err(|e| Error::Io("installing signal handlers", e))?;
        let mut st = State::new(true, &self.config);
        self.pool.target = self.config.workers;
        self.log(
            Level::Info,
            format_args!(
                "master {} starting {} workers ({:?} strategy)",
                sys::getpid(),
                self.pool.target,
                self.config.strategy
            ),
        );
        self.drive(&mut st, &signals, |pool, st| st.stopping && pool.live() == 0);
        drop(signals);
        self.log(Level::Info, format_args!("master stopped ({} killed)", st.killed));
        match self.config.max_restarts {
            Some((restarts, within)) if st.gave_up => Err(Error::RestartLimit { restarts, within }),
            _ => Ok(Shutdown { killed: st.killed }),
        }
    }

    /// Forks one more worker, unsupervised (it is not restarted when it dies), in the lowest
    /// free slot; returns its pid.
    pub fn start_worker(&mut self) -> Result<u32, Error> {
        self.prepare()?;
        self.reap_own();
        let slot = self.pool.free();
        if slot >= MAX_WORKERS {
            return Err(Error::Config(format!("already {MAX_WORKERS} workers, the limit")));
        }
        let pid = self.fork_worker(slot, sys::now()).map_err(|e| Error::Io("forking a worker", e))?;
        Ok(pid as u32)
    }

    /// Stops worker `pid` gracefully, SIGKILLing it at the stop timeout, and reaps it.
    /// `Ok(false)` if `pid` is not a live worker of this master: nothing is signalled.
    pub fn stop_worker(&mut self, pid: u32) -> Result<bool, Error> {
        self.reap_own();
        let Some(slot) = Pid::try_from(pid).ok().and_then(|pid| self.pool.find(pid)) else {
            return Ok(false);
        };
        self.stop_unmonitored(Some(slot)).map(|_| true)
    }

    /// Stops every worker gracefully, SIGKILLing those still running at the stop timeout, and
    /// reaps them all.
    pub fn stop_all(&mut self) -> Result<Shutdown, Error> {
        self.reap_own();
        if self.pool.live() == 0 {
            return Ok(Shutdown::default());
        }
        self.stop_unmonitored(None)
    }

    /// Live workers started by `start_worker` (and not yet seen to exit).
    pub fn worker_count(&self) -> usize {
        self.pool.live()
    }

    fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        self.logger.log(level, args)
    }

    fn prepare(&mut self) -> Result<(), Error> {
        self.config.validate()?;
        if !self.config.allow_threads
            && let Some(n) = sys::thread_count().filter(|&n| n > 1)
        {
            return Err(Error::Threads(n));
        }
        if self.beats.is_none() {
            self.beats = Some(Beats::new(MAX_WORKERS).map_err(|e| Error::Io("mapping the shared heartbeat table", e))?);
        }
        Ok(())
    }

    fn beat(&self, slot: usize) -> &sys::Beat {
        self.beats.as_ref().expect("prepared").get(slot)
    }

    /// Reaps our own exited workers without touching the caller's other children.
    fn reap_own(&mut self) {
        let mut st = State::new(false, &self.config);
        self.reap(&mut st);
    }

    fn stop_unmonitored(&mut self, only: Option<usize>) -> Result<Shutdown, Error> {
        let signals =
            MasterSignals::install(&[Signal::Chld]).map_err(|e| Error::Io("installing a SIGCHLD handler", e))?;
        let mut st = State::new(false, &self.config);
        let now = sys::now();
        for i in 0..self.pool.slots.len() {
            if only.is_none_or(|only| only == i) {
                self.ask_to_stop(i, now);
            }
        }
        self.drive(&mut st, &signals, |pool, _| only.map_or(pool.live() == 0, |i| pool.slots[i].pid.is_none()));
        Ok(Shutdown { killed: st.killed })
    }

    /// The loop: take signals, reap, act, sleep until the next signal or deadline.
    fn drive(&mut self, st: &mut State, signals: &MasterSignals, done: impl Fn(&Pool, &State) -> bool) {
        loop {
            let now = sys::now();
            if supervisor::overslept(st.planned, now) {
                let late = now - st.planned.unwrap_or(now);
                self.log(
                    Level::Warn,
                    format_args!("master woke {} late (suspended?); timeouts count again from now", Human(late)),
                );
                st.armed_from = now;
                self.pool.rearm_stops(now);
            }
            let pending = signals.take();
            self.on_signals(st, pending, now);
            self.reap(st);
            if done(&self.pool, st) {
                return;
            }
            let deadline = self.act(st, sys::now());
            st.planned = deadline;
            if let Err(e) = signals.wait(deadline.map(|d| d.saturating_sub(sys::now()))) {
                // poll on one pipe cannot really fail; don't spin if it does.
                self.log(Level::Error, format_args!("poll failed: {e}"));
                sys::sleep_unless_signalled(Duration::from_millis(100));
            }
        }
    }

    fn on_signals(&mut self, st: &mut State, pending: sys::Pending, now: Duration) {
        let stops = pending.count(Signal::Int) + pending.count(Signal::Term);
        if pending.count(Signal::Quit) > 0 {
            self.begin_stop(st, now, "QUIT");
            self.log(Level::Warn, format_args!("QUIT: stopping at once"));
            self.kill_all(st);
        } else if stops > 0 {
            let again = st.stopping || stops > 1;
            self.begin_stop(st, now, if pending.count(Signal::Term) > 0 { "TERM" } else { "INT" });
            if again {
                self.log(Level::Warn, format_args!("second stop signal: stopping at once"));
                self.kill_all(st);
            }
        }
        let (up, down) = (pending.count(Signal::Ttin) as usize, pending.count(Signal::Ttou) as usize);
        if (up > 0 || down > 0) && !st.stopping {
            let from = self.pool.target;
            let to = (from + up).min(MAX_WORKERS).saturating_sub(down);
            if from + up > MAX_WORKERS {
                self.log(Level::Warn, format_args!("TTIN ignored past the limit of {MAX_WORKERS} workers"));
            }
            self.pool.target = to;
            self.log(Level::Info, format_args!("scaling from {from} to {to} workers"));
        }
    }

    fn begin_stop(&mut self, st: &mut State, now: Duration, by: &str) {
        if st.stopping {
            return;
        }
        st.stopping = true;
        self.log(
            Level::Info,
            format_args!(
                "{by}: stopping {} workers gracefully (timeout {})",
                self.pool.live(),
                Human(self.config.stop_timeout)
            ),
        );
        for i in 0..self.pool.slots.len() {
            self.ask_to_stop(i, now);
        }
    }

    /// TERM to the worker's group: the worker finishes its perform and exits, and its perform
    /// child sees `stop_requested`.
    fn ask_to_stop(&mut self, i: usize, now: Duration) {
        let slot = &mut self.pool.slots[i];
        if let (Some(pid), None) = (slot.pid, slot.stop_sent) {
            slot.stop_sent = Some(now);
            let _ = sys::kill_group(pid, sys::SIGTERM);
        }
    }

    fn kill(&mut self, st: &mut State, i: usize, why: Kill) {
        let slot = &mut self.pool.slots[i];
        if let (Some(pid), None) = (slot.pid, slot.killed) {
            slot.killed = Some(why);
            let _ = sys::kill_group(pid, sys::SIGKILL);
            if matches!(why, Kill::Immediate | Kill::StopTimeout) {
                st.killed += 1;
            }
        }
    }

    fn kill_all(&mut self, st: &mut State) {
        for i in 0..self.pool.slots.len() {
            self.kill(st, i, Kill::Immediate);
        }
    }

    /// Reaps every exited child: any child when supervising (strangers adopted as PID 1 or as
    /// a subreaper included), else only our workers.
    ///
    /// A worker's process group is SIGKILLed just before the worker is reaped: whatever its
    /// performs left running in it (Linux kills perform children with their worker already;
    /// elsewhere this is what does) does not outlive it.
    fn reap(&mut self, st: &mut State) {
        loop {
            let pool = &self.pool;
            let kill_group = |pid| {
                if pool.find(pid).is_some() {
                    let _ = sys::kill_group(pid, sys::SIGKILL);
                }
            };
            let reaped = if st.monitored {
                sys::reap_next(None, kill_group)
            } else {
                let mut live = pool.slots.iter().filter_map(|s| s.pid);
                live.find_map(|pid| sys::reap_next(Some(pid), kill_group).transpose()).transpose()
            };
            match reaped {
                Ok(Some((pid, exit))) => self.on_exit(st, pid, exit),
                Ok(None) => return,
                Err(e) => {
                    self.log(Level::Error, format_args!("waitpid failed: {e}"));
                    return;
                }
            }
        }
    }

    fn on_exit(&mut self, st: &mut State, pid: Pid, exit: Exit) {
        let Some(i) = self.pool.find(pid) else {
            self.log(Level::Debug, format_args!("reaped pid {pid}, not a worker: {}", Ended(exit)));
            return;
        };
        let now = sys::now();
        let came_up = self.beat(i).setup_done.load(Relaxed);
        let (killed, uptime) = (self.pool.slots[i].killed, now.saturating_sub(self.pool.slots[i].started));
        let verdict = self.pool.exited(i, now, came_up);
        let ended = Ended(exit);
        let delay = match verdict {
            Verdict::Stopped => {
                let level = if exit == Exit::Code(0) || killed.is_some() { Level::Info } else { Level::Warn };
                self.log(level, format_args!("worker {i} (pid {pid}) stopped: {ended}"));
                return;
            }
            Verdict::Died { delay } => delay,
        };
        let why = match killed {
            Some(Kill::SetupTimeout) => " after its setup timeout",
            Some(Kill::PerformTimeout) => " after its perform timeout",
            _ => "",
        };
        let then = Then((st.monitored && !st.stopping && i < self.pool.target).then_some(delay));
        if !came_up {
            let level =
                if exit == Exit::Code(EXIT_SETUP_FAILED) || killed.is_some() { Level::Warn } else { Level::Error };
            self.log(level, format_args!("worker {i} (pid {pid}) failed to start: {ended}{why}; {then}"));
        } else {
            let (level, how) =
                if exit == Exit::Code(0) { (Level::Warn, "ended unasked") } else { (Level::Error, "died") };
            self.log(level, format_args!("worker {i} (pid {pid}) {how} after {}: {ended}{why}; {then}", Human(uptime)));
        }
        if st.monitored {
            self.count_restart(st, now);
        }
    }

    /// Feeds the restart limit; gives up when it trips.
    fn count_restart(&mut self, st: &mut State, now: Duration) {
        if st.window.as_mut().is_some_and(|w| w.record(now)) && !st.gave_up {
            st.gave_up = true;
            let (n, within) = self.config.max_restarts.unwrap_or_default();
            self.log(
                Level::Error,
                format_args!("workers died more than {n} times within {}: giving up", Human(within)),
            );
            self.begin_stop(st, now, "restart limit");
        }
    }

    /// Carries out what is due at `now`; returns when to wake next.
    fn act(&mut self, st: &mut State, now: Duration) -> Option<Duration> {
        let spawning = st.monitored && !st.stopping;
        if spawning {
            while let Some(i) = self.pool.next_excess() {
                let pid = self.pool.slots[i].pid.unwrap_or_default();
                self.log(Level::Info, format_args!("retiring worker {i} (pid {pid})"));
                self.ask_to_stop(i, now);
            }
            // In batches, so a thousand forks do not keep signals waiting.
            for _ in 0..32 {
                let Some(i) = self.pool.due(now) else { break };
                if !self.spawn(st, i, sys::now()) {
                    break;
                }
            }
        }
        // A fork failure may have tripped the restart limit: then nothing is spawned any more.
        let spawning = st.monitored && !st.stopping;
        let stop_timeout = self.config.stop_timeout;
        while let Some(i) = self.pool.next_overdue(now, stop_timeout) {
            let pid = self.pool.slots[i].pid.unwrap_or_default();
            self.log(
                Level::Warn,
                format_args!("worker {i} (pid {pid}) still running {} after TERM: killing it", Human(stop_timeout)),
            );
            self.kill(st, i, Kill::StopTimeout);
        }
        let mut deadline = self.pool.next_deadline(stop_timeout, spawning);
        if self.config.setup_timeout.is_some() || self.config.perform_timeout.is_some() {
            for i in 0..self.pool.slots.len() {
                let beat = self.beat(i);
                let started = beat.perform_started.load(Relaxed);
                let heartbeat = Heartbeat {
                    setup_done: beat.setup_done.load(Relaxed),
                    perform_started: (started != 0).then(|| Duration::from_nanos(started)),
                };
                let (overrun, next) = supervisor::check_timeout(
                    &self.pool.slots[i],
                    heartbeat,
                    self.config.setup_timeout,
                    self.config.perform_timeout,
                    now,
                    st.armed_from,
                );
                if let Some(overrun) = overrun {
                    self.on_overrun(st, i, overrun, now);
                }
                deadline = deadline.into_iter().chain(next).min();
            }
        }
        deadline
    }

    fn on_overrun(&mut self, st: &mut State, i: usize, overrun: Overrun, now: Duration) {
        let pid = self.pool.slots[i].pid.unwrap_or_default();
        match overrun {
            Overrun::Setup { elapsed } => {
                let limit = Human(self.config.setup_timeout.unwrap_or_default());
                self.log(
                    Level::Warn,
                    format_args!("worker {i} (pid {pid}): setup timeout ({} > {limit}); killing it", Human(elapsed)),
                );
                self.kill(st, i, Kill::SetupTimeout);
            }
            Overrun::Perform { started, elapsed } => {
                let limit = Human(self.config.perform_timeout.unwrap_or_default());
                let first = self.pool.slots[i].timeout_sent.is_none_or(|(s, _)| s != started);
                if self.config.strategy == Strategy::Simple {
                    self.log(
                        Level::Error,
                        format_args!(
                            "worker {i} (pid {pid}): perform timeout ({} > {limit}); killing the worker",
                            Human(elapsed)
                        ),
                    );
                    self.kill(st, i, Kill::PerformTimeout);
                    return;
                }
                if first {
                    self.log(
                        Level::Error,
                        format_args!(
                            "worker {i} (pid {pid}): perform timeout ({} > {limit}); killing its perform child",
                            Human(elapsed)
                        ),
                    );
                }
                // The worker kills its own child: only it knows the child is not reaped yet.
                self.beat(i).kill_request.store(started.as_nanos() as u64, Relaxed);
                self.pool.slots[i].timeout_sent = Some((started, now));
                let _ = sys::kill(pid, sys::SIGALRM);
            }
        }
    }

    /// Starts a worker in slot `i` with backoff on failure; false if the fork failed.
    fn spawn(&mut self, st: &mut State, i: usize, now: Duration) -> bool {
        match self.fork_worker(i, now) {
            Ok(_) => {
                if st.fork_failures > 0 {
                    self.log(Level::Info, format_args!("fork works again after {} failures", st.fork_failures));
                    st.fork_failures = 0;
                }
                true
            }
            Err(e) => {
                let delay = self.pool.fork_failed(i, now);
                if st.fork_failures == 0 {
                    self.log(Level::Error, format_args!("fork failed: {e}; retrying worker {i} in {}", Human(delay)));
                }
                st.fork_failures += 1;
                self.count_restart(st, now);
                false
            }
        }
    }

    fn fork_worker(&mut self, i: usize, now: Duration) -> std::io::Result<Pid> {
        let master = sys::getpid();
        let beat = self.beats.as_ref().expect("prepared").get(i);
        beat.setup_done.store(false, Relaxed);
        beat.perform_started.store(0, Relaxed);
        beat.kill_request.store(0, Relaxed);
        let spec = worker::Spec {
            slot: i,
            master,
            strategy: self.config.strategy,
            timed: self.config.perform_timeout.is_some(),
            beat,
            logger: &*self.logger,
        };
        let alarm = spec.timed && spec.strategy == Strategy::Forking;
        let job = &mut self.job;
        // SAFETY: `prepare` checked that this process has one thread (or the user waived the
        // check with the unsafe `allow_threads`, taking on its contract).
        let pid = unsafe { sys::fork_worker(master, alarm, || worker::run(job, &spec))? };
        self.pool.started(i, pid, now);
        self.log(Level::Info, format_args!("worker {i} started (pid {pid})"));
        Ok(pid)
    }
}

impl<J: Job> Drop for Master<J> {
    /// Workers started with `start_worker` and never stopped are stopped (gracefully, bounded
    /// by the stop timeout) rather than left running.
    fn drop(&mut self) {
        if self.pool.live() > 0 {
            let _ = self.stop_all();
        }
    }
}
