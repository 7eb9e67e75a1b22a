//! How stops reach what a perform runs: graceful stops signal nothing it started, every way of
//! asking turns `stop_requested` true, forced ends and timeouts kill the perform's whole group,
//! a master SIGKILL takes everything along, timeouts survive `setup`'s signal dispositions, and
//! signals the master has no use for do not kill it. See tests/README.md.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Instant;

use sisyphus::{BoxError, Context, Job, Master, Strategy};
use support::*;

use Strategy::{Forking, Simple};

fn main() {
    run_scenarios(&[
        ("forking_int_lets_the_performs_subprocess_run_out", || graceful(Forking, Ask::Int)),
        ("simple_int_lets_the_performs_subprocess_run_out", || graceful(Simple, Ask::Int)),
        ("forking_term_lets_the_performs_subprocess_run_out", || graceful(Forking, Ask::Term)),
        ("simple_term_lets_the_performs_subprocess_run_out", || graceful(Simple, Ask::Term)),
        ("forking_ttou_retirement_lets_the_performs_subprocess_run_out", || graceful(Forking, Ask::Ttou)),
        ("simple_ttou_retirement_lets_the_performs_subprocess_run_out", || graceful(Simple, Ask::Ttou)),
        ("forking_restart_limit_stop_lets_the_performs_subprocess_run_out", || graceful(Forking, Ask::Limit)),
        ("simple_restart_limit_stop_lets_the_performs_subprocess_run_out", || graceful(Simple, Ask::Limit)),
        ("forking_term_to_the_master_reaches_stop_requested", || stop_seen(&[Forking], Ask::Term)),
        ("simple_term_to_the_master_reaches_stop_requested", || stop_seen(&[Simple], Ask::Term)),
        ("forking_term_to_the_masters_group_reaches_stop_requested", || stop_seen(&[Forking], Ask::Group)),
        ("simple_term_to_the_masters_group_reaches_stop_requested", || stop_seen(&[Simple], Ask::Group)),
        ("term_to_the_worker_alone_reaches_stop_requested_both_strategies", || {
            stop_seen(&[Forking, Simple], Ask::Worker)
        }),
        ("forking_stop_timeout_kills_the_perform_group", || forced(Forking, Forced::StopTimeout)),
        ("simple_stop_timeout_kills_the_perform_group", || forced(Simple, Forced::StopTimeout)),
        ("forking_second_int_kills_the_perform_group", || forced(Forking, Forced::SecondInt)),
        ("simple_second_int_kills_the_perform_group", || forced(Simple, Forced::SecondInt)),
        ("forking_quit_during_a_stop_kills_the_perform_group", || forced(Forking, Forced::Quit)),
        ("simple_quit_during_a_stop_kills_the_perform_group", || forced(Simple, Forced::Quit)),
        ("perform_timeout_kills_the_perform_group_both_strategies", perform_timeout_kills_the_group),
        ("forking_master_sigkill_takes_the_performs_subprocesses_along", || master_sigkill(Forking)),
        ("simple_master_sigkill_takes_the_performs_subprocesses_along", || master_sigkill(Simple)),
        ("perform_timeout_survives_a_setup_alrm_handler", || timeout_despite(Tamper::AlrmHandler)),
        ("perform_timeout_survives_setup_ignoring_alrm", || timeout_despite(Tamper::AlrmIgnored)),
        ("perform_timeout_survives_setup_blocking_alrm", || timeout_despite(Tamper::AlrmBlocked)),
        ("perform_timeout_survives_setup_ignoring_chld_without_errors", || timeout_despite(Tamper::ChldIgnored)),
        ("master_survives_hup", || unused_signal(libc::SIGHUP, "HUP", Forking)),
        ("master_survives_usr1", || unused_signal(libc::SIGUSR1, "USR1", Simple)),
        ("master_survives_usr2", || unused_signal(libc::SIGUSR2, "USR2", Forking)),
        ("master_survives_pipe", || unused_signal(libc::SIGPIPE, "PIPE", Simple)),
        ("master_survives_winch", || unused_signal(libc::SIGWINCH, "WINCH", Forking)),
    ]);
}

