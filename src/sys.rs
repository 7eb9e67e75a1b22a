//! Every libc call and every `cfg(target_os)` of the crate. Above this module the code reads as
//! plain Rust: pids, exit statuses, signals and durations, never raw descriptors or `sigset_t`.

use std::io::{self, Write};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use libc::c_int;

/// A process id.
pub type Pid = libc::pid_t;

fn check(ret: c_int) -> io::Result<c_int> {
    if ret == -1 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

/// Monotonic time since an arbitrary point (boot), shared by all processes of the machine, so a
/// worker can stamp it into shared memory and the master can compare it with its own clock.
pub fn now() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists on every Unix we build for.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

pub fn getpid() -> Pid {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// Writes all of `buf` to standard error, retrying only on partial writes and EINTR.
pub fn write_stderr(mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: `buf` is a valid slice for the length given.
        let n = unsafe { libc::write(2, buf.as_ptr().cast(), buf.len()) };
        if n > 0 {
            buf = &buf[n as usize..];
        } else if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Writes out what Rust's stdout buffers (stderr is unbuffered): before a fork, so the child
/// does not print it again, and before `_exit`, so it is not lost.
pub fn flush_stdout() {
    let _ = io::stdout().flush();
}

/// Flushes stdout and ends the process without running at-exit
/// handlers or destructors, which belong to the process we were forked from.
pub fn exit(code: i32) -> ! {
    flush_stdout();
    // SAFETY: _exit has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}

/// Sleeps for `d`, or less if a signal handler runs (a stop request must not wait it out).
pub fn sleep_unless_signalled(d: Duration) {
    let ts = libc::timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as _ };
    // SAFETY: `ts` is a valid timespec; the remainder pointer may be null.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

// ---------------------------------------------------------------------------------------------
// Processes

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It called exit with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
    /// It was reaped by someone else (the caller's own `waitpid`, or SIGCHLD ignored).
    Vanished,
}

fn decode(status: c_int) -> Exit {
    if libc::WIFSIGNALED(status) { Exit::Signal(libc::WTERMSIG(status)) } else { Exit::Code(libc::WEXITSTATUS(status)) }
}

/// Reaps one exited child without blocking: `pid`, or any child when `pid` is `None`.
/// `Ok(None)` when nothing (more) has exited, including when there are no children at all.
///
/// `before_reap` runs while the child is still a zombie, so its pid and its process group
/// cannot have been reused yet: the moment to signal what is left of its group. A specific
/// `pid` that is no longer our child (someone else reaped it) comes back as `Exit::Vanished`.
pub fn reap_next(pid: Option<Pid>, before_reap: impl FnOnce(Pid)) -> io::Result<Option<(Pid, Exit)>> {
    let (idtype, id) = match pid {
        Some(pid) => (libc::P_PID, pid as libc::id_t),
        None => (libc::P_ALL, 0),
    };
    // SAFETY: zeroed siginfo_t is valid; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a valid out-pointer; WNOWAIT leaves the child a zombie.
        let ret = unsafe { libc::waitid(idtype, id, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
        if ret == 0 {
            break;
        }
        match io::Error::last_os_error() {
            e if e.kind() == io::ErrorKind::Interrupted => continue,
            e if e.raw_os_error() == Some(libc::ECHILD) => return Ok(pid.map(|pid| (pid, Exit::Vanished))),
            e => return Err(e),
        }
    }
    // SAFETY: waitid succeeded, so the pid field is initialised (0 if nothing has exited).
    let found = unsafe { siginfo_pid(&info) };
    if found == 0 {
        return Ok(None);
    }
    before_reap(found);
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; the child is a zombie, so this cannot block.
    check(unsafe { libc::waitpid(found, &mut status, 0) })?;
    Ok(Some((found, decode(status))))
}

/// # Safety
/// `info` must have been filled by a successful `waitid`.
unsafe fn siginfo_pid(info: &libc::siginfo_t) -> Pid {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: the caller guarantees a filled siginfo_t from waitid.
    unsafe {
        info.si_pid()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    info.si_pid
}

/// Waits for `pid` to exit and reaps it. Returns `Err` of kind `Interrupted` when a signal
/// handler ran, so the caller can look at its flags before waiting again.
pub fn reap(pid: Pid) -> io::Result<Exit> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    check(unsafe { libc::waitpid(pid, &mut status, 0) })?;
    Ok(decode(status))
}

/// Sends `sig` to the process group led by `pid` (each worker leads its own group, which holds
/// its perform child and anything else it forked).
pub fn kill_group(pid: Pid, sig: c_int) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    check(unsafe { libc::kill(-pid, sig) }).map(drop)
}

/// Sends `sig` to the process `pid`.
pub fn kill(pid: Pid, sig: c_int) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

pub use libc::{SIGALRM, SIGKILL, SIGTERM};

/// The short name of a signal, as `kill -l` prints it.
pub fn signal_name(sig: i32) -> &'static str {
    #[rustfmt::skip]
    const NAMES: [(c_int, &str); 24] = [
        (libc::SIGHUP, "HUP"), (libc::SIGINT, "INT"), (libc::SIGQUIT, "QUIT"), (libc::SIGILL, "ILL"),
        (libc::SIGTRAP, "TRAP"), (libc::SIGABRT, "ABRT"), (libc::SIGBUS, "BUS"), (libc::SIGFPE, "FPE"),
        (libc::SIGKILL, "KILL"), (libc::SIGUSR1, "USR1"), (libc::SIGSEGV, "SEGV"), (libc::SIGUSR2, "USR2"),
        (libc::SIGPIPE, "PIPE"), (libc::SIGALRM, "ALRM"), (libc::SIGTERM, "TERM"), (libc::SIGCHLD, "CHLD"),
        (libc::SIGCONT, "CONT"), (libc::SIGSTOP, "STOP"), (libc::SIGTSTP, "TSTP"), (libc::SIGTTIN, "TTIN"),
        (libc::SIGTTOU, "TTOU"), (libc::SIGXCPU, "XCPU"), (libc::SIGXFSZ, "XFSZ"), (libc::SIGSYS, "SYS"),
    ];
    NAMES.iter().find(|&&(n, _)| n == sig).map_or("?", |&(_, name)| name)
}

/// Whether other threads exist, which would make forking unsound: `None` where the platform
/// gives no cheap way to tell.
pub fn thread_count() -> Option<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("Threads:"))?;
        line["Threads:".len()..].trim().parse().ok()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    None
}

