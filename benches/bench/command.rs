//! Items 15-17, the `sisyphus` command (issue 10): how many runs of `/bin/true` a second it
//! makes against a bare fork/exec/wait loop, `xargs` and a shell loop; how long from spawning
//! it until its COMMAND's first output, against spawning COMMAND directly; the size of its
//! stripped binary. The binary is the one cargo built for this bench (`CARGO_BIN_EXE_sisyphus`:
//! the release build under `cargo bench`).
//!
//! Runs a second are counted the same way for every contender: processes created system-wide
//! (the `processes` line of /proc/stat) over a window, each run being exactly one fork. Two
//! checks of that: the floor loop counts its runs in memory shared with the bench, and a
//! sisyphus running `sh -c 'echo x'` into a file is counted by the file's size. A quiet window
//! before each sample counts what else on the machine forks, which would count as runs.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use sisyphus::Strategy;

use crate::MS;
use crate::items::Cfg;
use crate::procfs::Pid;
use crate::procs::{Proc, spawn, sweep, with_proc};
use crate::sys::{after, exit_now, fork, kill, now_ns, ns_to_ms};
use crate::table::{Goal, Row, median};

/// The command under test.
const SISYPHUS: &str = env!("CARGO_BIN_EXE_sisyphus");
const TRUE: &str = "/bin/true";
/// COMMAND of item 16 and of the fork-count check: one line, from a shell builtin.
const ECHO: [&str; 3] = ["/bin/sh", "-c", "echo x"];
/// How long a stopped contender may take to exit before it is SIGKILLed.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// How long item 16 waits for the first byte.
const FIRST_BYTE_WAIT: Duration = Duration::from_secs(5);
/// The goal of item 15: sisyphus makes at least this share of the bare loop's runs.
const FLOOR_SHARE: f64 = 0.9;
/// The goal of item 17, in KB of 1,000 bytes.
const SIZE_GOAL_KB: f64 = 600.0;

/// Processes created since boot: the `processes` line of /proc/stat (every fork, vfork and
/// clone, threads included).
pub(crate) fn forks_so_far() -> Result<u64, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    stat.lines()
        .find_map(|l| l.strip_prefix("processes "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "/proc/stat has no processes line".into())
}

/// Two counters in a page shared with the forked loops: runs done, and the wait status of the
/// first run that did not exit 0 (+ 1; 0 while none failed).
struct Shared(*mut AtomicU64);

impl Shared {
    fn new() -> Result<Shared, String> {
        // SAFETY: an anonymous shared mapping of one page; no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        // The page is zeroed: both counters start at 0.
        Ok(Shared(p.cast()))
    }

    fn runs(&self) -> &AtomicU64 {
        // SAFETY: the mapping is page-aligned, zero-initialised and lives as long as `self`.
        unsafe { &*self.0 }
    }

    fn failed(&self) -> &AtomicU64 {
        // SAFETY: as above; the second u64 of the page.
        unsafe { &*self.0.add(1) }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: unmapping the page `new` mapped; the forked loops have their own mapping.
        unsafe { libc::munmap(self.0.cast(), 4096) };
    }
}

/// What makes runs of `/bin/true` in item 15.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Contender {
    /// `sisyphus -w 1 [--strategy simple] -- /bin/true`.
    Sisyphus(Strategy),
    /// `sisyphus -w 1 [--strategy simple] -- /bin/sh -c 'echo x'`, stdout to a file: every run
    /// writes 2 bytes (`echo` is built into `sh`, which forks nothing), so the runs are counted
    /// directly too. For the check of one fork per run only.
    SisyphusEcho(Strategy),
    /// The floor: a loop of libc `fork`, `execv("/bin/true")` in the child, `waitpid`.
    Floor,
    /// A loop of `std::process::Command::new("/bin/true").status()` (posix_spawn: vfork + exec).
    StdStatus,
    /// `yes | xargs -P1 -L1 /bin/true`.
    Xargs,
    /// `sh -c 'while :; do /bin/true; done'`.
    Shell,
}

/// The sisyphus command line, COMMAND after `--`.
fn sisyphus(strategy: Strategy, command: &[&str]) -> Command {
    let mut cmd = Command::new(SISYPHUS);
    cmd.args(["-w", "1"]);
    if strategy == Strategy::Simple {
        cmd.args(["--strategy", "simple"]);
    }
    cmd.arg("--").args(command);
    cmd
}

