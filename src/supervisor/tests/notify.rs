//! What the service manager hears: `READY=1` once every worker finished `setup`, the status
//! when it changes, `STOPPING=1` when a stop begins, the watchdog on its cadence, and a
//! daemon's start that fails.

use super::*;

fn status(phase: &str, up: usize, target: usize, restarts: u64) -> String {
    format!("STATUS={phase}: {up}/{target} workers up; {restarts} restarts, 0 timeouts, 0 late starts")
}

#[test]
fn ready_comes_once_every_worker_finished_setup_and_status_only_on_change() {
    let (mut sup, mut w) = (Supervisor::new(Config { setup_timeout: Some(ms(2000)), ..cfg(2) }, true), Fake::default());
    sup.begin(1, at(0), &mut w);
    assert_eq!(w.notices, ["EXTEND_TIMEOUT_USEC=3000000"], "a setup timeout plus the grace to kill it");
    sup.turn(at(0), S, &mut w);
    w.ready(0);
    sup.turn(at(40), S, &mut w);
    sup.turn(at(41), S, &mut w);
    w.ready(1);
    sup.turn(at(75), S, &mut w);
    sup.turn(at(90), S, &mut w);
    let expected = [
        "EXTEND_TIMEOUT_USEC=3000000".to_string(),
        status("starting", 0, 2, 0),
        status("starting", 1, 2, 0),
        "READY=1".into(),
        status("running", 2, 2, 0),
    ];
    assert_eq!(w.notices, expected);
    assert!(w.take().contains(&info("ready: 2 workers up in 75 ms")));
}

#[test]
fn a_worker_that_dies_before_the_pool_is_up_delays_ready_and_counts_as_a_restart() {
    let (mut sup, mut w) = pool(cfg(2));
    w.ready(0);
    w.die(101, Exit::Code(3));
    sup.turn(at(10), S, &mut w);
    assert!(!w.notices.contains(&"READY=1".to_string()));
    assert_eq!(w.notices.last().unwrap(), &status("starting", 1, 2, 1));
    sup.turn(at(110), S, &mut w); // the replacement, after its backoff
    w.ready(1);
    sup.turn(at(150), S, &mut w);
    assert_eq!(w.notices[w.notices.len() - 2..], ["READY=1".to_string(), status("running", 2, 2, 1)]);
}

#[test]
fn stopping_is_sent_when_a_stop_begins_once_and_before_any_worker_ends() {
    let (mut sup, mut w) = pool(cfg(1));
    w.ready(0);
    sup.turn(at(10), S, &mut w);
    w.notices.clear();
    sup.turn(at(20), Signals { term: 1, ..S }, &mut w);
    assert_eq!(w.notices, ["STOPPING=1".to_string(), status("stopping", 1, 1, 0)]);
    sup.turn(at(30), Signals { int: 1, ..S }, &mut w);
    sup.turn(at(40), Signals { quit: 1, ..S }, &mut w);
    assert_eq!(w.notices.iter().filter(|n| *n == "STOPPING=1").count(), 1);
    // An immediate stop from the start says so too.
    let (mut sup, mut w) = pool(cfg(1));
    sup.turn(at(5), Signals { quit: 1, ..S }, &mut w);
    assert_eq!(w.notices.iter().filter(|n| *n == "STOPPING=1").count(), 1);
    assert!(!w.notices.contains(&"READY=1".to_string()), "a pool that stops before it is up is never ready");
}

#[test]
fn the_watchdog_keeps_its_cadence_wakes_the_master_and_never_bursts() {
    let (mut sup, mut w) = (Supervisor::new(cfg(1), true), Fake::default());
    sup.watchdog(ms(500));
    sup.begin(1, at(0), &mut w);
    assert_eq!(sup.turn(at(0), S, &mut w), Some(at(500)), "sent at once, then every 500 ms");
    w.ready(0);
    assert_eq!(sup.turn(at(1), S, &mut w), Some(at(500)));
    assert_eq!(sup.turn(at(200), S, &mut w), Some(at(500)), "an early turn sends nothing");
    assert_eq!(sup.turn(at(500), S, &mut w), Some(at(1000)));
    // A turn 3 intervals late sends one, not three, and counts from now.
    assert_eq!(sup.turn(at(2600), S, &mut w), Some(at(3100)));
    assert_eq!(w.notices.iter().filter(|n| *n == "WATCHDOG=1").count(), 3);
    // None once the pool is done.
    sup.turn(at(2700), Signals { term: 1, ..S }, &mut w);
    w.die(100, Exit::Code(0));
    assert_eq!(sup.turn(at(2800), S, &mut w), None);
}

#[test]
fn no_watchdog_without_one_asked_and_the_idle_master_sleeps() {
    let (mut sup, mut w) = pool(cfg(1));
    w.ready(0);
    assert_eq!(sup.turn(at(10), S, &mut w), None);
    assert!(!w.notices.iter().any(|n| n == "WATCHDOG=1"));
}

#[test]
fn a_daemon_whose_worker_fails_setup_before_the_pool_is_up_gives_up_the_start() {
    let (mut sup, mut w) = pool(Config { must_come_up: true, ..cfg(2) });
    w.ready(0);
    w.die(101, Exit::Code(3));
    sup.turn(at(10), S, &mut w);
    let calls = w.take();
    let line = "worker 1 (pid 101) failed to start: exited with code 3; not restarting: a daemon's start must succeed";
    assert!(calls.contains(&warn(line)), "{calls:?}");
    assert!(calls.contains(&error("a worker failed before every worker was up: giving up the start")));
    assert!(calls.contains(&Ask(0, 100)), "the others are stopped gracefully");
    assert!(sup.start_failed() && sup.gave_up().is_some());
    assert_eq!(w.notices.iter().filter(|n| *n == "STOPPING=1").count(), 1);
}

#[test]
fn once_a_daemon_is_up_a_failure_is_restarted_as_usual() {
    let (mut sup, mut w) = pool(Config { must_come_up: true, ..cfg(1) });
    w.ready(0);
    sup.turn(at(10), S, &mut w);
    w.die(100, Exit::Code(1));
    sup.turn(at(20), S, &mut w);
    assert!(format!("{:?}", w.take()).contains("restarting now"));
    assert!(!sup.start_failed() && sup.gave_up().is_none());
}

#[test]
fn timeouts_and_late_starts_are_counted_in_the_status() {
    let (mut sup, mut w) = pool(Config { perform_timeout: Some(ms(100)), ..cfg(1) });
    w.beats.insert(0, Heartbeat { ready: true, late_starts: 2, perform_started: Some(at(0)), ..Default::default() });
    sup.turn(at(150), S, &mut w);
    let last = w.notices.last().unwrap();
    assert_eq!(last, "STATUS=running: 1/1 workers up; 0 restarts, 1 timeouts, 2 late starts");
}

#[test]
fn each_notice_is_worded_as_sd_notify_wants_it() {
    let words = [
        (Notice::Ready, "READY=1"),
        (Notice::Reloading { at: Duration::new(12, 345_678_000) }, "RELOADING=1\nMONOTONIC_USEC=12345678"),
        (Notice::Stopping, "STOPPING=1"),
        (Notice::Watchdog, "WATCHDOG=1"),
        (Notice::ExtendTimeout(ms(1500)), "EXTEND_TIMEOUT_USEC=1500000"),
    ];
    for (notice, text) in words {
        assert_eq!(notice.to_string(), text);
    }
}
