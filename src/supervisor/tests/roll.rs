//! HUP: the rolling restart, one slot at a time.

use super::*;

fn stopped(i: usize, pid: Pid) -> Call {
    info(&format!("worker {i} (pid {pid}) stopped: exited with code 0"))
}

/// Worker `pid` in slot `i` exits as asked at `now`; its replacement is forked at once.
fn replaced(sup: &mut Supervisor, w: &mut Fake, i: usize, pid: Pid, new: Pid, now: Duration) {
    w.die(pid, Exit::Code(0));
    sup.turn(now, S, w);
    assert_eq!(w.take(), [vec![KillGroup(pid), Collect(pid), stopped(i, pid)], started(i, new).to_vec()].concat());
}

#[test]
fn hup_replaces_one_slot_at_a_time_each_after_the_last_is_ready() {
    let (mut sup, mut w) = pool(cfg(3));
    (0..3).for_each(|i| w.ready(i));
    sup.turn(at(5), S, &mut w);
    assert_eq!(w.take(), [info("ready: 3 workers up in 5 ms")]);
    w.notices.clear();
    let next = sup.turn(at(10), Signals { hup: 1, ..S }, &mut w);
    assert_eq!(w.take(), [info("HUP: rolling restart of 3 workers, one at a time"), Ask(0, 100)]);
    assert_eq!(
        next,
        Some(at(5010)),
        "only the stop timeout; no polling: a worker signals the master when its setup is done"
    );
    let reloading = format!("RELOADING=1\nMONOTONIC_USEC={}", at(10).as_micros());
    assert_eq!(
        w.notices,
        [reloading.as_str(), "STATUS=rolling restart: 3/3 workers up; 0 restarts, 0 timeouts, 0 late starts"]
    );
    for (i, old, new) in [(0, 100, 103), (1, 101, 104), (2, 102, 105)] {
        replaced(&mut sup, &mut w, i, old, new, at(100 * i as u64 + 50));
        // The replacement is in setup: nobody else is asked.
        sup.turn(at(100 * i as u64 + 60), S, &mut w);
        assert_eq!(w.take(), []);
        w.ready(i);
        sup.turn(at(100 * i as u64 + 70), S, &mut w);
        let then = if i < 2 { Ask(i + 1, old + 1) } else { info("rolling restart done: 3 workers replaced") };
        assert_eq!(w.take(), [then]);
    }
    assert_eq!(sup.turn(at(1000), S, &mut w), None);
    let ends = &w.notices[w.notices.len() - 2..];
    assert_eq!(ends, ["READY=1", "STATUS=running: 3/3 workers up; 0 restarts, 0 timeouts, 0 late starts"]);
    assert_eq!(w.notices.iter().filter(|n| *n == "READY=1").count(), 1, "{:?}", w.notices);
}

#[test]
fn a_replacement_that_fails_setup_stops_the_roll_and_the_rest_keep_running() {
    let (mut sup, mut w) = pool(cfg(3));
    (0..3).for_each(|i| w.ready(i));
    up(&mut sup, &mut w);
    sup.turn(at(10), Signals { hup: 1, ..S }, &mut w);
    w.take();
    replaced(&mut sup, &mut w, 0, 100, 103, at(50));
    w.die(103, Exit::Code(3));
    sup.turn(at(60), S, &mut w);
    let calls = w.take();
    let text = format!("{calls:?}");
    assert!(text.contains("rolling restart stopped: worker 0's replacement failed to start; 0 workers replaced, 2 workers keep their old setup"), "{text}");
    assert!(calls.iter().any(|c| matches!(c, Log(Level::Error, l) if l.contains("rolling restart stopped"))));
    assert!(text.contains("restarting in 100 ms"), "the slot follows the normal backoff: {text}");
    sup.turn(at(5000), S, &mut w);
    assert!(!format!("{:?}", w.take()).contains("Ask"), "slots 1 and 2 keep their workers");
}

#[test]
fn a_second_hup_rolls_again_whatever_was_not_replaced_since() {
    let (mut sup, mut w) = pool(cfg(2));
    (0..2).for_each(|i| w.ready(i));
    up(&mut sup, &mut w);
    sup.turn(at(10), Signals { hup: 1, ..S }, &mut w);
    w.take();
    replaced(&mut sup, &mut w, 0, 100, 102, at(50));
    w.ready(0);
    // A second HUP before slot 1 was reached: slot 0's new worker predates it, so it goes too.
    sup.turn(at(60), Signals { hup: 1, ..S }, &mut w);
    assert_eq!(w.take(), [info("HUP: rolling restart of 2 workers, one at a time"), Ask(0, 102)]);
}

