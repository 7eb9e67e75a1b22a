//! Escalation to an immediate stop, the scaling arithmetic, and signals before reaping.

use super::*;

#[test]
fn a_second_int_a_second_or_more_into_a_graceful_stop_ends_every_worker_at_once() {
    let (mut sup, mut w) = pool(cfg(2));
    assert_eq!(sup.turn(at(10), Signals { int: 1, ..S }, &mut w), Some(at(5010)));
    assert_eq!(w.take(), [info("INT: stopping 2 workers gracefully (timeout 5 s)"), Ask(0, 100), Ask(1, 101)]);
    assert_eq!(sup.killed(), 0);
    assert_eq!(sup.turn(at(1010), Signals { int: 1, ..S }, &mut w), Some(at(2010)));
    assert_eq!(w.take(), [warn("second INT: stopping 2 workers at once"), Force(0, 100), Force(1, 101)]);
    assert_eq!(sup.killed(), 2);
}

#[test]
fn term_after_int_is_also_immediate() {
    let (mut sup, mut w) = pool(cfg(1));
    sup.turn(at(10), Signals { int: 1, ..S }, &mut w);
    w.take();
    sup.turn(at(1500), Signals { term: 1, ..S }, &mut w);
    assert_eq!(w.take(), [warn("second TERM: stopping 1 worker at once"), Force(0, 100)]);
    assert_eq!(sup.killed(), 1);
}

#[test]
fn an_int_or_term_within_a_second_of_the_one_that_began_the_stop_is_the_same_request() {
    let (mut sup, mut w) = pool(cfg(2));
    sup.turn(at(10), Signals { term: 1, ..S }, &mut w);
    w.take();
    // As `timeout` sends it: TERM to the master, then to its whole process group.
    sup.turn(at(11), Signals { term: 1, ..S }, &mut w);
    sup.turn(at(1009), Signals { int: 1, ..S }, &mut w);
    let same = |by: &str, after: &str| {
        Log(Level::Debug, format!("{by} {after} after the TERM that began the stop: the same request"))
    };
    assert_eq!(w.take(), [same("TERM", "1 ms"), same("INT", "999 ms")]);
    assert_eq!(sup.killed(), 0);
    // A second one a second later is a second request.
    sup.turn(at(1010), Signals { term: 1, ..S }, &mut w);
    assert_eq!(w.take(), [warn("second TERM: stopping 2 workers at once"), Force(0, 100), Force(1, 101)]);
}

#[test]
fn quit_stops_at_once_with_no_graceful_line() {
    let (mut sup, mut w) = pool(cfg(2));
    sup.turn(at(10), Signals { quit: 1, int: 1, ..S }, &mut w);
    assert_eq!(w.take(), [warn("QUIT: stopping 2 workers at once"), Force(0, 100), Force(1, 101)]);
    assert_eq!(sup.killed(), 2);
}

#[test]
fn two_ints_in_one_turn_are_one_graceful_stop() {
    let (mut sup, mut w) = pool(cfg(2));
    sup.turn(at(10), Signals { int: 2, term: 1, ..S }, &mut w);
    let same = Log(Level::Debug, "3 INT and TERM at once: the same request".into());
    assert_eq!(w.take(), [info("TERM: stopping 2 workers gracefully (timeout 5 s)"), Ask(0, 100), Ask(1, 101), same]);
    assert_eq!(sup.killed(), 0);
}

#[test]
fn a_first_term_during_a_stop_for_another_cause_lets_it_go_on_gracefully() {
    let (mut sup, mut w) = pool(Config { max_failures: Some(2), ..cfg(2) });
    w.runs = crate::health::Runs { failed: 2, in_a_row: 2, last_success: None };
    sup.turn(at(10), S, &mut w);
    w.take();
    sup.turn(at(20), Signals { term: 1, ..S }, &mut w);
    assert_eq!(w.take(), [info("TERM: the stop (failing performs) goes on gracefully")]);
    assert_eq!(sup.killed(), 0);
    // A second one, a second later, is a second request.
    sup.turn(at(1020), Signals { term: 1, ..S }, &mut w);
    assert_eq!(w.take(), [warn("second TERM: stopping 2 workers at once"), Force(0, 100), Force(1, 101)]);
}

#[test]
fn ttin_and_ttou_are_counted_and_the_highest_slots_retire_first() {
    let (mut sup, mut w) = pool(cfg(2));
    sup.turn(at(10), Signals { ttin: 3, ttou: 1, ..S }, &mut w);
    let mut want = vec![info("scaling from 2 to 4 workers")];
    want.extend(started(2, 102).into_iter().chain(started(3, 103)));
    assert_eq!(w.take(), want);
    // Asked, not forced nor killed.
    assert_eq!(sup.turn(at(20), Signals { ttou: 3, ..S }, &mut w), Some(at(5020)));
    assert_eq!(
        w.take(),
        [
            info("scaling from 4 to 1 worker"),
            info("retiring worker 3 (pid 103)"),
            Ask(3, 103),
            info("retiring worker 2 (pid 102)"),
            Ask(2, 102),
            info("retiring worker 1 (pid 101)"),
            Ask(1, 101),
        ]
    );
    // A retired worker's exit is a stop, not a death, and it is not replaced.
    w.die(103, Exit::Code(0));
    sup.turn(at(30), S, &mut w);
    assert_eq!(w.take(), [KillGroup(103), Collect(103), info("worker 3 (pid 103) stopped: exited with code 0")]);
    assert_eq!((sup.live(), sup.killed()), (3, 0));
    // Those still running at the stop timeout are forced, and that counts.
    sup.turn(at(5020), S, &mut w);
    assert_eq!(sup.killed(), 2);
    assert!(w.take().contains(&Force(1, 101)));
}