/// A fresh file for a sisyphus's log (its stderr), read after the sample for failed runs.
fn log_path() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Relaxed);
    std::env::temp_dir().join(format!("sisyphus-bench-cmd-{}-{n}.log", std::process::id()))
}

/// The first WARN or ERROR line of a sisyphus log (a run that failed), if any; the file is
/// removed.
fn failure_in(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let _ = std::fs::remove_file(log);
    text.lines().find(|l| l.contains(" WARN ") || l.contains(" ERROR ")).map(str::to_owned)
}

/// Waits up to `within` for `child` to exit; SIGKILLs its process group (it leads one) and
/// reaps it if it does not. `Err` on a timeout.
fn wait_bounded(child: &mut Child, within: Duration) -> Result<ExitStatus, String> {
    let deadline = after(within);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if now_ns() < deadline => std::thread::sleep(MS),
            Ok(None) => {
                kill(-(child.id() as i32), libc::SIGKILL);
                let _ = child.wait();
                return Err(format!("pid {} did not exit within {within:?}; SIGKILLed", child.id()));
            }
            Err(e) => return Err(format!("waiting for pid {}: {e}", child.id())),
        }
    }
}

/// Stops a sisyphus as a user would, SIGINT to the master, and checks that it stopped cleanly
/// and that no run failed.
fn stop_sisyphus(mut child: Child, log: &Path) -> Result<(), String> {
    kill(child.id() as i32, libc::SIGINT);
    let status = wait_bounded(&mut child, STOP_WAIT);
    let failure = failure_in(log);
    let status = status?;
    if let Some(line) = failure {
        return Err(format!("a run failed; sisyphus logged: {line}"));
    }
    if !status.success() {
        return Err(format!("sisyphus ended with {status} after SIGINT"));
    }
    Ok(())
}

/// A contender making runs until stopped.
enum Running {
    /// `out`: the file a `SisyphusEcho`'s runs write to.
    Sisyphus { child: Child, log: PathBuf, out: Option<PathBuf> },
    /// A process group led by the first child (the shell loop; `yes` and `xargs`).
    Group(Vec<Child>),
    /// A bare loop forked from the bench, counting its runs in `shared`.
    Loop { proc: Proc, shared: Shared },
}

/// A forked child of the bench that makes runs of `/bin/true` with `run` until killed,
/// counting them in shared memory.
fn bare_loop(run: fn() -> i32) -> Result<Running, String> {
    let shared = Shared::new()?;
    let (runs, failed) = (shared.runs(), shared.failed());
    let proc = spawn(move |_tx| {
        loop {
            let status = run();
            if status != 0 {
                let _ = failed.compare_exchange(0, status as u64 + 1, Relaxed, Relaxed);
            }
            runs.fetch_add(1, Relaxed);
        }
    })?;
    Ok(Running::Loop { proc, shared })
}

/// One run of the floor: libc `fork`, `execv("/bin/true")` in the child, `waitpid`; nothing
/// allocated. The wait status (0 when `/bin/true` exited 0).
fn fork_exec_wait() -> i32 {
    const PATH: &std::ffi::CStr = c"/bin/true";
    let argv = [PATH.as_ptr(), std::ptr::null()];
    match fork() {
        -1 => -1,
        0 => {
            // SAFETY: a NUL-terminated path and a null-terminated argv on this stack; this
            // child of a single-threaded process only execs or exits.
            unsafe { libc::execv(PATH.as_ptr(), argv.as_ptr()) };
            exit_now(127)
        }
        pid => {
            let mut status = 0;
            // SAFETY: valid out-pointer; the child execs /bin/true, which exits at once.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            status
        }
    }
}

/// One run with `std::process::Command::status`.
fn std_status() -> i32 {
    match Command::new(TRUE).status() {
        Ok(s) if s.success() => 0,
        Ok(s) => s.code().unwrap_or(-1).max(1),
        Err(_) => -1,
    }
}

