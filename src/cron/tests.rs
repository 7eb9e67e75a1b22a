//! What needs no zone: reading, writing back, the calendar and the search on wall times. The
//! zone-dependent rule is tested in `tests/cron.rs`, a process with `TZ` pinned per scenario.

use super::calendar::{DAY_SECS, civil_from_days, days_from_civil, read_wall};
use super::*;

fn wall(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
    days_from_civil(y, mo, d) * DAY_SECS + h * 3600 + mi * 60 + s
}

fn err(expr: &str) -> String {
    match Cron::parse(expr) {
        Err(Error::Config(why)) => why,
        other => panic!("{expr:?} gave {other:?}"),
    }
}

#[test]
fn civil_dates_round_trip() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(days_from_civil(2028, 2, 29), 21_243);
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    for days in (-800_000..800_000).step_by(97) {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
    }
}

#[test]
fn reads_local_times() {
    assert_eq!(read_wall("2027-03-28 02:30"), Some(wall(2027, 3, 28, 2, 30, 0)));
    assert_eq!(read_wall("2027-03-28T02:30:15"), Some(wall(2027, 3, 28, 2, 30, 15)));
    for bad in [
        "2027-02-29 00:00",
        "2027-13-01 00:00",
        "2027-03-28 24:00",
        "2027-03-28",
        "27-03-28 00:00",
        "2027-03-28 1:00",
        "2027-03-28 00:00:60",
        "2027-03-28 00:00:00:00",
    ] {
        assert_eq!(read_wall(bad), None, "{bad}");
    }
}

#[test]
fn writes_back_a_normalised_expression() {
    for (expr, normal) in [
        ("30 2 * * *", "30 2 * * *"),
        ("*/15 * * * *", "*/15 * * * *"),
        ("0 9 * * MON-fri", "0 9 * * 1-5"),
        ("0 0 1 jan,Jul *", "0 0 1 1,7 *"),
        ("0 0 * * 7", "0 0 * * 0"),
        ("0 0 * * fri-sun", "0 0 * * 0,5,6"),
        ("10-50/10 * * * *", "10,20,30,40,50 * * * *"),
        ("0 1,2,3,5 * * *", "0 1-3,5 * * *"),
        ("*/20 30 2 * * *", "*/20 30 2 * * *"),
        ("0 0 0 * * *", "0 0 * * *"),
        ("@daily", "0 0 * * *"),
        ("@Hourly", "0 * * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@annually", "0 0 1 1 *"),
        ("*/60 * * * *", "*/60 * * * *"),
        ("0 0 */2 * *", "0 0 */2 * *"),
    ] {
        let cron = Cron::parse(expr).unwrap();
        assert_eq!(cron.to_string(), normal, "{expr}");
        assert_eq!(Cron::parse(normal).unwrap(), cron, "{normal} reads back");
    }
}

#[test]
fn fixed_or_not() {
    for (expr, fixed) in [
        ("30 2 * * *", true),
        ("0-59 1 * * *", true),
        ("*/20 30 2 * * *", true),
        ("*/15 * * * *", false),
        ("0 * * * *", false),
        ("0 */2 * * *", false),
    ] {
        assert_eq!(Cron::parse(expr).unwrap().fixed(), fixed, "{expr}");
    }
}

