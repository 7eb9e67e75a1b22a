//! The runs' health through the library: `Master::max_failures` counts failed performs in a
//! row across the pool (an `Err`, a panic, a perform timeout), any success resets the count,
//! and reaching it stops the pool gracefully with `run` returning `Error::Failing`.
//! See tests/README.md.

mod support;

use sisyphus::{BoxError, Context, Error, Job, Master, Strategy};
use support::*;

fn main() {
    run_scenarios(&[
        ("forking_errs_end_run_with_error_failing", || gives_up(Strategy::Forking, Act::Err)),
        ("simple_errs_end_run_with_error_failing", || gives_up(Strategy::Simple, Act::Err)),
        ("forking_panics_end_run_with_error_failing", || gives_up(Strategy::Forking, Act::Panic)),
        ("simple_panics_end_run_with_error_failing", || gives_up(Strategy::Simple, Act::Panic)),
        ("forking_perform_timeouts_end_run_with_error_failing", || timeouts(Strategy::Forking)),
        ("simple_perform_timeouts_end_run_with_error_failing", || timeouts(Strategy::Simple)),
        ("forking_a_success_every_third_perform_never_gives_up", || every_third(Strategy::Forking)),
        ("simple_a_success_every_third_perform_never_gives_up", || every_third(Strategy::Simple)),
        ("a_success_in_another_worker_resets_the_count", another_worker_succeeds),
        ("failures_count_across_the_pool", across_the_pool),
    ]);
}

/// How a perform ends, by slot and iteration.
type Plan = fn(usize, u64) -> Act;

/// Records `perform SLOT ITER PID` and then `ok SLOT ITER` or `fail SLOT ITER`, and ends as
/// `plan` says: an `Err("boom SLOT ITER")`, a panic, or no end at all.
#[derive(Clone)]
struct Planned {
    ev: Events,
    plan: Plan,
}

impl Job for Planned {
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let (slot, iter) = (ctx.worker(), ctx.iteration());
        self.ev.add(&format!("perform {slot} {iter} {}", getpid()));
        std::thread::sleep(10 * MS);
        match (self.plan)(slot, iter) {
            Act::Err => {
                self.ev.add(&format!("fail {slot} {iter}"));
                Err(format!("boom {slot} {iter}").into())
            }
            Act::Panic => {
                self.ev.add(&format!("fail {slot} {iter}"));
                panic!("probe panic")
            }
            Act::Hang => loop {
                std::thread::sleep(3600 * SEC);
            },
            _ => {
                self.ev.add(&format!("ok {slot} {iter}"));
                Ok(())
            }
        }
    }
}

/// Forks a master running `master`, which records `run failing N LAST` for `Error::Failing`,
/// `run ok killed=N` or `run err MESSAGE` otherwise, and `left N` (as `spawn_master` does).
fn spawn(ev: &Events, master: impl FnOnce() -> Master<Planned>) -> Pid {
    let ev = ev.clone();
    fork_child(move || {
        ev.add(&format!("fds before {}", open_fds(getpid())));
        let result = master().logger(ev.logger()).run();
        ev.add(&format!("fds after {}", open_fds(getpid())));
        let code = match result {
            Ok(s) => {
                ev.add(&format!("run ok killed={}", s.killed));
                0
            }
            Err(e @ Error::Failing { .. }) => {
                let Error::Failing { failures, last } = &e else { unreachable!() };
                ev.add(&format!("run failing {failures} {last}"));
                ev.add(&format!("run says {e}"));
                1
            }
            Err(e) => {
                ev.add(&format!("run err {e}"));
                2
            }
        };
        record_left(&ev);
        code
    })
}

/// What `run` returned for `Error::Failing`: the count and `last`.
fn failing(ev: &Events) -> Option<(u64, String)> {
    let line = ev.lines().into_iter().find_map(|l| l.strip_prefix("run failing ").map(str::to_string))?;
    let (n, last) = line.split_once(' ')?;
    Some((n.parse().ok()?, last.to_string()))
}

/// After `run` returned `Error::Failing`: exit 1, one ERROR line for `n` in a row, the stop
/// graceful (nothing killed), the message as documented, nothing left.
fn check_gave_up(ev: &Events, master: Pid, limit: u64) -> Result<(u64, String), String> {
    let code = wait_exit(master, 15 * SEC)?;
    let all = || ev.lines().join("\n");
    let (n, last) = failing(ev).ok_or_else(|| format!("exit {code}, not Error::Failing:\n{}", all()))?;
    let error = format!("log ERROR {n} performs failed in a row (max_failures {limit}): giving up");
    ensure!(ev.count(&error) == 1, "not one {error:?}:\n{}", all());
    ensure!(ev.has("log INFO failing performs: stopping "), "no graceful stop:\n{}", all());
    ensure!(ev.has("master stopped (0 killed"), "a worker was killed:\n{}", all());
    let says = format!("run says {n} performs failed in a row; gave up; last: {last}");
    ensure!(ev.has(&says), "the message is not {says:?}:\n{}", all());
    assert_nothing_left(ev, master)?;
    Ok((n, last))
}