impl Contender {
    fn start(self) -> Result<Running, String> {
        let spawned = |cmd: &mut Command, what: &str| cmd.spawn().map_err(|e| format!("{what}: {e}"));
        match self {
            Contender::Sisyphus(strategy) | Contender::SisyphusEcho(strategy) => {
                let create = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
                let log = log_path();
                let err = create(&log)?;
                let (mut cmd, out) = match self {
                    Contender::Sisyphus(_) => (sisyphus(strategy, &[TRUE]), None),
                    _ => (sisyphus(strategy, &ECHO), Some(log.with_extension("out"))),
                };
                let stdout = match &out {
                    Some(p) => Stdio::from(create(p)?),
                    None => Stdio::null(),
                };
                cmd.stdin(Stdio::null()).stdout(stdout).stderr(err).process_group(0);
                let child = spawned(&mut cmd, SISYPHUS)?;
                Ok(Running::Sisyphus { child, log, out })
            }
            Contender::Floor => bare_loop(fork_exec_wait),
            Contender::StdStatus => bare_loop(std_status),
            Contender::Xargs => {
                let mut yes = Command::new("yes");
                yes.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).process_group(0);
                let mut yes = spawned(&mut yes, "yes")?;
                let lines = yes.stdout.take().expect("piped");
                let mut xargs = Command::new("xargs");
                xargs.args(["-P1", "-L1", TRUE]).stdin(lines).stdout(Stdio::null()).stderr(Stdio::null());
                xargs.process_group(yes.id() as i32);
                match spawned(&mut xargs, "xargs") {
                    Ok(xargs) => Ok(Running::Group(vec![yes, xargs])),
                    Err(e) => {
                        Running::Group(vec![yes]).stop()?;
                        Err(e)
                    }
                }
            }
            Contender::Shell => {
                let mut sh = Command::new("/bin/sh");
                sh.args(["-c", "while :; do /bin/true; done"]);
                sh.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
                Ok(Running::Group(vec![spawned(&mut sh, "sh")?]))
            }
        }
    }

    fn what(self) -> &'static str {
        match self {
            Contender::Sisyphus(Strategy::Simple) => "sisyphus -w 1 --strategy simple -- /bin/true: runs/s",
            Contender::Sisyphus(_) => "sisyphus -w 1 -- /bin/true (forking): runs/s",
            Contender::SisyphusEcho(Strategy::Simple) => "check: forks per run, sisyphus --strategy simple",
            Contender::SisyphusEcho(_) => "check: forks per run, sisyphus (forking)",
            Contender::Floor => "floor: bare libc fork + execv + waitpid loop: runs/s",
            Contender::StdStatus => "std::process::Command::status loop: runs/s",
            Contender::Xargs => "yes | xargs -P1 -L1 /bin/true: runs/s",
            Contender::Shell => "sh -c 'while :; do /bin/true; done': runs/s",
        }
    }
}

impl Running {
    /// The process that forks the runs, whose faults and CPU time (with its children's) item
    /// 15 reads: a sisyphus's worker, or a bare loop.
    fn forker(&self) -> Option<Pid> {
        match self {
            Running::Sisyphus { child, .. } => {
                let master = child.id();
                let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children")).ok()?;
                children.split_whitespace().next()?.parse().ok()
            }
            Running::Loop { proc, .. } => Some(proc.pid),
            Running::Group(_) => None,
        }
    }

    /// Runs counted another way than by /proc/stat: by a bare loop itself, or by the bytes a
    /// `SisyphusEcho`'s runs wrote.
    fn own_count(&self) -> Option<u64> {
        match self {
            Running::Loop { shared, .. } => Some(shared.runs().load(Relaxed)),
            Running::Sisyphus { out: Some(out), .. } => std::fs::metadata(out).ok().map(|m| m.len() / 2),
            _ => None,
        }
    }

    /// Stops the contender and reaps everything below the bench; `Err` if a run failed or it
    /// would not stop.
    fn stop(self) -> Result<(), String> {
        let result = match self {
            Running::Sisyphus { child, log, out } => {
                let stopped = stop_sisyphus(child, &log);
                if let Some(out) = out {
                    let _ = std::fs::remove_file(out);
                }
                stopped
            }
            Running::Group(mut children) => {
                kill(-(children[0].id() as i32), libc::SIGKILL);
                children.iter_mut().try_for_each(|c| wait_bounded(c, STOP_WAIT).map(drop))
            }
            Running::Loop { proc, shared } => {
                with_proc(proc, |_| Ok(())).and_then(|()| match shared.failed().load(Relaxed) {
                    0 => Ok(()),
                    s => Err(format!("a run of {TRUE} ended with wait status {}", s - 1)),
                })
            }
        };
        let swept = sweep();
        result.and(swept)
    }
}

