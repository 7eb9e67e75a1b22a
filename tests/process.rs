//! Process-level behaviour of the core crate: workers, both strategies, signals, stops, master
//! death, and the unmonitored API. See tests/README.md.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use sisyphus::{Master, Strategy};
use support::*;

fn main() {
    run_scenarios(&[
        ("forking_workers_come_up_once_and_perform_in_fresh_children", || workers_come_up(Strategy::Forking)),
        ("simple_workers_come_up_once_and_perform_in_place", || workers_come_up(Strategy::Simple)),
        ("forking_perform_err_is_logged_and_the_worker_carries_on", || perform_err_keeps_worker(Strategy::Forking)),
        ("simple_perform_err_is_logged_and_the_worker_carries_on", || perform_err_keeps_worker(Strategy::Simple)),
        ("forking_perform_panic_ends_only_the_perform_child", forking_panic_keeps_worker),
        ("simple_perform_panic_replaces_the_worker", simple_panic_replaces_worker),
        ("setup_failure_is_retried_with_growing_backoff", setup_failure_backs_off),
        ("ttin_adds_and_ttou_removes_for_good", ttin_and_ttou),
        ("kill_9_of_a_worker_is_replaced_once", kill9_replaced_once),
        ("int_stops_gracefully_without_interrupting_performs", || {
            graceful_stop(libc::SIGINT, false, Strategy::Forking)
        }),
        ("term_stops_gracefully_without_interrupting_performs", || {
            graceful_stop(libc::SIGTERM, false, Strategy::Simple)
        }),
        ("ctrl_c_to_the_process_group_stops_gracefully", || graceful_stop(libc::SIGINT, true, Strategy::Forking)),
        ("hung_perform_is_killed_at_the_stop_timeout", hung_perform_killed_at_stop_timeout),
        ("second_int_escalates_to_an_immediate_stop", second_int_escalates),
        ("quit_stops_at_once", quit_stops_at_once),
        ("master_sigkill_leaves_no_orphans_forking", || master_sigkill_no_orphans(Strategy::Forking)),
        ("master_sigkill_leaves_no_orphans_simple", || master_sigkill_no_orphans(Strategy::Simple)),
        ("unmonitored_start_stop_worker_and_stop_all", unmonitored_api),
        ("run_refuses_a_multi_threaded_process", refuses_threads),
        ("bad_configuration_is_rejected_before_any_fork", bad_config_rejected),
        ("run_restores_signal_dispositions", restores_dispositions),
        ("workers_name_themselves_for_ps", process_names),
        ("workers_unblock_the_signals_they_need", workers_unblock_signals),
        ("unmonitored_api_survives_sigchld_ignored", unmonitored_sigchld_ignored),
        ("stop_all_logs_a_dead_worker_as_died_and_run_takes_over_cleanly", stop_all_then_run),
        ("a_partial_line_printed_in_setup_appears_once", partial_line_once),
    ]);
}

/// Stops the master with INT and checks it ended cleanly, reaping everything itself and
/// killing nothing.
fn stop_cleanly(ev: &Events, master: Pid) -> Outcome {
    let killed = stop_and_check(ev, master)?;
    ensure!(killed == 0, "the stop killed {killed} workers:\n{}", ev.lines().join("\n"));
    Ok(())
}

fn workers_come_up(strategy: Strategy) -> Outcome {
    let ev = Events::new("up");
    let probe = Probe::new(&ev);
    let master = spawn_master(&ev, || Master::new(probe).workers(3).strategy(strategy).logger(ev.logger()).run());
    ev.wait("3 performs in each of 3 workers", 10 * SEC, |ev| (0..3).all(|s| performs(ev, s).len() >= 3))?;
    let mut worker_pids = HashSet::new();
    for slot in 0..3 {
        let setups = setup_pids(&ev, slot);
        ensure!(setups.len() == 1, "slot {slot} ran setup {} times", setups.len());
        worker_pids.insert(setups[0]);
        let runs = performs(&ev, slot);
        let iterations: Vec<u64> = runs.iter().map(|r| r.0).collect();
        ensure!(iterations.iter().enumerate().all(|(i, &n)| n == i as u64), "slot {slot} iterations {iterations:?}");
        let pids: HashSet<Pid> = runs.iter().map(|r| r.1).collect();
        match strategy {
            Strategy::Forking => {
                ensure!(pids.len() == runs.len(), "each perform needs its own child: {runs:?}");
                ensure!(!pids.contains(&setups[0]), "a perform ran in the worker itself");
            }
            _ => ensure!(
                pids.len() == 1 && pids.contains(&setups[0]),
                "simple performs ran in {pids:?}, worker {}",
                setups[0]
            ),
        }
    }
    ensure!(worker_pids.len() == 3, "workers share pids: {worker_pids:?}");
    let children = live_children(master);
    ensure!(children.len() == 3 && children.iter().all(|p| worker_pids.contains(p)), "master's children {children:?}");
    ensure!(ev.count("log INFO worker") >= 3, "worker starts not logged");
    stop_cleanly(&ev, master)
}

