//! COMMAND as the perform: started without a shell, with the worker's variables, default
//! signal dispositions, the startup signal mask, and no descriptor of ours.

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sisyphus::{BoxError, Context, Job, Strategy};

use crate::relay;
use crate::sys::{self, Mask};

/// How often a simple worker looks for a stop while its COMMAND runs, with `--stop-signal`.
const STOP_LOOK: Duration = Duration::from_millis(20);

/// The job every worker runs.
#[derive(Debug)]
pub struct Run {
    pub command: Vec<OsString>,
    pub setup: Option<OsString>,
    pub workers: usize,
    pub strategy: Strategy,
    pub prefix: bool,
    pub stop_signal: Option<i32>,
    pub mask: Mask,
    /// The master's pid, learnt in `setup` (a daemon's differs from the launcher's).
    pub master: u32,
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
            let wall = SystemTime::now() - at.elapsed();
            let secs = wall.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            cmd.env("SISYPHUS_SCHEDULED_AT", secs.to_string());
        }
        // The process whose death must end COMMAND: the one that forks it, or when this
        // process becomes COMMAND, the worker that forked this one.
        let (me, my_parent) = sys::pids();
        let (mask, parent) = (self.mask, if direct { my_parent } else { me });
        // SAFETY: `prepare_exec` makes async-signal-safe calls only, as a child between fork
        // and exec requires.
        unsafe { cmd.pre_exec(move || sys::prepare_exec(&mask, parent)) };
        cmd
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
        let direct = self.strategy == Strategy::Forking && !self.prefix;
        let cmd = self.command(program, args, ctx, direct);
        if direct {
            // This perform child becomes COMMAND; only a failed exec returns.
            let mut cmd = cmd;
            let e = cmd.exec();
            return Err(format!("cannot run {}: {e}", program.to_string_lossy()).into());
        }
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

/// `None` for success, else how it ended: `exited with code 3`, `was killed by signal 9`.
fn describe(status: ExitStatus) -> Option<String> {
    match (status.code(), status.signal()) {
        (Some(0), _) => None,
        (Some(code), _) => Some(format!("exited with code {code}")),
        (None, Some(sig)) => Some(format!("was killed by signal {}", sys::signal_name(sig))),
        _ => Some(format!("ended: {status}")),
    }
}