/// A job whose perform runs `sleep SECS` as a subprocess (in the perform's process group) and
/// waits for it. Lines: `setup SLOT PID`, `perform SLOT ITER PID`, `sub SLOT ITER SUBPID`,
/// `saw|unseen SLOT ITER PID` (with `poll`), `subend SLOT ITER SUBPID code=N|signal=N ms=M`,
/// `done SLOT ITER PID`.
#[derive(Clone, Debug)]
struct Sub {
    ev: Events,
    secs: &'static str,
    /// While the subprocess runs, poll `stop_requested` for up to 5 s and record whether it
    /// turned true.
    poll: bool,
    /// `setup` in this slot fails, once slot 0 runs a subprocess: a crash loop.
    failing: Option<usize>,
}

impl Sub {
    fn new(ev: &Events, secs: &'static str) -> Self {
        Sub { ev: ev.clone(), secs, poll: false, failing: None }
    }
}

impl Job for Sub {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.ev.add(&format!("setup {} {}", ctx.worker(), getpid()));
        if self.failing == Some(ctx.worker()) {
            wait_for("slot 0's subprocess", 10 * SEC, || (self.ev.count("sub 0 ") > 0).then_some(()))?;
            return Err("crash loop".into());
        }
        Ok(())
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let (slot, i, me) = (ctx.worker(), ctx.iteration(), getpid());
        self.ev.add(&format!("perform {slot} {i} {me}"));
        let t0 = Instant::now();
        let mut child = Command::new("sleep").arg(self.secs).spawn()?;
        let sub = child.id();
        self.ev.add(&format!("sub {slot} {i} {sub}"));
        if self.poll {
            let seen = wait_for("a stop request", 5 * SEC, || ctx.stop_requested().then_some(())).is_ok();
            self.ev.add(&format!("{} {slot} {i} {me}", if seen { "saw" } else { "unseen" }));
        }
        let status = child.wait()?;
        let how = status.signal().map_or(format!("code={}", status.code().unwrap_or(-1)), |s| format!("signal={s}"));
        self.ev.add(&format!("subend {slot} {i} {sub} {how} ms={}", t0.elapsed().as_millis()));
        self.ev.add(&format!("done {slot} {i} {me}"));
        std::thread::sleep(20 * MS);
        Ok(())
    }
}