fn perform_err_keeps_worker(strategy: Strategy) -> Outcome {
    let ev = Events::new("err");
    let probe = Probe::new(&ev).perform(Act::Err);
    let master = spawn_master(&ev, || Master::new(probe).strategy(strategy).logger(ev.logger()).run());
    ev.wait("5 failing performs", 10 * SEC, |ev| ev.count("log WARN worker 0: perform failed: probe failure") >= 5)?;
    ensure!(setup_pids(&ev, 0).len() == 1, "setup reran after a perform error");
    if strategy == Strategy::Simple {
        let pids: HashSet<Pid> = performs(&ev, 0).iter().map(|p| p.1).collect();
        ensure!(pids.len() == 1, "simple performs changed process: {pids:?}");
    }
    ensure!(!ev.has("died") && !ev.has("ERROR"), "a perform error was treated as a death");
    stop_cleanly(&ev, master)
}

fn forking_panic_keeps_worker() -> Outcome {
    let ev = Events::new("fpanic");
    let probe = Probe::new(&ev).perform(Act::Panic);
    let master = spawn_master(&ev, || Master::new(probe).logger(ev.logger()).run());
    ev.wait("3 panicking performs", 10 * SEC, |ev| ev.count("log ERROR worker 0: perform panicked: probe panic") >= 3)?;
    ensure!(setup_pids(&ev, 0).len() == 1, "setup reran after a perform panic");
    ensure!(!ev.has("died"), "the worker died of a perform panic");
    stop_cleanly(&ev, master)
}

fn simple_panic_replaces_worker() -> Outcome {
    let ev = Events::new("spanic");
    let probe = Probe::new(&ev).perform(Act::Panic);
    let master = spawn_master(&ev, || Master::new(probe).strategy(Strategy::Simple).logger(ev.logger()).run());
    ev.wait("the worker to be replaced twice", 10 * SEC, |ev| setup_pids(ev, 0).len() >= 3)?;
    ensure!(ev.has("log ERROR worker 0: perform panicked: probe panic"), "panic not logged at ERROR");
    ensure!(ev.has("exited with code 101; restarting now"), "first death not restarted at once");
    ensure!(ev.has("exited with code 101; restarting in 100 ms"), "second quick death not backed off");
    let pids = setup_pids(&ev, 0);
    ensure!(pids.iter().collect::<HashSet<_>>().len() == pids.len(), "replacement reused a process");
    stop_cleanly(&ev, master)
}

fn setup_failure_backs_off() -> Outcome {
    let ev = Events::new("setupfail");
    let probe = Probe::new(&ev).setup(Act::Err);
    let master = spawn_master(&ev, || Master::new(probe).logger(ev.logger()).run());
    ev.wait("5 setup attempts", 10 * SEC, |ev| ev.count("setup 0 ") >= 5)?;
    let times: Vec<u64> = ev.stamped().iter().filter(|(_, l)| l.starts_with("setup 0 ")).map(|(t, _)| *t).collect();
    let gaps: Vec<u64> = times.windows(2).map(|w| (w[1] - w[0]) / 1_000_000).collect();
    // 100, 200, 400, 800 ms; allow scheduling slack above, none below.
    for (gap, want) in gaps.iter().zip([100u64, 200, 400, 800]) {
        ensure!(*gap >= want && *gap < want + 250, "setup retry gaps {gaps:?} ms, wanted about 100, 200, 400, 800");
    }
    ensure!(ev.has("log WARN worker 0: setup failed: probe failure"), "setup failure not logged at WARN");
    ensure!(ev.has("failed to start: exited with code 3; restarting in 100 ms"), "master did not log the failed start");
    ensure!(performs(&ev, 0).is_empty(), "performed without a successful setup");
    stop_cleanly(&ev, master)
}

