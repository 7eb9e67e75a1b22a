//! The sisyphus benchmark: every figure beside a baseline measured in the same run, printed as
//! one table on stdout (progress goes to stderr). BENCHMARKS.md explains each method.
//!
//! `cargo bench` runs it all (a few minutes); `cargo bench -- --quick`, or
//! `SISYPHUS_BENCH_QUICK=1 cargo bench`, a shorter version (under a minute). Item numbers as
//! arguments (`cargo bench -- 3 5`) run only those items.
//!
//! Everything runs in processes forked from this single-threaded binary, as a user would run
//! them: a child becomes the master (`Master::new(job)...run()` with `NullLogger`), and the
//! jobs report events (setup done, perform checkpoints, counters) over a pipe created before the
//! fork, as fixed-size records written with one write(2) each and stamped with CLOCK_MONOTONIC,
//! so times compare across processes. The bench is a child subreaper; after every sample it
//! SIGKILLs and reaps every descendant, and every wait has a deadline.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use libc::c_int;
use sisyphus::{BoxError, Context, Job, Master, NullLogger, Strategy};

type Pid = libc::pid_t;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// Counting allocator

/// Counts allocations once `COUNTING` is set. Workers and perform children inherit it with the
/// count so far, so a perform that reads `ALLOCS` at two iterations learns what the loop between
/// them allocated.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Set only for the counting runs: in a forked perform child, the first write to `ALLOCS` would
/// cost a copy-on-write page fault that a program without this allocator does not pay, and the
/// throughput runs must not charge that to the library.
static COUNTING: AtomicBool = AtomicBool::new(false);

fn count_alloc() {
    if COUNTING.load(Relaxed) {
        ALLOCS.fetch_add(1, Relaxed);
    }
}

/// `ALLOCS` as a forked child started with it, set by the fork handler below: what a perform
/// child allocated before `perform` ran is `ALLOCS - FORKED_AT`.
static FORKED_AT: AtomicU64 = AtomicU64::new(0);

// SAFETY: the signature is pthread_atfork(3)'s, which glibc exports; the libc crate does not
// declare it for Linux.
unsafe extern "C" {
    fn pthread_atfork(
        prepare: Option<unsafe extern "C" fn()>,
        parent: Option<unsafe extern "C" fn()>,
        child: Option<unsafe extern "C" fn()>,
    ) -> c_int;
}

extern "C" fn on_fork_child() {
    FORKED_AT.store(ALLOCS.load(Relaxed), Relaxed);
}

// SAFETY: every call is passed on to `System` unchanged; counting only touches an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_alloc();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_alloc();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_alloc();
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// Time and small system helpers

fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The monotonic time `d` from now, in ns.
fn after(d: Duration) -> u64 {
    now_ns() + d.as_nanos() as u64
}

fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn getpid() -> Pid {
    // SAFETY: no preconditions.
    unsafe { libc::getpid() }
}

fn getppid() -> Pid {
    // SAFETY: no preconditions.
    unsafe { libc::getppid() }
}

fn kill(pid: Pid, sig: c_int) {
    // SAFETY: kill has no memory effects. Callers only pass pids they have not reaped.
    unsafe { libc::kill(pid, sig) };
}

fn close(fd: c_int) {
    // SAFETY: closing a descriptor this module opened and owns.
    unsafe { libc::close(fd) };
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Ends a forked child at once: no destructors or at-exit handlers of the process it was
/// forked from.
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// fork(2). Only ever called from single-threaded processes: the bench, its bare runners and
/// bare supervisors, none of which starts a thread.
fn fork() -> Pid {
    // SAFETY: the calling process is single-threaded (see above), so the child inherits no lock
    // held by another thread.
    unsafe { libc::fork() }
}

/// Makes the calling child die with its parent (`parent`), and end at once if it already has.
fn die_with(parent: Pid) {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no memory effects.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if getppid() != parent {
        exit_now(70);
    }
}

fn sigset(sigs: &[c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before sigaddset adds valid signal numbers.
    unsafe {
        let mut set = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Sleeps `d`, returning early if a signal handler runs: a stop request ends a sleeping perform.
fn sleep_unless_signalled(d: Duration) {
    let ts = libc::timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as _ };
    // SAFETY: `ts` is a valid timespec; the remainder pointer may be null.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// A numeric field of /proc/PID/status, such as `VmRSS:` (in kB) or `voluntary_ctxt_switches:`.
fn status_field(pid: Pid, key: &str) -> Result<u64, String> {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}

// ---------------------------------------------------------------------------------------------
// Event records

/// The master child is about to call `run` (or a bare supervisor to fork its first worker).
const START: u32 = 1;
/// `setup` is done: `a` = pid.
const SETUP: u32 = 2;
/// A perform checkpoint: `a` = iteration.
const TICK: u32 = 3;
/// Counters at a perform: `a` = allocations, `b` = the loop process's syscalls, `c` = the same
/// with its children's, `d` = page faults of the loop process and its children (`u64::MAX`
/// where not available), `e` = allocations since the fork that made this process.
const COUNT: u32 = 4;
/// `run` returned: `a` = 0 if `Ok`, `b` = `Shutdown::killed`.
const RETURNED: u32 = 5;

const REC_LEN: usize = 56;

#[derive(Clone, Copy, Debug, Default)]
struct Rec {
    kind: u32,
    slot: u32,
    /// CLOCK_MONOTONIC in ns, taken by the writer.
    t: u64,
    a: u64,
    b: u64,
    c: u64,
    d: u64,
    e: u64,
}

impl Rec {
    fn new(kind: u32, slot: usize, a: u64, b: u64, c: u64) -> Self {
        Rec { kind, slot: slot as u32, t: now_ns(), a, b, c, d: 0, e: 0 }
    }

    fn encode(&self) -> [u8; REC_LEN] {
        let mut out = [0u8; REC_LEN];
        out[0..4].copy_from_slice(&self.kind.to_ne_bytes());
        out[4..8].copy_from_slice(&self.slot.to_ne_bytes());
        for (i, v) in [self.t, self.a, self.b, self.c, self.d, self.e].into_iter().enumerate() {
            out[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_ne_bytes());
        }
        out
    }

    fn decode(b: &[u8]) -> Rec {
        let u32_at = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        Rec {
            kind: u32_at(0),
            slot: u32_at(4),
            t: u64_at(8),
            a: u64_at(16),
            b: u64_at(24),
            c: u64_at(32),
            d: u64_at(40),
            e: u64_at(48),
        }
    }
}

/// Sends one record with one write(2). At 56 bytes (below PIPE_BUF) it is atomic, so records
/// from many processes never interleave. It does not allocate, so measured loops may call it.
fn send(fd: c_int, rec: Rec) {
    let buf = rec.encode();
    loop {
        // SAFETY: writes from a valid stack buffer of the length given.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n >= 0 || errno() != libc::EINTR {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Syscall counting

/// How syscalls are counted: a `raw_syscalls:sys_enter` tracepoint counter opened with
/// perf_event_open(2) (every syscall), else `/proc/self/io` (`syscr` + `syscw`: only the
/// read/write class).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyscallMethod {
    Perf(u64),
    ProcIo,
    Unavailable,
}

/// perf_event_attr as of PERF_ATTR_SIZE_VER0; the kernel zero-extends the rest.
#[repr(C)]
#[derive(Default)]
struct PerfAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    bp_addr: u64,
}

const _: () = assert!(std::mem::size_of::<PerfAttr>() == 64);
const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_COUNT_SW_PAGE_FAULTS: u64 = 2;
const PERF_FLAG_INHERIT: u64 = 1 << 1;

fn tracepoint_id() -> Option<u64> {
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"].iter().find_map(|dir| {
        std::fs::read_to_string(format!("{dir}/events/raw_syscalls/sys_enter/id")).ok()?.trim().parse().ok()
    })
}

/// A counter of the calling process's events of `kind` and `config` (a tracepoint id, say);
/// with `inherit`, children forked later count into it too (folded in when they exit).
fn perf_counter(kind: u32, config: u64, inherit: bool) -> c_int {
    let attr = PerfAttr {
        kind,
        size: std::mem::size_of::<PerfAttr>() as u32,
        config,
        flags: if inherit { PERF_FLAG_INHERIT } else { 0 },
        ..PerfAttr::default()
    };
    // SAFETY: `attr` is a fully initialised perf_event_attr of the size it states; pid 0 and
    // cpu -1 mean this process on any CPU; no group, no flags.
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, &attr as *const PerfAttr, 0, -1, -1, 0) };
    fd as c_int
}

