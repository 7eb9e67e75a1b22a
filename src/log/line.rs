//! One log line in a fixed stack buffer: `2026-11-28T09:15:02.123Z 4711 INFO message\n`.
//! The message cannot forge further lines (control characters are escaped), and a message
//! too long for the buffer is cut at a character boundary, never inside one.

use std::fmt::{self, Write};

use super::Level;
use crate::sys::Pid;

/// The longest line, newline included.
pub const MAX_LINE: usize = 1024;

/// A line being built; truncates instead of allocating.
pub struct Line {
    buf: [u8; MAX_LINE],
    len: usize,
    /// Escape control characters (in the message, not in the prefix we write ourselves).
    escaping: bool,
    /// Something did not fit: nothing more is added.
    full: bool,
}

impl Line {
    /// `message` with a UTC timestamp (`unix_ms`), `pid` and `level` in front.
    pub fn new(unix_ms: u64, pid: Pid, level: Level, message: fmt::Arguments<'_>) -> Line {
        let mut line = Line { buf: [0; MAX_LINE], len: 0, escaping: false, full: false };
        let (secs, ms) = (unix_ms / 1000, unix_ms % 1000);
        let (y, m, d) = civil_from_days((secs / 86_400) as i64);
        let s = secs % 86_400;
        let (hh, mm, ss) = (s / 3600, s / 60 % 60, s % 60);
        let _ = write!(line, "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}Z {pid} {level} ");
        line.escaping = true;
        let _ = line.write_fmt(message);
        line.buf[line.len] = b'\n';
        line.len += 1;
        line
    }

    /// The bytes to write.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push(&mut self, piece: &str) {
        // Keep the last byte for the newline.
        if self.full || self.len + piece.len() > MAX_LINE - 1 {
            self.full = true;
            return;
        }
        self.buf[self.len..self.len + piece.len()].copy_from_slice(piece.as_bytes());
        self.len += piece.len();
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !self.escaping {
            self.push(s);
            return Ok(());
        }
        let mut utf8 = [0u8; 4];
        for c in s.chars() {
            match c {
                '\n' => self.push("\\n"),
                '\r' => self.push("\\r"),
                c if (c.is_control() && c != '\t') => {
                    let mut hex = [b'\\', b'x', 0, 0];
                    let digits = b"0123456789abcdef";
                    let b = (c as u32).min(0xff) as usize;
                    (hex[2], hex[3]) = (digits[b >> 4], digits[b & 15]);
                    self.push(std::str::from_utf8(&hex).unwrap_or("?"));
                }
                c => self.push(c.encode_utf8(&mut utf8)),
            }
        }
        Ok(())
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// well-known algorithm.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
