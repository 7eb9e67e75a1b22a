//! Dates and times of day on the local wall clock as plain numbers: days since 1970-01-01 and
//! seconds since midnight ("wall seconds" are both in one: a time as if the zone were UTC). The
//! search for the next ones a schedule matches; no zone here.

use super::{Cron, DAY, HOUR, MINUTE, MONTH, SECOND, WEEKDAY};
// The log's timestamps have the same need.
pub(super) use crate::log::civil_from_days;

/// Seconds in a day.
pub(super) const DAY_SECS: i64 = 86_400;
/// How far the search looks: the Gregorian calendar repeats every 400 years.
const FOUR_CENTURIES: i64 = 146_097;

/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar.
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Years start in March, so the leap day ends a year (H. Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) as i64 / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * FOUR_CENTURIES + doe - 719_468
}

pub(super) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads `YYYY-MM-DD HH:MM[:SS]` (or with a `T`) as wall seconds.
pub(super) fn read_wall(text: &str) -> Option<i64> {
    let (date, time) = text.split_once([' ', 'T'])?;
    let num = |s: &str, digits: usize| {
        (s.len() == digits && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let mut d = date.split('-');
    let (year, month, day): (i64, u32, u32) =
        (num(d.next()?, 4)?, num(d.next()?, 2)? as u32, num(d.next()?, 2)? as u32);
    let mut t = time.trim().split(':');
    let (h, m) = (num(t.next()?, 2)?, num(t.next()?, 2)?);
    let s = t.next().map_or(Some(0), |s| num(s, 2))?;
    let valid = d.next().is_none() && t.next().is_none() && (1..=12).contains(&month);
    if !valid || day == 0 || day > days_in_month(year, month) || h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * DAY_SECS + h * 3600 + m * 60 + s)
}

impl Cron {
    /// Whether day `days` (since 1970-01-01), the `day`th of its month, matches: both the
    /// day-of-month and the day-of-week, or either when both are restricted (Vixie cron).
    fn day_matches(&self, days: i64, day: u32) -> bool {
        let (by_date, by_week) = (self.fields[DAY], self.fields[WEEKDAY]);
        // 1970-01-01 was a Thursday.
        let (date_ok, week_ok) = (by_date.has(day), by_week.has((days + 4).rem_euclid(7) as u32));
        if by_date.star || by_week.star { date_ok && week_ok } else { date_ok || week_ok }
    }

    /// The first matching day from `days` on, looking `limit` days ahead at most.
    pub(super) fn next_day(&self, mut days: i64, limit: i64) -> Option<i64> {
        let end = days + limit;
        while days < end {
            let (year, month, day) = civil_from_days(days);
            if !self.fields[MONTH].has(month) {
                // On to the 1st of the next month.
                days += i64::from(days_in_month(year, month) - day) + 1;
                continue;
            }
            if self.day_matches(days, day) {
                return Some(days);
            }
            days += 1;
        }
        None
    }

    /// The first matching time of day at or after `from` seconds since midnight.
    fn next_time(&self, from: u32) -> Option<u32> {
        let (h0, m0, s0) = (from / 3600, from / 60 % 60, from % 60);
        let [s, m, h] = [SECOND, MINUTE, HOUR].map(|i| self.fields[i].bits);
        let at = |h: u32, m: u32, s: u32| h * 3600 + m * 60 + s;
        if next_bit(h, h0) == Some(h0) {
            if next_bit(m, m0) == Some(m0)
                && let Some(s) = next_bit(s, s0)
            {
                return Some(at(h0, m0, s));
            }
            if let Some(m) = next_bit(m, m0 + 1) {
                return Some(at(h0, m, next_bit(s, 0)?));
            }
        }
        Some(at(next_bit(h, h0 + 1)?, next_bit(m, 0)?, next_bit(s, 0)?))
    }

    /// The first matching wall time at or after `wall` (wall seconds).
    pub(super) fn next_wall(&self, wall: i64) -> Option<i64> {
        let (mut days, mut from) = (wall.div_euclid(DAY_SECS), wall.rem_euclid(DAY_SECS) as u32);
        loop {
            let found = self.next_day(days, FOUR_CENTURIES)?;
            if found != days {
                from = 0;
            }
            if let Some(time) = self.next_time(from) {
                return Some(found * DAY_SECS + i64::from(time));
            }
            (days, from) = (found + 1, 0);
        }
    }
}

/// The lowest set bit of `bits` at or above `from`.
fn next_bit(bits: u64, from: u32) -> Option<u32> {
    let above = bits.checked_shr(from)?.checked_shl(from)?;
    (above != 0).then(|| above.trailing_zeros())
}
