//! COMMAND as the perform: started without a shell, with the worker's variables, default
//! signal dispositions, the startup signal mask, and no descriptor of ours.

use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sisyphus::{BoxError, Context, Job, Level, Signal, Strategy};

use crate::sys::{self, Mask};
use crate::{relay, shown};

/// How often a simple worker or a `--prefix` relay looks for a stop while its COMMAND runs,
/// with `--stop-signal`.
const STOP_LOOK: Duration = Duration::from_millis(20);

/// With no schedule, a worker that starts this many runs or more a second after its `setup`
/// runs them back to back: said once for the pool, with where options after COMMAND go.
const BACK_TO_BACK: u64 = 10;
/// One run in this many looks whether runs come back to back: the code and the clock it reads
/// are pages a forked run faults in, which the others need not pay for.
const LOOK_EVERY: u64 = 16;

/// Variables COMMAND gets from us; any of them in our own environment is replaced.
const OURS: [&str; 5] =
    ["SISYPHUS_WORKER", "SISYPHUS_WORKERS", "SISYPHUS_ITERATION", "SISYPHUS_MASTER_PID", "SISYPHUS_SCHEDULED_AT"];

/// The job every worker runs.
#[derive(Debug)]
pub struct Run {
    pub command: Vec<OsString>,
    /// Where COMMAND was found, for `execve`.
    pub path: PathBuf,
    pub setup: Option<OsString>,
    pub workers: usize,
    pub strategy: Strategy,
    pub prefix: bool,
    pub stop_signal: Option<i32>,
    pub mask: Mask,
    /// The master's pid, learnt in `setup` (a daemon's differs from the launcher's).
    pub master: u32,
    /// This worker's pid, learnt in `setup`: COMMAND must not outlive it.
    pub worker: i32,
    /// The signals to put back to their default before an exec: those ignored in this worker,
    /// which exec would leave ignored, and the stop signal (see `Run::exec`).
    pub to_default: Vec<i32>,
    /// For a perform child that becomes COMMAND: its path, arguments and the environment
    /// that does not change between runs, made once per worker in `setup`, so that a run
    /// costs the forked child as few writes to memory as possible.
    pub exec: Option<Exec>,
    /// When this worker's `setup` ended.
    pub up: Option<Instant>,
    /// Whether the pool said its runs are back to back: shared by every worker and run.
    pub said: Option<&'static AtomicBool>,
}

/// What a perform child `execve`s.
#[derive(Debug)]
pub struct Exec {
    path: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
}

/// `text` as a C string; an interior NUL (impossible in arguments and the environment) ends it.
fn c_string(text: &[u8]) -> CString {
    CString::new(text.split(|&b| b == 0).next().unwrap_or_default()).unwrap_or_default()
}

impl Run {
    /// The file at `path` as `program args…` (`program` is its `argv[0]`), with the worker's
    /// environment, set up to be exec'd by a child of this process.
    fn command(&self, path: &OsStr, program: &OsStr, args: &[OsString], ctx: &Context) -> Command {
        let mut cmd = Command::new(path);
        cmd.arg0(program)
            .args(args)
            .env("SISYPHUS_WORKER", ctx.worker().to_string())
            .env("SISYPHUS_WORKERS", self.workers.to_string())
            .env("SISYPHUS_ITERATION", ctx.iteration().to_string())
            .env("SISYPHUS_MASTER_PID", self.master.to_string());
        match ctx.scheduled() {
            Some(at) => cmd.env("SISYPHUS_SCHEDULED_AT", unix_secs(at).to_string()),
            None => cmd.env_remove("SISYPHUS_SCHEDULED_AT"),
        };
        // COMMAND dies with this process, which forks it.
        let (mask, parent, to_default) = (self.mask, sys::pids().0, self.to_default.clone());
        // SAFETY: `prepare_exec` makes async-signal-safe calls only, as a child between fork
        // and exec requires.
        unsafe { cmd.pre_exec(move || sys::prepare_exec(&mask, parent, &to_default)) };
        cmd
    }

