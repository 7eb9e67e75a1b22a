//! Shared by the `harness = false` process tests: a scenario runner, a job that records what it
//! does, and the guard that leaves nothing behind. libtest runs tests on threads and forking
//! there is unsound, so each binary's `main` runs its scenarios one by one in one thread.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sisyphus::{BoxError, Context, Error, Job, Level, Shutdown};

mod procfs;
pub use procfs::*;

pub type Outcome = Result<(), String>;
/// A named scenario.
pub type Scenario = (&'static str, fn() -> Outcome);

/// Fails the scenario with a message unless `cond`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!("{}:{}: {}", file!(), line!(), format!($($msg)+)));
        }
    };
}

/// Runs each scenario in turn, then cleans up after it and checks that nothing it started
/// survives; prints `N passed, N failed` and exits non-zero if any failed.
pub fn run_scenarios(scenarios: &[Scenario]) {
    // Orphans of a scenario are reparented to us, so we can see, kill and reap them all.
    // SAFETY: prctl with an integer argument.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    // The probes' deliberate panics are reported by the crate's log; keep stderr for real ones.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"probe panic") {
            default_hook(info)
        }
    }));
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, scenario) in scenarios {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let start = Instant::now();
        // A panic in the scenario itself must not skip the cleanup below.
        let result = std::panic::catch_unwind(scenario).unwrap_or_else(|_| Err("the scenario panicked".into()));
        let leftovers = cleanup();
        let result = result.and(leftovers);
        match result {
            Ok(()) => {
                passed += 1;
                println!("ok     {name} ({} ms)", start.elapsed().as_millis());
            }
            Err(e) if e.contains("SKIP: ") => {
                skipped += 1;
                println!("skip   {name}: {}", &e[e.find("SKIP: ").unwrap_or(0) + 6..]);
            }
            Err(e) => {
                failed += 1;
                println!("FAILED {name} ({} ms): {e}", start.elapsed().as_millis());
            }
        }
    }
    let prefix = format!("sisyphus-test-{}-", getpid());
    for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

/// SIGKILLs and reaps everything still below us; an error if anything was there.
fn cleanup() -> Outcome {
    let left = descendants();
    for &(pid, _) in &left {
        kill(pid, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !descendants().is_empty() && Instant::now() < deadline {
        reap_any();
        std::thread::sleep(Duration::from_millis(2));
    }
    reap_any();
    let live: Vec<_> = left.iter().filter(|(_, state)| *state != 'Z').collect();
    if live.is_empty() { Ok(()) } else { Err(format!("left running at the end: {live:?}")) }
}

fn reap_any() {
    // SAFETY: waitpid with a valid out-pointer.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

pub fn descendants() -> Vec<(Pid, char)> {
    descendants_of(getpid())
}

pub fn getpid() -> Pid {
    // SAFETY: no preconditions.
    unsafe { libc::getpid() }
}

pub fn kill(pid: Pid, sig: i32) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid, sig) };
}

/// Monotonic nanoseconds, comparable across processes.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Polls `check` every 2 ms until it returns `Some`, or fails after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits for our child `pid` to exit and reaps it; its exit code, or 128 + signal.
pub fn wait_exit(pid: Pid, timeout: Duration) -> Result<i32, String> {
    wait_for(&format!("pid {pid} to exit"), timeout, || {
        let mut status = 0;
        // SAFETY: valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        (r == pid)
            .then(|| if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) })
    })
}

