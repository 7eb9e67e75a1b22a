//! systemd's notification socket (`sd_notify`): one datagram per message, with std's
//! `UnixDatagram`, and the environment that names it.

use std::env;
use std::ffi::OsStr;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::time::Duration;

use super::fd::{dup_above_stdio, forget_master_fd, remember_master_fd};
use super::{getpid, os};

/// The variables systemd sets for its main process, which the processes a worker starts must
/// not see: they would send their own `READY=1` or keep-alives on the master's behalf.
const SERVICE_VARS: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC"];

/// A socket to send `sd_notify` messages on: non-blocking, close-on-exec, closed in workers.
#[derive(Debug)]
pub struct NotifySocket {
    sock: UnixDatagram,
    addr: SocketAddr,
}

impl NotifySocket {
    /// The socket `NOTIFY_SOCKET` names: an absolute path, or `@name` for an abstract address
    /// (Linux). `Ok(None)` when the variable is unset or empty: nothing is opened.
    ///
    /// # Errors
    /// When the address is neither (systemd's `vsock:` addresses included), or no socket can
    /// be made.
    pub fn from_env() -> io::Result<Option<NotifySocket>> {
        let Some(value) = env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty()) else { return Ok(None) };
        let addr = match value.as_bytes() {
            [b'@', name @ ..] => os::abstract_address(name)?,
            [b'/', ..] => SocketAddr::from_pathname(Path::new(&value))?,
            _ => {
                let why = format!("NOTIFY_SOCKET={value:?} is neither an absolute path nor an @abstract name");
                return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
            }
        };
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        let sock = UnixDatagram::from(dup_above_stdio(sock.into())?);
        remember_master_fd(sock.as_raw_fd());
        Ok(Some(NotifySocket { sock, addr }))
    }

    /// Sends one message; never blocks (a full queue is an error).
    ///
    /// # Errors
    /// When the datagram cannot be sent: nobody listens, or the listener's queue is full.
    pub fn send(&self, message: &str) -> io::Result<()> {
        self.sock.send_to_addr(message.as_bytes(), &self.addr).map(drop)
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        forget_master_fd(self.sock.as_raw_fd());
    }
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when it is set and
/// `WATCHDOG_PID` is unset or names this process.
pub fn watchdog_from_env() -> Option<Duration> {
    let usec: u64 = env::var("WATCHDOG_USEC").ok()?.trim().parse().ok().filter(|&u| u > 0)?;
    let ours = env::var_os("WATCHDOG_PID").is_none_or(|pid| pid.as_bytes() == getpid().to_string().as_bytes());
    ours.then(|| Duration::from_micros(usec) / 2)
}

/// Whether `NOTIFY_SOCKET` is set: the process runs under a service manager that expects to
/// hear from it.
pub fn notify_socket_set() -> bool {
    env::var_os("NOTIFY_SOCKET").is_some_and(|v| !OsStr::is_empty(&v))
}

/// In a freshly forked worker: removes systemd's variables from the environment, so that
/// nothing the worker starts can speak to systemd in the master's name.
pub fn forget_service_env() {
    for var in SERVICE_VARS {
        if env::var_os(var).is_some() {
            // SAFETY: called in a process just forked, which has exactly one thread: no other
            // thread can read or write the environment meanwhile.
            unsafe { env::remove_var(var) };
        }
    }
}
