//! The pacing arithmetic: fixed-rate schedules, re-anchoring, backoff, recycle limits.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn paced(interval: u64, backoff: Option<(u64, u64)>) -> Pace {
    let backoff = backoff.map(|(b, m)| (ms(b), ms(m)));
    Pace::new(Pacing { interval: Some(ms(interval)), backoff, ..Pacing::default() }, ms(1000), ms(0))
}

#[test]
fn fixed_rate_does_not_drift_with_perform_time_or_wake_up_noise() {
    let mut p = paced(100, None);
    for k in 0..10u64 {
        let due = p.due();
        assert_eq!(due, ms(1000 + 100 * k));
        // Woken 0.3 ms late, the perform takes 40 ms.
        let start = p.start(due + Duration::from_micros(300));
        assert_eq!(start, Start { scheduled: due, late: None });
        assert_eq!(p.finished(true, due + ms(40)), None);
    }
}

#[test]
fn an_overrun_starts_at_once_warns_once_and_re_anchors() {
    let mut p = paced(100, None);
    p.start(ms(1000));
    p.finished(true, ms(1250));
    assert_eq!(p.due(), ms(1100), "due at once");
    assert_eq!(p.start(ms(1250)), Start { scheduled: ms(1250), late: Some(ms(150)) });
    p.finished(true, ms(1260));
    assert_eq!(p.due(), ms(1350), "re-anchored, no burst");
    assert_eq!(p.start(ms(1350)).late, None);
}

#[test]
fn a_small_overrun_also_re_anchors() {
    let mut p = paced(100, None);
    p.start(ms(1000));
    p.finished(true, ms(1101));
    assert_eq!(p.start(ms(1101)), Start { scheduled: ms(1101), late: Some(ms(1)) });
    assert_eq!(p.due(), ms(1201));
}

#[test]
fn a_suspension_gives_one_perform_at_once_then_re_anchors() {
    let mut p = paced(100, None);
    p.start(ms(1000));
    p.finished(true, ms(1010));
    // Stopped while waiting for 1100; resumed at 1730.
    assert_eq!(p.start(ms(1730)), Start { scheduled: ms(1730), late: Some(ms(630)) });
    p.finished(true, ms(1740));
    assert_eq!(p.due(), ms(1830));
}

#[test]
fn a_resumed_schedule_waits_for_its_due_start_or_starts_at_once_on_its_grid() {
    let pacing = Pacing { interval: Some(ms(100)), spread: true, ..Pacing::default() };
    let mut p = Pace::resume(pacing, ms(1030), ms(1000), ms(0));
    assert_eq!(p.due(), ms(1030), "the predecessor's next start");
    assert_eq!(p.start(ms(1030)).scheduled, ms(1030));
    assert_eq!(p.due(), ms(1130));
    let mut late = Pace::resume(pacing, ms(1030), ms(1250), ms(0));
    assert_eq!(late.due(), ms(1330), "past due: the grid's next point");
    assert_eq!(late.start(ms(1330)), Start { scheduled: ms(1330), late: None });
    assert_eq!(late.due(), ms(1430));
    let free = Pacing { interval: Some(ms(100)), ..Pacing::default() };
    let mut p = Pace::resume(free, ms(1030), ms(1250), ms(0));
    assert_eq!(p.due(), ms(1250), "without a grid: at once");
    p.start(ms(1250));
    assert_eq!(p.due(), ms(1350), "re-anchored there");
}

#[test]
fn failures_back_off_doubling_to_the_cap_and_a_success_resets() {
    let mut p = Pace::new(Pacing { backoff: Some((ms(100), ms(300))), ..Pacing::default() }, ms(0), ms(0));
    let mut now = ms(0);
    for want in [100, 200, 300, 300] {
        assert_eq!(p.start(now).late, None);
        assert_eq!(p.finished(false, now), Some(ms(want)));
        assert_eq!(p.due(), now + ms(want));
        now = p.due();
    }
    p.start(now);
    assert_eq!(p.finished(true, now), None);
    assert_eq!(p.due(), now, "no wait after a success");
    assert_eq!(p.finished(false, now), Some(ms(100)), "the streak starts again");
}