fn ttin_and_ttou() -> Outcome {
    let ev = Events::new("scale");
    let probe = Probe::new(&ev);
    let master = spawn_master(&ev, || Master::new(probe).workers(2).logger(ev.logger()).run());
    ev.wait("2 workers", 10 * SEC, |ev| ev.count("setup ") == 2)?;
    kill(master, libc::SIGTTIN);
    ev.wait("a third worker in slot 2", 10 * SEC, |ev| setup_pids(ev, 2).len() == 1)?;
    ensure!(ev.has("scaling from 2 to 3 workers"), "scaling not logged");
    kill(master, libc::SIGTTOU);
    ev.wait("slot 2 retired", 10 * SEC, |ev| ev.has(" stopped: exited with code 0"))?;
    kill(master, libc::SIGTTOU);
    ev.wait("slot 1 retired", 10 * SEC, |ev| ev.count("log INFO worker 1 (pid") == 1)?;
    let at = |needle: &str| ev.lines().iter().position(|l| l.contains(needle));
    ensure!(
        at("retiring worker 2") < at("retiring worker 1") && at("retiring worker 1").is_some(),
        "the highest slots must go first"
    );
    // A respawn would take a millisecond; give it 300 to show up.
    let setups = ev.count("setup ");
    let _ = wait_for("a respawn (must not happen)", 300 * MS, || (ev.count("setup ") > setups).then_some(()));
    ensure!(ev.count("setup ") == setups, "a retired worker was replaced");
    let children = live_children(master);
    ensure!(children.len() == 1, "master has {} workers after 3 - 2, {children:?}", children.len());
    kill(master, libc::SIGTTOU);
    ev.wait("scaled to 0", 10 * SEC, |ev| ev.has("scaling from 1 to 0"))?;
    kill(master, libc::SIGTTOU);
    ev.wait("not below 0", 10 * SEC, |ev| ev.has("TTOU ignored: no worker to retire"))?;
    wait_for("no workers", 10 * SEC, || live_children(master).is_empty().then_some(()))?;
    kill(master, libc::SIGTTIN);
    ev.wait("back to one worker in slot 0", 10 * SEC, |ev| setup_pids(ev, 0).len() == 2)?;
    stop_cleanly(&ev, master)
}

fn kill9_replaced_once() -> Outcome {
    let ev = Events::new("kill9");
    let probe = Probe::new(&ev);
    let master = spawn_master(&ev, || Master::new(probe).workers(2).logger(ev.logger()).run());
    ev.wait("2 workers performing", 10 * SEC, |ev| performs(ev, 0).len() >= 2 && performs(ev, 1).len() >= 2)?;
    let victim = setup_pids(&ev, 1)[0];
    let t0 = Instant::now();
    kill(victim, libc::SIGKILL);
    ev.wait("slot 1 replaced", 10 * SEC, |ev| setup_pids(ev, 1).len() == 2)?;
    let respawn = t0.elapsed();
    let _ =
        wait_for("a second replacement (must not happen)", 300 * MS, || (setup_pids(&ev, 1).len() > 2).then_some(()));
    ensure!(setup_pids(&ev, 1).len() == 2, "slot 1 replaced more than once");
    ensure!(setup_pids(&ev, 0).len() == 1, "slot 0 was disturbed");
    ensure!(ev.has(&format!("log ERROR worker 1 (pid {victim}) died after")), "death not logged at ERROR");
    ensure!(ev.has("was killed by signal KILL; restarting now"), "signal name or restart missing");
    wait_for("the victim reaped", 5 * SEC, || zombie_children(master).is_empty().then_some(()))?;
    println!("       respawn after SIGKILL, seen from outside: {:.2} ms", respawn.as_secs_f64() * 1e3);
    stop_cleanly(&ev, master)
}

