//! Signals: dispositions, masks, taking a blocked signal with a timeout, and the master's
//! handlers, which only count a signal and write one byte to a self-pipe.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use libc::c_int;

use super::fd::{MasterFd, dup_above_stdio};
use super::globals::{INSTALLED, PENDING, WAKE_FD};
use super::{check, os};

pub use libc::{
    SA_NOCLDSTOP, SA_RESTART, SIGALRM, SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGIO, SIGKILL, SIGPIPE, SIGQUIT, SIGSTOP,
    SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGUSR1, SIGUSR2, SIGWINCH,
};

/// Every signal a user may name, with its short name as `kill -l` prints it (and
/// `os::MORE_SIGNALS`, this system's own).
#[rustfmt::skip]
const NAMES: [(c_int, &str); 29] = [
    (libc::SIGHUP, "HUP"), (libc::SIGINT, "INT"), (libc::SIGQUIT, "QUIT"), (libc::SIGILL, "ILL"),
    (libc::SIGTRAP, "TRAP"), (libc::SIGABRT, "ABRT"), (libc::SIGBUS, "BUS"), (libc::SIGFPE, "FPE"),
    (libc::SIGKILL, "KILL"), (libc::SIGUSR1, "USR1"), (libc::SIGSEGV, "SEGV"), (libc::SIGUSR2, "USR2"),
    (libc::SIGPIPE, "PIPE"), (libc::SIGALRM, "ALRM"), (libc::SIGTERM, "TERM"), (libc::SIGCHLD, "CHLD"),
    (libc::SIGCONT, "CONT"), (libc::SIGSTOP, "STOP"), (libc::SIGTSTP, "TSTP"), (libc::SIGTTIN, "TTIN"),
    (libc::SIGTTOU, "TTOU"), (libc::SIGURG, "URG"), (libc::SIGXCPU, "XCPU"), (libc::SIGXFSZ, "XFSZ"),
    (libc::SIGVTALRM, "VTALRM"), (libc::SIGPROF, "PROF"), (libc::SIGWINCH, "WINCH"), (libc::SIGIO, "IO"),
    (libc::SIGSYS, "SYS"),
];

/// The short name of a signal, as `kill -l` prints it; `?` for a number that names none.
pub fn signal_name(sig: c_int) -> &'static str {
    NAMES.iter().chain(&os::MORE_SIGNALS).find(|&&(n, _)| n == sig).map_or("?", |&(_, name)| name)
}

/// The number of the signal whose short name is `name` (`TERM`).
pub fn signal_number(name: &str) -> Option<c_int> {
    NAMES.iter().chain(&os::MORE_SIGNALS).find(|&&(_, n)| n == name).map(|&(sig, _)| sig)
}

/// A set of signals.
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl std::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigSet").finish_non_exhaustive()
    }
}

impl SigSet {
    /// The set of `sigs`.
    pub fn of(sigs: &[c_int]) -> Self {
        // SAFETY: sigemptyset initialises the set before use; sigaddset takes valid signals.
        unsafe {
            let mut set = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in sigs {
                libc::sigaddset(&mut set, s);
            }
            SigSet(set)
        }
    }

    /// This set without `sig`.
    pub fn without(mut self, sig: c_int) -> Self {
        // SAFETY: a valid, initialised set.
        unsafe { libc::sigdelset(&mut self.0, sig) };
        self
    }

    /// The calling thread's signal mask.
    pub fn current_mask() -> Self {
        mask(libc::SIG_BLOCK, &SigSet::of(&[]))
    }

    /// Adds this set to the mask; returns the mask before.
    pub fn block(&self) -> SigSet {
        mask(libc::SIG_BLOCK, self)
    }

    /// Takes this set out of the mask; returns the mask before.
    pub fn unblock(&self) -> SigSet {
        mask(libc::SIG_UNBLOCK, self)
    }

    /// Makes this set the mask; returns the mask before.
    pub fn set_mask(&self) -> SigSet {
        mask(libc::SIG_SETMASK, self)
    }

