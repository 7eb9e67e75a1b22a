//! The plain functions: backoff arithmetic, the restart window, timeouts, settings, wording.

use super::*;
use crate::Error;
use crate::Signal;
use crate::pace::{BACKOFF_MAX, doubling, restart_delay};
use crate::supervisor::slot::{Life, RestartWindow, Slot};
use crate::supervisor::timeouts::{Overrun, check_timeout, overslept};

#[test]
fn restart_delay_is_zero_first_after_coming_up_then_doubles_to_the_cap() {
    let d = restart_delay;
    assert_eq!([d(1, true), d(2, true), d(3, true), d(4, true)], [ms(0), ms(100), ms(200), ms(400)]);
    assert_eq!([d(1, false), d(2, false), d(9, false), d(10, false)], [ms(100), ms(200), ms(25_600), BACKOFF_MAX]);
    assert_eq!([d(0, true), d(u32::MAX, true), d(u32::MAX, false)], [ms(0), BACKOFF_MAX, BACKOFF_MAX]);
}

#[test]
fn doubling_edges() {
    let (ns, max) = (Duration::from_nanos(1), Duration::MAX);
    assert_eq!([doubling(0, ns, max), doubling(1, ns, max), doubling(3, ns, max)], [ms(0), ns, ns * 4]);
    assert_eq!(doubling(32, ns, max), Duration::from_nanos(1 << 31));
    assert_eq!([doubling(33, ns, ms(5)), doubling(u32::MAX, ms(1), max)], [ms(5), ms(u64::from(u32::MAX))]);
    assert_eq!(doubling(u32::MAX, Duration::ZERO, max), Duration::ZERO);
}

#[test]
fn the_restart_window_trips_on_more_than_max_within_it() {
    let trips = |max, within, times: &[u64]| {
        let mut w = RestartWindow::new(max, ms(within));
        times.iter().map(|&t| w.record(at(t))).collect::<Vec<_>>()
    };
    assert_eq!(trips(2, 1000, &[0, 500, 1000, 1400]), [false, false, true, true]);
    assert_eq!(trips(2, 1000, &[0, 600, 1200, 1800, 2400]), [false; 5]);
    assert_eq!(trips(0, 1000, &[0]), [true]);
    assert_eq!(trips(1, 1000, &[0, 1001, 1500]), [false, false, true]);
}

#[test]
fn check_timeout_cases() {
    let (setup, perform) = (Some(ms(1000)), Some(ms(2000)));
    let slot = Slot { life: Life::Running(100), started: at(0), ..Slot::default() };
    let beat =
        |ready, started: Option<u64>| Heartbeat { ready, perform_started: started.map(at), ..Default::default() };
    let check = |s: &Slot, b, now| check_timeout(s, b, setup, perform, at(now), at(0));
    assert_eq!(check(&Slot::default(), beat(false, None), 5000), (None, None));
    let gone = Slot { life: Life::Killed(100, Kill::SetupTimeout, false), ..slot.clone() };
    assert_eq!(check(&gone, beat(false, None), 5000), (None, None));
    assert_eq!(check(&slot, beat(false, None), 999), (None, Some(at(1000))));
    assert_eq!(check(&slot, beat(false, None), 1000), (Some(Overrun::Setup { elapsed: ms(1000) }), None));
    assert_eq!(check(&slot, beat(true, None), 5000), (None, Some(at(7000))));
    let over = Overrun::Perform { started: at(100), elapsed: ms(2500) };
    assert_eq!(check(&slot, beat(true, Some(100)), 2600), (Some(over), Some(at(3600))));
    let sent = Slot { timeout_sent: Some((at(100), at(2600))), ..slot.clone() };
    assert_eq!(check(&sent, beat(true, Some(100)), 3000), (None, Some(at(3600))));
    // Re-armed after a suspension: counts from `armed_from`.
    let late = check_timeout(&slot, beat(true, Some(100)), setup, perform, at(9000), at(8000));
    assert_eq!(late, (None, Some(at(10_000))));
}

#[test]
fn overslept_only_past_the_margin() {
    assert!(!overslept(None, at(99_999)));
    assert!(!overslept(Some(at(0)), at(0) + OVERSLEEP));
    assert!(overslept(Some(at(0)), at(0) + OVERSLEEP + Duration::from_nanos(1)));
}

#[test]
fn validate_rejects_what_cannot_work() {
    let why = |c: Config| match c.validate() {
        Err(Error::Config(why)) => why,
        other => panic!("{other:?}"),
    };
    let ok = |c: Config| c.validate().is_ok();
    assert!(ok(cfg(MAX_WORKERS)) && ok(Config { stop_timeout: MIN_TIMEOUT, ..cfg(0) }));
    assert!(ok(Config { stop_timeout: MAX_TIMEOUT, perform_timeout: Some(MAX_TIMEOUT), ..cfg(1) }));
    assert_eq!(why(cfg(MAX_WORKERS + 1)), "workers(4097) is more than the limit of 4096");
    assert_eq!(
        why(Config { stop_timeout: ms(9), ..cfg(1) }),
        "stop_timeout of 9ms is shorter than the minimum of 10ms"
    );
    let year = MAX_TIMEOUT + Duration::from_nanos(1);
    let long = why(Config { setup_timeout: Some(year), ..cfg(1) });
    assert_eq!(long, "setup_timeout is longer than a year; leave the option unset for none");
    let window = why(Config { max_restarts: Some((3, ms(1))), ..cfg(1) });
    assert_eq!(window, "max_restarts window of 1ms is shorter than the minimum of 10ms");
    let cut = why(Config { perform_timeout: Some(ms(5001)), ..cfg(1) });
    assert!(cut.starts_with("perform_timeout (5.001s) is longer than stop_timeout (5s)"), "{cut}");
    let stop = |sig| why(Config { stop_signal: Signal::from_raw(sig), ..cfg(1) });
    assert_eq!(stop(libc::SIGTSTP), "stop_signal TSTP would suspend the perform, not end it");
    assert_eq!(stop(libc::SIGURG), "stop_signal URG is sisyphus's own, to wake workers");
    assert!(ok(Config { stop_signal: Some(Signal::WINCH), ..cfg(1) }), "apache's graceful stop");
    let simple = why(Config { stop_signal: Some(Signal::TERM), strategy: Strategy::Simple, ..cfg(1) });
    assert!(simple.starts_with("stop_signal TERM with the simple strategy: "), "{simple}");
    for bad in ["", "a/b", "tab\there"] {
        let named = why(Config { name: bad.into(), ..cfg(1) });
        assert!(named.starts_with("name ") && named.ends_with("without control characters or '/'"), "{named}");
    }
}

#[test]
fn durations_and_counts_read_as_humans_write_them() {
    let human = |d: Duration| Human(d).to_string();
    assert_eq!([human(ms(0)), human(ms(250)), human(Duration::from_micros(300_400))], ["0 ms", "250 ms", "300.4 ms"]);
    assert_eq!([human(ms(1000)), human(ms(25_000)), human(ms(31_200))], ["1 s", "25 s", "31.2 s"]);
    let (mut sup, mut w) = (Supervisor::new(Config { strategy: Strategy::Simple, ..cfg(2) }, true), Fake::default());
    sup.begin(7, Duration::ZERO, &mut w);
    assert_eq!(w.take(), [info("master 7 starting 2 workers (Simple strategy)")]);
}
