//! Stop deadlines, setup and perform timeouts for each strategy, and suspensions.

use super::*;

fn timed(strategy: Strategy) -> Config {
    Config { strategy, perform_timeout: Some(ms(2000)), ..cfg(1) }
}

#[test]
fn a_worker_still_running_at_the_stop_timeout_is_forced_then_its_group_killed() {
    let (mut sup, mut w) = pool(cfg(2));
    assert_eq!(sup.turn(at(100), Signals { term: 1, ..S }, &mut w), Some(at(5100)));
    w.die(101, Exit::Code(0));
    assert_eq!(sup.turn(at(200), S, &mut w), Some(at(5100)));
    assert!(!sup.done(), "worker 0 is still running");
    assert_eq!(sup.turn(at(5099), S, &mut w), Some(at(5100)));
    w.take();
    assert_eq!(sup.turn(at(5100), S, &mut w), Some(at(6100)));
    let overdue = "worker 0 (pid 100) still running 5 s after the stop request: killing it";
    assert_eq!(w.take(), [warn(overdue), Force(0, 100)]);
    assert_eq!(sup.killed(), 1);
    assert_eq!(sup.turn(at(6099), S, &mut w), Some(at(6100)));
    assert_eq!(sup.turn(at(6100), S, &mut w), None);
    let grace = "worker 0 (pid 100) did not end within 1 s of being told to: SIGKILLing its group";
    assert_eq!(w.take(), [warn(grace), KillGroup(100)]);
    assert!(!sup.done());
    w.die(100, KILLED);
    assert_eq!(sup.turn(at(6200), S, &mut w), None);
    assert_eq!(w.take(), [KillGroup(100), Collect(100), info("worker 0 (pid 100) stopped: was killed by signal KILL")]);
    assert!(sup.done());
    assert_eq!(sup.killed(), 1);
}

#[test]
fn a_forking_perform_overrun_asks_the_worker_to_kill_it_once_then_again_if_unheeded() {
    let (mut sup, mut w) = pool(timed(Strategy::Forking));
    w.beat(0, true, Some(at(100)));
    assert_eq!(sup.turn(at(1000), S, &mut w), Some(at(2100)));
    assert_eq!(w.take(), [info("ready: 1 worker up in 1 s")]);
    assert_eq!(sup.turn(at(2100), S, &mut w), Some(at(2100) + TIMEOUT_RETRY));
    let line = "worker 0 (pid 100): perform timeout: running 2 s, limit 2 s; killing its perform child";
    assert_eq!(w.take(), [error(line), KillPerform(0, 100, at(100))]);
    assert_eq!(sup.turn(at(2600), S, &mut w), Some(at(2100) + TIMEOUT_RETRY));
    assert_eq!(w.take(), []);
    sup.turn(at(2100) + TIMEOUT_RETRY, S, &mut w);
    assert_eq!(w.take(), [KillPerform(0, 100, at(100))], "asked again, logged once");
    // The next perform gets its own full limit.
    w.beat(0, true, Some(at(3200)));
    assert_eq!(sup.turn(at(3300), S, &mut w), Some(at(5200)));
    assert_eq!((w.take(), sup.killed()), (vec![], 0));
}

#[test]
fn a_simple_perform_overrun_kills_the_group_and_is_a_failure_not_a_forced_stop() {
    let (mut sup, mut w) = pool(timed(Strategy::Simple));
    w.beat(0, true, Some(at(100)));
    sup.turn(at(2100), S, &mut w);
    let line = "worker 0 (pid 100): perform timeout: running 2 s, limit 2 s; killing the worker";
    assert_eq!(w.take(), [info("ready: 1 worker up in 2.1 s"), error(line), KillGroup(100)]);
    w.die(100, KILLED);
    sup.turn(at(2200), S, &mut w);
    let ended =
        "worker 0 (pid 100) died after 2.2 s: was killed by signal KILL after its perform timeout; restarting now";
    assert_eq!(w.take(), [vec![KillGroup(100), Collect(100), error(ended)], started(0, 101).to_vec()].concat());
    assert_eq!(sup.killed(), 0);
}