    /// Takes one pending signal of this set (which must be blocked), waiting up to `timeout`
    /// (`None`: no limit); `None` on timeout. It does not matter what the signal's disposition
    /// is, so code that changed it cannot make the wait miss it.
    pub fn wait(&self, timeout: Option<Duration>) -> Option<c_int> {
        // An error is another signal's handler running (EINTR): report nothing, and the
        // caller, which loops over its waits, looks again.
        os::wait_signal(&self.0, timeout).ok().flatten()
    }
}

fn mask(how: c_int, set: &SigSet) -> SigSet {
    // SAFETY: both pointers are valid sigsets; sigprocmask cannot fail with a valid `how`.
    unsafe {
        let mut old = std::mem::zeroed();
        libc::sigprocmask(how, &set.0, &mut old);
        SigSet(old)
    }
}

/// A signal handler: it must be async-signal-safe (atomics, `kill`, `write`, `_exit`).
pub type Handler = extern "C" fn(c_int);

/// What a signal does to a process.
#[derive(Clone, Copy, Debug)]
pub enum Disposition {
    /// The default action.
    Default,
    /// Discarded.
    Ignore,
    /// Runs the handler (which an `exec` resets to the default).
    Handler(Handler),
}

/// A saved disposition, to restore later.
#[derive(Clone, Copy)]
pub struct Action(libc::sigaction);

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Action").field("handler", &self.0.sa_sigaction).finish()
    }
}

impl Action {
    /// The disposition of `sig` now.
    pub fn of(sig: c_int) -> Action {
        // SAFETY: a null new action only queries; `old` is a valid out-pointer.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut old);
            Action(old)
        }
    }

    /// Whether the signal is ignored.
    pub fn is_ignored(&self) -> bool {
        self.0.sa_sigaction == libc::SIG_IGN
    }

    /// Whether it is the default action (with whatever flags).
    pub fn is_default(&self) -> bool {
        self.0.sa_sigaction == libc::SIG_DFL
    }

    /// Whether it runs `handler`.
    pub fn runs(&self, handler: Handler) -> bool {
        self.0.sa_sigaction == handler as *const () as libc::sighandler_t
    }

    /// Puts this disposition back on `sig`.
    pub fn restore(&self, sig: c_int) {
        // SAFETY: restoring a disposition sigaction gave us.
        unsafe { libc::sigaction(sig, &self.0, std::ptr::null_mut()) };
    }
}

/// Sets the disposition of `sig`, with `flags` (`SA_RESTART`, `SA_NOCLDSTOP`); returns the old
/// one. The handler runs with no further signals blocked.
pub fn set_disposition(sig: c_int, disposition: Disposition, flags: c_int) -> io::Result<Action> {
    let handler = match disposition {
        Disposition::Default => libc::SIG_DFL,
        Disposition::Ignore => libc::SIG_IGN,
        Disposition::Handler(h) => h as *const () as libc::sighandler_t,
    };
    // SAFETY: `act` is fully initialised (zeroed, then the fields sigaction reads); `old` is a
    // valid out-pointer. Handlers passed in are async-signal-safe by the `Handler` contract.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = handler;
        act.sa_flags = flags;
        libc::sigemptyset(&mut act.sa_mask);
        let mut old = std::mem::zeroed();
        check(libc::sigaction(sig, &act, &mut old))?;
        Ok(Action(old))
    }
}

// ---------------------------------------------------------------------------------------------
// The master's handlers

extern "C" fn on_master_signal(sig: c_int) {
    // Async-signal-safe only: atomics and write(2). No allocation, lock, format or panic.
    let errno = os::errno();
    // SAFETY: the errno slot is valid for the thread the handler runs on.
    let saved = unsafe { *errno };
    if let Some(count) = PENDING.get(sig as usize) {
        count.fetch_add(1, Relaxed);
    }
    let fd = WAKE_FD.load(Relaxed);
    if fd >= 0 {
        // A full pipe (EAGAIN) is fine: a wake-up is already pending.
        // SAFETY: writes one byte from a static buffer to a descriptor we own.
        unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *errno = saved };
}