fn read_u64(fd: c_int) -> u64 {
    let mut v = 0u64;
    // SAFETY: reads at most 8 bytes into a valid u64.
    let n = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
    if n == 8 { v } else { u64::MAX }
}

/// `syscr` + `syscw` from an open `/proc/PID/io`, without allocating.
fn io_syscalls(fd: c_int) -> u64 {
    let mut buf = [0u8; 512];
    // SAFETY: reads into a valid stack buffer of the length given.
    let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n <= 0 {
        return u64::MAX;
    }
    let mut total = 0;
    for line in buf[..n as usize].split(|&b| b == b'\n') {
        if let Some(v) = line.strip_prefix(b"syscr: ").or_else(|| line.strip_prefix(b"syscw: ")) {
            total += v.iter().take_while(|b| b.is_ascii_digit()).fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        }
    }
    total
}

impl SyscallMethod {
    fn detect() -> Self {
        if let Some(id) = tracepoint_id() {
            let fd = perf_counter(PERF_TYPE_TRACEPOINT, id, true);
            if fd >= 0 {
                close(fd);
                return SyscallMethod::Perf(id);
            }
        }
        if std::fs::read_to_string("/proc/self/io").is_ok_and(|s| s.contains("syscr")) {
            return SyscallMethod::ProcIo;
        }
        SyscallMethod::Unavailable
    }

    fn describe(self) -> &'static str {
        match self {
            SyscallMethod::Perf(_) => "perf_event_open(raw_syscalls:sys_enter): every syscall",
            SyscallMethod::ProcIo => "/proc/self/io syscr+syscw: read/write-class syscalls only",
            SyscallMethod::Unavailable => "unavailable",
        }
    }
}

/// Counters opened in `setup` by the process that runs the loop (a worker or a bare runner).
/// Its perform children read them through the inherited descriptors: `own` counts the loop
/// process's syscalls, `tree` also its children's, `faults` the page faults of both.
#[derive(Clone, Copy, Debug)]
struct Counters {
    method: SyscallMethod,
    own: c_int,
    tree: c_int,
    faults: c_int,
}

impl Counters {
    fn open(method: SyscallMethod) -> Self {
        let (own, tree) = match method {
            SyscallMethod::Perf(id) => {
                (perf_counter(PERF_TYPE_TRACEPOINT, id, false), perf_counter(PERF_TYPE_TRACEPOINT, id, true))
            }
            // SAFETY: a NUL-terminated path; the result is checked on use.
            SyscallMethod::ProcIo => (unsafe { libc::open(c"/proc/self/io".as_ptr(), libc::O_RDONLY) }, -1),
            SyscallMethod::Unavailable => (-1, -1),
        };
        let faults = perf_counter(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS, true);
        Counters { method, own, tree, faults }
    }

    /// (own syscalls, tree syscalls, tree page faults); `u64::MAX` where not available.
    fn read(&self) -> (u64, u64, u64) {
        let perf = |fd: c_int| if fd < 0 { u64::MAX } else { read_u64(fd) };
        let (own, tree) = match self.method {
            SyscallMethod::Perf(_) => (perf(self.own), perf(self.tree)),
            SyscallMethod::ProcIo if self.own >= 0 => (io_syscalls(self.own), u64::MAX),
            _ => (u64::MAX, u64::MAX),
        };
        (own, tree, perf(self.faults))
    }
}

// ---------------------------------------------------------------------------------------------
// The job

/// What a perform does. All but `Sleep` are no-ops apart from rare reports.
#[derive(Clone, Copy, Debug)]
enum Act {
    /// Nothing, after a first perform that sleeps `STORM_DELAY`.
    Noop,
    /// Reports a TICK every `mask + 1` iterations (a power of two, so no division per perform).
    Tick { mask: u64 },
    /// Reports a COUNT at iterations `k1` and `k2`; counts allocations only with `allocs`.
    Count { k1: u64, k2: u64, allocs: bool },
    /// Sleeps, ended early by a stop request.
    Sleep(Duration),
}

#[derive(Clone, Copy, Debug)]
struct Spec {
    act: Act,
    /// MiB that `setup` allocates and touches, to stay resident in the worker.
    mib: usize,
    method: SyscallMethod,
}

impl Spec {
    fn new(act: Act, method: SyscallMethod) -> Self {
        Spec { act, mib: 0, method }
    }
}

/// The job every measurement runs, in a sisyphus worker or in a bare baseline loop alike.
struct BenchJob {
    tx: c_int,
    spec: Spec,
    /// Keeps the touched memory resident; never read.
    _resident: Vec<u8>,
    counters: Option<Counters>,
}

impl BenchJob {
    fn new(tx: c_int, spec: Spec) -> Self {
        BenchJob { tx, spec, _resident: Vec::new(), counters: None }
    }

    #[cold]
    #[inline(never)]
    fn tick(&self, ctx: &Context) {
        send(self.tx, Rec::new(TICK, ctx.worker(), ctx.iteration(), 0, 0));
    }

    #[cold]
    #[inline(never)]
    fn count(&self, ctx: &Context) {
        let allocs = ALLOCS.load(Relaxed);
        let (own, tree, faults) = self.counters.map_or((u64::MAX, u64::MAX, u64::MAX), |c| c.read());
        let since_fork = allocs.wrapping_sub(FORKED_AT.load(Relaxed));
        send(self.tx, Rec { d: faults, e: since_fork, ..Rec::new(COUNT, ctx.worker(), allocs, own, tree) });
    }
}