/// Names the calling process for `ps -o comm` and `top` (15 bytes at most on Linux).
pub fn set_process_name(name: &str) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut buf = [0u8; 16];
        let len = name.len().min(15);
        buf[..len].copy_from_slice(&name.as_bytes()[..len]);
        // SAFETY: `buf` is NUL-terminated and outlives the call; PR_SET_NAME copies it.
        unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr()) };
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = name;
}

/// Ties the calling child's life to its parent's: on Linux the kernel SIGKILLs it when the
/// parent dies; elsewhere `parent_gone` must be checked between units of work. Either way the
/// child ends at once if the parent died before this call (then it was reparented already).
fn die_with_parent(parent: Pid) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and has no memory effects.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL)
    };
    if parent_gone(parent) {
        exit(EXIT_ORPHANED);
    }
}

/// Exit code of a child that found its parent already gone.
const EXIT_ORPHANED: i32 = 70;

/// Whether the process that forked us (`parent`) has died.
pub fn parent_gone(parent: Pid) -> bool {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() != parent }
}

/// Whether the worker loop must check `parent_gone` itself between performs, because the
/// kernel does not kill it when the master dies.
pub const NEEDS_PARENT_CHECK: bool = !cfg!(any(target_os = "linux", target_os = "android"));

// ---------------------------------------------------------------------------------------------
// Signals

/// The signals a master handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
    Quit,
    Ttin,
    Ttou,
    Chld,
}

const SIGNALS: [(Signal, c_int); 6] = [
    (Signal::Int, libc::SIGINT),
    (Signal::Term, libc::SIGTERM),
    (Signal::Quit, libc::SIGQUIT),
    (Signal::Ttin, libc::SIGTTIN),
    (Signal::Ttou, libc::SIGTTOU),
    (Signal::Chld, libc::SIGCHLD),
];

/// Per-signal arrival counts since the loop last looked: counts, not flags, so three quick
/// TTINs add three workers.
static PENDING: [AtomicU32; 6] = [const { AtomicU32::new(0) }; 6];
/// Write end of the master's self-pipe, or -1.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// Read end of the self-pipe, so a forked worker can close it.
static READ_FD: AtomicI32 = AtomicI32::new(-1);
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn errno_location() -> *mut c_int {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "emscripten"))]
    // SAFETY: returns the calling thread's errno slot; always valid.
    unsafe {
        libc::__errno_location()
    }
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd", target_os = "dragonfly"))]
    // SAFETY: as above.
    unsafe {
        libc::__error()
    }
    #[cfg(any(target_os = "openbsd", target_os = "netbsd"))]
    // SAFETY: as above.
    unsafe {
        libc::__errno()
    }
}

