//! What the master tells the service manager, in order: `READY=1`, `RELOADING=1`, `STOPPING=1`,
//! `STATUS=` and `EXTEND_TIMEOUT_USEC=`, on a path or an abstract socket.

use crate::support::*;
use crate::{Listener, Svc, ensure, event_stamps, ms, ms_from, restarted, service_env, status, stop};
use sisyphus::{Master, Strategy};

/// 3 forking workers with staggered ~100 ms setups and 300 ms performs: the start, a HUP roll
/// and a TERM, each message checked in order against what the workers recorded.
pub fn ready_reload_stop() -> Outcome {
    let ev = Events::new("order");
    let mut l = Listener::path("order")?;
    let hold = std::env::temp_dir().join(format!("sisyphus-test-{}-hold", getpid()));
    let _ = std::fs::remove_file(&hold);
    let mut job = Svc::new(&ev);
    (job.setup, job.stagger, job.perform, job.hold) = (100 * MS, 60 * MS, 300 * MS, Some(hold.clone()));
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), None, None);
        Master::new(job).workers(3).logger(ev.logger()).run()
    });

    // The start: 0, 1, 2 workers up, then READY=1 and the running status, in one turn.
    let running = status("running", 3, 3);
    l.wait("READY=1 and the running status", 10 * SEC, |l| l.has(&running))?;
    let start: Vec<String> = vec![
        status("starting", 0, 3),
        status("starting", 1, 3),
        status("starting", 2, 3),
        "READY=1".into(),
        running.clone(),
    ];
    ensure!(l.messages() == start, "the start's datagrams: {:?}, want {start:?}", l.messages());
    let ready = l.when("READY=1", 0).unwrap_or(0);
    let ups = event_stamps(&ev, "up ");
    ensure!(ups.len() == 3, "setups done: {:?}", ev.lines());
    let last_up = ups.iter().copied().max().unwrap_or(0);
    ensure!(ready > last_up, "READY=1 arrived {:.1} ms before the last setup was done", ms_from(ready, last_up));
    ensure!(ev.has("log INFO ready: 3 workers up in "), "no ready line: {:?}", ev.lines());
    println!("       READY=1 {:.2} ms after the last of 3 setups was done", ms(ready - last_up));

    // HUP: RELOADING=1 with the monotonic time, the roll slot by slot, then READY=1 again.
    let n0 = l.got.len();
    let hup_us = mono_ns() / 1000;
    kill(master, libc::SIGHUP);
    l.wait("the running status after the roll", 10 * SEC, |l| l.got[n0..].iter().any(|(_, m)| *m == running))?;
    let roll: Vec<&str> = l.messages()[n0..].to_vec();
    let reloading = roll.first().copied().unwrap_or("");
    let usec: u64 = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .and_then(|u| u.parse().ok())
        .ok_or_else(|| format!("the first datagram after HUP: {reloading:?}"))?;
    let arrived_us = l.got[n0].0 / 1000;
    ensure!(
        (hup_us..=arrived_us).contains(&usec),
        "MONOTONIC_USEC={usec}, not between the HUP ({hup_us}) and its arrival ({arrived_us})"
    );
    let (rr3, rr2) = (status("rolling restart", 3, 3), status("rolling restart", 2, 3));
    let want: Vec<&str> = vec![&rr3, &rr2, &rr3, &rr2, &rr3, &rr2, "READY=1", &running];
    ensure!(roll[1..] == want[..], "the roll's datagrams: {roll:?}, want RELOADING then {want:?}");
    let ready2 = l.when("READY=1", n0).unwrap_or(0);
    let ups = event_stamps(&ev, "up ");
    ensure!(ups.len() == 6, "setups done after the roll: {:?}", ev.lines());
    let done = event_stamps(&ev, "log INFO rolling restart done: 3 workers replaced");
    ensure!(done.len() == 1 && ready2 > done[0] && ready2 > ups[5], "READY=1 before the roll's end: {:?}", ev.lines());
    println!(
        "       MONOTONIC_USEC {:.2} ms after the HUP; roll of 3 workers: READY=1 {:.0} ms after RELOADING=1",
        (usec - hup_us) as f64 / 1e3,
        ms(ready2 - l.got[n0].0)
    );

    // TERM with every worker in a held perform: STOPPING=1 comes while all three still run.
    // Every perform in flight is held from now on; a worker between two performs starts one.
    std::fs::write(&hold, "").map_err(|e| e.to_string())?;
    let held = |ev: &Events| {
        let lines = ev.lines();
        (0..3).all(|s| {
            let last = lines.iter().rev().find_map(|l| l.strip_prefix(&format!("perform {s} ")));
            last.is_some_and(|rest| !lines.contains(&format!("done {s} {rest}")))
        })
    };
    l.wait("every worker in a held perform", 5 * SEC, |_| held(&ev))?;
    let workers = live_children(master);
    ensure!(workers.len() == 3, "workers: {workers:?}");
    let n1 = l.got.len();
    let term = mono_ns();
    kill(master, libc::SIGTERM);
    l.wait("STOPPING=1", 5 * SEC, |l| l.got[n1..].iter().any(|(_, m)| m == "STOPPING=1"))?;
    let stopping = l.when("STOPPING=1", n1).unwrap_or(0);
    ensure!(workers.iter().all(|&w| alive(w)), "a worker exited before STOPPING=1 arrived");
    l.wait("the stopping status", 5 * SEC, |l| l.got[n1..].iter().any(|(_, m)| *m == status("stopping", 3, 3)))?;
    std::fs::remove_file(&hold).map_err(|e| e.to_string())?;
    let code = l.wait_exit(master, 15 * SEC)?;
    l.drain();
    ensure!(code == 0 && ev.has("run ok killed=0"), "master exit {code}:\n{}", ev.lines().join("\n"));
    let first_done = event_stamps(&ev, "done ").into_iter().filter(|&t| t > term).min().unwrap_or(0);
    ensure!(stopping < first_done, "STOPPING=1 arrived {:.1} ms after a perform ended", ms_from(first_done, stopping));
    // STOPPING=1, then the status counting down to 0/3, and nothing else.
    let tail: Vec<&str> = l.messages()[n1..].to_vec();
    ensure!(tail.len() >= 3 && tail[0] == "STOPPING=1" && tail[1] == status("stopping", 3, 3), "{tail:?}");
    let ups: Vec<usize> = tail[1..]
        .iter()
        .map(|m| {
            m.strip_prefix("STATUS=stopping: ").and_then(|r| r.split('/').next()?.parse().ok()).unwrap_or(usize::MAX)
        })
        .collect();
    ensure!(
        ups.windows(2).all(|w| w[1] < w[0]) && tail.last() == Some(&status("stopping", 0, 3).as_str()),
        "the stop's datagrams: {tail:?}"
    );
    ensure!(l.count("READY=1") == 2, "{:?}", l.messages());
    ensure!(!ev.has("cannot notify"), "a notification failed: {:?}", ev.lines());
    println!("       STOPPING=1 {:.2} ms after TERM, with all 3 workers still in their performs", ms(stopping - term));
    assert_nothing_left(&ev, master)
}