impl Job for BenchJob {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        if self.spec.mib > 0 {
            let mut mem = vec![0u8; self.spec.mib << 20];
            // Write every page, so each is resident and private rather than the shared zero page.
            for page in mem.chunks_mut(4096) {
                page[0] = 1;
            }
            self._resident = black_box(mem);
        }
        if let Act::Count { allocs, .. } = self.spec.act {
            COUNTING.store(allocs, Relaxed);
            // SAFETY: registers a handler that only stores to an atomic; no other thread exists.
            unsafe { pthread_atfork(None, None, Some(on_fork_child)) };
            self.counters = Some(Counters::open(self.spec.method));
        }
        send(self.tx, Rec::new(SETUP, ctx.worker(), getpid() as u64, 0, 0));
        Ok(())
    }

    // Never inlined, so the worker loop and the direct-call baseline both pay one real call.
    #[inline(never)]
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        match self.spec.act {
            Act::Noop => {
                if ctx.iteration() == 0 && !ctx.stop_requested() {
                    sleep_unless_signalled(STORM_DELAY)
                }
            }
            Act::Tick { mask } => {
                if ctx.iteration() & mask == 0 {
                    self.tick(ctx)
                }
            }
            Act::Count { k1, k2, .. } => {
                if ctx.iteration() == k1 || ctx.iteration() == k2 {
                    self.count(ctx)
                }
            }
            Act::Sleep(d) => {
                // The first perform of slot i sleeps i/8 of a period longer, so that the
                // workers' performs are out of phase, as they drift apart in production.
                let phase = if ctx.iteration() == 0 { d * (ctx.worker() % 8) as u32 / 8 } else { Duration::ZERO };
                if !ctx.stop_requested() {
                    sleep_unless_signalled(d + phase)
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Child processes

/// A child of the bench, and the read end of the pipe its descendants report on.
struct Proc {
    pid: Pid,
    rx: c_int,
    buf: Vec<u8>,
    eof: bool,
    reaped: bool,
}

/// Forks a child in its own process group that dies with the bench and runs `body` with the
/// write end of a fresh pipe; the child exits with `body`'s code.
fn spawn(body: impl FnOnce(c_int) -> i32) -> Result<Proc, String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // Room for a burst of records (a thousand setups), so no writer blocks; best effort.
    // SAFETY: fcntl on a descriptor we just created.
    unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 1 << 20) };
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let bench = getpid();
    match fork() {
        -1 => {
            let e = std::io::Error::last_os_error();
            close(fds[0]);
            close(fds[1]);
            Err(format!("fork: {e}"))
        }
        0 => {
            close(fds[0]);
            // SAFETY: makes the calling process a group leader; no memory effects.
            unsafe { libc::setpgid(0, 0) };
            die_with(bench);
            let code = catch_unwind(AssertUnwindSafe(|| body(fds[1]))).unwrap_or(99);
            exit_now(code)
        }
        pid => {
            close(fds[1]);
            // SAFETY: fcntl on our own descriptor.
            unsafe { libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK) };
            Ok(Proc { pid, rx: fds[0], buf: Vec::with_capacity(1 << 16), eof: false, reaped: false })
        }
    }
}

impl Proc {
    /// The next record, or `None` at `deadline` (or once every writer is gone).
    fn next(&mut self, deadline: u64) -> Option<Rec> {
        loop {
            if self.buf.len() >= REC_LEN {
                let rec = Rec::decode(&self.buf[..REC_LEN]);
                self.buf.drain(..REC_LEN);
                return Some(rec);
            }
            let now = now_ns();
            if self.eof || now >= deadline {
                return None;
            }
            let ms = (deadline - now).div_ceil(1_000_000).min(1000) as c_int;
            let mut pfd = libc::pollfd { fd: self.rx, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, ms) };
            let mut chunk = [0u8; 4096];
            // SAFETY: reads into a valid stack buffer of the length given.
            let n = unsafe { libc::read(self.rx, chunk.as_mut_ptr().cast(), chunk.len()) };
            if n > 0 {
                self.buf.extend_from_slice(&chunk[..n as usize]);
            } else if n == 0 {
                self.eof = true;
            }
        }
    }

    /// The next record that satisfies `pred`, skipping others; an error at `deadline`.
    fn expect(&mut self, what: &str, deadline: u64, pred: impl Fn(&Rec) -> bool) -> Result<Rec, String> {
        while let Some(rec) = self.next(deadline) {
            if pred(&rec) {
                return Ok(rec);
            }
        }
        if self.eof {
            Err(format!("pid {} and everything below it exited before {what}", self.pid))
        } else {
            Err(format!("timed out waiting for {what} (pid {})", self.pid))
        }
    }

    /// The `n` next SETUP records.
    fn setups(&mut self, n: usize, timeout: Duration) -> Result<Vec<Rec>, String> {
        let deadline = after(timeout);
        (0..n).map(|i| self.expect(&format!("setup {}/{n}", i + 1), deadline, |r| r.kind == SETUP)).collect()
    }

    /// Reaps the child, which must be exiting; its exit code (128 + signal if killed).
    fn wait_exit(&mut self, timeout: Duration) -> Result<i32, String> {
        let deadline = after(timeout);
        loop {
            let mut status = 0;
            // SAFETY: valid out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if r == self.pid {
                self.reaped = true;
                return Ok(if libc::WIFSIGNALED(status) {
                    128 + libc::WTERMSIG(status)
                } else {
                    libc::WEXITSTATUS(status)
                });
            }
            if r < 0 || now_ns() >= deadline {
                return Err(format!("pid {} did not exit within {timeout:?}", self.pid));
            }
            std::thread::sleep(MS);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        close(self.rx);
    }
}

/// Runs `f` on `p`, then SIGKILLs `p` and everything else below the bench and reaps it all,
/// whether `f` succeeded or not.
fn with_proc<T>(mut p: Proc, f: impl FnOnce(&mut Proc) -> Result<T, String>) -> Result<T, String> {
    let result = f(&mut p);
    if !p.reaped {
        kill(p.pid, libc::SIGKILL);
    }
    let swept = sweep();
    drop(p);
    let value = result?;
    swept.map(|()| value)
}

