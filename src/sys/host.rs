//! What the host says about itself: its name, and its time zone's offset from UTC at an instant
//! (the C library's zone: `TZ`, else the system's).

use std::ffi::CStr;

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
