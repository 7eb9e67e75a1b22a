//! What calendar schedules and splay add to the pacing: the wall clock, a calendar's next
//! start, a slot's fixed splay offset, a start missed while nothing ran, and the line that
//! says so at start-up.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Pace, Pacing};
use crate::cron::{Cron, LocalTime};
use crate::log::Human;

impl Pacing {
    /// The line the master logs at start-up: the calendar schedule and its next start, the
    /// slots' splay offsets; `None` when there is neither.
    pub fn describe(&self, workers: usize, host: &str) -> Option<String> {
        let mut line = String::new();
        if let Some(cron) = self.cron {
            let next = LocalTime(cron.next_after(SystemTime::now()));
            let splayed = if self.splay.is_some() { " before splay" } else { "" };
            line = format!("schedule \"{cron}\": next start {next}{splayed}");
        }
        if let Some(splay) = self.splay {
            let sep = if line.is_empty() { "" } else { "; " };
            line += &format!("{sep}splay up to {} on host {host:?}:", Human(splay));
            for slot in 0..workers.min(8) {
                let sep = if slot == 0 { "" } else { "," };
                line += &format!("{sep} worker {slot} +{}", Human(splay_offset(splay, host, slot)));
            }
            if workers > 8 {
                line += " ...";
            }
        }
        (!line.is_empty()).then_some(line)
    }
}

/// With a calendar, a warning when `TZ` names a zone file that is not there.
pub fn unknown_zone(pacing: &Pacing) -> Option<String> {
    pacing.cron?;
    LocalTime::zone_warning()
}

/// The wall clock, since the Unix epoch.
pub fn wall_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Slot `slot`'s splay on host `host`: a fixed offset in [0, `splay`), whole milliseconds,
/// the same across restarts and different across hosts and slots.
pub fn splay_offset(splay: Duration, host: &str, slot: usize) -> Duration {
    // FNV-1a over the name and the slot, then a finalizer that spreads every bit.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in host.bytes().chain((slot as u64).to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ h >> 33).wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    Duration::from_millis(h % (splay.as_millis() as u64).max(1))
}

/// The first start of the schedule after `last` (wall clock, splay included) if it passed by
/// `now`: a start missed while nothing ran.
pub fn missed(pacing: &Pacing, last: Duration, now: Duration, splay: Duration) -> Option<Duration> {
    let due = match (&pacing.cron, pacing.interval) {
        (Some(cron), _) => following(cron, splay, last),
        (None, Some(interval)) => last + interval,
        (None, None) => return None,
    };
    (due <= now).then_some(due)
}

/// A calendar's next start after `after` (wall clock), every start `splay` later.
pub(super) fn following(cron: &Cron, splay: Duration, after: Duration) -> Duration {
    let next = cron.next_after(UNIX_EPOCH + after.saturating_sub(splay));
    next.duration_since(UNIX_EPOCH).unwrap_or_default() + splay
}

impl Pace {
    /// While a calendar's worker waits, at `now`: if the wall clock was set back, a schedule of
    /// the "every N" kind goes on from the new time (as Vixie cron's does), where one at fixed
    /// times keeps its next start, so that none runs twice.
    pub fn follow_clock(&mut self, now: Duration) {
        let Some(cron) = self.pacing.cron.filter(|cron| !cron.fixed()) else { return };
        let next = following(&cron, self.splay, now);
        if next < self.next {
            // A backoff pending waits no longer than the new next start.
            (self.next, self.not_before) = (next, self.not_before.min(next));
        }
    }
}
