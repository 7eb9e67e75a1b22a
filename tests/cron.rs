//! Calendar schedules against tables written out by hand, with `TZ` pinned per scenario: the
//! daylight-saving rule in Europe/Paris, America/New_York, Australia/Lord_Howe (30-minute
//! changes) and Pacific/Chatham (+12:45), across their changes of 2027 and 2028.
//!
//! A plain process with one thread: `TZ` is set between scenarios, and `Cron::next_after`
//! reads it again. The expected instants are read by this file's own parser, not the crate's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sisyphus::{Cron, LocalTime};

/// `YYYY-MM-DDTHH:MM:SS+HH:MM` as seconds since the epoch, by arithmetic of its own.
fn instant(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let (y, mo, d, h, mi, se) = (n(0..4), n(5..7), n(8..10), n(11..13), n(14..16), n(17..19));
    let sign = if &s[19..20] == "-" { -1 } else { 1 };
    let offset = sign * (n(20..22) * 3600 + n(23..25) * 60);
    // Days since 1970-01-01 by counting: fine for the years these tables use.
    let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let mut days = (1970..y).map(|y| if leap(y) { 366 } else { 365 }).sum::<i64>();
    let months = [31, if leap(y) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    days += months[..(mo - 1) as usize].iter().sum::<i64>() + d - 1;
    days * 86_400 + h * 3600 + mi * 60 + se - offset
}

fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn at(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

fn set_zone(zone: &str) {
    // SAFETY: this test process runs one thread; nothing reads the environment concurrently.
    unsafe { std::env::set_var("TZ", zone) };
}

/// Each row: an expression, the instant after which to look, and the next runs expected.
fn check(zone: &str, rows: &[(&str, &str, &[&str])]) {
    set_zone(zone);
    for (expr, after, expected) in rows {
        let cron = Cron::parse(expr).unwrap();
        let mut t = at(instant(after));
        for want in *expected {
            t = cron.next_after(t);
            assert_eq!(
                (secs(t), LocalTime(t).to_string()),
                (instant(want), want.to_string()),
                "{zone} {expr:?} after {after}"
            );
        }
    }
}

fn paris() {
    check(
        "Europe/Paris",
        &[
            // 2027-03-28: 02:00 CET becomes 03:00 CEST. A fixed time in the gap runs once, at
            // the first instant after the jump; several times in the gap give one run.
            ("30 2 * * *", "2027-03-27T12:00:00+01:00", &["2027-03-28T03:00:00+02:00", "2027-03-29T02:30:00+02:00"]),
            (
                "0,30 2 * * *",
                "2027-03-28T01:45:00+01:00",
                &["2027-03-28T03:00:00+02:00", "2027-03-29T02:00:00+02:00", "2027-03-29T02:30:00+02:00"],
            ),
            (
                "0 2,3 * * *",
                "2027-03-27T12:00:00+01:00",
                &["2027-03-28T03:00:00+02:00", "2027-03-29T02:00:00+02:00", "2027-03-29T03:00:00+02:00"],
            ),
            (
                "*/20 30 2 * * *",
                "2027-03-28T00:00:00+01:00",
                &["2027-03-28T03:00:00+02:00", "2027-03-29T02:30:00+02:00"],
            ),
            // Not fixed: nothing for the wall times that do not exist.
            (
                "*/15 * * * *",
                "2027-03-28T01:30:00+01:00",
                &["2027-03-28T01:45:00+01:00", "2027-03-28T03:00:00+02:00", "2027-03-28T03:15:00+02:00"],
            ),
            (
                "0 * * * *",
                "2027-03-28T00:30:00+01:00",
                &["2027-03-28T01:00:00+01:00", "2027-03-28T03:00:00+02:00", "2027-03-28T04:00:00+02:00"],
            ),
            // 2027-10-31: 03:00 CEST becomes 02:00 CET. A fixed time in the fold runs at its
            // first pass only, also when looked for from the second pass.
            ("30 2 * * *", "2027-10-30T12:00:00+02:00", &["2027-10-31T02:30:00+02:00", "2027-11-01T02:30:00+01:00"]),
            ("30 2 * * *", "2027-10-31T02:10:00+01:00", &["2027-11-01T02:30:00+01:00"]),
            (
                "*/20 30 2 * * *",
                "2027-10-31T00:00:00+02:00",
                &[
                    "2027-10-31T02:30:00+02:00",
                    "2027-10-31T02:30:20+02:00",
                    "2027-10-31T02:30:40+02:00",
                    "2027-11-01T02:30:00+01:00",
                ],
            ),
            // Not fixed: both passes.
            (
                "*/15 * * * *",
                "2027-10-31T02:30:00+02:00",
                &[
                    "2027-10-31T02:45:00+02:00",
                    "2027-10-31T02:00:00+01:00",
                    "2027-10-31T02:15:00+01:00",
                    "2027-10-31T02:30:00+01:00",
                    "2027-10-31T02:45:00+01:00",
                    "2027-10-31T03:00:00+01:00",
                ],
            ),
            (
                "30 * * * *",
                "2027-10-31T01:45:00+02:00",
                &["2027-10-31T02:30:00+02:00", "2027-10-31T02:30:00+01:00", "2027-10-31T03:30:00+01:00"],
            ),
            // 2028: 26 March and 29 October.
            ("30 2 * * *", "2028-03-25T12:00:00+01:00", &["2028-03-26T03:00:00+02:00", "2028-03-27T02:30:00+02:00"]),
            ("30 2 * * *", "2028-10-28T12:00:00+02:00", &["2028-10-29T02:30:00+02:00", "2028-10-30T02:30:00+01:00"]),
            ("0 0 29 2 *", "2027-01-01T00:00:00+01:00", &["2028-02-29T00:00:00+01:00", "2032-02-29T00:00:00+01:00"]),
        ],
    );
}

fn new_york() {
    check(
        "America/New_York",
        &[
            // 2027-03-14: 02:00 EST becomes 03:00 EDT.
            ("30 2 * * *", "2027-03-13T12:00:00-05:00", &["2027-03-14T03:00:00-04:00", "2027-03-15T02:30:00-04:00"]),
            (
                "0 * * * *",
                "2027-03-14T00:30:00-05:00",
                &["2027-03-14T01:00:00-05:00", "2027-03-14T03:00:00-04:00", "2027-03-14T04:00:00-04:00"],
            ),
            // 2027-11-07: 02:00 EDT becomes 01:00 EST.
            ("30 1 * * *", "2027-11-06T12:00:00-04:00", &["2027-11-07T01:30:00-04:00", "2027-11-08T01:30:00-05:00"]),
            (
                "*/15 * * * *",
                "2027-11-07T01:30:00-04:00",
                &["2027-11-07T01:45:00-04:00", "2027-11-07T01:00:00-05:00", "2027-11-07T01:15:00-05:00"],
            ),
            (
                "0 * * * *",
                "2027-11-07T00:30:00-04:00",
                &["2027-11-07T01:00:00-04:00", "2027-11-07T01:00:00-05:00", "2027-11-07T02:00:00-05:00"],
            ),
            // Weekdays at 09:00: Friday 2027-03-12, then Monday, across the change.
            (
                "0 9 * * mon-fri",
                "2027-03-12T08:00:00-05:00",
                &["2027-03-12T09:00:00-05:00", "2027-03-15T09:00:00-04:00"],
            ),
            // 2028: 12 March and 5 November.
            ("30 2 * * *", "2028-03-11T12:00:00-05:00", &["2028-03-12T03:00:00-04:00"]),
            ("30 1 * * *", "2028-11-04T12:00:00-04:00", &["2028-11-05T01:30:00-04:00", "2028-11-06T01:30:00-05:00"]),
        ],
    );
}

fn lord_howe() {
    check(
        "Australia/Lord_Howe",
        &[
            // 2027-10-03: 02:00 (+10:30) becomes 02:30 (+11). `0 *` comes 90 real minutes
            // after the run before.
            (
                "0 * * * *",
                "2027-10-03T00:30:00+10:30",
                &["2027-10-03T01:00:00+10:30", "2027-10-03T03:00:00+11:00", "2027-10-03T04:00:00+11:00"],
            ),
            ("15 2 * * *", "2027-10-02T12:00:00+10:30", &["2027-10-03T02:30:00+11:00", "2027-10-04T02:15:00+11:00"]),
            // 2027-04-04: 02:00 (+11) becomes 01:30 (+10:30). `30 *` fires twice, 30 minutes
            // apart; a fixed time in the fold once.
            (
                "30 * * * *",
                "2027-04-04T01:00:00+11:00",
                &["2027-04-04T01:30:00+11:00", "2027-04-04T01:30:00+10:30", "2027-04-04T02:30:00+10:30"],
            ),
            ("45 1 * * *", "2027-04-03T12:00:00+11:00", &["2027-04-04T01:45:00+11:00", "2027-04-05T01:45:00+10:30"]),
            // 2028: 2 April and 1 October.
            ("15 2 * * *", "2028-09-30T12:00:00+10:30", &["2028-10-01T02:30:00+11:00"]),
            ("45 1 * * *", "2028-04-01T12:00:00+11:00", &["2028-04-02T01:45:00+11:00", "2028-04-03T01:45:00+10:30"]),
        ],
    );
}

fn chatham() {
    check(
        "Pacific/Chatham",
        &[
            // 2027-09-26: 02:45 (+12:45) becomes 03:45 (+13:45).
            ("0 3 * * *", "2027-09-25T12:00:00+12:45", &["2027-09-26T03:45:00+13:45", "2027-09-27T03:00:00+13:45"]),
            (
                "0 * * * *",
                "2027-09-26T01:30:00+12:45",
                &["2027-09-26T02:00:00+12:45", "2027-09-26T04:00:00+13:45", "2027-09-26T05:00:00+13:45"],
            ),
            // 2027-04-04: 03:45 (+13:45) becomes 02:45 (+12:45).
            ("15 3 * * *", "2027-04-03T12:00:00+13:45", &["2027-04-04T03:15:00+13:45", "2027-04-05T03:15:00+12:45"]),
            (
                "0 * * * *",
                "2027-04-04T02:30:00+13:45",
                &["2027-04-04T03:00:00+13:45", "2027-04-04T03:00:00+12:45", "2027-04-04T04:00:00+12:45"],
            ),
            // 2028: 2 April and 24 September.
            ("0 3 * * *", "2028-09-23T12:00:00+12:45", &["2028-09-24T03:45:00+13:45"]),
            ("15 3 * * *", "2028-04-01T12:00:00+13:45", &["2028-04-02T03:15:00+13:45", "2028-04-03T03:15:00+12:45"]),
        ],
    );
}

const ZONES: [(&str, &str); 4] = [
    ("Europe/Paris", "2027-01-01T00:00:00+01:00"),
    ("America/New_York", "2027-01-01T00:00:00-05:00"),
    ("Australia/Lord_Howe", "2027-01-01T00:00:00+11:00"),
    ("Pacific/Chatham", "2027-01-01T00:00:00+13:45"),
];

/// Fixed times run exactly once per local day through two whole years, changes included:
/// `@daily` at midnight, and a time in Paris's and New York's gap and fold.
fn once_per_local_day() {
    for (zone, new_year) in ZONES {
        for expr in ["@daily", "30 2 * * *", "30 1 * * *"] {
            set_zone(zone);
            let cron = Cron::parse(expr).unwrap();
            let mut t = at(instant(new_year) - 1);
            let mut days = Vec::new();
            for _ in 0..731 {
                t = cron.next_after(t);
                days.push(LocalTime(t).to_string()[..10].to_string());
            }
            let mut distinct = days.clone();
            distinct.dedup();
            assert_eq!(distinct.len(), 731, "{zone} {expr}: a day twice");
            assert_eq!((days[0].as_str(), days[730].as_str()), ("2027-01-01", "2028-12-31"), "{zone} {expr}");
        }
    }
}

/// `*/15` fires every 15 real minutes through both changes of both years, in all four zones.
fn real_cadence() {
    for (zone, new_year) in ZONES {
        set_zone(zone);
        let cron = Cron::parse("*/15 * * * *").unwrap();
        let mut t = cron.next_after(at(instant(new_year)));
        for _ in 0..2 * 366 * 96 {
            let next = cron.next_after(t);
            assert_eq!(secs(next) - secs(t), 900, "{zone} after {}", LocalTime(t));
            t = next;
        }
    }
}

/// `TZ=UTC` is UTC; a local time reads back; a time in the gap reads as the jump's end.
fn local_times() {
    set_zone("UTC");
    let t: LocalTime = "2027-03-28 02:30".parse().unwrap();
    assert_eq!(t.to_string(), "2027-03-28T02:30:00+00:00");
    set_zone("Europe/Paris");
    let t: LocalTime = "2027-03-28 02:30".parse().unwrap();
    assert_eq!(t.to_string(), "2027-03-28T03:00:00+02:00");
    let t: LocalTime = "2027-10-31T02:30:15".parse().unwrap();
    assert_eq!(t.to_string(), "2027-10-31T02:30:15+02:00");
    assert!("2027-02-30 00:00".parse::<LocalTime>().is_err());
    assert!("tomorrow".parse::<LocalTime>().is_err());
}

fn main() {
    let scenarios: [(&str, fn()); 7] = [
        ("paris", paris),
        ("new_york", new_york),
        ("lord_howe", lord_howe),
        ("chatham", chatham),
        ("once_per_local_day", once_per_local_day),
        ("real_cadence", real_cadence),
        ("local_times", local_times),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, scenario) in scenarios {
        match std::panic::catch_unwind(scenario) {
            Ok(()) => {
                println!("ok {name}");
                passed += 1;
            }
            Err(_) => {
                println!("FAILED {name}");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    std::process::exit(i32::from(failed > 0));
}