/// One worker whose performs all end in `act`, `max_failures(3)`: `run` returns
/// `Error::Failing { failures: 3, last }`, `last` naming the third perform's error; exactly 3
/// performs ran.
fn gives_up(strategy: Strategy, act: Act) -> Outcome {
    let ev = Events::new("gives-up");
    let plan: Plan = match act {
        Act::Err => |_, _| Act::Err,
        _ => |_, _| Act::Panic,
    };
    let job = Planned { ev: ev.clone(), plan };
    let master = spawn(&ev, || Master::new(job).strategy(strategy).max_failures(3));
    let (n, last) = check_gave_up(&ev, master, 3)?;
    let want = match act {
        Act::Err => "worker 0: perform failed: boom 0 2",
        _ => "worker 0: perform panicked: probe panic",
    };
    ensure!(n == 3 && last == want, "Failing {{ failures: {n}, last: {last:?} }}, want 3 and {want:?}");
    let performs = ev.count("perform ");
    ensure!(performs == 3, "{performs} performs, want 3:\n{}", ev.lines().join("\n"));
    println!("       Failing {{ failures: {n}, last: {last:?} }}");
    Ok(())
}

/// Performs that hang past a 200 ms perform timeout, `max_failures(2)`: the timeouts are the
/// failures (the forking worker kills its perform child; the simple worker is killed).
fn timeouts(strategy: Strategy) -> Outcome {
    let ev = Events::new("timeouts");
    let job = Planned { ev: ev.clone(), plan: |_, _| Act::Hang };
    let master = spawn(&ev, || Master::new(job).strategy(strategy).perform_timeout(200 * MS).max_failures(2));
    let (n, last) = check_gave_up(&ev, master, 2)?;
    ensure!(n == 2 && last == "worker 0: perform timeout", "Failing {{ failures: {n}, last: {last:?} }}");
    ensure!(ev.count("perform ") == 2, "performs:\n{}", ev.lines().join("\n"));
    Ok(())
}

/// Waits until `pred` holds, then INT: `run` returns `Ok` with nothing killed, and nothing
/// ever gave up.
fn never_gives_up(ev: &Events, master: Pid, what: &str, pred: impl Fn(&Events) -> bool) -> Outcome {
    ev.wait(what, 10 * SEC, |ev| pred(ev) || ev.has("giving up"))?;
    ensure!(!ev.has("giving up"), "gave up:\n{}", ev.lines().join("\n"));
    kill(master, libc::SIGINT);
    let code = wait_exit(master, 15 * SEC)?;
    ensure!(code == 0 && ev.has("run ok killed=0"), "exit {code}:\n{}", ev.lines().join("\n"));
    assert_nothing_left(ev, master)
}

/// One worker failing, failing, succeeding, again and again, `max_failures(3)`: 5 rounds
/// (15 performs, 10 failures) and it has not given up.
fn every_third(strategy: Strategy) -> Outcome {
    let ev = Events::new("every-third");
    let job = Planned { ev: ev.clone(), plan: |_, iter| if iter % 3 == 2 { Act::Ok } else { Act::Err } };
    let master = spawn(&ev, || Master::new(job).strategy(strategy).max_failures(3));
    never_gives_up(&ev, master, "15 performs", |ev| ev.count("ok ") + ev.count("fail ") >= 15)?;
    println!("       {} failed, {} succeeded", ev.count("fail "), ev.count("ok "));
    Ok(())
}

/// Worker 0 always fails (100, 200, 400 ms of backoff apart); worker 1 always succeeds, every
/// 10 ms. With `max_failures(2)` worker 0 fails 4 times and the pool never gives up: a success
/// anywhere resets the count.
fn another_worker_succeeds() -> Outcome {
    let ev = Events::new("another");
    let job = Planned { ev: ev.clone(), plan: |slot, _| if slot == 0 { Act::Err } else { Act::Ok } };
    let master = spawn(&ev, || Master::new(job).workers(2).max_failures(2));
    never_gives_up(&ev, master, "4 failures of worker 0", |ev| ev.count("fail 0 ") >= 4)?;
    println!("       worker 0 failed {} times, worker 1 succeeded {} times", ev.count("fail 0 "), ev.count("ok 1 "));
    Ok(())
}

/// 3 workers always failing, `max_failures(4)`: it gives up on the second round, when no
/// worker has failed more than twice; the count is what failed pool-wide by then.
fn across_the_pool() -> Outcome {
    let ev = Events::new("pool");
    let job = Planned { ev: ev.clone(), plan: |_, _| Act::Err };
    let master = spawn(&ev, || Master::new(job).workers(3).max_failures(4));
    let (n, last) = check_gave_up(&ev, master, 4)?;
    let performs = ev.count("perform ") as u64;
    ensure!((4..=6).contains(&n) && (n..=n + 2).contains(&performs), "{performs} performs, {n} counted");
    for slot in 0..3 {
        let mine = ev.count(&format!("perform {slot} "));
        ensure!(mine <= 2, "worker {slot} performed {mine} times:\n{}", ev.lines().join("\n"));
    }
    ensure!(last.contains(": perform failed: boom "), "last: {last:?}");
    println!("       gave up at {n} in a row after {performs} performs; last: {last}");
    Ok(())
}