/// Minor page faults and CPU clock ticks of `pid` plus those of its children it has reaped
/// (`/proc/PID/stat` fields 10-11 and 14-17).
fn faults_and_ticks(pid: Pid) -> Result<(u64, u64), String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("pid {pid}: {e}"))?;
    let rest = &stat[stat.rfind(')').ok_or("bad stat")? + 2..];
    let f: Vec<u64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
    if f.len() < 15 {
        return Err(format!("pid {pid}: short stat"));
    }
    // From the state (field 3): minflt 10, cminflt 11, utime 14, stime 15, cutime 16, cstime 17.
    Ok((f[7] + f[8], f[11] + f[12] + f[13] + f[14]))
}

/// One sample of item 15.
struct Sample {
    /// Runs a second: /proc/stat forks a second.
    rate: f64,
    /// /proc/stat forks per run the contender counted itself, if it does.
    forks_per_run: Option<f64>,
    /// Forks a second on the machine in a short window just before, nothing of the bench running.
    background: f64,
    /// Per run: minor faults and CPU µs of the process that forks the runs and of the runs
    /// themselves (the worker or the bare loop, and its reaped children), if measured.
    cost: Option<(f64, f64)>,
}

/// One sample of item 15: a quiet window, the contender's start, a warm-up, the window.
fn rate(cfg: &Cfg, contender: Contender) -> Result<Sample, String> {
    let (idle, warm_up) = if cfg.quick { (100 * MS, 100 * MS) } else { (200 * MS, 300 * MS) };
    let (forks0, t0) = (forks_so_far()?, now_ns());
    std::thread::sleep(idle);
    let (forks1, t1) = (forks_so_far()?, now_ns());
    let background = (forks1 - forks0) as f64 / ((t1 - t0) as f64 / 1e9);
    let running = contender.start()?;
    std::thread::sleep(warm_up);
    let measured = (|| -> Result<Sample, String> {
        let forker = running.forker();
        let cost0 = forker.map(faults_and_ticks).transpose()?;
        let own0 = running.own_count();
        let (forks0, t0) = (forks_so_far()?, now_ns());
        std::thread::sleep(cfg.window);
        let (forks1, t1) = (forks_so_far()?, now_ns());
        let own1 = running.own_count();
        let cost1 = forker.map(faults_and_ticks).transpose()?;
        let forks = (forks1 - forks0) as f64;
        let forks_per_run = own0.zip(own1).map(|(a, b)| forks / (b - a).max(1) as f64);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let runs = forks.max(1.0);
        let cost = cost0.zip(cost1).map(|(a, b)| ((b.0 - a.0) as f64 / runs, (b.1 - a.1) as f64 / hz * 1e6 / runs));
        Ok(Sample { rate: forks / ((t1 - t0) as f64 / 1e9), forks_per_run, background, cost })
    })();
    let stopped = running.stop();
    let sample = measured?;
    stopped.map(|()| sample)
}

/// The samples of a row, or the first error of its samples.
type Samples = Result<Vec<f64>, String>;

/// An error row if a sample failed (other rows are kept), else the row `make` builds.
fn row_or_error(item: u8, what: &str, samples: &Samples, make: impl FnOnce(Vec<f64>) -> Row) -> Row {
    match samples {
        Ok(s) => make(s.clone()),
        Err(e) => Row::error(item, what, e.clone()),
    }
}