fn graceful_stop(sig: i32, whole_group: bool, strategy: Strategy) -> Outcome {
    let ev = Events::new("graceful");
    let probe = Probe::new(&ev).perform(Act::Sleep(300 * MS));
    let master = spawn_master(&ev, || Master::new(probe).workers(2).strategy(strategy).logger(ev.logger()).run());
    ev.wait("both workers inside a perform", 10 * SEC, |ev| {
        ev.count("perform 0 ") >= 1 && ev.count("perform 1 ") >= 1
    })?;
    kill(if whole_group { -master } else { master }, sig);
    let code = wait_exit(master, 10 * SEC)?;
    ensure!(code == 0 && ev.has("run ok killed=0"), "exit code {code}:\n{}", ev.lines().join("\n"));
    let (started, done) = (ev.count("perform "), ev.count("done "));
    ensure!(started == done, "{started} performs started but {done} finished: a perform was interrupted");
    ensure!(ev.count("log INFO worker") >= 4, "stops not logged");
    assert_nothing_left(&ev, master)
}

fn hung_perform_killed_at_stop_timeout() -> Outcome {
    let ev = Events::new("hung");
    let probe = Probe::new(&ev).perform(Act::Hang);
    let master = spawn_master(&ev, || Master::new(probe).stop_timeout(500 * MS).logger(ev.logger()).run());
    ev.wait("a hung perform", 10 * SEC, |ev| ev.count("perform 0 ") == 1)?;
    let perform_child = performs(&ev, 0)[0].1;
    let t0 = Instant::now();
    kill(master, libc::SIGINT);
    let code = wait_exit(master, 10 * SEC)?;
    let took = t0.elapsed();
    ensure!(code == 0 && ev.has("run ok killed=1"), "exit {code}:\n{}", ev.lines().join("\n"));
    ensure!(took >= 450 * MS && took < 3 * SEC, "stop took {took:?} with a 500 ms stop timeout");
    ensure!(ev.has("still running 500 ms after the stop request: killing it"), "forced kill not logged");
    wait_for("the perform child to be gone", 5 * SEC, || (!alive(perform_child)).then_some(()))?;
    println!("       stop with a hung perform and stop_timeout 500 ms took {:.0} ms", took.as_secs_f64() * 1e3);
    assert_nothing_left(&ev, master)
}

fn second_int_escalates() -> Outcome {
    let ev = Events::new("twice");
    let probe = Probe::new(&ev).perform(Act::Hang);
    let master = spawn_master(&ev, || Master::new(probe).workers(2).stop_timeout(60 * SEC).logger(ev.logger()).run());
    ev.wait("hung performs", 10 * SEC, |ev| ev.count("perform ") == 2)?;
    kill(master, libc::SIGINT);
    ev.wait("graceful stop begun", 10 * SEC, |ev| ev.has("INT: stopping 2 workers gracefully"))?;
    // Within a second of the first, an INT is the same request (`timeout` sends two).
    std::thread::sleep(1100 * MS);
    let t0 = Instant::now();
    kill(master, libc::SIGINT);
    let code = wait_exit(master, 10 * SEC)?;
    ensure!(t0.elapsed() < 3 * SEC, "second INT took {:?}", t0.elapsed());
    ensure!(code == 0 && ev.has("run ok killed=2"), "exit {code}:\n{}", ev.lines().join("\n"));
    ensure!(ev.has("second INT: stopping 2 workers at once"), "escalation not logged");
    assert_nothing_left(&ev, master)
}

fn quit_stops_at_once() -> Outcome {
    let ev = Events::new("quit");
    let probe = Probe::new(&ev).perform(Act::Hang);
    let master = spawn_master(&ev, || Master::new(probe).workers(2).stop_timeout(60 * SEC).logger(ev.logger()).run());
    ev.wait("hung performs", 10 * SEC, |ev| ev.count("perform ") == 2)?;
    let t0 = Instant::now();
    kill(master, libc::SIGQUIT);
    let code = wait_exit(master, 10 * SEC)?;
    ensure!(t0.elapsed() < 3 * SEC, "QUIT took {:?}", t0.elapsed());
    ensure!(code == 0 && ev.has("run ok killed=2"), "exit {code}:\n{}", ev.lines().join("\n"));
    assert_nothing_left(&ev, master)
}