/// Every process below the bench (the bench is a subreaper, so orphans stay below it).
fn descendants() -> Vec<Pid> {
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<Pid>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The name is in parentheses and may hold spaces: parse after the last ')'.
        let ppid = stat.rfind(')').and_then(|i| stat.get(i + 2..)?.split(' ').nth(1)?.parse::<Pid>().ok());
        if let Some(ppid) = ppid {
            procs.push((pid, ppid));
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![getpid()];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &procs {
            if ppid == parent {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

fn reap_any() {
    // SAFETY: waitpid with a null status pointer is allowed.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

/// SIGKILLs and reaps everything below the bench; an error if something survives 20 s.
fn sweep() -> Result<(), String> {
    let deadline = after(20 * SEC);
    loop {
        let left = descendants();
        for &pid in &left {
            kill(pid, libc::SIGKILL);
        }
        reap_any();
        if left.is_empty() {
            return Ok(());
        }
        if now_ns() >= deadline {
            return Err(format!("{} processes survived SIGKILL: {:?}", left.len(), &left[..left.len().min(8)]));
        }
        std::thread::sleep(2 * MS);
    }
}

// ---------------------------------------------------------------------------------------------
// What runs in the children

/// A master running `spec` in `workers` workers. It records START just before `run` and
/// RETURNED just after.
fn spawn_master(
    spec: Spec,
    workers: usize,
    strategy: Strategy,
    perform_timeout: Option<Duration>,
) -> Result<Proc, String> {
    spawn(move |tx| {
        let mut master = Master::new(BenchJob::new(tx, spec)).workers(workers).strategy(strategy).logger(NullLogger);
        if let Some(t) = perform_timeout {
            master = master.perform_timeout(t);
        }
        send(tx, Rec::new(START, 0, 0, 0, 0));
        let (code, killed) = match master.run() {
            Ok(shutdown) => (0, shutdown.killed as u64),
            Err(e) => {
                eprintln!("bench: run failed: {e}");
                (1, 0)
            }
        };
        send(tx, Rec::new(RETURNED, 0, code, killed, 0));
        code as i32
    })
}

/// The forking baseline, no library: fork, the same perform in the child, `_exit`, `waitpid`.
/// It runs in a grandchild of the bench, the depth of a worker: each fork generation lengthens
/// the anon_vma chains that every fork copies, so depth alone changes the cost of a fork.
fn bare_fork_loop(spec: Spec) -> Result<Proc, String> {
    spawn(move |tx| {
        let middle = getpid();
        match fork() {
            -1 => return 1,
            0 => die_with(middle),
            _ => loop {
                // Stands in for the master: waits to be killed with everything below it.
                // SAFETY: pause has no preconditions.
                unsafe { libc::pause() };
            },
        }
        let mut job = BenchJob::new(tx, spec);
        let _ = job.setup(&Context::new(0, 0));
        for i in 0u64.. {
            match fork() {
                -1 => return 1,
                0 => {
                    let _ = job.perform(&Context::new(0, i));
                    exit_now(0)
                }
                pid => {
                    let mut status = 0;
                    // SAFETY: valid out-pointer; the child exits at once, and the bench bounds us.
                    unsafe { libc::waitpid(pid, &mut status, 0) };
                }
            }
        }
        0
    })
}

/// The simple baseline: the same perform called in a plain loop.
fn direct_loop(spec: Spec) -> Result<Proc, String> {
    spawn(move |tx| {
        let mut job = BenchJob::new(tx, spec);
        let _ = job.setup(&Context::new(0, 0));
        for i in 0u64.. {
            let _ = black_box(&mut job).perform(&Context::new(0, i));
        }
        0
    })
}

/// What a bare supervisor's workers do after their "setup", until TERM sets their stop flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BareWork {
    /// Sleep, like a simple-strategy worker whose perform sleeps.
    Idle,
    /// Fork a child that sleeps and wait for it, like a forking-strategy worker whose perform
    /// sleeps.
    IdleChild,
    /// Spin, like a simple-strategy no-op perform loop.
    Spin,
    /// fork + `_exit` + `waitpid` in a loop, like a forking-strategy no-op perform loop.
    ForkLoop,
}

impl BareWork {
    /// The bare equivalent of a sisyphus worker of `strategy` whose perform is a no-op (`busy`)
    /// or sleeps.
    fn like(strategy: Strategy, busy: bool) -> Self {
        match (strategy, busy) {
            (Strategy::Simple, false) => BareWork::Idle,
            (Strategy::Simple, true) => BareWork::Spin,
            (_, false) => BareWork::IdleChild,
            (_, true) => BareWork::ForkLoop,
        }
    }
}

/// The supervisor baseline: the least a pre-forking master must do, without the library. It
/// blocks its signals and takes them with sigtimedwait: CHLD reaps and re-forks the slot, TTIN
/// forks one more worker, INT sends TERM to every worker's process group, reaps them all and
/// returns. Its workers record SETUP first thing and stop as gracefully as sisyphus's: TERM sets
/// a flag that they check between "performs".
fn bare_supervisor(n: usize, work: BareWork) -> Result<Proc, String> {
    spawn(move |tx| {
        let set = sigset(&[libc::SIGCHLD, libc::SIGINT, libc::SIGTTIN]);
        // SAFETY: a zeroed sigset_t is a valid out-parameter for sigprocmask.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid sigsets.
        unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) };
        send(tx, Rec::new(START, 0, 0, 0, 0));
        let mut slots: Vec<Pid> = (0..n).map(|i| bare_worker(tx, i, work, &old)).collect();
        let mut stopping = false;
        loop {
            let ts = libc::timespec { tv_sec: 1, tv_nsec: 0 };
            // SAFETY: a valid set and timeout; no siginfo wanted.
            let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
            if sig == libc::SIGTTIN && !stopping {
                slots.push(bare_worker(tx, slots.len(), work, &old));
            } else if sig == libc::SIGINT && !stopping {
                stopping = true;
                for &pid in slots.iter().filter(|&&p| p > 0) {
                    kill(-pid, libc::SIGTERM);
                }
            }
            // Reap on every wake-up: pending CHLDs merge into one.
            loop {
                // SAFETY: waitpid with a null status pointer is allowed.
                let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
                if pid <= 0 {
                    break;
                }
                if let Some(i) = slots.iter().position(|&p| p == pid) {
                    slots[i] = if stopping { 0 } else { bare_worker(tx, i, work, &old) };
                }
            }
            if stopping && slots.iter().all(|&p| p == 0) {
                send(tx, Rec::new(RETURNED, 0, 0, 0, 0));
                return 0;
            }
        }
    })
}

/// A bare worker's stop flag, set by TERM.
static BARE_STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_bare_term(_: c_int) {
    BARE_STOP.store(true, Relaxed);
}

fn bare_stopped() -> bool {
    BARE_STOP.load(Relaxed)
}

/// Forks a bare worker in `slot`, leading its own process group; returns its pid.
fn bare_worker(tx: c_int, slot: usize, work: BareWork, mask: &libc::sigset_t) -> Pid {
    let parent = getpid();
    let pid = fork();
    if pid != 0 {
        // Also done by the child: whichever runs first, the group exists before it is signalled.
        // SAFETY: setpgid on our own child; failure (it already exited) is harmless.
        unsafe { libc::setpgid(pid, pid) };
        return pid;
    }
    // SAFETY: `act` is zeroed, then given an async-signal-safe handler and an empty mask;
    // setpgid makes us a group leader; the mask restored is the supervisor's from before.
    unsafe {
        libc::setpgid(0, 0);
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_bare_term as *const () as libc::sighandler_t;
        act.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGTERM, &act, std::ptr::null_mut());
        libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
    }
    die_with(parent);
    send(tx, Rec::new(SETUP, slot, getpid() as u64, 0, 0));
    let me = getpid();
    if matches!(work, BareWork::Spin | BareWork::ForkLoop) {
        sleep_unless_signalled(STORM_DELAY);
    }
    while !bare_stopped() {
        match work {
            // A TERM between the check and the sleep would cost a second; it never showed.
            BareWork::Idle => sleep_unless_signalled(SEC),
            BareWork::Spin => {
                black_box(0u64);
            }
            BareWork::IdleChild | BareWork::ForkLoop => match fork() {
                0 => {
                    die_with(me);
                    while work == BareWork::IdleChild && !bare_stopped() {
                        sleep_unless_signalled(SEC);
                    }
                    exit_now(0)
                }
                -1 => {}
                child => {
                    // SAFETY: waitpid with a null status pointer; SA_RESTART resumes it after TERM.
                    unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
                }
            },
        }
    }
    exit_now(0)
}

// ---------------------------------------------------------------------------------------------
// Samplers

/// Performs per second: from the first TICK after iteration 0 (warm-up) to the first TICK at
/// least `window` later.
fn tick_rate(p: &mut Proc, window: Duration) -> Result<f64, String> {
    let deadline = after(4 * window + 20 * SEC);
    let first = p.expect("a tick after the first", deadline, |r| r.kind == TICK && r.a > 0)?;
    loop {
        let r = p.expect("a tick", deadline, |r| r.kind == TICK)?;
        if r.t - first.t >= window.as_nanos() as u64 {
            return Ok((r.a - first.a) as f64 * 1e9 / (r.t - first.t) as f64);
        }
    }
}

/// The TICK mask for a forking perform loop over `mib` resident MiB: about 20 ms per tick.
fn fork_tick_mask(mib: usize) -> u64 {
    match mib {
        0 => 255,
        1..=64 => 63,
        65..=256 => 15,
        _ => 3,
    }
}

/// Forking-strategy (or bare fork loop) performs per second with `mib` MiB resident.
fn fork_rate(cfg: &Cfg, mib: usize, bare: bool) -> Result<f64, String> {
    let spec = Spec { mib, ..Spec::new(Act::Tick { mask: fork_tick_mask(mib) }, cfg.method) };
    let p = if bare { bare_fork_loop(spec)? } else { spawn_master(spec, 1, Strategy::Forking, None)? };
    with_proc(p, |p| {
        p.setups(1, 30 * SEC)?;
        tick_rate(p, cfg.window)
    })
}

const SIMPLE_TICK_MASK: u64 = (1 << 20) - 1;

/// ns per perform of a simple-strategy worker loop (`timeout`: with a perform timeout).
fn simple_ns(cfg: &Cfg, timeout: Option<Duration>) -> Result<f64, String> {
    let spec = Spec::new(Act::Tick { mask: SIMPLE_TICK_MASK }, cfg.method);
    let p = spawn_master(spec, 1, Strategy::Simple, timeout)?;
    with_proc(p, |p| {
        p.setups(1, 10 * SEC)?;
        Ok(1e9 / tick_rate(p, cfg.window)?)
    })
}

/// ns per direct call of the same perform.
fn direct_ns(cfg: &Cfg) -> Result<f64, String> {
    let p = direct_loop(Spec::new(Act::Tick { mask: SIMPLE_TICK_MASK }, cfg.method))?;
    with_proc(p, |p| {
        p.setups(1, 10 * SEC)?;
        Ok(1e9 / tick_rate(p, cfg.window)?)
    })
}

/// Allocations and syscalls over `n` performs.
#[derive(Clone, Copy, Debug)]
struct Counts {
    /// Allocations in the loop process per perform.
    allocs: f64,
    /// Allocations in a perform child before `perform` was called (forking only).
    child_allocs: f64,
    /// Syscalls of the loop process per perform.
    syscalls: f64,
    /// Syscalls of a perform child per perform (forking only; NaN when not measurable).
    child_syscalls: f64,
    /// Page faults of the loop process and its perform children per perform (NaN when not
    /// measurable).
    faults: f64,
}

/// Which loop runs the performs.
#[derive(Clone, Copy, Debug)]
enum Runner {
    Master(Strategy, Option<Duration>),
    BareFork,
    Direct,
}

/// Counts over `n` performs. They include what the measurement itself does between its two
/// readings (a few syscalls), which the baselines, measured the same way, include too. With a
/// forking loop, allocations are counted in a run of their own: writing the count in a perform
/// child costs a page fault, which must not show in the others.
fn counts(cfg: &Cfg, n: u64, runner: Runner) -> Result<Counts, String> {
    let forking = matches!(runner, Runner::BareFork | Runner::Master(Strategy::Forking, _));
    let with_allocs = count_run(cfg, n, runner, true)?;
    if !forking {
        return Ok(with_allocs);
    }
    let rest = count_run(cfg, n, runner, false)?;
    Ok(Counts { allocs: with_allocs.allocs, child_allocs: with_allocs.child_allocs, ..rest })
}

fn count_run(cfg: &Cfg, n: u64, runner: Runner, allocs: bool) -> Result<Counts, String> {
    let k1 = 1000;
    let spec = Spec::new(Act::Count { k1, k2: k1 + n, allocs }, cfg.method);
    let forking = matches!(runner, Runner::BareFork | Runner::Master(Strategy::Forking, _));
    let p = match runner {
        Runner::Master(strategy, timeout) => spawn_master(spec, 1, strategy, timeout)?,
        Runner::BareFork => bare_fork_loop(spec)?,
        Runner::Direct => direct_loop(spec)?,
    };
    with_proc(p, |p| {
        p.setups(1, 10 * SEC)?;
        let deadline = after(120 * SEC);
        let c1 = p.expect("the first count", deadline, |r| r.kind == COUNT)?;
        let c2 = p.expect("the second count", deadline, |r| r.kind == COUNT)?;
        let per = |a: u64, b: u64| if a == u64::MAX || b == u64::MAX { f64::NAN } else { (b - a) as f64 / n as f64 };
        // A perform child's count is the loop process's at the fork plus its own since (`e`).
        let (allocs, child_allocs) =
            if forking { (per(c1.a - c1.e, c2.a - c2.e), (c1.e + c2.e) as f64 / 2.0) } else { (per(c1.a, c2.a), 0.0) };
        let syscalls = per(c1.b, c2.b);
        let child_syscalls = if forking { per(c1.c, c2.c) - syscalls } else { 0.0 };
        let faults = per(c1.d, c2.d);
        Ok(Counts { allocs, child_allocs, syscalls, child_syscalls, faults })
    })
}

/// ms from SIGKILL to a worker until its replacement finished `setup`, one sample per slot.
fn respawn_ms(cfg: &Cfg, bare: bool) -> Result<Vec<f64>, String> {
    const SLOTS: usize = 20;
    let p = if bare {
        bare_supervisor(SLOTS, BareWork::IdleChild)?
    } else {
        spawn_master(Spec::new(Act::Sleep(SEC), cfg.method), SLOTS, Strategy::Forking, None)?
    };
    with_proc(p, |p| {
        let mut pids = [0; SLOTS];
        for r in p.setups(SLOTS, 20 * SEC)? {
            pids[r.slot as usize] = r.a as Pid;
        }
        std::thread::sleep(50 * MS);
        let mut out = Vec::new();
        // A different slot each time: a slot's first death is replaced at once, later ones back off.
        for (slot, pid) in pids.iter_mut().enumerate().take(cfg.samples.min(SLOTS)) {
            let t0 = now_ns();
            kill(*pid, libc::SIGKILL);
            let r =
                p.expect("the replacement's setup", after(10 * SEC), |r| r.kind == SETUP && r.slot as usize == slot)?;
            out.push(ns_to_ms(r.t - t0));
            *pid = r.a as Pid;
            std::thread::sleep(20 * MS);
        }
        Ok(out)
    })
}

/// ms from SIGTTIN to the master until the new worker finished `setup`.
fn scale_up_ms(cfg: &Cfg, bare: bool) -> Result<Vec<f64>, String> {
    let p = if bare {
        bare_supervisor(1, BareWork::IdleChild)?
    } else {
        spawn_master(Spec::new(Act::Sleep(SEC), cfg.method), 1, Strategy::Forking, None)?
    };
    with_proc(p, |p| {
        p.setups(1, 10 * SEC)?;
        std::thread::sleep(50 * MS);
        let mut out = Vec::new();
        for slot in 1..=cfg.samples {
            let t0 = now_ns();
            kill(p.pid, libc::SIGTTIN);
            let r =
                p.expect("the new worker's setup", after(10 * SEC), |r| r.kind == SETUP && r.slot as usize == slot)?;
            out.push(ns_to_ms(r.t - t0));
            std::thread::sleep(20 * MS);
        }
        Ok(out)
    })
}

/// How long no-op workers wait after `setup` before they start their storm of performs, so that
/// hundreds of them come up in a fraction of a second instead of fighting the master for the CPU.
const STORM_DELAY: Duration = Duration::from_millis(200);

/// ms from SIGINT to the master until `run` returned, with `n` workers running a no-op perform
/// (`busy`), or a perform that sleeps until the stop request interrupts it.
fn stop_ms(cfg: &Cfg, n: usize, strategy: Strategy, busy: bool, bare: bool) -> Result<f64, String> {
    // A sleeping perform ends early on the stop request; 2 s bounds the rare TERM that lands
    // between its check of `stop_requested` and its sleep.
    let act = if busy { Act::Noop } else { Act::Sleep(2 * SEC) };
    let p = if bare {
        bare_supervisor(n, BareWork::like(strategy, busy))?
    } else {
        spawn_master(Spec::new(act, cfg.method), n, strategy, None)?
    };
    with_proc(p, |p| {
        p.setups(n, 60 * SEC)?;
        // Let every worker get into its loop.
        std::thread::sleep(if busy { STORM_DELAY + 100 * MS } else { 100 * MS });
        let t0 = now_ns();
        kill(p.pid, libc::SIGINT);
        let r = p.expect("run to return", after(40 * SEC), |r| r.kind == RETURNED)?;
        let code = p.wait_exit(10 * SEC)?;
        if r.a != 0 || r.b != 0 || code != 0 {
            return Err(format!("unclean stop: exit code {code}, {} killed", r.b));
        }
        Ok(ns_to_ms(r.t - t0))
    })
}

/// ms from just before `run` until all `n` workers finished `setup`, and the master's VmRSS in
/// KiB once they have.
fn startup(cfg: &Cfg, n: usize, strategy: Strategy, bare: bool) -> Result<(f64, f64), String> {
    let p = if bare {
        bare_supervisor(n, BareWork::like(strategy, false))?
    } else {
        spawn_master(Spec::new(Act::Sleep(SEC), cfg.method), n, strategy, None)?
    };
    with_proc(p, |p| {
        let start = p.expect("start", after(10 * SEC), |r| r.kind == START)?;
        let last = p.setups(n, 60 * SEC)?.iter().map(|r| r.t).max().unwrap_or(start.t);
        // Let the master go back to sleep before reading its RSS.
        std::thread::sleep(100 * MS);
        let rss = status_field(p.pid, "VmRSS:")?;
        Ok((ns_to_ms(last - start.t), rss as f64))
    })
}

/// The master's voluntary context switches (wake-ups) per window, with 8 workers whose perform
/// sleeps 1 s.
fn idle_wakeups(cfg: &Cfg, timeout: Option<Duration>) -> Result<Vec<f64>, String> {
    let p = spawn_master(Spec::new(Act::Sleep(SEC), cfg.method), IDLE_WORKERS, Strategy::Forking, timeout)?;
    with_proc(p, |p| {
        p.setups(IDLE_WORKERS, 10 * SEC)?;
        std::thread::sleep(500 * MS);
        let mut prev = status_field(p.pid, "voluntary_ctxt_switches:")?;
        let mut out = Vec::new();
        for _ in 0..cfg.idle_windows {
            std::thread::sleep(cfg.idle_window);
            let now = status_field(p.pid, "voluntary_ctxt_switches:")?;
            out.push((now - prev) as f64);
            prev = now;
        }
        Ok(out)
    })
}

const IDLE_WORKERS: usize = 8;

// ---------------------------------------------------------------------------------------------
// Statistics and the table

fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 { s[m] } else { (s[m - 1] + s[m]) / 2.0 }
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

#[derive(Clone, Copy, Debug)]
enum Goal {
    Info,
    /// median / baseline at least this.
    RatioAtLeast(f64),
    /// median below this.
    Below(f64),
    /// every sample at most this.
    AllAtMost(f64),
    /// median at most the baseline.
    AtMostBase,
}

struct Row {
    item: u8,
    what: String,
    unit: &'static str,
    samples: Vec<f64>,
    base: Option<f64>,
    goal: Goal,
    error: Option<String>,
}

impl Row {
    fn new(item: u8, what: impl Into<String>, unit: &'static str, samples: Vec<f64>) -> Self {
        Row { item, what: what.into(), unit, samples, base: None, goal: Goal::Info, error: None }
    }

    fn base(mut self, base: f64) -> Self {
        self.base = Some(base);
        self
    }

    fn goal(mut self, goal: Goal) -> Self {
        self.goal = goal;
        self
    }

    fn error(item: u8, what: impl Into<String>, error: String) -> Self {
        Row { error: Some(error), ..Row::new(item, what, "", Vec::new()) }
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::Info => "(info)".into(),
            Goal::RatioAtLeast(r) => format!(">= {r} x base"),
            Goal::Below(x) => format!("< {} {}", num(x), self.unit),
            Goal::AllAtMost(x) => format!("{} in every run", num(x)),
            Goal::AtMostBase => "<= base".into(),
        }
    }

    fn result(&self) -> &'static str {
        if self.error.is_some() {
            return "ERROR";
        }
        let m = median(&self.samples);
        let ok = match self.goal {
            Goal::Info => return "",
            Goal::RatioAtLeast(r) => self.base.is_some_and(|b| m / b >= r),
            Goal::Below(x) => m < x,
            Goal::AllAtMost(x) => !self.samples.is_empty() && self.samples.iter().all(|&s| s <= x),
            Goal::AtMostBase => self.base.is_some_and(|b| m <= b),
        };
        if ok { "PASS" } else { "MISS" }
    }
}