#[test]
fn with_an_interval_the_later_of_schedule_and_backoff_applies_silently() {
    let mut p = paced(100, Some((50, 1000)));
    p.start(ms(1000));
    p.finished(false, ms(1010));
    assert_eq!(p.due(), ms(1100), "the schedule is later than 50 ms of backoff");
    p.start(ms(1100));
    p.finished(false, ms(1110));
    p.start(ms(1200));
    p.finished(false, ms(1210));
    assert_eq!(p.due(), ms(1410), "200 ms of backoff is later than the schedule");
    assert_eq!(p.start(ms(1410)), Start { scheduled: ms(1410), late: None });
    assert_eq!(p.due(), ms(1510));
}

#[test]
fn without_backoff_failures_do_not_wait() {
    let mut p = Pace::new(Pacing::default(), ms(0), ms(0));
    p.start(ms(0));
    assert_eq!(p.finished(false, ms(5)), None);
    assert_eq!(p.due(), ms(0));
}

#[test]
fn recycle_limits_spread_between_n_and_a_quarter_more() {
    let limits: Vec<u64> = (0..1000u64).map(|i| recycle_limit(100, i * 1_000_003)).collect();
    assert!(limits.iter().all(|&l| (100..=125).contains(&l)), "{limits:?}");
    let distinct: std::collections::HashSet<_> = limits.iter().collect();
    assert!(distinct.len() > 20, "only {} distinct limits", distinct.len());
    assert_eq!(recycle_limit(1, 7), 1);
}

#[test]
fn spreading_gives_each_slot_a_stable_phase() {
    let pacing = Pacing { interval: Some(ms(1000)), spread: true, ..Pacing::default() };
    let dues: Vec<Duration> = (0..4).map(|k| first_due(&pacing, k, 4, ms(5000), ms(0), ms(0))).collect();
    assert_eq!(dues, [ms(5000), ms(5250), ms(5500), ms(5750)]);
    // Slot 1 overruns; its schedule comes back to its own phase, 250 ms past the second.
    let mut p = Pace::new(pacing, dues[1], ms(0));
    p.start(ms(5250));
    p.finished(true, ms(6700));
    assert_eq!(p.start(ms(6700)).late, Some(ms(450)));
    assert_eq!(p.due(), ms(7250));
}

#[test]
fn alignment_waits_for_the_next_multiple_of_the_interval_on_the_wall_clock() {
    let pacing = Pacing { interval: Some(ms(30_000)), align: true, ..Pacing::default() };
    // At :12.5 on the wall clock, the next :00 or :30 is 17.5 s away.
    assert_eq!(first_due(&pacing, 0, 1, ms(100), ms(1_700_000_022_500), ms(0)), ms(17_600));
    assert_eq!(first_due(&pacing, 0, 1, ms(100), ms(1_700_000_010_000), ms(0)), ms(100), "on the mark");
    let both = Pacing { spread: true, ..pacing };
    // Slot 1 of 2 keeps :15 and :45.
    assert_eq!(first_due(&both, 1, 2, ms(100), ms(1_700_000_022_500), ms(0)), ms(2_600));
    assert_eq!(first_due(&Pacing::default(), 3, 4, ms(100), ms(7), ms(0)), ms(100), "no interval: at once");
}

/// Every 10 s on the wall clock: the same in every zone of whole-minute offsets.
fn every_ten_seconds(splay: u64) -> Pace {
    let cron = Some(Cron::parse("*/10 * * * * *").unwrap());
    let pacing = Pacing { cron, splay: Some(ms(splay.max(10))), ..Pacing::default() };
    // 1_800_000_000 s since the epoch is a multiple of 10 s.
    let first = first_due(&pacing, 0, 1, ms(1_800_000_001_000), ms(0), ms(splay));
    Pace::new(pacing, first, ms(splay))
}