#[test]
fn a_stop_ends_the_roll() {
    let (mut sup, mut w) = pool(cfg(2));
    (0..2).for_each(|i| w.ready(i));
    up(&mut sup, &mut w);
    sup.turn(at(10), Signals { hup: 1, ..S }, &mut w);
    w.take();
    sup.turn(at(20), Signals { int: 1, ..S }, &mut w);
    w.take();
    replaced_none(&mut sup, &mut w);
}

fn replaced_none(sup: &mut Supervisor, w: &mut Fake) {
    w.die(100, Exit::Code(0));
    w.die(101, Exit::Code(0));
    sup.turn(at(30), S, w);
    assert!(!w.take().iter().any(|c| matches!(c, Fork(_))), "nothing is forked during a stop");
    assert!(sup.done());
}

#[test]
fn a_slot_retired_during_its_roll_does_not_hold_the_roll_up() {
    let (mut sup, mut w) = pool(cfg(2));
    (0..2).for_each(|i| w.ready(i));
    up(&mut sup, &mut w);
    sup.turn(at(10), Signals { hup: 1, ..S }, &mut w);
    w.take();
    replaced(&mut sup, &mut w, 0, 100, 102, at(20));
    w.ready(0);
    sup.turn(at(30), S, &mut w);
    assert_eq!(w.take(), [Ask(1, 101)]);
    // TTOU retires slot 1 while its old worker finishes: the roll ends with it.
    sup.turn(at(40), Signals { ttou: 1, ..S }, &mut w);
    let calls = format!("{:?}", w.take());
    assert!(calls.contains("rolling restart done: 2 workers replaced"), "{calls}");
    w.die(101, Exit::Code(0));
    sup.turn(at(50), S, &mut w);
    assert!(!format!("{:?}", w.take()).contains("Fork"), "the retired slot is not refilled");
    assert_eq!(sup.turn(at(60), S, &mut w), None, "no more polling");
}

/// The pool's first turn with every worker ready: it is up.
fn up(sup: &mut Supervisor, w: &mut Fake) {
    sup.turn(at(5), S, w);
    assert!(w.take().iter().any(|c| matches!(c, Log(Level::Info, l) if l.starts_with("ready: "))));
}

#[test]
fn a_hup_before_the_pool_is_up_waits_until_it_is_then_rolls_after_ready() {
    let (mut sup, mut w) = pool(cfg(2));
    w.ready(0);
    sup.turn(at(10), Signals { hup: 1, ..S }, &mut w);
    sup.turn(at(11), Signals { hup: 1, ..S }, &mut w);
    assert_eq!(w.take(), [info("HUP: the rolling restart waits until every worker has come up")], "said once");
    assert!(!w.notices.iter().any(|n| n.starts_with("RELOADING") || n == "READY=1"), "{:?}", w.notices);
    w.ready(1);
    sup.turn(at(20), S, &mut w);
    let calls = w.take();
    let rolling = info("HUP: rolling restart of 2 workers, one at a time");
    assert_eq!(calls[..3], [info("ready: 2 workers up in 20 ms"), rolling, Ask(0, 100)]);
    let reloading = format!("RELOADING=1\nMONOTONIC_USEC={}", at(20).as_micros());
    let n = w.notices.len();
    assert_eq!(w.notices[n - 3..n - 1], ["READY=1".to_string(), reloading], "READY before RELOADING");
}

#[test]
fn a_slot_killed_for_a_timeout_and_not_yet_reaped_is_the_rolls_next_so_only_one_slot_is_down() {
    let c = Config { strategy: Strategy::Simple, perform_timeout: Some(ms(100)), ..cfg(2) };
    let (mut sup, mut w) = pool(c);
    (0..2).for_each(|i| w.ready(i));
    up(&mut sup, &mut w);
    w.beat(0, true, Some(at(10)));
    sup.turn(at(200), S, &mut w);
    assert!(w.take().contains(&KillGroup(100)), "slot 0's simple perform overran");
    // The HUP comes before slot 0's worker is reaped: the roll takes slot 0 (its replacement
    // is the roll's), and asks no other worker to stop meanwhile.
    sup.turn(at(210), Signals { hup: 1, ..S }, &mut w);
    assert_eq!(w.take(), [info("HUP: rolling restart of 2 workers, one at a time")]);
}
