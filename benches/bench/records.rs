//! Event records: what the jobs report to the bench, over a pipe.

use libc::c_int;

use crate::sys::{errno, now_ns};

/// The master child is about to call `run` (or a bare supervisor to fork its first worker).
pub(crate) const START: u32 = 1;
/// `setup` is done: `a` = pid.
pub(crate) const SETUP: u32 = 2;
/// A perform checkpoint: `a` = iteration.
pub(crate) const TICK: u32 = 3;
/// Counters at a perform: `a` = allocations, `b` = the loop process's syscalls, `c` = the same
/// with its children's, `d` = page faults of the loop process and its children (`u64::MAX`
/// where not available), `e` = allocations since the fork that made this process.
pub(crate) const COUNT: u32 = 4;
/// `run` returned: `a` = 0 if `Ok`, `b` = `Shutdown::killed`.
pub(crate) const RETURNED: u32 = 5;
/// A paced perform began: `t` = its actual start, `a` = iteration, `b` = ns since
/// `Context::scheduled` (`u64::MAX` without a schedule).
pub(crate) const LATE: u32 = 6;

pub(crate) const REC_LEN: usize = 56;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rec {
    pub(crate) kind: u32,
    pub(crate) slot: u32,
    /// CLOCK_MONOTONIC in ns, taken by the writer.
    pub(crate) t: u64,
    pub(crate) a: u64,
    pub(crate) b: u64,
    pub(crate) c: u64,
    pub(crate) d: u64,
    pub(crate) e: u64,
}

impl Rec {
    pub(crate) fn new(kind: u32, slot: usize, a: u64, b: u64, c: u64) -> Self {
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

    pub(crate) fn decode(b: &[u8]) -> Rec {
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
pub(crate) fn send(fd: c_int, rec: Rec) {
    let buf = rec.encode();
    loop {
        // SAFETY: writes from a valid stack buffer of the length given.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n >= 0 || errno() != libc::EINTR {
            return;
        }
    }
}