#[test]
fn a_calendar_keeps_its_marks_and_skips_what_a_suspension_missed() {
    let mut p = every_ten_seconds(0);
    assert_eq!(p.due(), ms(1_800_000_010_000));
    assert_eq!(p.start(ms(1_800_000_010_004)), Start { scheduled: ms(1_800_000_010_000), late: None });
    p.finished(true, ms(1_800_000_013_000));
    assert_eq!(p.due(), ms(1_800_000_020_000));
    // Suspended for an hour: one start at once, late, then the next mark after it.
    let start = p.start(ms(1_800_003_620_500));
    assert_eq!(start, Start { scheduled: ms(1_800_003_620_500), late: Some(ms(3_600_500)) });
    p.finished(true, ms(1_800_003_621_000));
    assert_eq!(p.due(), ms(1_800_003_630_000));
}

#[test]
fn a_clock_set_back_runs_no_fixed_time_twice_and_keeps_every_n_going() {
    // Every 10 s, written as fixed times (no field of minutes or hours starts with `*`).
    let cron = Some(Cron::parse("*/10 0-59 0-23 * * *").unwrap());
    let pacing = Pacing { cron, ..Pacing::default() };
    let mut fixed = Pace::new(pacing, ms(1_800_000_010_000), ms(0));
    fixed.start(ms(1_800_000_010_000));
    fixed.finished(true, ms(1_800_000_011_000));
    // The clock goes back a minute: the next start is still the one after the last.
    fixed.follow_clock(ms(1_799_999_951_000));
    assert_eq!(fixed.due(), ms(1_800_000_020_000));
    // The same every 10 s written with `*`: it goes on from the new time.
    let mut every = every_ten_seconds(0);
    every.start(ms(1_800_000_010_000));
    every.finished(true, ms(1_800_000_011_000));
    every.follow_clock(ms(1_800_000_012_000));
    assert_eq!(every.due(), ms(1_800_000_020_000), "no change while the clock runs on");
    every.follow_clock(ms(1_799_999_951_000));
    assert_eq!(every.due(), ms(1_799_999_960_000));
}

#[test]
fn a_calendar_that_overruns_starts_at_once_then_on_the_next_mark() {
    let mut p = every_ten_seconds(0);
    p.start(ms(1_800_000_010_000));
    p.finished(true, ms(1_800_000_025_000));
    let start = p.start(ms(1_800_000_025_001));
    assert_eq!(start.late, Some(ms(5_001)));
    assert_eq!(p.due(), ms(1_800_000_030_000));
}

#[test]
fn splay_moves_every_start_of_a_calendar_by_the_same_offset() {
    let mut p = every_ten_seconds(3_000);
    assert_eq!(p.due(), ms(1_800_000_003_000), "the mark at :00 plus 3 s");
    p.start(ms(1_800_000_003_002));
    p.finished(true, ms(1_800_000_004_000));
    assert_eq!(p.due(), ms(1_800_000_013_000));
    // On an interval, the first start moves and the rest follow it.
    let pacing = Pacing { interval: Some(ms(1000)), ..Pacing::default() };
    assert_eq!(first_due(&pacing, 0, 1, ms(500), ms(0), ms(250)), ms(750));
}

#[test]
fn splay_offsets_are_stable_below_the_bound_and_differ_by_host_and_slot() {
    let d = Duration::from_secs(600);
    let offsets: Vec<Duration> = (0..64).map(|slot| splay_offset(d, "web-7f9c", slot)).collect();
    assert!(offsets.iter().all(|&o| o < d));
    assert_eq!(offsets, (0..64).map(|slot| splay_offset(d, "web-7f9c", slot)).collect::<Vec<_>>());
    let mut distinct = offsets.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() > 60, "64 slots, {} distinct offsets", distinct.len());
    let hosts: Vec<Duration> = (0..64).map(|i| splay_offset(d, &format!("host-{i}"), 0)).collect();
    assert!(hosts.iter().filter(|&&o| o < d / 2).count() > 16, "spread over the range: {hosts:?}");
    assert!(hosts.iter().filter(|&&o| o >= d / 2).count() > 16, "spread over the range: {hosts:?}");
}