fn master_sigkill_no_orphans(strategy: Strategy) -> Outcome {
    let ev = Events::new("orphans");
    let probe = Probe::new(&ev).perform(Act::Hang);
    let master = spawn_master(&ev, || Master::new(probe).workers(3).strategy(strategy).logger(ev.logger()).run());
    ev.wait("3 hung performs", 10 * SEC, |ev| ev.count("perform ") == 3)?;
    let mut pids: Vec<Pid> = (0..3).flat_map(|s| setup_pids(&ev, s)).collect();
    pids.extend((0..3).flat_map(|s| performs(&ev, s)).map(|p| p.1));
    let t0 = Instant::now();
    kill(master, libc::SIGKILL);
    wait_exit(master, 5 * SEC)?;
    wait_for("every worker and perform child to die", 5 * SEC, || {
        // They are reparented to us (a subreaper): reap them as they die.
        // SAFETY: waitpid with a null status pointer.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        pids.iter().all(|&p| !alive(p)).then_some(())
    })?;
    println!("       orphans gone {:.1} ms after the master's SIGKILL", t0.elapsed().as_secs_f64() * 1e3);
    Ok(())
}

fn unmonitored_api() -> Outcome {
    let ev = Events::new("api");
    let probe = Probe::new(&ev);
    let ev2 = ev.clone();
    let master = fork_child(move || {
        // A child of the caller's own, which the master must not reap.
        // It has exited before the master starts: a master that reaped any child would take it.
        let own = fork_child(|| 7);
        let _ = wait_for("the caller's own child to exit", 10 * SEC, || {
            zombie_children(getpid()).contains(&own).then_some(())
        });
        ev2.add(&format!("fds before {}", open_fds(getpid())));
        let mut m = Master::new(probe).logger(ev2.logger());
        let a = m.start_worker().unwrap();
        let b = m.start_worker().unwrap();
        ev2.add(&format!("started {a} {b} count={}", m.worker_count()));
        // Wait for both setups before stopping, so the stop is of running workers.
        let _ = wait_for("setups", 10 * SEC, || (ev2.count("setup ") == 2).then_some(()));
        ev2.add(&format!("stop_unknown={}", m.stop_worker(1).unwrap()));
        ev2.add(&format!("stop_a={} count={}", m.stop_worker(a).unwrap(), m.worker_count()));
        ev2.add(&format!("stop_a_again={}", m.stop_worker(a).unwrap()));
        let c = m.start_worker().unwrap();
        let s = m.stop_all().unwrap();
        ev2.add(&format!("stop_all killed={} count={} c={c}", s.killed, m.worker_count()));
        ev2.add(&format!("fds after {}", open_fds(getpid())));
        let own_code = wait_exit(own, 10 * SEC).unwrap_or(-1);
        ev2.add(&format!("own child exit {own_code}"));
        record_left(&ev2);
        0
    });
    let code = wait_exit(master, 20 * SEC)?;
    ensure!(code == 0, "caller exited {code}:\n{}", ev.lines().join("\n"));
    let started = ev.find("started ");
    ensure!(started.len() == 1 && started[0][3] == "count=2", "{started:?}");
    ensure!(ev.has("stop_unknown=false"), "stop_worker of a stranger: {:?}", ev.lines());
    ensure!(ev.has("stop_a=true count=1"), "{:?}", ev.lines());
    ensure!(ev.has("stop_a_again=false"), "{:?}", ev.lines());
    let c: Vec<_> = ev.find("stop_all ");
    ensure!(c.len() == 1 && c[0][1] == "killed=0" && c[0][2] == "count=0", "{c:?}");
    // The third worker took the lowest free slot, 0 (a's). It was stopped before its setup.
    ensure!(ev.has(&format!("log INFO worker 0 started (pid {})", &c[0][3][2..])), "slot reuse: {:?}", ev.lines());
    ensure!(ev.has("own child exit 7"), "the master reaped the caller's own child: {:?}", ev.lines());
    assert_nothing_left(&ev, master)
}

fn refuses_threads() -> Outcome {
    let ev = Events::new("threads");
    let probe = Probe::new(&ev);
    let master = spawn_master(&ev, || {
        let (_tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || rx.recv());
        Master::new(probe).run()
    });
    let code = wait_exit(master, 10 * SEC)?;
    ensure!(code == 2 && ev.has("run err refusing to fork: the process has 2 threads"), "{:?}", ev.lines());
    ensure!(ev.count("setup ") == 0, "forked anyway");
    Ok(())
}