/// A figure with about three significant digits.
fn num(x: f64) -> String {
    let a = x.abs();
    match () {
        _ if x.is_nan() => "n/a".into(),
        _ if a == 0.0 => "0".into(),
        _ if a >= 100.0 => format!("{x:.0}"),
        _ if a >= 10.0 => format!("{x:.1}"),
        _ if a >= 0.01 => format!("{x:.2}"),
        _ => format!("{x:.4}"),
    }
}

fn print_table(cfg: &Cfg, rows: &[Row], load: (String, String)) {
    println!(
        "sisyphus benchmark, {} mode: median, min and max over n samples; baseline = its median, same run",
        if cfg.quick { "quick" } else { "full" }
    );
    println!("machine: {}; load average before: {}; after: {}", machine(), load.0, load.1);
    println!("syscalls counted with {}", cfg.method.describe());
    println!();
    println!(
        "{:>2}  {:<60} {:<7} {:>3} {:>9} {:>9} {:>9} {:>9} {:>6}  {:<16} result",
        "#", "measurement", "unit", "n", "median", "min", "max", "baseline", "ratio", "goal"
    );
    for r in rows {
        if let Some(e) = &r.error {
            println!("{:>2}  {:<60} ERROR: {e}", r.item, r.what);
            continue;
        }
        let m = median(&r.samples);
        let (base, ratio) = match r.base {
            Some(b) => (num(b), if b != 0.0 && m != 0.0 && !m.is_nan() { format!("{:.2}", m / b) } else { "-".into() }),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:>2}  {:<60} {:<7} {:>3} {:>9} {:>9} {:>9} {:>9} {:>6}  {:<16} {}",
            r.item,
            r.what,
            r.unit,
            r.samples.len(),
            num(m),
            num(min(&r.samples)),
            num(max(&r.samples)),
            base,
            ratio,
            r.goal_text(),
            r.result()
        );
    }
    println!();
    println!("baselines: 1, 9: a bare fork + perform + _exit + waitpid loop (no library), same job and memory;");
    println!("  2: the same perform called directly in a plain loop; 3-6, 8: a bare sigtimedwait supervisor");
    println!("  (no library) doing the same; 7: one wake-up per perform timeout per worker.");
}