extern "C" fn on_master_signal(sig: c_int) {
    // Async-signal-safe only: atomics and write(2). No allocation, lock, format or panic.
    // SAFETY: the errno slot is valid for the thread the handler runs on.
    let saved = unsafe { *errno_location() };
    if let Some(i) = SIGNALS.iter().position(|&(_, s)| s == sig) {
        PENDING[i].fetch_add(1, Relaxed);
    }
    let fd = WAKE_FD.load(Relaxed);
    if fd >= 0 {
        // A full pipe (EAGAIN) is fine: a wake-up is already pending.
        // SAFETY: writes one byte from a static buffer to a descriptor we own.
        unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *errno_location() = saved };
}

fn sigset(sigs: impl IntoIterator<Item = c_int>) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before use; sigaddset takes valid signals.
    unsafe {
        let mut set = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn set_mask(how: c_int, set: &libc::sigset_t) -> libc::sigset_t {
    // SAFETY: both pointers are valid sigsets; sigprocmask cannot fail with valid `how`.
    unsafe {
        let mut old = std::mem::zeroed();
        libc::sigprocmask(how, set, &mut old);
        old
    }
}

fn set_handler(sig: c_int, handler: libc::sighandler_t, flags: c_int) -> io::Result<libc::sigaction> {
    // SAFETY: `act` is fully initialised (zeroed, then the fields sigaction reads); `old` is a
    // valid out-pointer. The handlers we install are async-signal-safe.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = handler;
        act.sa_flags = flags;
        libc::sigemptyset(&mut act.sa_mask);
        let mut old = std::mem::zeroed();
        check(libc::sigaction(sig, &act, &mut old))?;
        Ok(old)
    }
}

fn close(fd: c_int) {
    // SAFETY: closing a descriptor this module created and owns.
    unsafe { libc::close(fd) };
}

/// The master's signal handling for as long as it lives: handlers that count the signal and
/// write a byte to a non-blocking, close-on-exec self-pipe. Dropping it restores the previous
/// dispositions and signal mask and closes the pipe.
pub struct MasterSignals {
    read_fd: c_int,
    write_fd: c_int,
    saved: Vec<(c_int, libc::sigaction)>,
    saved_mask: libc::sigset_t,
}

impl std::fmt::Debug for MasterSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterSignals").field("read_fd", &self.read_fd).finish()
    }
}

