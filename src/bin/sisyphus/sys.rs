//! Every libc call of the command: the signal mask it was started with, what a
//! COMMAND gets between fork and exec, and `poll` for `--prefix`.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;

/// The most that one `write` to `fd` puts out whole, never mixed with other writers' bytes: a
/// pipe or a socket takes PIPE_BUF bytes so (4 KiB on Linux); a file or a terminal, any amount.
pub fn whole_write(fd: RawFd) -> usize {
    // SAFETY: an all-zero stat is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into `st`; a bad descriptor only fails.
    let ok = unsafe { libc::fstat(fd, &mut st) } == 0;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFCHR if ok => usize::MAX,
        _ => libc::PIPE_BUF,
    }
}

/// Ends the process by `sig` with its default action, as the COMMAND it relayed did, but
/// without a core dump: COMMAND left its own, which ours would overwrite in a core file, or
/// stand beside in a crash collector's records as a crash of sisyphus.
pub fn die_by(sig: i32) -> ! {
    let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_DUMPABLE takes an integer and has no memory effects. Not dumpable, the
    // process is not handed to a `|collector` core pattern either, which RLIMIT_CORE allows.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong);
    }
    // SAFETY: setrlimit reads a valid struct; restoring the default action and raising a
    // signal have no memory effects.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}

/// The signal mask of the calling thread.
#[derive(Clone, Copy)]
pub struct Mask(libc::sigset_t);

impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mask")
    }
}

impl Mask {
    /// The mask in force now: read first thing, it is the one the command was started with.
    pub fn current() -> Mask {
        // SAFETY: an all-zero sigset_t is a valid value for pthread_sigmask to overwrite.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: a null new set only reads the current mask into `set`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut set) };
        Mask(set)
    }
}

/// The signals this process ignores, which would stay ignored across exec (a handled signal
/// goes back to its default by itself): Rust's SIGPIPE, the worker's TTIN and TTOU, whatever
/// sisyphus was started with ignored (`nohup`'s HUP). Those the C library keeps for itself,
/// which it will not even report, are counted in.
pub fn ignored_signals() -> Vec<i32> {
    let ignored = |sig: i32| {
        // SAFETY: an all-zero sigaction is a valid value to overwrite; a null new action only
        // reads the current one.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let rc = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
        rc != 0 || old.sa_sigaction == libc::SIG_IGN
    };
    (1..=max_signal()).filter(|&sig| sig != libc::SIGKILL && sig != libc::SIGSTOP && ignored(sig)).collect()
}

/// In a child between fork and exec, so async-signal-safe calls only: the `to_default`
/// signals back to their default action (an ignored signal stays ignored across exec), the
/// signal mask the command was started with, and SIGKILL when `parent` dies (its own death
/// signal is a handler, which exec would turn into "ignore").
///
/// # Errors
/// ESRCH when `parent` is already gone.
pub fn prepare_exec(mask: &Mask, parent: libc::pid_t, to_default: &[i32]) -> io::Result<()> {
    for &sig in to_default {
        default_action(sig);
    }
    // SAFETY: `mask.0` is a valid, initialised set.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask.0, std::ptr::null_mut()) };
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and has no memory effects.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent {
        // Not `io::Error::other`, which allocates.
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(())
}

/// The highest signal number.
#[cfg(target_os = "linux")]
fn max_signal() -> i32 {
    libc::SIGRTMAX()
}

#[cfg(not(target_os = "linux"))]
fn max_signal() -> i32 {
    31
}

/// Puts `sig` back to its default action. On Linux through the system call itself: the C
/// library refuses the two real-time signals it keeps for its threads, and an ignored one of
/// those would otherwise stay ignored across exec.
#[cfg(target_os = "linux")]
fn default_action(sig: i32) {
    // The kernel's `struct sigaction`, all zero: SIG_DFL, no flags, an empty mask (32 bytes
    // cover every architecture's layout).
    let act = [0u64; 4];
    // SAFETY: rt_sigaction reads a valid, zeroed struct and writes nothing (null old action).
    // 8 is the kernel's sigset size where it has 64 signals (x86, Arm, RISC-V...); where it
    // has more (MIPS), the call fails with EINVAL and the signal keeps its disposition.
    unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, act.as_ptr(), std::ptr::null_mut::<u64>(), 8) };
}

