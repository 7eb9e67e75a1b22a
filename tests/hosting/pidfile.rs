//! The pidfile: written before any fork, held by an `flock` that a second master respects,
//! taken over from a dead master, refused as a symlink, left alone when replaced.

use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use crate::support::*;
use crate::{
    Host, catches, ensure, exited, fd_targets, hosted, masters_seen, pid_line, read, reap_orphans, report, reported,
    temp_path, term_and_check, wait_all_gone,
};
use sisyphus::{BoxError, Context, Job, Master, NullLogger};

pub fn written_and_removed() -> Outcome {
    let ev = Events::new("written");
    let pidfile = temp_path("written.pid");
    let job = Host::new(&ev).pidfile(&pidfile);
    let master = spawn_master(&ev, || {
        // No umask: the mode seen is the mode the file was created with.
        // SAFETY: umask has no preconditions.
        unsafe { libc::umask(0) };
        hosted(&ev, job, &pidfile).workers(2).run()
    });
    ev.wait("2 workers ready and performing", 10 * SEC, |ev| {
        ev.count("ready ") == 2 && ev.count("perform 0 ") > 0 && ev.count("perform 1 ") > 0
    })?;
    let want = format!("{:?}", format!("{master}\n"));
    let seen = ev.find("pidfile ");
    ensure!(seen.len() == 2, "setup lines: {:?}", ev.lines());
    for w in &seen {
        // The file held the master's pid when each worker's setup began: written before any fork.
        ensure!(w[2] == want && w[3] == "holds=false", "a worker's setup saw {w:?}; want {want}, holds=false");
    }
    ensure!(masters_seen(&ev) == [master], "workers' parents {:?}", masters_seen(&ev));
    let performs = ev.find("perform ");
    ensure!(performs.iter().all(|w| w[3] == "holds=false"), "a perform child holds the pidfile: {performs:?}");
    ensure!(read(&pidfile) == pid_line(master), "pidfile holds {:?}, master is {master}", read(&pidfile));
    let mode = std::fs::metadata(&pidfile).map_err(|e| e.to_string())?.permissions().mode() & 0o7777;
    ensure!(mode == 0o644, "pidfile mode {mode:o} under umask 0");
    // The master holds it (the check can see it), no worker does.
    ensure!(fd_targets(&master.to_string()).contains(&pidfile), "the master has no descriptor on {pidfile:?}");
    let workers = live_children(master);
    ensure!(workers.len() == 2, "workers {workers:?}");
    for w in &workers {
        ensure!(!fd_targets(&w.to_string()).contains(&pidfile), "worker {w} holds the pidfile");
    }
    term_and_check(&ev, master, &pidfile)?;
    assert_nothing_left(&ev, master)?;
    println!("       {pidfile:?} held {master} (mode {mode:o}), read by both setups; removed at the stop");
    Ok(())
}

pub fn held_refuses_a_second() -> Outcome {
    let ev = Events::new("held1");
    let ev2 = Events::new("held2");
    let pidfile = temp_path("held.pid");
    let first = spawn_master(&ev, || hosted(&ev, Host::new(&ev), &pidfile).run());
    ev.wait("the first master's worker", 10 * SEC, |ev| ev.count("ready ") == 1)?;
    let t0 = Instant::now();
    let second = fork_child(|| {
        let code = report(&ev2, "second", hosted(&ev2, Host::new(&ev2), &pidfile).workers(2).run());
        record_left(&ev2);
        code
    });
    let code = wait_exit(second, 5 * SEC)?;
    let took = t0.elapsed();
    let w = reported(&ev2, "second")?;
    let line = w.join(" ");
    ensure!(code == 7 && w[2] == format!("held:{first}"), "second master exit {code}: {line}");
    let path = pidfile.display().to_string();
    ensure!(line.contains(&format!("pid {first}")) && line.contains(&path), "message names neither: {line}");
    ensure!(took < SEC, "the refusal took {took:?}");
    ensure!(ev2.has("left 0") && ev2.count("setup ") == 0, "the second master forked: {:?}", ev2.lines());
    ensure!(!ev2.lines().iter().any(|l| l.contains(" started (pid")), "a worker was started: {:?}", ev2.lines());
    ensure!(read(&pidfile) == pid_line(first), "pidfile now holds {:?}, first is {first}", read(&pidfile));
    ensure!(alive(first) && ev.count("setup ") == 1, "the first master was disturbed: {:?}", ev.lines());
    term_and_check(&ev, first, &pidfile)?;
    assert_nothing_left(&ev, first)?;
    println!("       refused in {:.1} ms: {}", took.as_secs_f64() * 1e3, w[3..].join(" "));
    Ok(())
}

/// A job that does nothing, once an hour.
struct Idle;

impl Job for Idle {
    fn perform(&mut self, _: &Context) -> Result<(), BoxError> {
        Ok(())
    }
}

