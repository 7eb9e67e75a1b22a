//! How exits are classified and logged, backoff, the restart limit, fork failures, and the
//! unmonitored mode.

use super::*;

/// Worker `pid` exits before the turn at `now`: checks that it is killed (its group) and reaped
/// first, and returns the rest of the turn's calls and its deadline.
fn death(sup: &mut Supervisor, w: &mut Fake, pid: Pid, exit: Exit, now: Duration) -> (Vec<Call>, Option<Duration>) {
    w.die(pid, exit);
    let next = sup.turn(now, S, w);
    let mut calls = w.take();
    assert_eq!(calls[..2], [KillGroup(pid), Collect(pid)]);
    calls.drain(..2);
    (calls, next)
}

#[test]
fn the_running_perform_group_of_a_dead_worker_is_killed_with_its_own_before_it_is_reaped() {
    let (mut sup, mut w) = pool(cfg(1));
    w.beats.insert(0, Heartbeat { ready: true, perform_group: Some(555), ..Default::default() });
    w.die(100, SEGV);
    sup.turn(at(50), S, &mut w);
    assert_eq!(w.take()[..3], [KillGroup(100), KillGroup(555), Collect(100)]);
}

#[test]
fn a_worker_that_came_up_and_died_is_replaced_at_once_then_after_100_200_400_ms() {
    let (mut sup, mut w) = pool(cfg(1));
    let mut now = at(0);
    for (n, delay) in [0, 100, 200, 400].into_iter().enumerate() {
        let pid = 100 + n as Pid;
        w.ready(0);
        now += ms(50);
        let (calls, next) = death(&mut sup, &mut w, pid, SEGV, now);
        let then = if delay == 0 { "restarting now".into() } else { format!("restarting in {delay} ms") };
        let line = error(&format!("worker 0 (pid {pid}) died after 50 ms: was killed by signal SEGV; {then}"));
        if delay > 0 {
            assert_eq!((calls, next), (vec![line], Some(now + ms(delay))));
            assert_eq!(sup.turn(now + ms(delay - 1), S, &mut w), Some(now + ms(delay)));
            now += ms(delay);
            sup.turn(now, S, &mut w);
            assert_eq!(w.take(), started(0, pid + 1));
        } else {
            assert_eq!(calls, [vec![line], started(0, pid + 1).to_vec()].concat());
        }
    }
}

#[test]
fn a_failed_start_is_a_warning_with_backoff_doubling_from_100_ms_to_30_s() {
    let (mut sup, mut w) = pool(cfg(1));
    let mut now = at(0);
    let delays = [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000];
    for (n, delay) in delays.into_iter().map(ms).enumerate() {
        let pid = 100 + n as Pid;
        now += ms(10);
        let (calls, next) = death(&mut sup, &mut w, pid, Exit::Code(3), now);
        let line = format!("worker 0 (pid {pid}) failed to start: exited with code 3; restarting in {}", Human(delay));
        assert_eq!((calls, next), (vec![warn(&line)], Some(now + delay)));
        now += delay;
        sup.turn(now, S, &mut w);
        assert_eq!(w.take(), started(0, pid + 1));
    }
}

#[test]
fn an_unasked_exit_0_is_a_warning() {
    let (mut sup, mut w) = pool(cfg(1));
    w.ready(0);
    let (calls, _) = death(&mut sup, &mut w, 100, Exit::Code(0), at(1000));
    let line = warn("worker 0 (pid 100) ended unasked after 1 s: exited with code 0; restarting now");
    assert_eq!(calls, [vec![line], started(0, 101).to_vec()].concat());
}

#[test]
fn a_worker_that_lived_healthy_uptime_ends_its_streak() {
    let (mut sup, mut w) = pool(cfg(1));
    w.ready(0);
    death(&mut sup, &mut w, 100, SEGV, at(10)); // restarted now, pid 101
    w.ready(0);
    let (_, next) = death(&mut sup, &mut w, 101, SEGV, at(20));
    assert_eq!(next, Some(at(120)));
    sup.turn(at(120), S, &mut w);
    w.take();
    w.ready(0);
    let (calls, _) = death(&mut sup, &mut w, 102, SEGV, at(120) + HEALTHY_UPTIME);
    let line = error("worker 0 (pid 102) died after 10 s: was killed by signal SEGV; restarting now");
    assert_eq!(calls, [vec![line], started(0, 103).to_vec()].concat());
}