#[cfg(not(target_os = "linux"))]
fn default_action(sig: i32) {
    // SAFETY: setting SIG_DFL has no memory effects; invalid numbers just fail.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

/// The calling process's pid and its parent's.
pub fn pids() -> (libc::pid_t, libc::pid_t) {
    // SAFETY: getpid and getppid have no preconditions.
    unsafe { (libc::getpid(), libc::getppid()) }
}

/// Sends `sig` to `pid`, or with `None` to this process's group; a process already gone is
/// not an error worth reporting.
pub fn kill(pid: Option<u32>, sig: i32) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid.map_or(0, |p| p as libc::pid_t), sig) };
}

/// Ignores `sig` in this process (a `--prefix` relay, which sends its run's group the stop
/// signal, itself included).
pub fn ignore(sig: i32) {
    // SAFETY: SIG_IGN has no memory effects.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
}

/// Waits until one of `fds` is readable or hung up, or `timeout_ms` passes (-1: no limit).
/// Returns, for each, whether it is ready.
pub fn poll(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: `pfds` is a valid array of its length.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted { Ok(vec![false; fds.len()]) } else { Err(e) };
    }
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// Replaces this process with `path`, given `argv` and the environment `env` followed by
/// `more`; returns only on failure. A file the kernel does not know how to run (a script
/// without `#!`) is run by `/bin/sh`, as `execvp` and the shells do.
pub fn execve(path: &CStr, argv: &[CString], env: &[CString], more: &[CString]) -> io::Error {
    let ptrs = |strings: &mut dyn Iterator<Item = &CStr>| {
        strings.map(CStr::as_ptr).chain(std::iter::once(std::ptr::null())).collect::<Vec<*const libc::c_char>>()
    };
    let envp = ptrs(&mut env.iter().chain(more).map(CString::as_c_str));
    let args = ptrs(&mut argv.iter().map(CString::as_c_str));
    // SAFETY: NUL-terminated strings in null-terminated arrays, alive for the call.
    unsafe { libc::execve(path.as_ptr(), args.as_ptr(), envp.as_ptr()) };
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::ENOEXEC) {
        return e;
    }
    let sh = c"/bin/sh";
    let args = ptrs(&mut [c"sh", path].into_iter().chain(argv.iter().skip(1).map(CString::as_c_str)));
    // SAFETY: as above.
    unsafe { libc::execve(sh.as_ptr(), args.as_ptr(), envp.as_ptr()) };
    e
}

/// A descriptor that turns readable when child `pid` exits (Linux 5.3 and later), if any.
#[cfg(target_os = "linux")]
pub fn exit_watch(pid: u32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags, and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a descriptor just made, owned by nothing else (close-on-exec by default).
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as RawFd) })
}

#[cfg(not(target_os = "linux"))]
pub fn exit_watch(_pid: u32) -> Option<std::os::fd::OwnedFd> {
    None
}

/// Whether this process may execute `path` (`access(X_OK)`).
pub fn executable(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: a NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}

/// A flag in memory shared with every process forked from this one after the call (the
/// daemon, workers, runs), never unmapped; `None` if it cannot be mapped.
pub fn shared_flag() -> Option<&'static std::sync::atomic::AtomicBool> {
    let (size, rw, shared) = (std::mem::size_of::<bool>(), libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED);
    // SAFETY: a fresh anonymous mapping, at an address of the kernel's choosing.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), size, rw, shared | libc::MAP_ANON, -1, 0) };
    // SAFETY: page-aligned, zeroed (a valid `false`), never unmapped, and only ever accessed
    // atomically.
    (p != libc::MAP_FAILED).then(|| unsafe { &*(p as *const std::sync::atomic::AtomicBool) })
}
