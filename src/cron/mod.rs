//! Calendar schedules: cron expressions on the local wall clock, with a daylight-saving rule
//! that runs each fixed time at most once a day and keeps the real cadence of the others.
//!
//! Dates and times of day are plain numbers (`calendar`); the C library's zone turns them into
//! instants and back (`local`).

mod calendar;
mod local;
mod parse;

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Error;

/// The fields, in the order of a 6-field expression.
const SECOND: usize = 0;
const MINUTE: usize = 1;
const HOUR: usize = 2;
const DAY: usize = 3;
const MONTH: usize = 4;
const WEEKDAY: usize = 5;

/// One field's values, as bits, and whether it was written starting with `*`: that decides
/// whether a schedule is at a fixed time, and how day-of-month and day-of-week combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Set {
    bits: u64,
    star: bool,
}

impl Set {
    fn has(self, value: u32) -> bool {
        value < 64 && self.bits >> value & 1 == 1
    }
}

/// A calendar schedule: a cron expression, read on the process's local time (`TZ`, else the
/// system's zone; `TZ=UTC` for UTC).
///
/// Five fields, `minute hour day-of-month month day-of-week`, or six with a leading seconds
/// field; lists (`1,15`), ranges (`1-5`), steps (`*/5`, `10-50/10`), names (`jan`-`dec`,
/// `sun`-`sat`, any case), 0 or 7 for Sunday; when both day-of-month and day-of-week are
/// restricted, a day matching either runs (as in Vixie cron). Also `@yearly` (`@annually`),
/// `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly`. Not taken: `L`, `W`, `#`, `?`, a
/// year field, `@reboot`.
///
/// # Daylight saving
/// - A schedule at a **fixed time** (neither its minute nor its hour field starts with `*`;
///   lists and ranges are fixed) runs each of its times at most once per local day. A time the clock
///   skips (the spring gap) runs at the first instant after the jump: `30 2 * * *` in
///   Europe/Paris on 2027-03-28 runs at 03:00:00+02:00, once however many of its times fall in
///   the gap. A time the clock passes twice (the autumn fold) runs at its first pass only.
/// - **Other schedules** fire at every real instant whose wall time matches: none for a time
///   the clock skips, both passes of a time it repeats. With one-hour changes that keeps the
///   real cadence: `*/15 * * * *` fires every 15 real minutes through both changes.
///
/// The zone is the C library's, one per process: the first schedule computed reads `TZ`, and
/// each [`next_after`](Cron::next_after) reads it again if the program changed it.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use sisyphus::Cron;
///
/// let nightly = Cron::parse("30 2 * * mon-fri")?;
/// assert_eq!(nightly.to_string(), "30 2 * * 1-5");
/// assert!(Cron::parse("0 25 * * *").is_err());
/// # // SAFETY: doctests run in a process of their own, with no other thread reading the
/// # // environment.
/// # unsafe { std::env::set_var("TZ", "UTC") };
/// // 2027-01-01T00:00:00Z is a Friday: the next run is at 02:30 that day.
/// let new_year = UNIX_EPOCH + Duration::from_secs(1_798_761_600);
/// assert_eq!(nightly.next_after(new_year), new_year + Duration::from_secs(9_000));
/// # Ok::<(), sisyphus::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cron {
    fields: [Set; 6],
}

impl Cron {
    /// Reads a cron expression.
    ///
    /// # Errors
    /// [`Error::Config`] on one line naming the field and the fix (`cron: hour "25" is out of
    /// range 0-23`), for what is not taken (`L`, `W`, `#`, `?`, a year field, `@reboot`), and
    /// for an expression that can never fire (`0 0 30 2 *`).
    pub fn parse(expr: &str) -> Result<Cron, Error> {
        parse::parse(expr)
    }