// ---------------------------------------------------------------------------------------------
// The items

struct Cfg {
    quick: bool,
    /// Samples per figure for whole-run measurements.
    runs: usize,
    /// Samples per figure for per-event latencies (respawn, scale-up).
    samples: usize,
    /// Measuring window of a throughput sample.
    window: Duration,
    simple_n: u64,
    fork_n: u64,
    sizes: &'static [usize],
    idle_window: Duration,
    idle_windows: usize,
    method: SyscallMethod,
}

impl Cfg {
    fn new(quick: bool) -> Self {
        let method = SyscallMethod::detect();
        if quick {
            Cfg {
                quick,
                runs: 3,
                samples: 10,
                window: 250 * MS,
                simple_n: 1_000_000,
                fork_n: 500,
                sizes: &[64, 256],
                idle_window: SEC,
                idle_windows: 3,
                method,
            }
        } else {
            Cfg {
                quick,
                runs: 5,
                samples: 20,
                window: SEC,
                simple_n: 10_000_000,
                fork_n: 2000,
                sizes: &[64, 256, 1024],
                idle_window: 2 * SEC,
                idle_windows: 5,
                method,
            }
        }
    }
}

/// Samples of sisyphus and of its baseline.
type Pair<T> = (Vec<T>, Vec<T>);

