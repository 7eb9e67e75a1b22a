//! What the master tells the world outside its pool: the service manager (`sd_notify`), a
//! daemon's launcher (the ready pipe), and would-be second masters (the pidfile).

use std::path::PathBuf;

use super::driver;
use crate::error::{Error, Shutdown};
use crate::log::{Level, Logger};
use crate::supervisor::Notice;
use crate::sys::{self, Held, NotifySocket, Pidfile, ReadyPipe};

/// The master's links to the outside, held for as long as `run` supervises.
#[derive(Debug, Default)]
pub struct Service {
    notify: Option<NotifySocket>,
    launcher: Option<ReadyPipe>,
    pidfile: Option<Pidfile>,
    /// The last notification failed; the next failure is not logged again.
    failing: bool,
    /// A daemon's stdout and stderr follow its log file across reopens.
    pub follow_log: bool,
}

impl Service {
    /// Detaches into a daemon (the caller's process becomes the launcher and never returns
    /// from here). Refused under a service manager that waits for `READY=1`: it would fail the
    /// unit as soon as its main process, the launcher, exits.
    ///
    /// # Safety
    /// The process must be single-threaded.
    pub unsafe fn daemonize(&mut self, logger: &dyn Logger) -> Result<(), Error> {
        if sys::notify_socket_set() {
            return Err(Error::Config(
                "daemonize under a service manager (NOTIFY_SOCKET is set): it would see the launcher exit \
                 and fail the unit; let it supervise instead"
                    .into(),
            ));
        }
        // SAFETY: passed on from the caller.
        let pipe = unsafe { sys::daemonize(logger.file()) }.map_err(|e| Error::Io("daemonizing", e))?;
        self.launcher = Some(pipe);
        self.follow_log = logger.file().is_some();
        Ok(())
    }

    /// Locks the pidfile and opens the notification socket, if any.
    pub fn open(&mut self, pidfile: Option<&PathBuf>) -> Result<(), Error> {
        if let Some(path) = pidfile {
            let held = Pidfile::lock(path).map_err(|e| {
                Error::Io("taking the pidfile", std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
            })?;
            self.pidfile = Some(held.map_err(|Held(pid)| Error::PidfileHeld { path: path.clone(), pid })?);
        }
        self.notify = NotifySocket::from_env().map_err(|e| Error::Io("opening NOTIFY_SOCKET", e))?;
        Ok(())
    }

    /// Whether systemd listens: only then is its watchdog ours to feed.
    pub fn notifying(&self) -> bool {
        self.notify.is_some()
    }

    /// Sends `notice` to the service manager, and tells the launcher on the first `READY=1`.
    /// A failure is logged once, until a notification goes through again.
    pub fn notify(&mut self, notice: &Notice, logger: &dyn Logger) {
        if *notice == Notice::Ready
            && let Some(pipe) = self.launcher.take()
        {
            pipe.ready();
        }
        let Some(socket) = &self.notify else { return };
        match socket.send(&notice.to_string()) {
            Ok(()) => self.failing = false,
            Err(error) if !self.failing => {
                self.failing = true;
                let what = "cannot notify the service manager (NOTIFY_SOCKET)";
                driver::log(logger, Level::Warn, format_args!("{what}: {error}"));
            }
            Err(_) => {}
        }
    }

    /// At the end of `run`: a launcher still waiting learns why the daemon never came up.
    pub fn finish(&mut self, result: &Result<Shutdown, Error>) {
        if let Some(pipe) = self.launcher.take() {
            match result {
                Err(e) => pipe.failed(&format!("daemon failed to start: {e}")),
                Ok(_) => pipe.failed("daemon stopped before every worker was up"),
            }
        }
    }
}