/// Forks a child in its own process group that runs `body` and exits with its code.
pub fn fork_child(body: impl FnOnce() -> i32) -> Pid {
    let _ = std::io::stdout().flush();
    // SAFETY: this test binary is single-threaded (no libtest, no threads started).
    match unsafe { libc::fork() } {
        -1 => panic!("fork failed: {}", std::io::Error::last_os_error()),
        0 => {
            // Its own process group; and it dies with us, should this runner be killed.
            // SAFETY: setpgid and prctl on ourselves.
            unsafe {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(99);
            let _ = std::io::stdout().flush();
            // SAFETY: ends the child without running the parent's cleanup.
            unsafe { libc::_exit(code) }
        }
        pid => pid,
    }
}

/// A file that processes append event lines to: one `write` per line, `O_APPEND`, so lines from
/// many processes never interleave.
#[derive(Clone, Debug)]
pub struct Events {
    path: PathBuf,
}

impl Events {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("sisyphus-test-{}-{name}", getpid()));
        std::fs::write(&path, "").expect("create events file");
        Events { path }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn add(&self, line: &str) {
        let mut f = OpenOptions::new().append(true).open(&self.path).expect("open events file");
        let _ = f.write_all(format!("{} {line}\n", mono_ns()).as_bytes());
    }

    /// Every line, without its timestamp.
    pub fn lines(&self) -> Vec<String> {
        self.stamped().into_iter().map(|(_, l)| l).collect()
    }

    /// Every line with its monotonic timestamp in ns.
    pub fn stamped(&self) -> Vec<(u64, String)> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.split_once(' ').map(|(t, rest)| (t.parse().unwrap_or(0), rest.to_string())))
            .collect()
    }

    /// Lines whose words start with `prefix` words, split into words.
    pub fn find(&self, prefix: &str) -> Vec<Vec<String>> {
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.lines().iter().filter(|l| l.starts_with(prefix)).count()
    }

    pub fn has(&self, needle: &str) -> bool {
        self.lines().iter().any(|l| l.contains(needle))
    }

    /// Waits until `pred` holds over the lines.
    pub fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&Self) -> bool) -> Outcome {
        wait_for(what, timeout, || pred(self).then_some(()))
            .map_err(|e| format!("{e}\n--- events ---\n{}", self.lines().join("\n")))
    }

    /// A logger that records `log LEVEL message` lines.
    pub fn logger(&self) -> impl Fn(Level, std::fmt::Arguments<'_>) + 'static {
        let ev = self.clone();
        move |level, args| ev.add(&format!("log {level} {args}"))
    }
}

/// What a `Probe` does in `setup` or `perform`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Ok,
    Err,
    Panic,
    /// Sleeps this long, ignoring stop requests, then succeeds.
    Sleep(Duration),
    /// Never returns.
    Hang,
}

/// A job that records each step as an event line:
/// `setup SLOT PID`, `perform SLOT ITERATION PID`, `done SLOT ITERATION PID`.
#[derive(Clone, Debug)]
pub struct Probe {
    pub ev: Events,
    pub setup: Act,
    pub perform: Act,
    /// Sleep after each perform, to keep the event volume sane.
    pub pause: Duration,
    /// Record only `setup` lines.
    pub quiet: bool,
}

impl Probe {
    pub fn new(ev: &Events) -> Self {
        Probe { ev: ev.clone(), setup: Act::Ok, perform: Act::Ok, pause: Duration::from_millis(20), quiet: false }
    }
    pub fn perform(mut self, act: Act) -> Self {
        self.perform = act;
        self
    }
    pub fn setup(mut self, act: Act) -> Self {
        self.setup = act;
        self
    }
}

fn act(act: Act) -> Result<(), BoxError> {
    match act {
        Act::Ok => Ok(()),
        Act::Err => Err("probe failure".into()),
        Act::Panic => panic!("probe panic"),
        Act::Sleep(d) => {
            let end = Instant::now() + d;
            while Instant::now() < end {
                std::thread::sleep(end - Instant::now());
            }
            Ok(())
        }
        Act::Hang => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
}

impl Job for Probe {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.ev.add(&format!("setup {} {}", ctx.worker(), getpid()));
        act(self.setup)
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        if !self.quiet {
            self.ev.add(&format!("perform {} {} {}", ctx.worker(), ctx.iteration(), getpid()));
        }
        let result = act(self.perform);
        if !self.quiet {
            self.ev.add(&format!("done {} {} {}", ctx.worker(), ctx.iteration(), getpid()));
        }
        std::thread::sleep(self.pause);
        result
    }
}