/// The master's signal handling for as long as it lives: handlers that count the signal and
/// write a byte to a non-blocking, close-on-exec self-pipe. Dropping it restores the previous
/// dispositions and signal mask and closes the pipe.
pub struct MasterSignals {
    read_fd: MasterFd,
    /// Written by the handlers through `WAKE_FD`: held to be closed on drop.
    _write_fd: MasterFd,
    saved: Vec<(c_int, Action)>,
    saved_mask: SigSet,
}

impl std::fmt::Debug for MasterSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterSignals").field("read_fd", &self.read_fd.as_raw_fd()).finish()
    }
}

impl MasterSignals {
    /// Counts the signals `handled` and ignores `ignored` until dropped. Only one may exist at
    /// a time. Both pipe ends are kept off descriptors 0-2 and are closed in forked workers.
    ///
    /// # Errors
    /// When the pipe cannot be made (no descriptor free) or a handler cannot be installed.
    pub fn install(handled: &[c_int], ignored: &[c_int]) -> io::Result<Self> {
        if INSTALLED.swap(true, Relaxed) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "signal handlers already installed"));
        }
        let fds = os::pipe_cloexec_nonblock().and_then(|[r, w]| Ok([dup_above_stdio(r)?, dup_above_stdio(w)?]));
        let [read_fd, write_fd] = match fds {
            Ok(fds) => fds,
            Err(e) => {
                INSTALLED.store(false, Relaxed);
                return Err(e);
            }
        };
        for p in &PENDING {
            p.store(0, Relaxed);
        }
        WAKE_FD.store(write_fd.as_raw_fd(), Relaxed);
        let (read_fd, _write_fd) = (MasterFd::new(read_fd), MasterFd::new(write_fd));
        let mut me = MasterSignals { read_fd, _write_fd, saved: Vec::new(), saved_mask: SigSet::current_mask() };
        for &sig in handled {
            let flags = SA_RESTART | if sig == SIGCHLD { SA_NOCLDSTOP } else { 0 };
            me.saved.push((sig, set_disposition(sig, Disposition::Handler(on_master_signal), flags)?));
        }
        for &sig in ignored {
            me.saved.push((sig, set_disposition(sig, Disposition::Ignore, 0)?));
        }
        // The caller may have blocked some of them; we need them delivered.
        SigSet::of(handled).unblock();
        Ok(me)
    }

    /// Puts back the dispositions the master replaced: in a worker just forked, so that it
    /// starts from the caller's, not the master's; and when dropped.
    pub fn restore_dispositions(&self) {
        for (sig, old) in &self.saved {
            old.restore(*sig);
        }
    }

    /// Blocks until a signal arrives or `timeout` passes (`None`: no timeout).
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<()> {
        let ms = match timeout {
            None => -1,
            // Round up, so a deadline is never polled for in a busy loop of 0 ms waits.
            Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as c_int,
        };
        let mut pfd = libc::pollfd { fd: self.read_fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: `pfd` is one valid pollfd.
        match check(unsafe { libc::poll(&mut pfd, 1, ms) }) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
            _ => Ok(()),
        }
    }

    /// Drains the self-pipe, then takes the counts, by signal number: in this order, so a
    /// signal arriving in between leaves a byte in the pipe and is seen on the next round.
    pub fn take(&self) -> [u32; 32] {
        let mut buf = [0u8; 64];
        // SAFETY: reading into a valid stack buffer from our non-blocking pipe.
        while unsafe { libc::read(self.read_fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
        std::array::from_fn(|i| PENDING[i].swap(0, Relaxed))
    }
}

impl Drop for MasterSignals {
    fn drop(&mut self) {
        self.restore_dispositions();
        self.saved_mask.set_mask();
        if self.saved.iter().any(|&(sig, _)| sig == SIGCHLD) {
            // We may have consumed a SIGCHLD meant for the caller's own children: give it back
            // (a spurious one is harmless; a lost one leaves a zombie).
            // SAFETY: kill has no memory effects.
            unsafe { libc::kill(libc::getpid(), SIGCHLD) };
        }
        WAKE_FD.store(-1, Relaxed);
        INSTALLED.store(false, Relaxed);
        // The fields close the pipe.
    }
}
