//! The runs' health: STATUS= while performs fail, and `max_failures`.

use super::*;
use crate::health::Runs;

fn failing(in_a_row: u64, last_success: Option<Duration>) -> Runs {
    Runs { failed: in_a_row + 7, in_a_row, last_success }
}

#[test]
fn status_says_how_long_since_the_last_success_and_how_many_failed_in_a_row_every_second() {
    let (mut sup, mut w) = pool(cfg(2));
    sup.listened();
    (0..2).for_each(|i| w.ready(i));
    assert_eq!(sup.turn(at(5), S, &mut w), None, "healthy and idle: no deadline");
    w.notices.clear();
    w.runs = failing(37, Some(at(0)));
    assert_eq!(sup.turn(at(12_400), S, &mut w), Some(at(13_400)), "refreshed every second");
    let want = "STATUS=running: 2/2 workers up; last success 12 s ago, 37 failed in a row; 0 restarts, 0 timeouts, 0 late starts";
    assert_eq!(w.notices, [want]);
    w.runs = failing(2, None);
    sup.turn(at(13_400), S, &mut w);
    assert!(w.notices[1].contains("up; no success yet, 2 failed in a row; 0 restarts"), "{:?}", w.notices);
    // A success ends it: the status says nothing of failures, and the master is idle again.
    w.runs = Runs { failed: 9, in_a_row: 0, last_success: Some(at(13_500)) };
    assert_eq!(sup.turn(at(13_600), S, &mut w), None);
    assert_eq!(w.notices[2], "STATUS=running: 2/2 workers up; 0 restarts, 0 timeouts, 0 late starts");
    assert_eq!(w.take(), [info("ready: 2 workers up in 5 ms")]);
}

#[test]
fn max_failures_in_a_row_stops_the_pool_gracefully_and_says_why() {
    let (mut sup, mut w) = pool(Config { max_failures: Some(5), ..cfg(2) });
    (0..2).for_each(|i| w.ready(i));
    sup.turn(at(5), S, &mut w);
    w.take();
    w.runs = failing(4, Some(at(0)));
    sup.turn(at(100), S, &mut w);
    assert_eq!((w.take(), sup.failing()), (vec![], None), "4 of 5: nothing yet");
    w.runs = failing(5, Some(at(0)));
    sup.turn(at(200), S, &mut w);
    assert_eq!(
        w.take(),
        [
            error("5 performs failed in a row (max_failures 5): giving up"),
            info("failing performs: stopping 2 workers gracefully (timeout 5 s)"),
            Ask(0, 100),
            Ask(1, 101),
        ]
    );
    assert_eq!(sup.failing(), Some(5));
    // More failures while the stop runs change nothing.
    w.runs = failing(6, Some(at(0)));
    sup.turn(at(300), S, &mut w);
    assert_eq!((w.take(), sup.failing()), (vec![], Some(5)));
}

#[test]
fn failing_runs_wake_no_one_without_a_listener_but_max_failures_looks_every_second() {
    let (mut sup, mut w) = pool(cfg(1));
    w.ready(0);
    w.runs = failing(3, None);
    assert_eq!(sup.turn(at(10), S, &mut w), None, "no service manager: nothing to refresh");
    // With max_failures, a look every second even when healthy: a worker's wake-up can be
    // lost (EPERM once `setup` changed its user).
    let (mut sup, mut w) = pool(Config { max_failures: Some(9), ..cfg(1) });
    w.ready(0);
    assert_eq!(sup.turn(at(10), S, &mut w), Some(at(1010)));
}

#[test]
fn without_max_failures_the_pool_fails_on() {
    let (mut sup, mut w) = pool(cfg(1));
    w.runs = failing(1_000, None);
    sup.turn(at(100), S, &mut w);
    assert_eq!((w.take(), sup.failing()), (vec![], None));
}

#[test]
fn a_simple_perform_that_overran_its_timeout_is_a_failed_perform_once() {
    let (mut sup, mut w) = pool(Config { strategy: Strategy::Simple, perform_timeout: Some(ms(100)), ..cfg(1) });
    w.beat(0, true, Some(at(10)));
    sup.turn(at(200), S, &mut w);
    sup.turn(at(300), S, &mut w);
    assert_eq!(w.timed_out, [0]);
}