pub(crate) fn item15(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let contenders = [
        Contender::Floor,
        Contender::Sisyphus(Strategy::Forking),
        Contender::Sisyphus(Strategy::Simple),
        Contender::StdStatus,
        Contender::Xargs,
        Contender::Shell,
        Contender::SisyphusEcho(Strategy::Forking),
        Contender::SisyphusEcho(Strategy::Simple),
    ];
    // Per contender: runs/s; /proc/stat forks per run it counted itself (if it does); faults
    // and CPU µs per run (if measured).
    let mut rates: Vec<Samples> = contenders.iter().map(|_| Ok(Vec::new())).collect();
    let mut per_run: Vec<Vec<f64>> = contenders.iter().map(|_| Vec::new()).collect();
    let mut costs: Vec<Vec<(f64, f64)>> = contenders.iter().map(|_| Vec::new()).collect();
    let mut background = Vec::new();
    let at = |c: Contender| contenders.iter().position(|&x| x == c).expect("listed");
    // Twice the usual rounds: the VM's fork/exec rate wanders by ±20 % from second to second.
    for run in 0..2 * cfg.runs {
        // Each round in a different order, so that drift falls on every contender alike.
        for k in 0..contenders.len() {
            let i = (k + run) % contenders.len();
            if rates[i].is_err() {
                continue;
            }
            match rate(cfg, contenders[i]) {
                Ok(sample) => {
                    if let Ok(v) = &mut rates[i] {
                        v.push(sample.rate);
                    }
                    per_run[i].extend(sample.forks_per_run);
                    costs[i].extend(sample.cost);
                    background.push(sample.background);
                }
                Err(e) => {
                    eprintln!("bench:     {}: {e}", contenders[i].what());
                    rates[i] = Err(e);
                }
            }
        }
    }
    let floor = match &rates[at(Contender::Floor)] {
        Ok(v) => median(v),
        Err(e) => return Err(format!("the floor failed: {e}")),
    };
    let mut rows = Vec::new();
    for ((c, samples), per_run) in contenders.iter().zip(&rates).zip(per_run) {
        let row = row_or_error(15, c.what(), samples, |s| match c {
            Contender::Floor => Row::new(15, c.what(), "/s", s),
            Contender::Sisyphus(Strategy::Forking) => {
                Row::new(15, c.what(), "/s", s).base(floor).goal(Goal::RatioAtLeast(FLOOR_SHARE))
            }
            Contender::SisyphusEcho(_) => Row::new(15, c.what(), "count", per_run.clone()).base(1.0),
            _ => Row::new(15, c.what(), "/s", s).base(floor),
        });
        rows.push(row);
        if *c == Contender::Floor {
            let what = "check: forks per run, the floor loop";
            rows.push(Row::new(15, what, "count", per_run).base(1.0));
        }
    }
    rows.push(Row::new(15, "check: forks/s on the machine, nothing of the bench running", "/s", background));
    // Where a run's time goes: the forking process (worker, bare loop) and the runs it reaps.
    let col = |c: Contender, f: fn(&(f64, f64)) -> f64| costs[at(c)].iter().map(f).collect::<Vec<f64>>();
    let (faults, cpu) = (|c: &(f64, f64)| c.0, |c: &(f64, f64)| c.1);
    for (strategy, kind) in [(Strategy::Forking, "forking"), (Strategy::Simple, "simple")] {
        let c = Contender::Sisyphus(strategy);
        if rates[at(c)].is_ok() {
            let what = format!("{kind}: page faults per run, worker + run");
            rows.push(Row::new(15, what, "count", col(c, faults)).base(median(&col(Contender::Floor, faults))));
            let what = format!("{kind}: CPU µs per run, worker + run");
            rows.push(Row::new(15, what, "µs", col(c, cpu)).base(median(&col(Contender::Floor, cpu))));
        }
    }
    Ok(rows)
}

/// What item 16 spawns.
#[derive(Clone, Copy, Debug)]
enum Started {
    /// `/bin/sh -c 'echo x'` itself: the baseline.
    Bare,
    /// `sisyphus -w 1 [--strategy simple] -- /bin/sh -c 'echo x'`.
    Sisyphus(Strategy),
    /// `sisyphus --version`, which prints a line and exits: the binary's own start.
    Version,
}

/// Item 16: ms from just before spawning `started` until the first byte of its stdout reaches
/// the bench.
fn first_byte_ms(started: Started) -> Result<f64, String> {
    let log = log_path();
    let mut cmd = match started {
        Started::Sisyphus(s) => {
            let err = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            let mut cmd = sisyphus(s, &ECHO);
            cmd.stderr(err);
            cmd
        }
        Started::Bare => {
            let mut cmd = Command::new(ECHO[0]);
            cmd.args(&ECHO[1..]).stderr(Stdio::null());
            cmd
        }
        Started::Version => {
            let mut cmd = Command::new(SISYPHUS);
            cmd.arg("--version").stderr(Stdio::null());
            cmd
        }
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).process_group(0);
    let t0 = now_ns();
    let mut child = cmd.spawn().map_err(|e| {
        let _ = std::fs::remove_file(&log);
        format!("spawn: {e}")
    })?;
    let mut out = child.stdout.take().expect("piped");
    let deadline = after(FIRST_BYTE_WAIT);
    let mut pfd = libc::pollfd { fd: out.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let mut got = 0;
    while now_ns() < deadline {
        let ms = (deadline - now_ns()).div_ceil(1_000_000) as i32;
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, ms) } > 0 {
            let mut buf = [0u8; 64];
            got = out.read(&mut buf).unwrap_or(0);
            break;
        }
    }
    let t1 = now_ns();
    // The pipe stays open until the command is stopped: a run must not die of SIGPIPE.
    let stopped = match started {
        Started::Sisyphus(_) => stop_sisyphus(child, &log),
        _ => wait_bounded(&mut child, STOP_WAIT).and_then(|s| match s.success() {
            true => Ok(()),
            false => Err(format!("{started:?} ended with {s}")),
        }),
    };
    drop(out);
    let swept = sweep();
    let _ = std::fs::remove_file(&log);
    if got == 0 {
        let why = if t1 >= deadline { format!("no output within {FIRST_BYTE_WAIT:?}") } else { "EOF".into() };
        return Err(match stopped {
            Err(e) => format!("{why}; {e}"),
            Ok(()) => why,
        });
    }
    stopped.and(swept).map(|()| ns_to_ms(t1 - t0))
}