pub fn abstract_socket() -> Outcome {
    let ev = Events::new("abstract");
    let mut l = Listener::abstract_name()?;
    let job = Svc::new(&ev);
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), None, None);
        Master::new(job).workers(2).strategy(Strategy::Simple).logger(ev.logger()).run()
    });
    l.wait("READY=1", 10 * SEC, |l| l.has("READY=1"))?;
    // Trivial setups may be done before the first status is sent.
    ensure!(l.messages().first().is_some_and(|m| m.starts_with("STATUS=starting: ")), "{:?}", l.messages());
    // A worker killed: the status counts the restart, and the pool up again.
    let up = restarted("running", 2, 2, 1);
    l.wait("the running status", 5 * SEC, |l| l.has(&status("running", 2, 2)))?;
    let n0 = l.got.len();
    let worker = live_children(master).first().copied().ok_or("no worker")?;
    kill(worker, libc::SIGKILL);
    l.wait("the status after the restart", 5 * SEC, |l| l.has(&up))?;
    let after = l.messages()[n0..].to_vec();
    let down = restarted("running", 1, 2, 1);
    ensure!(after == [up.as_str()] || after == [down.as_str(), up.as_str()], "after a worker's SIGKILL: {after:?}");
    stop(&ev, master, Some(&mut l), 1, libc::SIGINT)?;
    let m = l.messages();
    let (ready, stopping) = (m.iter().position(|&x| x == "READY=1"), m.iter().position(|&x| x == "STOPPING=1"));
    ensure!(l.count("READY=1") == 1 && l.count("STOPPING=1") == 1 && ready < stopping, "{m:?}");
    ensure!(m.last() == Some(&restarted("stopping", 0, 2, 1).as_str()), "{m:?}");
    Ok(())
}

