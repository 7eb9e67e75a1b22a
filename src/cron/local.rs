//! Between wall seconds and instants, through the C library's zone: the daylight-saving rule.
//!
//! The zone's offset is constant between its transitions, which real zones space months apart;
//! the code below assumes at most one transition within a day of any time it looks at, and
//! offsets within ±15 h.

use std::fmt;

use super::Cron;
use super::calendar::{DAY_SECS, civil_from_days};
use crate::sys::utc_offset;

/// Farther than any offset from UTC: an instant this far before (after) a wall time comes
/// before (after) every instant showing it.
const BEYOND_OFFSETS: i64 = 30 * 3600;

impl Cron {
    /// A fixed-time schedule: the earliest instant after `after` (seconds since the epoch) at
    /// which a matching wall time first shows; a wall time the clock skips counts as the first
    /// instant after the jump.
    pub(super) fn next_fixed(&self, after: i64) -> Option<i64> {
        let mut wall = after + utc_offset(after) + 1;
        // Wall times only a fold's second pass shows again are passed over; a fold is shorter
        // than a day.
        for _ in 0..=DAY_SECS {
            let next = self.next_wall(wall)?;
            let t = first_instant(next);
            if t > after {
                return Some(t);
            }
            wall = next + 1;
        }
        None
    }

    /// Any other schedule: the earliest instant after `after` whose wall time matches. Walks
    /// the zone's stretches of constant offset, a day at a time where the next match is near.
    pub(super) fn next_any(&self, mut after: i64) -> Option<i64> {
        // Each turn returns, or passes a transition, or jumps to just before the next match.
        for _ in 0..1000 {
            let offset = utc_offset(after + 1);
            let end = after + DAY_SECS;
            // The last instant of this stretch within the day.
            let last = if utc_offset(end) == offset { end } else { first_change(after + 1, end) - 1 };
            let t = self.next_wall(after + 1 + offset)? - offset;
            if t <= last {
                return Some(t);
            }
            // No match before the stretch ends: on to the next stretch, or to a little more
            // than any offset before the next match (no instant between can show a matching
            // wall time).
            after = if last < end { last } else { end.max(t - BEYOND_OFFSETS) };
        }
        None
    }
}

/// The earliest instant whose wall time is `wall`; for a wall time the clock skips, the first
/// instant after the jump.
pub(super) fn first_instant(wall: i64) -> i64 {
    let (before, after) = (utc_offset(wall - BEYOND_OFFSETS), utc_offset(wall + BEYOND_OFFSETS));
    let shows = |t: i64| utc_offset(t) == wall - t;
    let (early, late) = ((wall - before).min(wall - after), (wall - before).max(wall - after));
    if shows(early) {
        early
    } else if shows(late) {
        late
    } else {
        // In the gap: `early` is before the jump, `late` after it.
        first_change(early, late)
    }
}

/// The first instant in (`lo`, `hi`] whose offset differs from `lo`'s, `hi`'s differing.
fn first_change(mut lo: i64, mut hi: i64) -> i64 {
    let offset = utc_offset(lo);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if utc_offset(mid) == offset { lo = mid } else { hi = mid }
    }
    hi
}

/// `secs` as `YYYY-MM-DDTHH:MM:SS+HH:MM` on the local wall clock.
pub(super) fn write_rfc3339(f: &mut fmt::Formatter<'_>, secs: i64) -> fmt::Result {
    let offset = utc_offset(secs);
    let wall = secs + offset;
    let (year, month, day) = civil_from_days(wall.div_euclid(DAY_SECS));
    let time = wall.rem_euclid(DAY_SECS);
    let (sign, off) = (if offset < 0 { '-' } else { '+' }, offset.abs() / 60);
    write!(
        f,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        time / 3600,
        time / 60 % 60,
        time % 60,
        off / 60,
        off % 60
    )
}