pub(crate) fn item16(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let contenders = [
        (Started::Bare, "start-up: spawn sh -c 'echo x' -> first byte (bare)"),
        (Started::Sisyphus(Strategy::Forking), "start-up: spawn sisyphus -w 1 -- sh -c 'echo x' -> 1st byte"),
        (Started::Sisyphus(Strategy::Simple), "start-up: the same, --strategy simple"),
        (Started::Version, "start-up: spawn sisyphus --version -> first byte"),
    ];
    let mut samples: Vec<Samples> = contenders.iter().map(|_| Ok(Vec::new())).collect();
    for run in 0..cfg.samples {
        // Each round in a different order, as in item 15.
        for k in 0..contenders.len() {
            let i = (k + run) % contenders.len();
            if samples[i].is_err() {
                continue;
            }
            match first_byte_ms(contenders[i].0) {
                Ok(ms) => {
                    if let Ok(v) = &mut samples[i] {
                        v.push(ms);
                    }
                }
                Err(e) => {
                    eprintln!("bench:     {}: {e}", contenders[i].1);
                    samples[i] = Err(e);
                }
            }
        }
    }
    let bare = match &samples[0] {
        Ok(v) => median(v),
        Err(e) => return Err(format!("sh -c 'echo x' alone failed: {e}")),
    };
    Ok(samples
        .iter()
        .zip(contenders)
        .map(|(s, (started, what))| {
            row_or_error(16, what, s, |s| match started {
                Started::Bare => Row::new(16, what, "ms", s),
                _ => Row::new(16, what, "ms", s).base(bare),
            })
        })
        .collect())
}

/// Strips `path` in place with `strip` (GNU strip's default is `--strip-all`), or
/// `objcopy --strip-all` if there is no `strip`; the tool used.
fn strip(path: &Path) -> Result<&'static str, String> {
    let mut errors = Vec::new();
    for (tool, args) in [("strip", &[][..]), ("objcopy", &["--strip-all"][..])] {
        match Command::new(tool).args(args).arg(path).status() {
            Ok(s) if s.success() => return Ok(tool),
            Ok(s) => errors.push(format!("{tool}: {s}")),
            Err(e) => errors.push(format!("{tool}: {e}")),
        }
    }
    Err(errors.join("; "))
}

pub(crate) fn item17(_cfg: &Cfg) -> Result<Vec<Row>, String> {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).map_err(|e| format!("{}: {e}", p.display()));
    let unstripped = size(Path::new(SISYPHUS))?;
    let copy = std::env::temp_dir().join(format!("sisyphus-bench-strip-{}", std::process::id()));
    std::fs::copy(SISYPHUS, &copy).map_err(|e| format!("copying {SISYPHUS}: {e}"))?;
    let stripped = strip(&copy).and_then(|tool| size(&copy).map(|n| (tool, n)));
    let _ = std::fs::remove_file(&copy);
    let (tool, stripped) = stripped?;
    eprintln!("bench:     {SISYPHUS}: {unstripped} B, {stripped} B stripped with {tool}");
    let kb = |b: u64| b as f64 / 1000.0;
    Ok(vec![
        Row::new(17, format!("binary, stripped ({tool}): {stripped} B"), "KB", vec![kb(stripped)])
            .goal(Goal::AtMost(SIZE_GOAL_KB)),
        Row::new(17, format!("binary, unstripped (release): {unstripped} B"), "KB", vec![kb(unstripped)]),
    ])
}