#[test]
fn refuses_with_the_field_and_the_fix() {
    for (expr, why) in [
        ("0 25 * * *", r#"cron: hour "25" is out of range 0-23"#),
        ("60 * * * *", r#"cron: minute "60" is out of range 0-59"#),
        ("0 0 0 * *", r#"cron: day-of-month "0" is out of range 1-31"#),
        ("0 0 * 13 *", r#"cron: month "13" is out of range 1-12"#),
        ("0 0 * * 8", r#"cron: day-of-week "8" is out of range 0-7"#),
        ("61 * * * * *", r#"cron: second "61" is out of range 0-59"#),
        ("0 0 * foo *", r#"cron: month "foo" is not a number or a name (jan-dec)"#),
        ("x * * * *", r#"cron: minute "x" is not a number"#),
        ("0 0 L * *", r#"cron: day-of-month "L": L, W, # and ? are not supported; list the values instead"#),
        ("0 0 15W * *", r#"cron: day-of-month "15W": L, W, # and ? are not supported"#),
        ("0 0 * * 5#3", r#"cron: day-of-week "5#3": L, W, # and ? are not supported"#),
        ("0 0 ? * *", r#"cron: day-of-month "?": L, W, # and ? are not supported"#),
        ("0 0 1 1 * 2027", "a year field is not supported"),
        ("0 0 * *", "has 4 fields; write 5 fields (minute hour day-of-month month day-of-week)"),
        ("", "the expression is empty"),
        ("@reboot", "@reboot is not supported"),
        ("@often", r#"unknown "@often"; write @yearly"#),
        ("0 5-2 * * *", r#"hour "5-2": the range 5-2 runs backwards; ranges do not wrap, write 5-23,0-2"#),
        ("0 0 * * sat-mon", r#"day-of-week "sat-mon": the range 6-1 runs backwards; ranges do not wrap, write 6,0-1"#),
        ("0 0 * april *", r#"month "april" is not a number or a name (jan-dec)"#),
        ("0 0 * * wednesday", r#"day-of-week "wednesday" is not a number or a name (sun-sat)"#),
        ("+5 * * * *", r#"minute "+5" is not a number"#),
        ("-5 * * * *", r#"minute "-5": a value is missing (or negative)"#),
        ("1,,2 * * * *", r#"minute "1,,2": a value is missing"#),
        ("*", r#""*" has 1 field;"#),
        ("0 0 * * */8", r#"the step "8" must be a whole number from 1 to 7"#),
        ("*/0 * * * *", r#"minute "*/0": the step "0" must be a whole number from 1 to 60"#),
        ("5/10 * * * *", r#"minute "5/10": a step needs a range or `*`; write 5-59/10"#),
        ("*,5 * * * *", r#"minute "*,5": `*` cannot be part of a list"#),
        ("0 0 30 2 *", r#"cron: "0 0 30 2 *" never fires"#),
        ("0 0 31 4,6,9,11 *", "never fires"),
    ] {
        let got = err(expr);
        assert!(got.starts_with(why) || got.contains(why), "{expr:?}: {got}");
        assert!(!got.contains('\n'), "one line: {got}");
    }
    // Restricted day-of-week too: either matches, so it fires.
    assert!(Cron::parse("0 0 30 2 mon").is_ok());
}

#[test]
fn finds_the_next_wall_time() {
    let next = |expr: &str, from: i64| Cron::parse(expr).unwrap().next_wall(from).unwrap();
    let from = wall(2027, 1, 1, 0, 0, 1); // a Friday
    assert_eq!(next("30 2 * * *", from), wall(2027, 1, 1, 2, 30, 0));
    assert_eq!(next("0 9 * * mon-fri", wall(2027, 1, 1, 9, 0, 1)), wall(2027, 1, 4, 9, 0, 0));
    assert_eq!(next("0 0 29 2 *", from), wall(2028, 2, 29, 0, 0, 0));
    assert_eq!(next("0 0 29 2 *", wall(2028, 2, 29, 0, 0, 1)), wall(2032, 2, 29, 0, 0, 0));
    // Day-of-month or day-of-week: the 13th, or any Friday.
    assert_eq!(next("0 0 13 * fri", wall(2027, 1, 2, 0, 0, 0)), wall(2027, 1, 8, 0, 0, 0));
    assert_eq!(next("0 0 13 * fri", wall(2027, 1, 9, 0, 0, 0)), wall(2027, 1, 13, 0, 0, 0));
    // With a `*`-led day-of-week, both must match: odd days that are Fridays.
    assert_eq!(next("0 0 */2 * 5", from), wall(2027, 1, 1, 0, 0, 0) + 14 * DAY_SECS);
    assert_eq!(next("*/20 30 2 * * *", wall(2027, 1, 1, 2, 30, 1)), wall(2027, 1, 1, 2, 30, 20));
    assert_eq!(next("*/20 30 2 * * *", wall(2027, 1, 1, 2, 30, 41)), wall(2027, 1, 2, 2, 30, 0));
    assert_eq!(next("10-50/10 * * * *", wall(2027, 1, 1, 23, 51, 0)), wall(2027, 1, 2, 0, 10, 0));
    assert_eq!(next("0 0 1 1 *", from), wall(2028, 1, 1, 0, 0, 0));
    assert_eq!(next("* * * * * *", from), from);
}