/// Measurements more than one item uses.
#[derive(Default)]
struct Cache {
    /// Forking no-op performs/s with nothing resident: (sisyphus, bare) per run.
    fork0: Option<(Vec<f64>, Vec<f64>)>,
    /// Start-up of 1,000 forking workers: (ms, master RSS KiB) per run, sisyphus then bare.
    startup: Option<Pair<(f64, f64)>>,
}

/// Runs `f` `runs` times, alternating which of the pair goes first to even out drift.
fn paired<T>(runs: usize, mut f: impl FnMut(bool) -> Result<T, String>) -> Result<(Vec<T>, Vec<T>), String> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for run in 0..runs {
        if run % 2 == 0 {
            a.push(f(false)?);
            b.push(f(true)?);
        } else {
            b.push(f(true)?);
            a.push(f(false)?);
        }
    }
    Ok((a, b))
}

fn fork0(cfg: &Cfg, cache: &mut Cache) -> Result<(Vec<f64>, Vec<f64>), String> {
    if cache.fork0.is_none() {
        cache.fork0 = Some(paired(cfg.runs, |bare| fork_rate(cfg, 0, bare))?);
    }
    Ok(cache.fork0.clone().expect("just measured"))
}

fn item1(cfg: &Cfg, cache: &mut Cache) -> Result<Vec<Row>, String> {
    let (sis, bare) = fork0(cfg, cache)?;
    let mut rows = vec![
        Row::new(1, "forking: no-op performs/s, 1 worker", "/s", sis)
            .base(median(&bare))
            .goal(Goal::RatioAtLeast(0.95)),
    ];
    let runner = |bare| if bare { Runner::BareFork } else { Runner::Master(Strategy::Forking, None) };
    let (s, b) = paired(cfg.runs, |bare| counts(cfg, cfg.fork_n, runner(bare)))?;
    let col = |v: &[Counts], f: fn(&Counts) -> f64| v.iter().map(f).collect::<Vec<f64>>();
    for (what, unit, f) in [
        ("forking: allocations per perform, worker", "count", (|c: &Counts| c.allocs) as fn(&Counts) -> f64),
        ("forking: allocations per perform child, before perform", "count", |c| c.child_allocs),
        ("forking: syscalls per perform, worker", "count", |c| c.syscalls),
        ("forking: syscalls per perform child (incl. exit)", "count", |c| c.child_syscalls),
        ("forking: page faults per perform, worker + child", "count", |c| c.faults),
    ] {
        rows.push(Row::new(1, what, unit, col(&s, f)).base(median(&col(&b, f))));
    }
    Ok(rows)
}

fn item2(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let timeout = Some(Duration::from_secs(25));
    let (mut loop_ns, mut direct, mut timed, mut overhead, mut overhead_timed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut plain_counts, mut timed_counts, mut direct_counts) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..cfg.runs {
        let (w, d, t) = if run % 2 == 0 {
            let w = simple_ns(cfg, None)?;
            let d = direct_ns(cfg)?;
            (w, d, simple_ns(cfg, timeout)?)
        } else {
            let t = simple_ns(cfg, timeout)?;
            let d = direct_ns(cfg)?;
            (simple_ns(cfg, None)?, d, t)
        };
        loop_ns.push(w);
        direct.push(d);
        timed.push(t);
        overhead.push(w - d);
        overhead_timed.push(t - d);
        plain_counts.push(counts(cfg, cfg.simple_n, Runner::Master(Strategy::Simple, None))?);
        timed_counts.push(counts(cfg, cfg.simple_n, Runner::Master(Strategy::Simple, timeout))?);
        direct_counts.push(counts(cfg, cfg.simple_n, Runner::Direct)?);
    }
    let n = cfg.simple_n as f64;
    // Totals over the n performs beyond those of the direct calls in the same run, which are
    // the measurement's own (reading the counters, sending the record).
    let total = |v: &[Counts], f: fn(&Counts) -> f64| {
        v.iter().zip(&direct_counts).map(|(c, d)| ((f(c) - f(d)) * n).round()).collect::<Vec<f64>>()
    };
    let direct_total =
        |f: fn(&Counts) -> f64| median(&direct_counts.iter().map(|d| (f(d) * n).round()).collect::<Vec<_>>());
    let direct_median = median(&direct);
    let per = format!("{}M performs", cfg.simple_n / 1_000_000);
    Ok(vec![
        Row::new(2, "simple: ns per perform in the worker loop", "ns", loop_ns).base(direct_median),
        Row::new(2, "simple: loop overhead per perform (worker - direct)", "ns", overhead).goal(Goal::Below(100.0)),
        Row::new(
            2,
            format!("simple: allocations in {per}, beyond direct calls"),
            "count",
            total(&plain_counts, |c| c.allocs),
        )
        .base(direct_total(|c| c.allocs))
        .goal(Goal::AllAtMost(0.0)),
        Row::new(
            2,
            format!("simple: syscalls in {per}, beyond direct calls"),
            "count",
            total(&plain_counts, |c| c.syscalls),
        )
        .base(direct_total(|c| c.syscalls))
        .goal(Goal::AllAtMost(0.0)),
        Row::new(2, "simple+timeout: ns per perform in the worker loop", "ns", timed).base(direct_median),
        Row::new(2, "simple+timeout: loop overhead per perform", "ns", overhead_timed),
        Row::new(
            2,
            format!("simple+timeout: allocations in {per}, beyond direct"),
            "count",
            total(&timed_counts, |c| c.allocs),
        )
        .base(direct_total(|c| c.allocs)),
        Row::new(
            2,
            format!("simple+timeout: syscalls in {per}, beyond direct"),
            "count",
            total(&timed_counts, |c| c.syscalls),
        )
        .base(direct_total(|c| c.syscalls)),
    ])
}

fn item3(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let sis = respawn_ms(cfg, false)?;
    let bare = respawn_ms(cfg, true)?;
    Ok(vec![
        Row::new(3, "respawn: SIGKILL a worker -> replacement's setup done", "ms", sis)
            .base(median(&bare))
            .goal(Goal::Below(2.0)),
    ])
}

fn item4(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let sis = scale_up_ms(cfg, false)?;
    let bare = scale_up_ms(cfg, true)?;
    Ok(vec![
        Row::new(4, "scale-up: SIGTTIN to the master -> new worker's setup done", "ms", sis)
            .base(median(&bare))
            .goal(Goal::Below(1.0)),
    ])
}

fn item5(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    // No 512 simple no-op workers: 512 spinning processes on 2 cores starve the master, so
    // starting them takes some 10 s per sample, and the stop measures only the scheduler.
    let cases = [
        (Strategy::Forking, true, 1),
        (Strategy::Forking, true, 64),
        (Strategy::Forking, true, 512),
        (Strategy::Simple, true, 1),
        (Strategy::Simple, true, 64),
        (Strategy::Forking, false, 1),
        (Strategy::Forking, false, 64),
        (Strategy::Forking, false, 512),
    ];
    for (strategy, busy, n) in cases {
        let started = now_ns();
        let (sis, bare) = paired(cfg.runs, |bare| stop_ms(cfg, n, strategy, busy, bare))?;
        eprintln!("bench:     {n} {strategy:?} busy={busy}: {:.1} s", ns_to_ms(now_ns() - started) / 1000.0);
        let goal = if n == 512 { Goal::Below(100.0) } else { Goal::Info };
        let kind = if strategy == Strategy::Forking { "forking" } else { "simple" };
        let perform = if busy { "no-op" } else { "sleeping" };
        let what = format!("graceful stop: SIGINT -> run returns, {n} {kind} {perform}");
        rows.push(Row::new(5, what, "ms", sis).base(median(&bare)).goal(goal));
    }
    Ok(rows)
}