impl MasterSignals {
    /// Installs handlers for `which` (all master signals for `run`, only CHLD while the
    /// unmonitored API waits for a worker). Only one may exist at a time.
    pub fn install(which: &[Signal]) -> io::Result<Self> {
        if INSTALLED.swap(true, Relaxed) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "signal handlers already installed"));
        }
        let mut fds = [0; 2];
        if let Err(e) = pipe_cloexec_nonblock(&mut fds) {
            INSTALLED.store(false, Relaxed);
            return Err(e);
        }
        for p in &PENDING {
            p.store(0, Relaxed);
        }
        WAKE_FD.store(fds[1], Relaxed);
        READ_FD.store(fds[0], Relaxed);
        let mut me = MasterSignals {
            read_fd: fds[0],
            write_fd: fds[1],
            saved: Vec::new(),
            saved_mask: set_mask(libc::SIG_BLOCK, &sigset([])),
        };
        for &(signal, sig) in SIGNALS.iter().filter(|(s, _)| which.contains(s)) {
            let flags = libc::SA_RESTART | if signal == Signal::Chld { libc::SA_NOCLDSTOP } else { 0 };
            me.saved.push((sig, set_handler(sig, on_master_signal as *const () as libc::sighandler_t, flags)?));
        }
        // The caller may have blocked some of them; we need them delivered.
        set_mask(libc::SIG_UNBLOCK, &sigset(me.saved.iter().map(|&(s, _)| s)));
        Ok(me)
    }

    /// Blocks until a signal arrives or `timeout` passes (`None`: no timeout).
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<()> {
        let ms = match timeout {
            None => -1,
            // Round up, so a deadline is never polled for in a busy loop of 0 ms waits.
            Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as c_int,
        };
        let mut pfd = libc::pollfd { fd: self.read_fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: `pfd` is one valid pollfd.
        match check(unsafe { libc::poll(&mut pfd, 1, ms) }) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
            _ => Ok(()),
        }
    }

    /// Drains the self-pipe, then takes the counts: in this order, so a signal arriving in
    /// between leaves a byte in the pipe and is seen on the next round, never lost.
    pub fn take(&self) -> Pending {
        let mut buf = [0u8; 64];
        // SAFETY: reading into a valid stack buffer from our non-blocking pipe.
        while unsafe { libc::read(self.read_fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
        Pending(std::array::from_fn(|i| PENDING[i].swap(0, Relaxed)))
    }
}

impl Drop for MasterSignals {
    fn drop(&mut self) {
        for (sig, old) in &self.saved {
            // SAFETY: restoring a disposition sigaction gave us.
            unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
        }
        set_mask(libc::SIG_SETMASK, &self.saved_mask);
        if self.saved.iter().any(|&(sig, _)| sig == libc::SIGCHLD) {
            // We may have consumed a SIGCHLD meant for the caller's own children: give it back
            // (a spurious one is harmless; a lost one leaves a zombie).
            // SAFETY: kill has no memory effects.
            unsafe { libc::kill(libc::getpid(), libc::SIGCHLD) };
        }
        WAKE_FD.store(-1, Relaxed);
        READ_FD.store(-1, Relaxed);
        close(self.read_fd);
        close(self.write_fd);
        INSTALLED.store(false, Relaxed);
    }
}

/// How many times each master signal arrived.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pending([u32; 6]);

impl Pending {
    pub fn count(&self, signal: Signal) -> u32 {
        self.0[SIGNALS.iter().position(|&(s, _)| s == signal).unwrap_or(0)]
    }
}

fn pipe_cloexec_nonblock(fds: &mut [c_int; 2]) -> io::Result<()> {
    #[cfg(not(target_vendor = "apple"))]
    // SAFETY: `fds` has room for two descriptors.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    #[cfg(target_vendor = "apple")]
    // No pipe2: set the flags right after. The master is single-threaded, so no other thread
    // can fork in between and leak the descriptors.
    // SAFETY: `fds` has room for two descriptors; fcntl on descriptors we just made.
    unsafe {
        check(libc::pipe(fds.as_mut_ptr()))?;
        for &fd in fds.iter() {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
        }
    }
    Ok(())
}

// Worker-side signal flags. Set by `on_worker_signal`, read by the worker loop and `Context`.
static STOP: AtomicBool = AtomicBool::new(false);
static TIMEOUT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_worker_signal(sig: c_int) {
    // Only atomic stores: nothing here can touch errno.
    if sig == libc::SIGALRM {
        TIMEOUT.store(true, Relaxed);
    } else {
        STOP.store(true, Relaxed);
    }
}

/// Whether this worker (or perform child) was asked to stop by INT or TERM.
pub fn stop_requested() -> bool {
    STOP.load(Relaxed)
}

/// Whether the master asked, with SIGALRM, for the running perform child to be killed.
pub fn take_timeout_request() -> bool {
    TIMEOUT.swap(false, Relaxed)
}

/// Forks a worker. `child` runs in the new process, which leads its own process group, dies
/// with the master (`master` is the caller's pid), has the master's signal handlers and
/// self-pipe replaced by the worker's (INT and TERM ask it to stop; TTIN and TTOU are ignored;
/// ALRM, when `alarm` is set, asks it to kill its perform child) and never returns.
///
/// # Safety
/// The calling process must be single-threaded: the child runs arbitrary Rust code, which may
/// need locks (the allocator's, stdout's) that another thread could hold at the fork.
pub unsafe fn fork_worker(master: Pid, alarm: bool, child: impl FnOnce()) -> io::Result<Pid> {
    flush_stdout();
    // Block what the master handles, so no handler runs in the child before it is replaced.
    let old_mask = set_mask(libc::SIG_BLOCK, &sigset(SIGNALS.iter().map(|&(_, s)| s)));
    // SAFETY: the caller guarantees a single-threaded process.
    let pid = unsafe { libc::fork() };
    if pid != 0 {
        if pid > 0 {
            // Also done by the child: whichever runs first, the group exists before we signal it.
            // SAFETY: setpgid on our own child; failure (it already exited) is harmless.
            unsafe { libc::setpgid(pid, pid) };
        }
        let err = io::Error::last_os_error();
        set_mask(libc::SIG_SETMASK, &old_mask);
        return if pid > 0 { Ok(pid) } else { Err(err) };
    }
    // SAFETY: setpgid(0, 0) makes the calling process a group leader.
    unsafe { libc::setpgid(0, 0) };
    die_with_parent(master);
    let handler = on_worker_signal as *const () as libc::sighandler_t;
    for &(signal, sig) in &SIGNALS {
        let disposition = match signal {
            Signal::Int | Signal::Term => handler,
            Signal::Ttin | Signal::Ttou => libc::SIG_IGN,
            Signal::Quit | Signal::Chld => libc::SIG_DFL,
        };
        let _ = set_handler(sig, disposition, libc::SA_RESTART);
    }
    if alarm {
        // No SA_RESTART: ALRM must interrupt the wait for the perform child.
        let _ = set_handler(libc::SIGALRM, handler, 0);
    }
    // The master's self-pipe is no business of a worker's.
    for fd in [WAKE_FD.swap(-1, Relaxed), READ_FD.swap(-1, Relaxed)] {
        if fd >= 0 {
            close(fd);
        }
    }
    INSTALLED.store(false, Relaxed);
    set_mask(libc::SIG_SETMASK, &old_mask);
    // The caller may have blocked these before it called us; a worker needs them.
    set_mask(libc::SIG_UNBLOCK, &sigset([libc::SIGINT, libc::SIGTERM, libc::SIGALRM]));
    run_child(child)
}

/// Runs a forked child's body and ends the process: whatever happens, a child never returns
/// or unwinds into the code that forked it, which would then run twice.
fn run_child(child: impl FnOnce()) -> ! {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)) {
        Ok(()) => exit(0),
        Err(payload) => {
            // Dropping it could panic again, outside any catch_unwind.
            std::mem::forget(payload);
            exit(101)
        }
    }
}

