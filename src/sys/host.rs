//! What the host says about itself: its name, its time zone's offset from UTC at an instant
//! (the C library's zone: `TZ`, else the system's), and whether a process it ran still runs.

use std::ffi::CStr;

use super::Pid;

unsafe extern "C" {
    // POSIX; the `libc` crate does not declare it.
    fn tzset();
}

/// Makes the C library read `TZ` again (glibc's `localtime_r` reads it only once).
pub fn reread_time_zone() {
    // SAFETY: tzset takes no arguments and updates only the C library's zone state, under the
    // C library's own lock. It reads `TZ` with `getenv`: a `set_var` on another thread at the
    // same time would race it, which `set_var`'s own safety contract rules out.
    unsafe { tzset() }
}

/// The local zone's offset from UTC, in seconds east, at `t` seconds since the Unix epoch; 0 if
/// the C library cannot convert `t` (far outside its years).
pub fn utc_offset(t: i64) -> i64 {
    // `time_t` has 32 bits on some targets (not named: musl deprecates the name).
    #[allow(irrefutable_let_patterns, clippy::useless_conversion)]
    let Ok(time) = t.try_into() else { return 0 };
    // SAFETY: `tm` is plain data, for which all zeroes is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r writes only into `tm`.
    let done = unsafe { libc::localtime_r(&time, &mut tm) };
    if done.is_null() { 0 } else { tm.tm_gmtoff as i64 }
}

/// The host's name (`gethostname`), empty if it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for writes of its length; the last byte stays 0, so the name is
    // terminated even if the system truncated it without one.
    let ret = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if ret != 0 {
        return String::new();
    }
    CStr::from_bytes_until_nul(&buf).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Whether process `pid` runs: it exists (perhaps another user's) and is not a zombie, dead
/// but not yet reaped, which `kill(pid, 0)` still finds.
pub fn running(pid: u32) -> bool {
    let Ok(pid) = Pid::try_from(pid) else { return false };
    let exists = pid > 0 && super::kill(pid, 0).map_or_else(|e| e.raw_os_error() == Some(libc::EPERM), |()| true);
    exists && !matches!(proc_stat(pid as u32).and_then(|s| s.chars().next()), Some('Z' | 'X'))
}

/// What tells process `pid` from a later one with its pid: the boot's id and the process's
/// start in clock ticks since boot (Linux's `/proc`); `None` where there is no `/proc`.
pub fn process_identity(pid: u32) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    // Field 22, counted from the state letter, which is field 3.
    let start = proc_stat(pid)?.split(' ').nth(19)?.to_string();
    Some(format!("{}/{start}", boot.trim()))
}

/// `/proc/PID/stat` from the state letter on (the name before it is in parentheses and may
/// hold anything).
fn proc_stat(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat[stat.rfind(')')? + 1..].trim_start().to_string())
}