fn bad_config_rejected() -> Outcome {
    let ev = Events::new("config");
    for (n, build) in [
        |m: Master<Probe>| m.workers(100_000),
        |m: Master<Probe>| m.stop_timeout(Duration::ZERO),
        |m: Master<Probe>| m.perform_timeout(Duration::from_secs(60)),
    ]
    .into_iter()
    .enumerate()
    {
        let probe = Probe::new(&ev);
        let master = spawn_master(&ev, || build(Master::new(probe)).run());
        let code = wait_exit(master, 10 * SEC)?;
        ensure!(code == 2 && ev.count("run err invalid configuration") == n + 1, "{:?}", ev.lines());
    }
    ensure!(ev.count("setup ") == 0, "forked anyway");
    Ok(())
}

fn restores_dispositions() -> Outcome {
    let ev = Events::new("restore");
    let probe = Probe::new(&ev);
    let ev2 = ev.clone();
    let master = fork_child(move || {
        let sigs = [libc::SIGINT, libc::SIGTERM, libc::SIGQUIT, libc::SIGTTIN, libc::SIGTTOU, libc::SIGCHLD];
        let read = || -> Vec<usize> {
            sigs.iter()
                .map(|&s| {
                    // SAFETY: querying a disposition into a zeroed out-struct.
                    unsafe {
                        let mut old: libc::sigaction = std::mem::zeroed();
                        libc::sigaction(s, std::ptr::null(), &mut old);
                        old.sa_sigaction
                    }
                })
                .collect()
        };
        let mask = || {
            // SAFETY: reading the current mask into a zeroed set, then testing members of it.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
                (1..32).filter(|&s| libc::sigismember(&set, s) == 1).collect::<Vec<i32>>()
            }
        };
        // SAFETY: setting SIG_IGN for TTIN, as a caller might.
        unsafe { libc::signal(libc::SIGTTIN, libc::SIG_IGN) };
        // A caller's blocked TERM and USR1: run unblocks TERM while it runs, then blocks it again.
        block(libc::SIGTERM);
        block(libc::SIGUSR1);
        let before = (read(), mask());
        let result = Master::new(probe).logger(ev2.logger()).run();
        let after = (read(), mask());
        ev2.add(&format!("result {} restored={}", result.is_ok(), before == after));
        0
    });
    ev.wait("a worker", 10 * SEC, |ev| ev.count("perform ") >= 1)?;
    kill(master, libc::SIGINT);
    ensure!(wait_exit(master, 10 * SEC)? == 0, "exit");
    ensure!(ev.has("result true restored=true"), "{:?}", ev.lines());
    Ok(())
}

fn process_names() -> Outcome {
    let ev = Events::new("names");
    let probe = Probe::new(&ev).perform(Act::Sleep(2 * SEC));
    let master = spawn_master(&ev, || Master::new(probe).workers(2).logger(ev.logger()).run());
    ev.wait("performs", 10 * SEC, |ev| ev.count("perform ") == 2)?;
    let comm = |pid: Pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string();
    ensure!(comm(setup_pids(&ev, 1)[0]) == "sisyphus-w1", "worker comm {:?}", comm(setup_pids(&ev, 1)[0]));
    ensure!(comm(performs(&ev, 1)[0].1) == "sisyphus-p1", "perform comm {:?}", comm(performs(&ev, 1)[0].1));
    ensure!(!comm(master).starts_with("sisyphus-"), "the master renamed itself");
    stop_cleanly(&ev, master)
}