pub fn concurrent_starts() -> Outcome {
    const ROUNDS: usize = 100;
    let ev = Events::new("race");
    let pidfile = temp_path("race.pid");
    let t0 = Instant::now();
    // What the loser said held the file: the winner; nobody (it read the file between the
    // winner's truncation and its write); or, over a stale file, the stale pid (it read the file
    // between the winner's lock and its write). The last is wrong, since that pid holds nothing,
    // but `PidfileHeld::pid` is documented as what the file said: counted, not failed.
    let (mut named_winner, mut named_none, mut named_stale) = (0, 0, 0);
    for round in 0..ROUNDS {
        let stale = round % 2 == 1;
        let workers = (round / 2) % 2;
        let _ = std::fs::remove_file(&pidfile);
        if stale {
            // A live stranger's pid (ours), no lock: must be taken over, not trusted.
            std::fs::write(&pidfile, format!("{}\n", getpid())).map_err(|e| e.to_string())?;
        }
        let mut barrier = [0; 2];
        // SAFETY: a valid array of two descriptors.
        ensure!(unsafe { libc::pipe(barrier.as_mut_ptr()) } == 0, "pipe: {}", std::io::Error::last_os_error());
        let racer = || {
            let (ev, path) = (ev.clone(), pidfile.clone());
            fork_child(move || {
                let mut byte = 0u8;
                // SAFETY: closing our copy of the write end, then reading into a valid byte
                // until end of file: the test closes the last write end to release both racers.
                unsafe {
                    libc::close(barrier[1]);
                    while libc::read(barrier[0], (&raw mut byte).cast(), 1) != 0
                        && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                    {
                    }
                    libc::close(barrier[0]);
                }
                let master = Master::new(Idle).workers(workers).interval(3600 * SEC).logger(NullLogger);
                report(&ev, &format!("r{round}"), master.pidfile(path).run())
            })
        };
        let (a, b) = (racer(), racer());
        // SAFETY: closing our two ends: both racers go at once.
        unsafe {
            libc::close(barrier[0]);
            libc::close(barrier[1]);
        }
        let tally = format!("one winner in {round} of {} rounds before this one", round + 1);
        let lost = wait_for("one racer to lose", 5 * SEC, || [a, b].into_iter().find_map(|p| Some((p, exited(p)?))));
        let (loser, code) =
            lost.map_err(|e| format!("round {round}: {e} ({tally}): {:?}", ev.find(&format!("r{round} "))))?;
        let winner = if loser == a { b } else { a };
        let said = reported(&ev, &format!("r{round}"))?;
        ensure!(code == 7, "round {round}: the loser exited {code}: {said:?} ({tally})");
        // The winner keeps running: its pid in the file, its TERM handler in place.
        let up = wait_for("the winner's pid in the pidfile", 5 * SEC, || {
            if let Some(code) = exited(winner) {
                return Some(Err(format!("round {round}: the winner exited too, with {code}")));
            }
            (read(&pidfile) == pid_line(winner) && catches(winner, libc::SIGTERM)).then_some(Ok(()))
        });
        up.and_then(|r| r).map_err(|e| format!("{e} ({tally}); pidfile {:?}", read(&pidfile)))?;
        // The loser names the winner: never the stale pid the winner had yet to replace.
        match said[2].strip_prefix("held:") {
            Some(p) if p == winner.to_string() => named_winner += 1,
            Some("none") => named_none += 1,
            Some(p) if stale && p == getpid().to_string() => named_stale += 1,
            _ => return Err(format!("round {round}: the loser said {said:?}; winner {winner}")),
        }
        ensure!(named_none + named_stale == 0, "round {round}: the loser named {:?}, not the winner {winner}", said[2]);
        kill(winner, libc::SIGTERM);
        let code = wait_exit(winner, 10 * SEC)?;
        ensure!(code == 0, "round {round}: the winner exited {code} after TERM ({tally})");
        ensure!(!pidfile.exists(), "round {round}: the winner left its pidfile ({tally})");
    }
    wait_all_gone("the racers' processes")?;
    println!(
        "       one winner in {ROUNDS} of {ROUNDS} rounds ({:.1} s); the loser named the winner {named_winner} \
         times, no pid {named_none} times, the stale pid {named_stale} times",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn sigkilled_taken_over() -> Outcome {
    let ev = Events::new("takeover-a");
    let pidfile = temp_path("takeover.pid");
    let a = spawn_master(&ev, || hosted(&ev, Host::new(&ev), &pidfile).workers(2).run());
    ev.wait("A's 2 workers", 10 * SEC, |ev| ev.count("ready ") == 2)?;
    let workers: Vec<Pid> = ev.find("setup ").iter().map(|w| w[2].parse().unwrap_or(0)).collect();
    kill(a, libc::SIGKILL);
    let code = wait_exit(a, 5 * SEC)?;
    ensure!(code == 128 + libc::SIGKILL, "A exited {code}");
    // Its workers follow it by their death signal (and are reparented to us to be reaped).
    wait_for("A's workers to die with it", 5 * SEC, || {
        reap_orphans();
        workers.iter().all(|&w| state(w).is_none()).then_some(())
    })?;
    ensure!(read(&pidfile) == pid_line(a), "after A's SIGKILL the pidfile holds {:?}", read(&pidfile));
    let evb = Events::new("takeover-b");
    let t0 = Instant::now();
    let b = spawn_master(&evb, || hosted(&evb, Host::new(&evb).pidfile(&pidfile), &pidfile).workers(2).run());
    evb.wait("B's 2 workers", 10 * SEC, |ev| ev.count("ready ") == 2 || ev.has("run err"))?;
    let took = t0.elapsed();
    ensure!(!evb.has("run err"), "B could not start: {:?}", evb.lines());
    ensure!(read(&pidfile) == pid_line(b), "B runs, the pidfile holds {:?}; A was {a}, B is {b}", read(&pidfile));
    let want = format!("{:?}", format!("{b}\n"));
    ensure!(evb.find("pidfile ").iter().all(|w| w[2] == want), "B's workers saw {:?}", evb.find("pidfile "));
    term_and_check(&evb, b, &pidfile)?;
    assert_nothing_left(&evb, b)?;
    println!("       A ({a}) SIGKILLed, its file left with its pid; B ({b}) up with the file in {took:.1?}");
    Ok(())
}

pub fn symlink_refused() -> Outcome {
    let target = temp_path("symlink-target");
    std::fs::write(&target, "precious\n").map_err(|e| e.to_string())?;
    let link = temp_path("symlink.pid");
    let nowhere = temp_path("symlink-nowhere");
    let dangling = temp_path("dangling.pid");
    for (to, path) in [(&target, &link), (&nowhere, &dangling)] {
        std::os::unix::fs::symlink(to, path).map_err(|e| e.to_string())?;
    }
    let mut messages = Vec::new();
    for (path, what) in [(&link, "a symlink to a file"), (&dangling, "a dangling symlink")] {
        let ev = Events::new("symlink");
        let pid = fork_child(|| {
            let code = report(&ev, "main", hosted(&ev, Host::new(&ev), path).run());
            record_left(&ev);
            code
        });
        let code = wait_exit(pid, 5 * SEC)?;
        let w = reported(&ev, "main")?;
        let eloop = w.join(" ").ends_with("a symbolic link, which a pidfile must not be");
        ensure!(code == 9 && w[2] == "io:FilesystemLoop" && eloop, "{what}: exit {code}, {w:?}");
        ensure!(ev.has("left 0") && ev.count("setup ") == 0, "{what}: forked: {:?}", ev.lines());
        let kept = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        ensure!(kept, "{what}: the symlink is gone");
        messages.push(w[3..].join(" "));
    }
    ensure!(read(&target).as_deref() == Some("precious\n"), "the target now holds {:?}", read(&target));
    ensure!(!nowhere.exists(), "the dangling symlink's target was created");
    println!("       refused: {}", messages[0]);
    Ok(())
}

pub fn replaced_not_removed() -> Outcome {
    let ev = Events::new("replaced");
    let pidfile = temp_path("replaced.pid");
    let moved = temp_path("replaced-moved");
    let master = spawn_master(&ev, || hosted(&ev, Host::new(&ev), &pidfile).run());
    ev.wait("the worker", 10 * SEC, |ev| ev.count("ready ") == 1)?;
    std::fs::rename(&pidfile, &moved).map_err(|e| e.to_string())?;
    std::fs::write(&pidfile, "someone else's\n").map_err(|e| e.to_string())?;
    kill(master, libc::SIGTERM);
    let code = wait_exit(master, 15 * SEC)?;
    ensure!(code == 0 && ev.has("run ok killed=0"), "exit {code}: {:?}", ev.lines());
    ensure!(read(&pidfile).as_deref() == Some("someone else's\n"), "the new file: {:?}", read(&pidfile));
    // Its own file, renamed away, is no longer at the path: not its to find and remove.
    ensure!(read(&moved) == pid_line(master), "the renamed file: {:?}", read(&moved));
    assert_nothing_left(&ev, master)?;
    // And a pidfile deleted under a running master: the stop neither fails nor recreates it.
    let ev = Events::new("removed");
    let _ = std::fs::remove_file(&pidfile);
    let master = spawn_master(&ev, || hosted(&ev, Host::new(&ev), &pidfile).run());
    ev.wait("the worker", 10 * SEC, |ev| ev.count("ready ") == 1)?;
    std::fs::remove_file(&pidfile).map_err(|e| e.to_string())?;
    term_and_check(&ev, master, &pidfile)?;
    assert_nothing_left(&ev, master)
}