/// Forks a master process (in its own process group) that runs `run` and records how it
/// ended, `run ok killed=N` or `run err MESSAGE`, then `left N`: how many children (live or
/// zombie) it still had after `run` returned. `fds before N` and `fds after N` count its open
/// descriptors (plus the one used to count them) before and after `run`.
pub fn spawn_master(ev: &Events, run: impl FnOnce() -> Result<Shutdown, Error>) -> Pid {
    let ev = ev.clone();
    fork_child(move || {
        ev.add(&format!("fds before {}", open_fds(getpid())));
        let result = run();
        ev.add(&format!("fds after {}", open_fds(getpid())));
        let code = match result {
            Ok(s) => {
                ev.add(&format!("run ok killed={}", s.killed));
                0
            }
            Err(e) => {
                ev.add(&format!("run err {e}"));
                2
            }
        };
        record_left(&ev);
        code
    })
}

/// Records `left N`: how many children (live or zombie) the calling process has.
pub fn record_left(ev: &Events) {
    let me = getpid();
    ev.add(&format!("left {}", descendants_of(me).iter().filter(|&&(p, _)| parent_of(p) == Some(me)).count()));
}

/// Pids of the setups recorded for `slot`, in order.
pub fn setup_pids(ev: &Events, slot: usize) -> Vec<Pid> {
    ev.find(&format!("setup {slot} ")).iter().map(|w| w[2].parse().unwrap()).collect()
}

/// Performs recorded for `slot`: (iteration, pid).
pub fn performs(ev: &Events, slot: usize) -> Vec<(u64, Pid)> {
    ev.find(&format!("perform {slot} ")).iter().map(|w| (w[2].parse().unwrap(), w[3].parse().unwrap())).collect()
}

/// The master's descriptors while `run` runs should be those it had before plus its self-pipe.
pub fn assert_fds_steady(ev: &Events, master: Pid) -> Outcome {
    let before: usize = ev.find("fds before ").first().and_then(|w| w[2].parse().ok()).unwrap_or(0);
    // Counted from outside: no descriptor for the counting itself.
    let now = open_fds(master);
    ensure!(now == before - 1 + 2, "master has {now} descriptors; {} before run, plus the self-pipe", before - 1);
    Ok(())
}

/// The end of a scenario whose master is still running: no zombie, its descriptors as before
/// `run` plus the self-pipe, then INT, `run` returning `Ok`, nothing left. Returns how many
/// workers the stop had to kill.
pub fn stop_and_check(ev: &Events, master: Pid) -> Result<usize, String> {
    wait_for("no zombie workers", 5 * SEC, || zombie_children(master).is_empty().then_some(()))?;
    assert_fds_steady(ev, master)?;
    kill(master, libc::SIGINT);
    let code = wait_exit(master, 15 * SEC)?;
    let killed = ev.find("run ok killed=").first().and_then(|w| w[2].strip_prefix("killed=")?.parse().ok());
    ensure!(code == 0 && killed.is_some(), "master exit {code}:\n{}", ev.lines().join("\n"));
    assert_nothing_left(ev, master)?;
    Ok(killed.unwrap_or_default())
}

/// After a scenario's master exited: `run` left no child, reaped or not, and nothing it
/// started is still running (orphans reparented to us and already dead are reaped).
pub fn assert_nothing_left(ev: &Events, master: Pid) -> Outcome {
    ensure!(ev.has("left 0"), "run returned with children left: {:?}", ev.find("left "));
    let fds: Vec<_> = ev.find("fds ").into_iter().map(|w| w[2].clone()).collect();
    ensure!(fds.len() == 2 && fds[0] == fds[1], "descriptors before and after run: {fds:?}");
    wait_for("the master's processes to be gone", 5 * SEC, || {
        reap_any();
        descendants().is_empty().then_some(())
    })
    .map_err(|e| format!("{e}: master {master} left {:?}", descendants()))
}

pub const SEC: Duration = Duration::from_secs(1);
pub const MS: Duration = Duration::from_millis(1);