#[test]
fn ttou_never_goes_below_zero_and_is_ignored_at_zero() {
    let (mut sup, mut w) = pool(cfg(1));
    sup.turn(at(10), Signals { ttou: 5, ..S }, &mut w);
    let ready = info("ready: 0 workers up in 10 ms");
    assert_eq!(
        w.take(),
        [info("scaling from 1 to 0 workers"), ready, info("retiring worker 0 (pid 100)"), Ask(0, 100)]
    );
    sup.turn(at(20), Signals { ttou: 1, ..S }, &mut w);
    assert_eq!(w.take(), [info("TTOU ignored: no worker to retire")]);
    // Wanted again while still stopping: no second worker in the slot until it is gone.
    sup.turn(at(30), Signals { ttin: 1, ..S }, &mut w);
    assert_eq!(w.take(), [info("scaling from 0 to 1 worker")]);
    w.die(100, Exit::Code(0));
    sup.turn(at(40), S, &mut w);
    assert_eq!(
        w.take()[2..],
        [vec![info("worker 0 (pid 100) stopped: exited with code 0")], started(0, 101).to_vec()].concat()
    );
}

/// The scaling lines of a turn: without forks, nor the "woke late" that a pool larger than a
/// fork batch logs at present (see `a_deadline_already_due_is_not_mistaken_for_a_suspension`).
fn scaling(w: &mut Fake) -> Vec<Call> {
    let keep = |c: &Call| matches!(c, Log(_, l) if !l.contains(" started ") && !l.starts_with("master woke"));
    w.take().into_iter().filter(keep).collect()
}

#[test]
fn ttin_stops_at_max_workers_with_the_limit_logged() {
    let (mut sup, mut w) = pool(cfg(MAX_WORKERS - 1));
    sup.turn(at(10), Signals { ttin: 2, ..S }, &mut w);
    let limit = warn("TTIN ignored past the limit of 4096 workers");
    assert_eq!(scaling(&mut w), [limit.clone(), info("scaling from 4095 to 4096 workers")]);
    sup.turn(at(20), Signals { ttin: 1, ..S }, &mut w);
    assert_eq!(scaling(&mut w), [limit]);
}

/// The crate docs (Signals): "a TTIN and a TTOU handled together cancel out"; at the limit they must too.
#[test]
fn ttin_and_ttou_in_one_turn_cancel_out_even_at_the_limit() {
    let (mut sup, mut w) = pool(cfg(MAX_WORKERS));
    sup.turn(at(10), Signals { ttin: 1, ttou: 1, ..S }, &mut w);
    assert_eq!(scaling(&mut w), [], "no scaling, no limit, no retiring");
}

#[test]
fn scaling_is_ignored_while_stopping() {
    let (mut sup, mut w) = pool(cfg(2));
    sup.turn(at(10), Signals { int: 1, ..S }, &mut w);
    w.take();
    sup.turn(at(20), Signals { ttin: 2, ..S }, &mut w);
    sup.turn(at(30), Signals { ttou: 2, ..S }, &mut w);
    assert_eq!(w.take(), []);
}

#[test]
fn signals_with_no_meaning_are_logged_and_ignored() {
    let (mut sup, mut w) = pool(cfg(1));
    let bit = |sig: i32| 1 << (sig - 1);
    sup.turn(at(10), Signals { ignored: bit(libc::SIGUSR2) | bit(libc::SIGWINCH), ..S }, &mut w);
    let ignored = |s: &str| warn(&format!("SIG{s} ignored: it has no meaning here"));
    assert_eq!(w.take(), [ignored("USR2"), ignored("WINCH")]);
}

#[test]
fn usr1_reopens_the_masters_log_then_asks_every_live_worker() {
    let (mut sup, mut w) = pool(cfg(2));
    sup.turn(at(10), Signals { usr1: 2, ..S }, &mut w);
    let line = info("USR1: log reopened; 2 workers to reopen theirs between performs");
    assert_eq!(w.take(), [ReopenOwn, line, AskToReopen(0, 100), AskToReopen(1, 101)]);
}

/// The documented order: signals, then reaping. A worker that exits in the turn that brings
/// INT was asked to stop first, so its exit is a stop: logged as such, not restarted.
#[test]
fn signals_are_acted_on_before_reaping() {
    let (mut sup, mut w) = pool(cfg(2));
    w.ready(0);
    w.die(100, Exit::Code(0));
    sup.turn(at(10), Signals { int: 1, ..S }, &mut w);
    assert_eq!(
        w.take(),
        [
            info("INT: stopping 2 workers gracefully (timeout 5 s)"),
            Ask(0, 100),
            Ask(1, 101),
            KillGroup(100),
            Collect(100),
            info("worker 0 (pid 100) stopped: exited with code 0"),
        ]
    );
    assert!(!sup.done());
    w.die(101, Exit::Code(0));
    assert_eq!(sup.turn(at(20), S, &mut w), None);
    assert!(sup.done());
}