    /// The `Exec` of this worker: everything but the iteration and the scheduled start.
    fn prepare(&self, ctx: &Context) -> Exec {
        let mut env: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| !OURS.iter().any(|o| k.as_bytes() == o.as_bytes()))
            .map(|(k, v)| c_string(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
            .collect();
        for (k, v) in [("WORKER", ctx.worker()), ("WORKERS", self.workers), ("MASTER_PID", self.master as usize)] {
            env.push(c_string(format!("SISYPHUS_{k}={v}").as_bytes()));
        }
        let argv = self.command.iter().map(|a| c_string(a.as_bytes())).collect();
        Exec { path: c_string(self.path.as_os_str().as_bytes()), argv, env }
    }

    /// In the perform child: becomes COMMAND. Returns `Ok` if a stop came first, so the run
    /// is skipped, and an error if the exec failed.
    fn exec(&self, ctx: &Context) -> Result<(), BoxError> {
        let Some(exec) = &self.exec else { return Err("no command prepared".into()) };
        let mut more = vec![c_string(format!("SISYPHUS_ITERATION={}", ctx.iteration()).as_bytes())];
        if let Some(at) = ctx.scheduled() {
            more.push(c_string(format!("SISYPHUS_SCHEDULED_AT={}", unix_secs(at)).as_bytes()));
        }
        // COMMAND dies with the worker that forked this child. The stop signal is back at its
        // default from here: one the worker sends before met the worker's handler, which this
        // child inherited (and exec would have forgotten), but left the stop flag set.
        sys::prepare_exec(&self.mask, self.worker, &self.to_default).map_err(|_| "the worker is gone")?;
        if self.stop_signal.is_some() && ctx.stop_requested() {
            return Ok(());
        }
        let e = sys::execve(&exec.path, &exec.argv, &exec.env, &more);
        Err(cannot_run(&self.path, &e).into())
    }

    /// Says once for the pool that runs come back to back, if this worker started
    /// `BACK_TO_BACK` or more a second after its `setup`. A clock read; only from 1 s to 2 s
    /// after `setup`, at that pace, the pool's flag is read, and set by the one that logs.
    #[cold]
    fn back_to_back(&self, ctx: &Context) {
        let (Some(up), Some(said)) = (self.up, self.said) else { return };
        let since = up.elapsed();
        if !(1..2).contains(&since.as_secs()) {
            return;
        }
        // Those started since `setup`, per second: all started in the last second, when this
        // is the first look past it and the runs are quick (`LOOK_EVERY` of them take little).
        let per_second = ctx.iteration() * 1000 / since.as_millis() as u64;
        if per_second < BACK_TO_BACK || said.load(Relaxed) || said.swap(true, Relaxed) {
            return;
        }
        let how = "(no --interval or --cron); options after COMMAND go to COMMAND";
        let worker = ctx.worker();
        ctx.log(
            Level::Info,
            format_args!("worker {worker}: runs are back to back: {per_second} in the last second {how}"),
        );
    }

    /// Runs `cmd` to its end, relaying its output with `--prefix`. With `stop_signal`, passes
    /// that on when a graceful stop comes; returns whether it did.
    fn run_to_end(&self, mut cmd: Command, ctx: &Context, stop_signal: Option<i32>) -> io::Result<(ExitStatus, bool)> {
        if self.prefix {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        // `spawn` returns once COMMAND has exec'd: a stop signal sent from here on meets
        // COMMAND's own disposition, never a handler of ours.
        let program = PathBuf::from(cmd.get_program());
        let mut child = cmd.spawn().map_err(|e| io::Error::new(e.kind(), cannot_run(&program, &e)))?;
        // A relay leads its run's process group, and sends it there, as the library does to
        // a perform child that is COMMAND; a simple worker shares its group with COMMAND's.
        let relay = self.strategy == Strategy::Forking;
        let mut stop = |child: &Child| {
            if let Some(sig) = stop_signal.filter(|_| ctx.stop_requested()) {
                sys::kill((!relay).then(|| child.id()), sig);
                return true;
            }
            false
        };
        let mut sent = false;
        if self.prefix {
            let look = stop_signal.map(|_| STOP_LOOK);
            sent = relay::lines(&mut child, ctx.worker(), look, &mut stop)?;
        }
        if stop_signal.is_none() {
            return Ok((child.wait()?, false));
        }
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok((status, sent));
            }
            sent = sent || stop(&child);
            std::thread::sleep(STOP_LOOK);
        }
    }
}