/// Forks a perform child of a worker (`worker` is the caller's pid). The child dies with the
/// worker, gets back the default ALRM disposition and runs `child`, which never returns.
///
/// # Safety
/// As for [`fork_worker`]: the calling process must be single-threaded.
pub unsafe fn fork_perform(worker: Pid, alarm: bool, child: impl FnOnce()) -> io::Result<Pid> {
    // SAFETY: the caller guarantees a single-threaded process.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            die_with_parent(worker);
            if alarm {
                let _ = set_handler(libc::SIGALRM, libc::SIG_DFL, 0);
            }
            run_child(child)
        }
        pid => Ok(pid),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared memory

/// One worker's page of shared state: the heartbeat the master reads for timeouts.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct Beat {
    /// Set by the worker once `setup` returned `Ok`.
    pub setup_done: AtomicBool,
    /// `now()` in nanoseconds when the running perform started; 0 between performs.
    pub perform_started: AtomicU64,
    /// Set by the master before SIGALRM: the `perform_started` of the perform to kill.
    pub kill_request: AtomicU64,
}

/// An array of [`Beat`]s in an anonymous shared mapping: no file, inherited by every fork.
pub struct Beats {
    ptr: NonNull<Beat>,
    len: usize,
}

impl std::fmt::Debug for Beats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Beats").field("len", &self.len).finish()
    }
}

impl Beats {
    /// Maps `len` zeroed beats. Pages are only backed by memory once touched.
    pub fn new(len: usize) -> io::Result<Self> {
        let bytes = len * std::mem::size_of::<Beat>();
        // SAFETY: an anonymous shared mapping with no address hint; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes.max(1),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANON,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Beats { ptr: NonNull::new(ptr.cast()).expect("mmap returned null"), len })
    }

    /// The beat of slot `i`.
    pub fn get(&self, i: usize) -> &Beat {
        assert!(i < self.len);
        // SAFETY: in bounds; the mapping is zero-filled, which is a valid `Beat` (all atomics),
        // page-aligned hence aligned for `Beat`, and lives as long as `self`.
        unsafe { &*self.ptr.as_ptr().add(i) }
    }
}

impl Drop for Beats {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping `new` made; no reference outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), (self.len * std::mem::size_of::<Beat>()).max(1)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_are_kill_l_names() {
        assert_eq!(signal_name(libc::SIGKILL), "KILL");
        assert_eq!(signal_name(libc::SIGTTOU), "TTOU");
        assert_eq!(signal_name(libc::SIGSYS), "SYS");
        assert_eq!(signal_name(999), "?");
    }
}