fn startup_runs(cfg: &Cfg, cache: &mut Cache) -> Result<Pair<(f64, f64)>, String> {
    if cache.startup.is_none() {
        cache.startup = Some(paired(cfg.runs, |bare| startup(cfg, 1000, Strategy::Forking, bare))?);
    }
    Ok(cache.startup.clone().expect("just measured"))
}

fn item6(cfg: &Cfg, cache: &mut Cache) -> Result<Vec<Row>, String> {
    let (sis, bare) = startup_runs(cfg, cache)?;
    let ms = |v: &[(f64, f64)]| v.iter().map(|s| s.0).collect::<Vec<f64>>();
    let (simple, simple_bare) = paired(cfg.runs, |bare| startup(cfg, 1000, Strategy::Simple, bare))?;
    Ok(vec![
        Row::new(6, "start-up: run -> 1,000 forking workers' setup done", "ms", ms(&sis))
            .base(median(&ms(&bare)))
            .goal(Goal::Below(1000.0)),
        Row::new(6, "start-up: run -> 1,000 simple workers' setup done", "ms", ms(&simple))
            .base(median(&ms(&simple_bare)))
            .goal(Goal::Below(1000.0)),
    ])
}

fn item7(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let idle = idle_wakeups(cfg, None)?;
    let timeout = 2 * SEC;
    let secs = cfg.idle_window.as_secs_f64();
    let timed: Vec<f64> = idle_wakeups(cfg, Some(timeout))?.iter().map(|w| w / secs).collect();
    let needed = IDLE_WORKERS as f64 / timeout.as_secs_f64();
    Ok(vec![
        Row::new(
            7,
            format!("idle master: wake-ups per {} s, {IDLE_WORKERS} workers, perform 1 s", cfg.idle_window.as_secs()),
            "count",
            idle,
        )
        .goal(Goal::AllAtMost(0.0)),
        Row::new(7, format!("idle master + perform_timeout 2 s: wake-ups, {IDLE_WORKERS} workers"), "/s", timed)
            .base(needed)
            .goal(Goal::AtMostBase),
    ])
}

fn item8(cfg: &Cfg, cache: &mut Cache) -> Result<Vec<Row>, String> {
    let (sis1000, bare1000) = startup_runs(cfg, cache)?;
    let (sis1, bare1) = paired(cfg.runs, |bare| startup(cfg, 1, Strategy::Forking, bare))?;
    let rss = |v: &[(f64, f64)]| v.iter().map(|s| s.1).collect::<Vec<f64>>();
    let (s1, b1, s1000, b1000) = (rss(&sis1), rss(&bare1), rss(&sis1000), rss(&bare1000));
    let per_worker = |big: &[f64], one: &[f64]| (median(big) - median(one)) * 1024.0 / 999.0;
    let (sis_per, bare_per) = (per_worker(&s1000, &s1), per_worker(&b1000, &b1));
    Ok(vec![
        Row::new(8, "footprint: master VmRSS, 1 worker", "KiB", s1).base(median(&b1)),
        Row::new(8, "footprint: master VmRSS, 1,000 workers", "KiB", s1000).base(median(&b1000)),
        Row::new(8, "footprint: master bookkeeping per worker (from medians)", "B", vec![sis_per]).base(bare_per),
    ])
}

fn item9(cfg: &Cfg, cache: &mut Cache) -> Result<Vec<Row>, String> {
    let us = |rates: &[f64]| rates.iter().map(|r| 1e6 / r).collect::<Vec<f64>>();
    let (sis0, bare0) = fork0(cfg, cache)?;
    let mut sizes = vec![(0, us(&sis0), us(&bare0))];
    for &mib in cfg.sizes {
        let (s, b) = paired(cfg.runs, |bare| fork_rate(cfg, mib, bare))?;
        sizes.push((mib, us(&s), us(&b)));
    }
    let mut rows: Vec<Row> = sizes
        .iter()
        .map(|(mib, s, b)| {
            Row::new(9, format!("forking: µs per no-op perform, {mib} MiB resident"), "µs", s.clone()).base(median(b))
        })
        .collect();
    let ((_, s0, b0), (mib, s, b)) = (&sizes[0], &sizes[sizes.len() - 1]);
    let gib = *mib as f64 / 1024.0;
    rows.push(
        Row::new(
            9,
            format!("forking: extra µs per perform per GiB resident (0-{mib} MiB)"),
            "µs",
            vec![(median(s) - median(s0)) / gib],
        )
        .base((median(b) - median(b0)) / gib),
    );
    Ok(rows)
}

/// CPUs online, CPU model and kernel, for the table's header.
fn machine() -> String {
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("?", |m| m.trim_start_matches([' ', '\t', ':']));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} CPUs ({model}), Linux {}", kernel.trim())
}

/// The 1-, 5- and 15-minute load averages.
fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Raises RLIMIT_NPROC's soft limit to the hard one; returns the soft limit.
fn raise_nproc() -> libc::rlim_t {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut lim) };
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: a valid rlimit, within the hard limit.
        unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &lim) };
    }
    lim.rlim_cur
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var("SISYPHUS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let only: Vec<u8> = args.iter().filter_map(|a| a.parse().ok()).collect();
    // Orphans (perform children of killed workers, and everything of a killed master) are
    // reparented to us, so `sweep` can find, kill and reap them all.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let nproc = raise_nproc();
    // SAFETY: geteuid has no preconditions.
    if nproc < 3000 && unsafe { libc::geteuid() } != 0 {
        eprintln!("bench: RLIMIT_NPROC is {nproc}; 1,000 forking workers need about 2,100 processes");
    }
    let cfg = Cfg::new(quick);
    // Other load on the machine skews every figure; say how much there was.
    let load_before = loadavg();
    let mut cache = Cache::default();
    let mut rows = Vec::new();
    let started = now_ns();
    type Item = fn(&Cfg, &mut Cache) -> Result<Vec<Row>, String>;
    let items: [(u8, &str, Item); 9] = [
        (1, "forking throughput", item1),
        (2, "simple loop overhead", |c, _| item2(c)),
        (3, "respawn latency", |c, _| item3(c)),
        (4, "scale-up latency", |c, _| item4(c)),
        (5, "graceful stop latency", |c, _| item5(c)),
        (6, "start-up of 1,000 workers", item6),
        (7, "idle master wake-ups", |c, _| item7(c)),
        (8, "footprint", item8),
        (9, "fork cost against worker memory", item9),
    ];
    for (item, name, run) in items {
        if !only.is_empty() && !only.contains(&item) {
            continue;
        }
        eprintln!("bench: [{item}] {name} ({:.0} s elapsed)", ns_to_ms(now_ns() - started) / 1000.0);
        let result = catch_unwind(AssertUnwindSafe(|| run(&cfg, &mut cache)))
            .unwrap_or_else(|_| Err("panicked (see stderr)".into()));
        match result {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("bench: [{item}] {name} failed: {e}");
                rows.push(Row::error(item, name, e));
            }
        }
        if let Err(e) = sweep() {
            rows.push(Row::error(item, "cleanup", e));
        }
    }
    eprintln!("bench: done in {:.0} s", ns_to_ms(now_ns() - started) / 1000.0);
    print_table(&cfg, &rows, (load_before, loadavg()));
    let clean = sweep().is_ok() && descendants().is_empty();
    if !clean {
        eprintln!("bench: processes left behind: {:?}", descendants());
    }
    let failed = rows.iter().any(|r| r.error.is_some());
    std::process::exit(if failed || !clean { 1 } else { 0 });
}
