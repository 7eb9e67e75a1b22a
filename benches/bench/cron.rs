//! Item 18, calendar schedules (issue 18): what one `Cron::next_after` costs, under
//! `TZ=Europe/Paris`, for common expressions (the median over starting instants spread through
//! 2027 and 2028, daylight-saving changes included) and for slow ones (the slowest starting
//! instant, among them the instants just after an occurrence of a rare expression, when the
//! next one is furthest away). Each instant's cost is the median of `REPEATS` calls from it, so
//! that a call the scheduler interrupts does not pass for a slow one. Pure computation in this
//! process: no fork. One row more for the system zone (`TZ` unset): glibc then checks
//! `/etc/localtime` at each call.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sisyphus::Cron;

use crate::items::Cfg;
use crate::table::{Goal, Row, median};

/// 2027-01-01T00:00:00Z.
const Y2027: u64 = 1_798_761_600;
/// Two years of seconds.
const TWO_YEARS: u64 = 2 * 365 * 86_400;
/// Europe/Paris's changes in 2027 and 2028 (01:00 UTC on the last Sunday of March and of
/// October).
const CHANGES: [u64; 4] = [1_806_195_600, 1_824_944_400, 1_837_645_200, 1_856_394_000];

/// The common expressions: the goal is a median under 20 µs.
const COMMON: [&str; 4] = ["*/15 * * * *", "30 2 * * *", "0 9 * * mon-fri", "@daily"];
/// Slow ones, with the instants that make them slowest: the goal is under 2 ms.
fn slow() -> Vec<(&'static str, &'static str, Vec<u64>)> {
    vec![
        // A leap day: the second after 2028-02-29 and after 2096-02-29 (the next: 2104).
        ("0 0 29 2 *", "29 Feb", vec![1_835_391_601, 3_981_308_401]),
        // A Sunday the 13th (the day-of-week field starts with `*`: both must match): the
        // second after 2028-08-13 (the next: 2029-05-13, 273 days on) and after 2029-05-13.
        ("0 0 13 * */7", "a Sunday 13th", vec![1_849_730_401, 1_873_317_601]),
        // A Sunday 29 February: the second after 2088-02-29 (the next: 2128).
        ("0 0 29 2 */7", "a Sunday 29 Feb", vec![3_728_847_601]),
        // A fixed time at every second of 02:00-02:59, from the autumn fold's second pass,
        // whose times all showed first an hour before.
        ("* 0-59 2 * * *", "every second of 02:xx", vec![CHANGES[1], CHANGES[1] + 1, CHANGES[3] + 60]),
    ]
}

/// The starting instants every expression is timed from: every 31,537 s (8 h 45 min 37 s, so
/// that times of day vary) through 2027 and 2028, and every 5 minutes from 2 h before to 2 h
/// after each change.
fn spread() -> Vec<u64> {
    let mut at: Vec<u64> = (0..TWO_YEARS / 31_537).map(|k| Y2027 + k * 31_537).collect();
    for change in CHANGES {
        at.extend((0..48).map(|k| change - 7_200 + k * 300));
    }
    at
}

/// Calls timed from each starting instant.
const REPEATS: usize = 7;

/// The time of a call from each starting instant, in µs: the median of `REPEATS` calls.
fn times(cron: &Cron, starts: &[u64]) -> Vec<f64> {
    starts
        .iter()
        .map(|&s| {
            let after = UNIX_EPOCH + Duration::from_secs(s);
            let calls: Vec<f64> = (0..REPEATS)
                .map(|_| {
                    let t0 = Instant::now();
                    let next: SystemTime = black_box(cron.next_after(black_box(after)));
                    let took = t0.elapsed();
                    black_box(next);
                    took.as_secs_f64() * 1e6
                })
                .collect();
            median(&calls)
        })
        .collect()
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

pub(crate) fn item18(cfg: &Cfg) -> Result<Vec<Row>, String> {
    // This process has one thread; `TZ` is put back as it was.
    let old = std::env::var_os("TZ");
    // SAFETY: the bench is single-threaded: nothing reads the environment meanwhile.
    unsafe { std::env::set_var("TZ", "Europe/Paris") };
    let rows = measure(cfg);
    // SAFETY: as above.
    unsafe {
        match old {
            Some(tz) => std::env::set_var("TZ", tz),
            None => std::env::remove_var("TZ"),
        }
    }
    rows
}

fn measure(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let parse = |e: &str| Cron::parse(e).map_err(|err| format!("{e}: {err}"));
    let starts = spread();
    let n = starts.len();
    let mut rows = Vec::new();
    for expr in COMMON {
        let cron = parse(expr)?;
        let (mut medians, mut maxes) = (Vec::new(), Vec::new());
        for _ in 0..cfg.runs {
            let t = times(&cron, &starts);
            medians.push(median(&t));
            maxes.push(max(&t));
        }
        let what = format!("next_after `{expr}`: median over {n} starts");
        rows.push(Row::new(18, what, "µs", medians).goal(Goal::Below(20.0)));
        rows.push(Row::new(18, format!("next_after `{expr}`: slowest start"), "µs", maxes));
    }
    // The system zone: `tzset` reads `TZ` again at each call, and without it looks at
    // `/etc/localtime` (a `stat`).
    // SAFETY: the bench is single-threaded: nothing reads the environment meanwhile.
    unsafe { std::env::remove_var("TZ") };
    let cron = parse(COMMON[0])?;
    let medians = (0..cfg.runs).map(|_| median(&times(&cron, &starts))).collect();
    rows.push(Row::new(18, format!("next_after `{}`: median, TZ unset", COMMON[0]), "µs", medians));
    // SAFETY: as above.
    unsafe { std::env::set_var("TZ", "Europe/Paris") };
    for (expr, name, worst) in slow() {
        let cron = parse(expr)?;
        let all: Vec<u64> = starts.iter().copied().chain(worst).collect();
        let (mut medians, mut maxes) = (Vec::new(), Vec::new());
        for _ in 0..cfg.runs {
            let t = times(&cron, &all);
            medians.push(median(&t));
            maxes.push(max(&t));
        }
        rows.push(Row::new(18, format!("next_after `{expr}` ({name}): median"), "µs", medians));
        let what = format!("next_after `{expr}`: slowest start");
        rows.push(Row::new(18, what, "µs", maxes).goal(Goal::AllAtMost(2000.0)));
    }
    Ok(rows)
}
