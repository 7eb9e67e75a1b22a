//! Syscall counting, and page faults.

use libc::c_int;

use crate::sys::close;

/// How syscalls are counted: a `raw_syscalls:sys_enter` tracepoint counter opened with
/// perf_event_open(2) (every syscall), else `/proc/self/io` (`syscr` + `syscw`: only the
/// read/write class).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyscallMethod {
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
    pub(crate) fn detect() -> Self {
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

    pub(crate) fn describe(self) -> &'static str {
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
pub(crate) struct Counters {
    method: SyscallMethod,
    own: c_int,
    tree: c_int,
    faults: c_int,
}

impl Counters {
    pub(crate) fn open(method: SyscallMethod) -> Self {
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
    pub(crate) fn read(&self) -> (u64, u64, u64) {
        let perf = |fd: c_int| if fd < 0 { u64::MAX } else { read_u64(fd) };
        let (own, tree) = match self.method {
            SyscallMethod::Perf(_) => (perf(self.own), perf(self.tree)),
            SyscallMethod::ProcIo if self.own >= 0 => (io_syscalls(self.own), u64::MAX),
            _ => (u64::MAX, u64::MAX),
        };
        (own, tree, perf(self.faults))
    }
}