    /// The first start strictly after `after`, in whole seconds, by the rule above. Pure but
    /// for the zone it reads; for a parsed expression there always is one.
    pub fn next_after(&self, after: SystemTime) -> SystemTime {
        crate::sys::reread_time_zone();
        let secs = match after.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => before_epoch(e.duration()),
        };
        let next = if self.fixed() { self.next_fixed(secs) } else { self.next_any(secs) };
        // None only for a time past what the C library converts: the same time then.
        at(next.unwrap_or(secs + 1))
    }

    /// Neither the minute nor the hour field starts with `*`.
    pub(crate) fn fixed(&self) -> bool {
        !self.fields[MINUTE].star && !self.fields[HOUR].star
    }
}

impl FromStr for Cron {
    type Err = Error;
    fn from_str(s: &str) -> Result<Cron, Error> {
        Cron::parse(s)
    }
}

/// The expression, normalised: numbers for names, ranges merged, 5 fields when the seconds are
/// `0`. It parses back to the same schedule.
impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain_seconds = self.fields[SECOND] == Set { bits: 1, star: false };
        let first = if plain_seconds { MINUTE } else { SECOND };
        for (i, set) in self.fields.iter().enumerate().skip(first) {
            if i > first {
                f.write_str(" ")?;
            }
            parse::write_set(f, i, *set)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({self})")
    }
}

/// An instant shown and read on the local wall clock, as `--next` prints it:
/// `2027-03-28T03:00:00+02:00` (RFC 3339 with the local offset, whole seconds).
///
/// It reads `YYYY-MM-DD HH:MM[:SS]` (or with a `T`) as local time: a time the clock skips is
/// the first instant after the jump, a time it passes twice its first pass.
///
/// ```
/// use sisyphus::{Cron, LocalTime};
///
/// let from: LocalTime = "2027-03-27 12:00".parse()?;
/// let next = Cron::parse("@daily")?.next_after(from.0);
/// println!("next run: {}", LocalTime(next));
/// # Ok::<(), sisyphus::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(pub SystemTime);

impl LocalTime {
    /// A warning when `TZ` names a zone file that is not there (a typo: `Europe/Pariss`): the C
    /// library then reads it, without a word, as UTC. `None` when `TZ` is unset, a POSIX rule
    /// (`EST5EDT`), UTC, or a zone that exists.
    pub fn zone_warning() -> Option<String> {
        let tz = std::env::var_os("TZ").filter(|tz| !tz.is_empty())?;
        let name = tz.to_string_lossy();
        let name = name.strip_prefix(':').unwrap_or(&name);
        // A POSIX rule such as `EST5EDT` or `CET-1CEST,M3.5.0,M10.5.0/3` needs no file.
        let builtin = matches!(name, "UTC" | "GMT" | "UCT" | "Universal" | "Zulu");
        if builtin || name.contains(',') || !name.contains('/') && name.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        let dir = std::env::var_os("TZDIR").unwrap_or_else(|| "/usr/share/zoneinfo".into());
        let dir = std::path::Path::new(&dir);
        let found = if name.starts_with('/') { std::path::Path::new(name).exists() } else { dir.join(name).exists() };
        let dir = dir.display();
        (!found).then(|| format!("TZ={name:?} names no zone file (in {dir}): times are read as UTC"))
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::sys::reread_time_zone();
        let secs = match self.0.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => before_epoch(e.duration()),
        };
        local::write_rfc3339(f, secs)
    }
}

impl FromStr for LocalTime {
    type Err = Error;

    /// # Errors
    /// [`Error::Config`] for text that is not a date and time of day in that form.
    fn from_str(s: &str) -> Result<LocalTime, Error> {
        crate::sys::reread_time_zone();
        let wall = calendar::read_wall(s.trim()).ok_or_else(|| {
            Error::Config(format!("{s:?} is not a local time: write YYYY-MM-DD HH:MM or YYYY-MM-DD HH:MM:SS"))
        })?;
        Ok(LocalTime(at(local::first_instant(wall))))
    }
}

/// The whole second at or before a time `d` before the Unix epoch, as seconds since it.
fn before_epoch(d: Duration) -> i64 {
    -(d.as_secs() as i64) - i64::from(d.subsec_nanos() > 0)
}

/// The instant `secs` seconds after the Unix epoch (before it, if negative).
fn at(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

#[cfg(test)]
mod tests;