#[test]
fn a_stranger_is_reaped_at_debug_and_otherwise_ignored() {
    let (mut sup, mut w) = pool(cfg(1));
    w.die(7, Exit::Code(1));
    assert_eq!(sup.turn(at(10), S, &mut w), None);
    assert_eq!(w.take(), [Collect(7), Log(Level::Debug, "reaped pid 7, not a worker: exited with code 1".into())]);
    assert_eq!(sup.live(), 1);
}

#[test]
fn a_failed_wait_is_logged_as_an_error() {
    let (mut sup, mut w) = pool(cfg(1));
    w.wait_fails = true;
    sup.turn(at(10), S, &mut w);
    assert_eq!(w.take(), [error("waitid failed: boom")]);
}

#[test]
fn the_restart_limit_trips_on_the_n_plus_1th_restart_and_stops_the_rest() {
    let (mut sup, mut w) = pool(Config { max_restarts: Some((2, ms(10_000))), ..cfg(2) });
    for (pid, now, delay) in [(101, 100, 100), (102, 300, 200)] {
        w.die(pid, Exit::Code(3));
        assert_eq!(sup.turn(at(now), S, &mut w), Some(at(now + delay)));
        sup.turn(at(now + delay), S, &mut w);
        assert_eq!(w.take()[3..], started(1, pid + 1));
    }
    w.die(103, Exit::Code(3));
    assert_eq!(sup.turn(at(600), S, &mut w), Some(at(5600)));
    assert_eq!(
        w.take(),
        [
            KillGroup(103),
            Collect(103),
            warn(
                "worker 1 (pid 103) failed to start: exited with code 3; not restarting: the restart limit is reached"
            ),
            error("workers died more than 2 times within 10 s: giving up"),
            info("restart limit: stopping 1 worker gracefully (timeout 5 s)"),
            Ask(0, 100),
        ]
    );
    let last = sup.gave_up().expect("gave up");
    assert_eq!((last.slot, last.exit, last.came_up, last.kill), (1, Exit::Code(3), false, None));
    w.die(100, Exit::Code(0));
    sup.turn(at(700), S, &mut w);
    assert!(sup.done());
}

#[test]
fn restarts_spread_wider_than_the_window_do_not_trip_the_limit() {
    let (mut sup, mut w) = pool(Config { max_restarts: Some((2, HEALTHY_UPTIME * 2)), ..cfg(1) });
    let mut now = at(0);
    for pid in 100..106 {
        w.ready(0);
        now += HEALTHY_UPTIME + ms(1);
        let (calls, _) = death(&mut sup, &mut w, pid, SEGV, now);
        assert_eq!(calls[1..], started(0, pid + 1));
    }
    assert_eq!(sup.gave_up(), None);
}

#[test]
fn fork_failures_back_off_are_logged_once_and_recovery_is_logged() {
    let mut w = Fake { fork_fails: 3, ..Fake::default() };
    let mut sup = Supervisor::new(cfg(1), true);
    sup.begin(1, Duration::ZERO, &mut w);
    assert_eq!(w.take(), [info("master 1 starting 1 worker (Forking strategy)")]);
    assert_eq!(sup.turn(at(0), S, &mut w), Some(at(100)));
    let why = "the process has 3 threads, and forking it could deadlock the child";
    assert_eq!(w.take(), [Fork(0), error(&format!("cannot fork worker 0: {why}; retrying in 100 ms"))]);
    assert_eq!(sup.turn(at(100), S, &mut w), Some(at(300)));
    assert_eq!(sup.turn(at(300), S, &mut w), Some(at(700)));
    assert_eq!(w.take(), [Fork(0), Fork(0)]);
    assert_eq!(sup.turn(at(700), S, &mut w), None);
    assert_eq!(w.take(), [started(0, 100).to_vec(), vec![info("fork works again after 3 failures")]].concat());
}