#[test]
fn a_setup_overrun_kills_the_group_and_counts_as_a_failed_start() {
    let (mut sup, mut w) = pool(Config { setup_timeout: Some(ms(1000)), ..cfg(1) });
    assert_eq!(sup.turn(at(500), S, &mut w), Some(at(1000)));
    assert_eq!(sup.turn(at(1000), S, &mut w), None);
    let line = "worker 0 (pid 100): setup timeout: running 1 s, limit 1 s; killing it";
    assert_eq!(w.take(), [warn(line), KillGroup(100)]);
    w.die(100, KILLED);
    assert_eq!(sup.turn(at(1050), S, &mut w), Some(at(1150)));
    let ended =
        "worker 0 (pid 100) failed to start: was killed by signal KILL after its setup timeout; restarting in 100 ms";
    assert_eq!(w.take(), [KillGroup(100), Collect(100), warn(ended)]);
    assert_eq!(sup.killed(), 0);
}

#[test]
fn no_perform_timeout_while_setup_runs() {
    let (mut sup, mut w) = pool(timed(Strategy::Simple));
    w.beat(0, false, Some(at(0)));
    assert_eq!(sup.turn(at(2000), S, &mut w), Some(at(4000)));
    assert_eq!(w.take(), []);
}

#[test]
fn turn_returns_the_nearest_deadline() {
    let (mut sup, mut w) = pool(Config { setup_timeout: Some(ms(1000)), ..timed(Strategy::Forking) });
    assert_eq!(sup.turn(at(500), S, &mut w), Some(at(1000)), "setup");
    w.beat(0, true, Some(at(600)));
    assert_eq!(sup.turn(at(700), S, &mut w), Some(at(2600)), "perform");
    assert_eq!(sup.turn(at(800), Signals { int: 1, ..S }, &mut w), Some(at(2600)), "perform before stop");
    w.ready(0);
    assert_eq!(sup.turn(at(2500), S, &mut w), Some(at(4500)), "a perform not started yet");
    assert_eq!(sup.turn(at(4000), S, &mut w), Some(at(5800)), "stop before a perform not started");
}

#[test]
fn a_late_turn_rearms_stop_and_timeout_deadlines_from_now() {
    let (mut sup, mut w) = pool(Config { setup_timeout: Some(ms(1000)), ..cfg(1) });
    assert_eq!(sup.turn(at(500), Signals { int: 1, ..S }, &mut w), Some(at(1000)));
    w.take();
    assert_eq!(sup.turn(at(4000), S, &mut w), Some(at(5000)));
    assert_eq!(w.take(), [warn("master woke 3 s late (suspended?); timeouts count again from now")]);
    w.ready(0);
    assert_eq!(sup.turn(at(5000), S, &mut w), Some(at(9000)), "the stop counts from the resume");
    assert_eq!(w.take(), []);
    sup.turn(at(9000), S, &mut w);
    assert_eq!(w.take()[1..], [Force(0, 100)]);
}

/// A deadline that is already due (more workers than one fork batch) is not a plan to sleep:
/// the next turn must not take itself for a return from a suspension, nor re-arm everything.
#[test]
fn a_deadline_already_due_is_not_mistaken_for_a_suspension() {
    let (mut sup, mut w) = (Supervisor::new(cfg(FORK_BATCH + 8), true), Fake::default());
    sup.begin(1, Duration::ZERO, &mut w);
    let due = sup.turn(at(0), S, &mut w);
    assert!(due.is_some_and(|d| d <= at(0)), "{due:?}");
    assert_eq!(w.take().len(), 1 + 2 * FORK_BATCH);
    sup.turn(at(1), S, &mut w);
    let rest: Vec<_> = (FORK_BATCH..FORK_BATCH + 8).flat_map(|i| started(i, 100 + i as Pid)).collect();
    assert_eq!(w.take(), rest);
}

/// A worker killed for a timeout and not yet reaped cannot be asked to stop; retiring it must
/// not loop (the fake panics on runaway logging) nor ask it.
#[test]
fn retiring_a_worker_killed_for_a_timeout_neither_loops_nor_asks_it() {
    let (mut sup, mut w) = pool(Config { setup_timeout: Some(ms(1000)), ..cfg(2) });
    w.ready(0);
    sup.turn(at(1000), S, &mut w);
    assert_eq!(w.take()[1..], [KillGroup(101)]);
    sup.turn(at(1010), Signals { ttou: 1, ..S }, &mut w);
    assert_eq!(w.take(), [info("scaling from 2 to 1 worker"), info("ready: 1 worker up in 1.0 s")]);
    w.die(101, KILLED);
    sup.turn(at(1020), S, &mut w);
    let ended = "worker 1 (pid 101) failed to start: was killed by signal KILL after its setup timeout; not restarting";
    assert_eq!(w.take(), [KillGroup(101), Collect(101), warn(ended)]);
}
