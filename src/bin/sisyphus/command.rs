//! COMMAND as the perform: started without a shell, with the worker's variables, default
//! signal dispositions, the startup signal mask, and no descriptor of ours.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sisyphus::{BoxError, Context, Job, Strategy};

use crate::relay;
use crate::sys::{self, Mask};

/// How often a simple worker looks for a stop while its COMMAND runs, with `--stop-signal`.
const STOP_LOOK: Duration = Duration::from_millis(20);

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
    /// The signals ignored in this worker, to put back to their default before an exec.
    pub ignored: Vec<i32>,
    /// For a perform child that becomes COMMAND: its path, arguments and the environment
    /// that does not change between runs, made once per worker in `setup`, so that a run
    /// costs the forked child as few writes to memory as possible.
    pub exec: Option<Exec>,
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
    /// `program args…` with the worker's environment, set up to be exec'd: from a child
    /// forked by this process, or, when `direct`, by this process itself.
    fn command(&self, program: &OsString, args: &[OsString], ctx: &Context, direct: bool) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("SISYPHUS_WORKER", ctx.worker().to_string())
            .env("SISYPHUS_WORKERS", self.workers.to_string())
            .env("SISYPHUS_ITERATION", ctx.iteration().to_string())
            .env("SISYPHUS_MASTER_PID", self.master.to_string());
        if let Some(at) = ctx.scheduled() {
            cmd.env("SISYPHUS_SCHEDULED_AT", unix_secs(at).to_string());
        }
        // The process whose death must end COMMAND: the one that forks it, or when this
        // process becomes COMMAND, the worker that forked this one.
        let (me, my_parent) = sys::pids();
        let (mask, parent, ignored) = (self.mask, if direct { my_parent } else { me }, self.ignored.clone());
        // SAFETY: `prepare_exec` makes async-signal-safe calls only, as a child between fork
        // and exec requires.
        unsafe { cmd.pre_exec(move || sys::prepare_exec(&mask, parent, &ignored)) };
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

    /// In the perform child: becomes COMMAND; returns only if that failed.
    fn exec(&self, ctx: &Context) -> BoxError {
        let Some(exec) = &self.exec else { return "no command prepared".into() };
        let mut more = vec![c_string(format!("SISYPHUS_ITERATION={}", ctx.iteration()).as_bytes())];
        if let Some(at) = ctx.scheduled() {
            more.push(c_string(format!("SISYPHUS_SCHEDULED_AT={}", unix_secs(at)).as_bytes()));
        }
        // COMMAND dies with the worker that forked this child.
        if let Err(e) = sys::prepare_exec(&self.mask, sys::pids().1, &self.ignored) {
            return e.into();
        }
        let e = sys::execve(&exec.path, &exec.argv, &exec.env, &more);
        format!("cannot run {}: {e}", self.path.display()).into()
    }

    /// Runs `cmd` to its end: relaying its output with `--prefix`, and passing the stop
    /// signal on when a graceful stop comes (the simple strategy's job; a forking worker does
    /// it for its perform child).
    fn run_to_end(&self, mut cmd: Command, ctx: &Context) -> std::io::Result<ExitStatus> {
        if self.prefix {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let mut child = cmd.spawn()?;
        let stop_signal = self.stop_signal.filter(|_| self.strategy == Strategy::Simple);
        let mut stop = |child: &Child| {
            if let Some(sig) = stop_signal.filter(|_| ctx.stop_requested()) {
                sys::kill(child.id(), sig);
                return true;
            }
            false
        };
        if self.prefix {
            let look = stop_signal.map(|_| STOP_LOOK);
            relay::lines(&mut child, ctx.worker(), look, &mut stop)?;
        }
        if stop_signal.is_none() {
            return child.wait();
        }
        let mut sent = false;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            sent = sent || stop(&child);
            std::thread::sleep(STOP_LOOK);
        }
    }
}

impl Job for Run {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.master = sys::pids().1 as u32;
        self.ignored = sys::ignored_signals();
        if let (Strategy::Forking, true, Some(sig)) = (self.strategy, self.prefix, self.stop_signal) {
            // The relay in each perform child ignores it: COMMAND must not.
            self.ignored.push(sig);
        }
        if self.strategy == Strategy::Forking && !self.prefix {
            self.exec = Some(self.prepare(ctx));
        }
        let Some(script) = &self.setup else { return Ok(()) };
        let args = [OsString::from("-c"), script.clone()];
        let status = self.run_to_end(self.command(&"sh".into(), &args, ctx, false), ctx)?;
        match describe(status) {
            None => Ok(()),
            Some(how) => Err(format!("--setup {how}").into()),
        }
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let (program, args) = self.command.split_first().expect("parsed: a COMMAND");
        if self.exec.is_some() {
            // This perform child becomes COMMAND; only a failed exec returns.
            return Err(self.exec(ctx));
        }
        let cmd = self.command(program, args, ctx, false);
        if self.prefix && self.strategy == Strategy::Forking {
            // This relay must see COMMAND out, whatever its stop signal does to it.
            if let Some(sig) = self.stop_signal {
                sys::ignore(sig);
            }
        }
        let status = self.run_to_end(cmd, ctx)?;
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
    wall.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// `None` for success, else how it ended: `exited with code 3`, `was killed by signal 9`.
fn describe(status: ExitStatus) -> Option<String> {
    match (status.code(), status.signal()) {
        (Some(0), _) => None,
        (Some(code), _) => Some(format!("exited with code {code}")),
        (None, Some(sig)) => Some(format!("was killed by signal {}", sys::signal_name(sig))),
        _ => Some(format!("ended: {status}")),
    }
}