/// Reaps what died and was reparented to us (the runner is a subreaper).
fn reap_orphans() {
    // SAFETY: waitpid with a null status pointer.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

/// The subprocesses recorded, in order: (slot, pid).
fn subs(ev: &Events) -> Vec<(usize, Pid)> {
    ev.find("sub ").iter().map(|w| (w[1].parse().unwrap(), w[3].parse().unwrap())).collect()
}

/// The subprocess `slot` was running when the log line containing `mark` was written: it must
/// have run its whole second and exited 0. Returns how long it ran, in ms.
fn ran_out_across(ev: &Events, slot: usize, mark: &str) -> Result<u64, String> {
    let lines = ev.stamped();
    let dump = || lines.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n");
    let at = lines.iter().find(|(_, l)| l.starts_with("log ") && l.contains(mark)).map(|(t, _)| *t);
    let Some(at) = at else { return Err(format!("no log line with {mark:?}:\n{}", dump())) };
    let prefix = format!("sub {slot} ");
    let started = lines.iter().rfind(|(t, l)| *t <= at && l.starts_with(&prefix));
    let Some((_, started)) = started else { return Err(format!("slot {slot} ran no subprocess before {mark:?}")) };
    let iteration = started.split(' ').nth(2).unwrap_or_default();
    let prefix = format!("subend {slot} {iteration} ");
    let Some((t, end)) = lines.iter().find(|(_, l)| l.starts_with(&prefix)) else {
        return Err(format!("slot {slot}'s subprocess never ended:\n{}", dump()));
    };
    let ms: u64 = end.rsplit("ms=").next().and_then(|m| m.parse().ok()).unwrap_or(0);
    ensure!(*t > at, "slot {slot}'s subprocess had ended before {mark:?}; too slow a machine?");
    ensure!(end.contains(" code=0 ") && ms >= 950, "running at {mark:?}: `sleep 1` {end}");
    Ok(ms)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ask {
    Int,
    Term,
    /// TTOU to the master: the highest slot is retired.
    Ttou,
    /// The other slot crash-loops until `max_restarts` trips.
    Limit,
    /// TERM to the master's process group.
    Group,
    /// TERM to the worker process alone.
    Worker,
}

fn graceful(strategy: Strategy, ask: Ask) -> Outcome {
    let ev = Events::new("graceful");
    let mut job = Sub::new(&ev, "1");
    job.failing = (ask == Ask::Limit).then_some(1);
    let master = spawn_master(&ev, || {
        let m = Master::new(job).workers(2).strategy(strategy).stop_timeout(10 * SEC).logger(ev.logger());
        if ask == Ask::Limit { m.max_restarts(1, 60 * SEC) } else { m }.run()
    });
    if ask != Ask::Limit {
        ev.wait("both workers running `sleep 1`", 10 * SEC, |ev| ev.count("sub 0 ") > 0 && ev.count("sub 1 ") > 0)?;
    }
    let ms = match ask {
        Ask::Int | Ask::Term => {
            kill(master, if ask == Ask::Int { libc::SIGINT } else { libc::SIGTERM });
            let code = wait_exit(master, 10 * SEC)?;
            ensure!(code == 0 && ev.has("run ok killed=0"), "exit {code}:\n{}", ev.lines().join("\n"));
            assert_nothing_left(&ev, master)?;
            vec![ran_out_across(&ev, 0, "stopping 2 worker")?, ran_out_across(&ev, 1, "stopping 2 worker")?]
        }
        Ask::Ttou => {
            kill(master, libc::SIGTTOU);
            ev.wait("worker 1 retired", 10 * SEC, |ev| ev.has(" stopped: exited with code 0"))?;
            let retired = ran_out_across(&ev, 1, "retiring worker 1")?;
            // Stop while slot 0 has just started a `sleep 1`, not between two.
            let n = ev.count("sub 0 ");
            ev.wait("slot 0's next subprocess", 10 * SEC, |ev| ev.count("sub 0 ") > n)?;
            let killed = stop_and_check(&ev, master)?;
            ensure!(killed == 0, "the stop killed {killed}");
            vec![retired, ran_out_across(&ev, 0, "INT: stopping 1 worker")?]
        }
        _ => {
            let code = wait_exit(master, 15 * SEC)?;
            ensure!(code == 2 && ev.has("run err workers died more than 1 times within"), "{:?}", ev.lines());
            assert_nothing_left(&ev, master)?;
            vec![ran_out_across(&ev, 0, "giving up")?]
        }
    };
    let ends = ev.find("subend ");
    ensure!(ends.len() == subs(&ev).len(), "{} subprocesses started, {} ended", subs(&ev).len(), ends.len());
    ensure!(ends.iter().all(|w| w[4] == "code=0"), "a subprocess was cut: {ends:?}");
    println!("       {ask:?}: the `sleep 1` in flight ran {ms:?} ms and exited 0");
    Ok(())
}

fn stop_seen(strategies: &[Strategy], ask: Ask) -> Outcome {
    for &strategy in strategies {
        let ev = Events::new("seen");
        let mut job = Sub::new(&ev, "1");
        job.poll = true;
        let master = spawn_master(&ev, || Master::new(job).strategy(strategy).logger(ev.logger()).run());
        ev.wait("a perform polling stop_requested", 10 * SEC, |ev| ev.count("sub 0 0 ") == 1)?;
        let (target, whom) = match ask {
            Ask::Group => (-master, "master's group"),
            Ask::Worker => (setup_pids(&ev, 0)[0], "worker alone"),
            _ => (master, "master"),
        };
        let sent = mono_ns();
        kill(target, libc::SIGTERM);
        ev.wait("perform 0 to report", 10 * SEC, |ev| ev.count("saw 0 0 ") + ev.count("unseen 0 0 ") > 0)?;
        let seen = ev.stamped().into_iter().find(|(_, l)| l.starts_with("saw 0 0 ")).map(|(t, _)| t);
        let Some(seen) = seen else {
            return Err(format!("{strategy:?}, TERM to the {whom}: the perform never saw stop_requested in 5 s"));
        };
        let ms = seen.saturating_sub(sent) as f64 / 1e6;
        ensure!(
            seen < sent + 1_000_000_000,
            "{strategy:?}: stop_requested turned true {ms:.1} ms after the TERM to the {whom}"
        );
        ev.wait("the perform's subprocess to end", 5 * SEC, |ev| ev.count("subend 0 0 ") == 1)?;
        let end = ev.find("subend 0 0 ").remove(0);
        ensure!(end[4] == "code=0", "{strategy:?}, TERM to the {whom}: the perform's `sleep 1` ended {end:?}");
        if ask == Ask::Worker {
            ev.wait("the worker replaced", 10 * SEC, |ev| setup_pids(ev, 0).len() == 2)?;
            stop_and_check(&ev, master)?;
        } else {
            let code = wait_exit(master, 10 * SEC)?;
            ensure!(code == 0 && ev.has("run ok killed=0"), "exit {code}:\n{}", ev.lines().join("\n"));
            assert_nothing_left(&ev, master)?;
        }
        println!("       {strategy:?}, TERM to the {whom}: stop_requested true after {ms:.2} ms; `sleep 1` exited 0");
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Forced {
    StopTimeout,
    SecondInt,
    Quit,
}

/// A perform waiting on `sleep 1000`; INT, then the forced end.
fn forced(strategy: Strategy, how: Forced) -> Outcome {
    let ev = Events::new("forced");
    let job = Sub::new(&ev, "1000");
    let stop_timeout = if how == Forced::StopTimeout { SEC } else { 60 * SEC };
    let master =
        spawn_master(&ev, || Master::new(job).strategy(strategy).stop_timeout(stop_timeout).logger(ev.logger()).run());
    ev.wait("a perform waiting on `sleep 1000`", 10 * SEC, |ev| ev.count("sub 0 ") == 1)?;
    let (perform, sub) = (performs(&ev, 0)[0].1, subs(&ev)[0].1);
    let t0 = Instant::now();
    kill(master, libc::SIGINT);
    ev.wait("the graceful stop", 5 * SEC, |ev| ev.has("INT: stopping 1 worker"))?;
    // The graceful part signals nothing the perform started: a subprocess wrongly signalled
    // would die within milliseconds; give it 300 (this wait must time out).
    let _ = wait_for("the subprocess to die (must not happen)", 300 * MS, || (!alive(sub)).then_some(()));
    ensure!(alive(sub), "the graceful stop ended the perform's subprocess: {:?}", ev.find("subend "));
    if how == Forced::SecondInt {
        // Within a second of the first, an INT is the same request (`timeout` sends two).
        std::thread::sleep((t0 + 1100 * MS).saturating_duration_since(Instant::now()));
    }
    let t1 = Instant::now();
    match how {
        Forced::SecondInt => kill(master, libc::SIGINT),
        Forced::Quit => kill(master, libc::SIGQUIT),
        Forced::StopTimeout => {}
    }
    let code = wait_exit(master, 10 * SEC)?;
    let (total, last) = (t0.elapsed(), t1.elapsed());
    ensure!(code == 0 && ev.has("run ok killed=1"), "exit {code}:\n{}", ev.lines().join("\n"));
    if how == Forced::StopTimeout {
        ensure!(total >= 950 * MS && total < 4 * SEC, "the stop took {total:?} with a 1 s stop timeout");
        ensure!(ev.has("still running 1 s after the stop request"), "{:?}", ev.lines());
    } else {
        ensure!(last < 2 * SEC, "{how:?} took {last:?} to end the master");
    }
    wait_for("the perform and its subprocess to be gone", 2 * SEC, || (!alive(perform) && !alive(sub)).then_some(()))
        .map_err(|e| format!("{e}: perform {perform} alive {}, sleep {sub} alive {}", alive(perform), alive(sub)))?;
    ensure!(ev.count("subend ") == 0, "the subprocess ended before the perform: {:?}", ev.find("subend "));
    println!("       {how:?}: `sleep 1000` and its perform gone; stop took {:.0} ms", total.as_secs_f64() * 1e3);
    assert_nothing_left(&ev, master)
}

fn perform_timeout_kills_the_group() -> Outcome {
    for strategy in [Forking, Simple] {
        let ev = Events::new("ptimeout");
        let job = Sub::new(&ev, "1000");
        let master = spawn_master(&ev, || {
            let m = Master::new(job).strategy(strategy).perform_timeout(300 * MS).stop_timeout(5 * SEC);
            m.logger(ev.logger()).run()
        });
        ev.wait("3 performs timed out", 10 * SEC, |ev| ev.count("sub 0 ") >= 4)?;
        // All but the latest perform timed out: they and their subprocesses must be gone.
        let (subs, performs) = (subs(&ev), performs(&ev, 0));
        let n = subs.len() - 1;
        let gone: Vec<Pid> = subs[..n].iter().map(|s| s.1).chain(performs[..n].iter().map(|p| p.1)).collect();
        let left = wait_for("the timed-out performs and their subprocesses to be gone", 2 * SEC, || {
            gone.iter().all(|&p| !alive(p)).then_some(())
        });
        let alive_now: Vec<Pid> = gone.iter().copied().filter(|&p| alive(p)).collect();
        ensure!(left.is_ok(), "{strategy:?}: {n} perform timeouts left {alive_now:?} alive (`sleep 1000`s)");
        println!("       {strategy:?}: {n} perform timeouts; no `sleep 1000` of theirs left running");
        stop_and_check(&ev, master)?;
    }
    Ok(())
}

fn master_sigkill(strategy: Strategy) -> Outcome {
    let ev = Events::new("sigkill");
    let job = Sub::new(&ev, "1000");
    let master = spawn_master(&ev, || Master::new(job).workers(2).strategy(strategy).logger(ev.logger()).run());
    ev.wait("2 performs waiting on `sleep 1000`", 10 * SEC, |ev| ev.count("sub ") == 2)?;
    let mut pids: Vec<Pid> = (0..2).flat_map(|s| setup_pids(&ev, s)).collect();
    pids.extend((0..2).flat_map(|s| performs(&ev, s)).map(|p| p.1));
    pids.extend(subs(&ev).iter().map(|s| s.1));
    let t0 = Instant::now();
    kill(master, libc::SIGKILL);
    wait_exit(master, 5 * SEC)?;
    wait_for("workers, performs and subprocesses to die", 5 * SEC, || {
        reap_orphans();
        pids.iter().all(|&p| !alive(p)).then_some(())
    })
    .map_err(|e| {
        format!("{e}: still alive {:?} of {pids:?}", pids.iter().filter(|&&p| alive(p)).collect::<Vec<_>>())
    })?;
    let took = t0.elapsed();
    ensure!(took < SEC, "everything died only {took:?} after the master's SIGKILL");
    let ms = took.as_secs_f64() * 1e3;
    println!("       {strategy:?}: all {} processes gone {ms:.1} ms after the master's SIGKILL", pids.len());
    Ok(())
}

/// What `setup` does to the signals a perform timeout might depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tamper {
    AlrmHandler,
    AlrmIgnored,
    AlrmBlocked,
    ChldIgnored,
}

extern "C" fn own_alarm(_: i32) {}

/// Tampers with a signal in `setup`; each even perform hangs, each odd one returns at once.
#[derive(Clone, Debug)]
struct Tampered(Events, Tamper);

impl Job for Tampered {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.0.add(&format!("setup {} {}", ctx.worker(), getpid()));
        let (sig, handler) = match self.1 {
            Tamper::AlrmHandler => (libc::SIGALRM, own_alarm as *const () as libc::sighandler_t),
            Tamper::ChldIgnored => (libc::SIGCHLD, libc::SIG_IGN),
            _ => (libc::SIGALRM, libc::SIG_IGN),
        };
        // SAFETY: plain disposition and mask changes in a single-threaded worker.
        unsafe {
            if self.1 == Tamper::AlrmBlocked {
                let mut alrm: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut alrm);
                libc::sigaddset(&mut alrm, libc::SIGALRM);
                libc::sigprocmask(libc::SIG_BLOCK, &alrm, std::ptr::null_mut());
            } else {
                libc::signal(sig, handler);
            }
        }
        Ok(())
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.0.add(&format!("perform {} {} {}", ctx.worker(), ctx.iteration(), getpid()));
        while ctx.iteration().is_multiple_of(2) {
            std::thread::sleep(3600 * SEC);
        }
        std::thread::sleep(20 * MS);
        Ok(())
    }
}

fn timeout_despite(tamper: Tamper) -> Outcome {
    let strategies: &[Strategy] = if tamper == Tamper::ChldIgnored { &[Forking] } else { &[Forking, Simple] };
    for &strategy in strategies {
        let ev = Events::new("tamper");
        let job = Tampered(ev.clone(), tamper);
        let master = spawn_master(&ev, || {
            let m = Master::new(job).strategy(strategy).perform_timeout(300 * MS).stop_timeout(60 * SEC);
            m.logger(ev.logger()).run()
        });
        if strategy == Simple {
            ev.wait("2 hung workers killed and replaced", 10 * SEC, |ev| setup_pids(ev, 0).len() >= 3)?;
            let kills =
                ev.lines().iter().filter(|l| l.contains("perform timeout") && l.contains("killing the worker")).count();
            ensure!(kills >= 2, "{:?}", ev.lines());
            println!("       Simple, {tamper:?}: hung performs killed at the timeout, worker replaced");
            stop_and_check(&ev, master)?;
            continue;
        }
        ev.wait("3 hung performs killed, each followed by the next", 10 * SEC, |ev| ev.count("perform 0 ") >= 6)?;
        ensure!(setup_pids(&ev, 0).len() == 1, "the worker was replaced: {:?}", ev.lines());
        let starts: Vec<u64> =
            ev.stamped().iter().filter(|(_, l)| l.starts_with("perform 0 ")).map(|(t, _)| *t / 1_000_000).collect();
        // Hung performs are the even ones; the next starts once the hung one is killed.
        let gaps: Vec<u64> = starts.chunks_exact(2).map(|w| w[1] - w[0]).collect();
        ensure!(gaps.iter().all(|g| (295..1500).contains(g)), "hung performs ended {gaps:?} ms after they began");
        let errors: Vec<String> =
            ev.lines().into_iter().filter(|l| l.starts_with("log ERROR") && !l.contains("perform timeout")).collect();
        ensure!(errors.is_empty(), "{} ERROR lines besides the timeouts: {errors:?}", errors.len());
        println!("       Forking, {tamper:?}: hung performs ended {gaps:?} ms after their start; no other ERROR");
        stop_and_check(&ev, master)?;
    }
    Ok(())
}

fn unused_signal(sig: i32, name: &str, strategy: Strategy) -> Outcome {
    let ev = Events::new("unused");
    let probe = Probe::new(&ev).perform(Act::Sleep(300 * MS));
    let master = spawn_master(&ev, || {
        // As many command-line programs do, so that a closed pipe ends them quietly. PIPE is
        // then fatal to the master unless `run` ignores it.
        // SAFETY: setting a disposition in this single-threaded child.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        Master::new(probe).workers(2).strategy(strategy).logger(ev.logger()).run()
    });
    ev.wait("both workers inside a perform", 10 * SEC, |ev| ev.count("perform 0 ") > 0 && ev.count("perform 1 ") > 0)?;
    let before = (performs(&ev, 0).len(), performs(&ev, 1).len());
    kill(master, sig);
    // Within the next perform (300 ms) the master has either died or let both workers go on.
    let died = wait_for("2 more performs in each worker, or the master's end", 10 * SEC, || {
        let on = performs(&ev, 0).len() >= before.0 + 2 && performs(&ev, 1).len() >= before.1 + 2;
        if state(master) == Some('Z') { Some(true) } else { on.then_some(false) }
    })?;
    if died {
        let code = wait_exit(master, 5 * SEC)?;
        let _ = wait_for("its workers to die with it", 2 * SEC, || {
            reap_orphans();
            descendants().is_empty().then_some(())
        });
        let cut = ev.count("perform ") - ev.count("done ");
        return Err(format!("the master died of SIG{name} (status {code}); {cut} performs in flight were cut"));
    }
    // PIPE is ignored silently; USR1 reopens the logs and HUP rolls (see tests/pacing.rs); the
    // rest are logged.
    let logged = match sig {
        libc::SIGPIPE => true,
        libc::SIGUSR1 => ev.has("USR1: log reopened"),
        libc::SIGHUP => ev.has("HUP: rolling restart of 2 workers"),
        _ => ev.has(&format!("SIG{name} ignored")),
    };
    ensure!(logged, "SIG{name} was not logged: {:?}", ev.find("log "));
    // HUP replaces the workers, one at a time, each after its perform (see tests/pacing.rs).
    ensure!(sig == libc::SIGHUP || ev.count("setup ") == 2, "workers were replaced: {:?}", ev.lines());
    kill(master, libc::SIGINT);
    let code = wait_exit(master, 10 * SEC)?;
    ensure!(code == 0 && ev.has("run ok killed=0"), "exit {code}:\n{}", ev.lines().join("\n"));
    let (started, done) = (ev.count("perform "), ev.count("done "));
    ensure!(started == done, "{started} performs started but {done} finished: one was cut");
    println!("       SIG{name}: master stayed up; {started} performs, none cut; INT then stopped it (exit 0)");
    assert_nothing_left(&ev, master)
}