pub fn extend_timeout() -> Outcome {
    let ev = Events::new("extend");
    let mut l = Listener::path("extend")?;
    let mut job = Svc::new(&ev);
    (job.setup, job.stagger) = (100 * MS, 100 * MS);
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), None, None);
        let m = Master::new(job).workers(2).setup_timeout(2 * SEC).stop_timeout(5 * SEC);
        m.logger(ev.logger()).run()
    });
    let running = status("running", 2, 2);
    l.wait("READY=1 and the running status", 10 * SEC, |l| l.has(&running))?;
    // The setup timeout plus the second the master allows to kill an overrun.
    let start: Vec<String> = vec![
        "EXTEND_TIMEOUT_USEC=3000000".into(),
        status("starting", 0, 2),
        status("starting", 1, 2),
        "READY=1".into(),
        running.clone(),
    ];
    ensure!(l.messages() == start, "the start's datagrams: {:?}, want {start:?}", l.messages());
    // Each roll step may take a perform's end (the stop timeout), a setup and that second.
    let n0 = l.got.len();
    kill(master, libc::SIGHUP);
    l.wait("the running status after the roll", 10 * SEC, |l| l.got[n0..].iter().any(|(_, m)| *m == running))?;
    let roll = l.messages()[n0..].to_vec();
    let (rr2, rr1, ext) =
        (status("rolling restart", 2, 2), status("rolling restart", 1, 2), "EXTEND_TIMEOUT_USEC=8000000");
    let want = [ext, &rr2, &rr1, ext, &rr2, &rr1, "READY=1", &running];
    ensure!(
        roll.len() == 9 && roll[0].starts_with("RELOADING=1\nMONOTONIC_USEC=") && roll[1..] == want[..],
        "the roll's datagrams: {roll:?}, want RELOADING then {want:?}"
    );
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)
}

pub fn ready_with_8_workers() -> Outcome {
    let ev = Events::new("ready8");
    let mut l = Listener::path("ready8")?;
    let job = Svc::new(&ev);
    let addr = l.addr.clone();
    let t0 = mono_ns();
    let master = spawn_master(&ev, || {
        service_env(Some(&addr), None, None);
        Master::new(job).workers(8).logger(ev.logger()).run()
    });
    l.wait("READY=1", 10 * SEC, |l| l.has("READY=1"))?;
    let ready = l.when("READY=1", 0).unwrap_or(0);
    let ups = event_stamps(&ev, "up ");
    ensure!(ups.len() == 8 && ups.iter().all(|&t| t < ready), "READY=1 before 8 setups were done: {:?}", ev.lines());
    let logged = ev.lines().into_iter().find(|x| x.starts_with("log INFO ready: 8 workers up in ")).unwrap_or_default();
    ensure!(!logged.is_empty(), "no ready line: {:?}", ev.lines());
    println!(
        "       time to READY=1 with 8 workers: {:.1} ms (from the fork; the master logs \"{}\")",
        ms(ready - t0),
        logged.trim_start_matches("log INFO ")
    );
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)
}