impl Job for Run {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let (me, master) = sys::pids();
        (self.worker, self.master) = (me, master as u32);
        self.to_default = sys::ignored_signals();
        self.to_default.extend(self.stop_signal);
        if self.strategy == Strategy::Forking && !self.prefix {
            self.exec = Some(self.prepare(ctx));
        }
        if let Some(script) = &self.setup {
            let args = [OsString::from("-c"), script.clone()];
            // No stop signal for it: that is for the runs of COMMAND.
            let sh = self.command("/bin/sh".as_ref(), "sh".as_ref(), &args, ctx);
            let (status, _) = self.run_to_end(sh, ctx, None)?;
            if let Some(how) = describe(status) {
                return Err(format!("--setup {how}").into());
            }
        }
        self.up = Some(Instant::now());
        Ok(())
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        if ctx.iteration().is_multiple_of(LOOK_EVERY) && ctx.iteration() > 0 && ctx.scheduled().is_none() {
            self.back_to_back(ctx);
        }
        let (program, args) = self.command.split_first().expect("parsed: a COMMAND");
        if self.exec.is_some() {
            // This perform child becomes COMMAND.
            return self.exec(ctx);
        }
        // Here this process starts COMMAND and passes the stop signal on itself (the library
        // sends it only to a perform child that is COMMAND).
        if let (Strategy::Forking, Some(sig)) = (self.strategy, self.stop_signal) {
            // A relay sends it to its own group; COMMAND gets it back at its default.
            sys::ignore(sig);
        }
        if self.stop_signal.is_some() && ctx.stop_requested() {
            return Ok(());
        }
        let cmd = self.command(self.path.as_os_str(), program, args, ctx);
        let (status, sent) = self.run_to_end(cmd, ctx, self.stop_signal)?;
        if sent && status.signal() == self.stop_signal {
            // The run ended as the stop asked it to.
            return Ok(());
        }
        if let (Strategy::Forking, Some(sig)) = (self.strategy, status.signal()) {
            // Dying the same way tells the worker what happened to COMMAND.
            sys::die_by(sig);
        }
        match describe(status) {
            None => Ok(()),
            Some(how) => Err(format!("{} {how}", program.to_string_lossy()).into()),
        }
    }
}

/// The wall-clock time of the monotonic `at`, in whole Unix seconds.
fn unix_secs(at: std::time::Instant) -> u64 {
    let wall = SystemTime::now() - at.elapsed();
    // To the nearest millisecond first: the two clocks are read microseconds apart, and a start
    // due on a whole second must not read as the one before.
    (wall.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64 + 500) / 1_000_000
}

/// `None` for success, else how it ended: `exited with code 3`, `was killed by signal 9`.
fn describe(status: ExitStatus) -> Option<String> {
    match (status.code(), status.signal()) {
        (Some(0), _) => None,
        (Some(code), _) => Some(format!("exited with code {code}")),
        (None, Some(sig)) => {
            let name = Signal::from_raw(sig).map_or_else(|| sig.to_string(), |s| s.to_string());
            Some(format!("was killed by signal {name}"))
        }
        _ => Some(format!("ended: {status}")),
    }
}

/// What a script whose `#!` line ends in a carriage return gets: the kernel takes it as part of
/// the interpreter's name (or of its last argument), and no such file exists.
pub const CRLF: &str = "its #! line ends in a carriage return (CRLF line endings): the system \
    looks for an interpreter whose name ends in one; convert the file with dos2unix, or sed -i 's/\\r$//'";

/// The `#!` line of the file at `path`, without the `#!` and the newline: `None` if it has
/// none or cannot be read. Only the first 256 bytes are read, as much as the kernel reads.
pub fn shebang(path: &Path) -> Option<Vec<u8>> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    Some(line.split(|&b| b == b'\n').next().unwrap_or_default().to_vec())
}

/// Why the file at `path` could not be run, naming what is missing when the error alone does
/// not: the interpreter its `#!` line names, a carriage return ending that line (CRLF line
/// endings), or `/bin/sh`, which runs a file without `#!`.
pub fn cannot_run(path: &Path, e: &io::Error) -> String {
    let (enoent, enoexec) = (e.raw_os_error() == Some(libc::ENOENT), e.raw_os_error() == Some(libc::ENOEXEC));
    let why = match shebang(path) {
        Some(line) if enoent && line.ends_with(b"\r") => format!("; {CRLF}"),
        Some(line) if enoent => {
            let interpreter = line.trim_ascii_start().split(|&b| b == b' ' || b == b'\t').next().unwrap_or_default();
            format!("; its interpreter {} was not found", shown(OsStr::from_bytes(interpreter)))
        }
        None if (enoent || enoexec) && path.is_file() && !Path::new("/bin/sh").exists() => {
            "; a file without #! is run by /bin/sh, which is missing".into()
        }
        _ => String::new(),
    };
    format!("cannot run {}: {e}{why}", shown(path))
}