/// Fork failures feed the restart limit (`spawning`'s doc, the crate docs); when they trip it,
/// `gave_up` must say so, or `run` reports a clean stop instead of `Error::RestartLimit`.
#[test]
fn fork_failures_that_trip_the_restart_limit_are_reported() {
    let mut w = Fake { fork_fails: 5, ..Fake::default() };
    let mut sup = Supervisor::new(Config { max_restarts: Some((1, ms(10_000))), ..cfg(1) }, true);
    sup.begin(1, Duration::ZERO, &mut w);
    sup.turn(at(0), S, &mut w);
    w.take();
    assert_eq!(sup.turn(at(100), S, &mut w), None);
    assert_eq!(
        w.take(),
        [
            Fork(0),
            error("workers died more than 1 times within 10 s: giving up"),
            info("restart limit: stopping 0 workers gracefully (timeout 5 s)"),
        ]
    );
    assert!(sup.done());
    assert_eq!(sup.gave_up().map(|f| (f.slot, f.came_up)), Some((0, false)));
}

#[test]
fn unmonitored_reaps_only_its_own_pids_and_starts_nothing_on_its_own() {
    let (mut sup, mut w) = (Supervisor::new(cfg(2), false), Fake::default());
    assert_eq!((sup.start_one(at(0), &mut w).ok(), sup.start_one(at(0), &mut w).ok()), (Some(100), Some(101)));
    assert_eq!(w.take(), [started(0, 100), started(1, 101)].concat());
    w.ready(1);
    w.die(7, Exit::Code(0));
    w.die(101, SEGV);
    assert_eq!(sup.turn(at(10), S, &mut w), None);
    let line = error("worker 1 (pid 101) died after 10 ms: was killed by signal SEGV; not restarting");
    assert_eq!(w.take(), [KillGroup(101), Collect(101), line]);
    assert!(w.waits.iter().all(Option::is_some), "{:?}", w.waits);
    assert_eq!(w.exits, [(7, Exit::Code(0))], "the stranger is left to its parent");
    assert_eq!(sup.turn(at(5000), S, &mut w), None);
    assert_eq!(w.take(), []);
    sup.stop_unmonitored(None, at(5000), &mut w);
    assert_eq!(w.take(), [Ask(0, 100)]);
    assert_eq!(sup.turn(at(5010), S, &mut w), Some(at(10_000)));
}

#[test]
fn unmonitored_calls_far_apart_are_not_a_suspension() {
    let mut c = cfg(1);
    c.perform_timeout = Some(ms(300));
    let (mut sup, mut w) = (Supervisor::new(c, false), Fake::default());
    assert_eq!(sup.start_one(at(0), &mut w).ok(), Some(100));
    w.ready(0);
    assert!(sup.turn(at(10), S, &mut w).is_some());
    w.take();
    // The caller's next call comes a minute later: nothing was planned for then.
    sup.turn(at(60_000), S, &mut w);
    assert!(
        !w.take().iter().any(|c| format!("{c:?}").contains("late")),
        "an unmonitored gap was taken for a suspension"
    );
}

#[test]
fn a_recycled_worker_is_replaced_at_once_and_is_no_failure() {
    let mut c = cfg(1);
    c.max_restarts = Some((1, Duration::from_secs(60)));
    let (mut sup, mut w) = pool(c);
    let mut now = at(0);
    for pid in 100..104 {
        w.recycled(0);
        now += ms(20);
        let (calls, next) = death(&mut sup, &mut w, pid, Exit::Code(0), now);
        let line = info(&format!("worker 0 (pid {pid}) recycled after 20 ms (max_performs): replacing it"));
        assert_eq!(calls, [vec![line], started(0, pid + 1).to_vec()].concat());
        assert_eq!(next, None);
    }
    assert_eq!(sup.gave_up(), None, "recycling never trips the restart limit");
    // A real death after that is the first of its streak: replaced at once.
    w.ready(0);
    now += ms(20);
    let (calls, _) = death(&mut sup, &mut w, 104, SEGV, now);
    assert!(format!("{calls:?}").contains("restarting now"), "{calls:?}");
}