fn block(sig: i32) {
    // SAFETY: building a one-signal set and blocking it for this process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

fn workers_unblock_signals() -> Outcome {
    // A caller that blocked ALRM (a mask survives exec, so a parent may have done it) must not
    // leave workers deaf to the master's perform-timeout requests.
    let ev = Events::new("mask");
    let probe = Probe::new(&ev).perform(Act::Hang);
    let master = spawn_master(&ev, || {
        block(libc::SIGALRM);
        Master::new(probe).perform_timeout(200 * MS).stop_timeout(SEC).logger(ev.logger()).run()
    });
    ev.wait("a hung perform killed by the timeout", 5 * SEC, |ev| ev.count("perform ") >= 2)?;
    stop_cleanly(&ev, master)
}

fn unmonitored_sigchld_ignored() -> Outcome {
    // With SIGCHLD ignored the kernel reaps our workers itself; the master must notice rather
    // than wait forever for a pid that is gone.
    let ev = Events::new("sigign");
    let probe = Probe::new(&ev);
    let ev2 = ev.clone();
    let caller = fork_child(move || {
        // SAFETY: setting a disposition in this single-threaded child.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
        let mut m = Master::new(probe).stop_timeout(SEC).logger(ev2.logger());
        let a = m.start_worker().unwrap();
        m.start_worker().unwrap();
        let _ = wait_for("setups", 10 * SEC, || (ev2.count("setup ") == 2).then_some(()));
        kill(a as Pid, libc::SIGKILL);
        let _ = wait_for("the kernel to reap it", 10 * SEC, || (!alive(a as Pid)).then_some(()));
        let s = m.stop_all().unwrap();
        ev2.add(&format!("stop_all killed={} count={}", s.killed, m.worker_count()));
        0
    });
    let code = wait_exit(caller, 20 * SEC)?;
    ensure!(code == 0 && ev.has("stop_all killed=0 count=0"), "exit {code}: {:?}", ev.lines());
    ensure!(ev.has("was reaped by someone else"), "{:?}", ev.lines());
    Ok(())
}

/// Prints without a newline in `setup`, so the text sits in stdout's buffer when the worker
/// forks its perform children.
struct Partial(Events);

impl sisyphus::Job for Partial {
    fn setup(&mut self, _: &sisyphus::Context) -> Result<(), sisyphus::BoxError> {
        print!("partial-from-setup;");
        Ok(())
    }
    fn perform(&mut self, ctx: &sisyphus::Context) -> Result<(), sisyphus::BoxError> {
        self.0.add(&format!("perform {} {} {}", ctx.worker(), ctx.iteration(), getpid()));
        std::thread::sleep(10 * MS);
        Ok(())
    }
}

fn partial_line_once() -> Outcome {
    let ev = Events::new("partial");
    let out = std::env::temp_dir().join(format!("sisyphus-test-{}-partial-stdout", getpid()));
    let file = std::fs::File::create(&out).map_err(|e| e.to_string())?;
    let job = Partial(ev.clone());
    let master = spawn_master(&ev, || {
        use std::os::fd::AsRawFd;
        // SAFETY: pointing our stdout at the file before anything is printed.
        unsafe { libc::dup2(file.as_raw_fd(), 1) };
        Master::new(job).logger(ev.logger()).run()
    });
    ev.wait("5 performs", 10 * SEC, |ev| ev.count("perform ") >= 5)?;
    stop_cleanly(&ev, master)?;
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    ensure!(text.matches("partial-from-setup;").count() == 1, "printed {:?}", text);
    Ok(())
}

/// `stop_all` reaps before it asks: a worker that died is logged as such. `run` after
/// `start_worker` stops the unmonitored workers first, so no two live workers share a slot.
fn stop_all_then_run() -> Outcome {
    let ev = Events::new("mixed");
    let master = spawn_master(&ev, || {
        let mut m = Master::new(Probe::new(&ev)).workers(1).logger(ev.logger());
        let a = m.start_worker().unwrap();
        let b = m.start_worker().unwrap();
        let _ = wait_for("setups", 10 * SEC, || (ev.count("setup ") == 2).then_some(()));
        kill(b as Pid, libc::SIGKILL);
        let _ = wait_for("b dead", 10 * SEC, || (m.worker_count() == 1).then_some(()));
        ev.add(&format!("stop_all killed={}", m.stop_all().unwrap().killed));
        let c = m.start_worker().unwrap();
        let _ = wait_for("c's setup", 10 * SEC, || (ev.count("setup ") == 3).then_some(()));
        ev.add(&format!("pids {a} {b} {c}"));
        m.run()
    });
    ev.wait("the pool's worker up", 10 * SEC, |ev| ev.count("setup ") == 4)?;
    let pids = ev.find("pids ");
    let c: Pid = pids.first().and_then(|p| p.get(3)?.parse().ok()).ok_or("no pids line")?;
    let b = &pids[0][2];
    ensure!(ev.has(&format!("(pid {b}) died")), "the SIGKILLed worker not logged as died:\n{}", ev.lines().join("\n"));
    ensure!(!ev.has(&format!("(pid {b}) stopped")), "the SIGKILLed worker logged as stopped");
    wait_for("the unmonitored worker to be stopped", 10 * SEC, || (!alive(c)).then_some(()))?;
    ensure!(!ev.has("reaped pid"), "run reaped an unmonitored worker as a stranger");
    stop_and_check(&ev, master).map(drop)
}
