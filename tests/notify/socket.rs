//! Who holds the notification socket (the master only, close-on-exec), and a missing, absent
//! or bad `NOTIFY_SOCKET`.

use std::time::Instant;

use crate::support::*;
use crate::{Listener, Svc, ensure, fd_flags, own_sockets, service_env, sockets, stop};
use sisyphus::Master;

pub fn worker_environment() -> Outcome {
    let ev = Events::new("env");
    let mut l = Listener::path("env")?;
    let mut job = Svc::new(&ev);
    job.env = true;
    let addr = l.addr.clone();
    let master = spawn_master(&ev, || {
        let me = getpid().to_string();
        service_env(Some(&addr), Some("60000000"), Some(&me));
        Master::new(job).workers(2).logger(ev.logger()).run()
    });
    // The master did see all three: READY=1, and a keep-alive for its own pid.
    l.wait("READY=1 and WATCHDOG=1", 10 * SEC, |l| l.has("READY=1") && l.has("WATCHDOG=1"))?;
    l.wait("both workers' performs to record", 10 * SEC, |_| {
        (0..2).all(|slot| ev.count(&format!("sockets perform {slot} ")) > 0)
    })?;
    let clean = "NOTIFY_SOCKET=- WATCHDOG_USEC=- WATCHDOG_PID=-";
    for site in ["setup", "perform"] {
        for slot in 0..2 {
            let seen = ev.find(&format!("env {site} {slot} "));
            ensure!(!seen.is_empty() && seen.iter().all(|w| w[3..].join(" ") == clean), "{site} sees {seen:?}");
            let sub = ev.find(&format!("subenv {site} {slot} "));
            ensure!(!sub.is_empty() && sub.iter().all(|w| w[3..] == ["-"]), "`sh -c env` in {site} sees {sub:?}");
        }
    }
    // The master holds exactly one socket of its own, close-on-exec; no worker or perform has it.
    let own = own_sockets(master);
    ensure!(own.len() == 1, "the master's own sockets: {own:?} (all: {:?})", sockets(master));
    let (fd, inode) = own[0].clone();
    let flags = fd_flags(master, fd).ok_or("no fdinfo")?;
    ensure!(flags & libc::O_CLOEXEC as u32 != 0, "the notification socket (fd {fd}) is not close-on-exec: {flags:o}");
    let workers = live_children(master);
    ensure!(workers.len() == 2, "workers: {workers:?}");
    for w in workers {
        let held = sockets(w);
        ensure!(held.iter().all(|(_, s)| *s != inode), "worker {w} holds the master's {inode}: {held:?}");
    }
    let performs = ev.find("sockets perform");
    ensure!(performs.iter().all(|w| !w.contains(&inode)), "a perform child holds the master's {inode}: {performs:?}");
    println!("       master's notification socket: fd {fd}, flags {flags:o}; held by no worker or perform");
    stop(&ev, master, Some(&mut l), 1, libc::SIGTERM)
}

pub fn no_notify_socket() -> Outcome {
    let ev = Events::new("nonotify");
    let job = Svc::new(&ev);
    let master = spawn_master(&ev, || {
        // A watchdog without a socket: nothing to feed.
        service_env(None, Some("200000"), None);
        Master::new(job).workers(2).logger(ev.logger()).run()
    });
    ev.wait("the pool to be up", 10 * SEC, |ev| ev.has("log INFO ready: 2 workers up in "))?;
    let own = own_sockets(master);
    ensure!(own.is_empty(), "the master holds sockets without NOTIFY_SOCKET: {own:?}");
    ensure!(!ev.has("cannot notify"), "{:?}", ev.lines());
    // Its descriptors: exactly those before `run` plus the self-pipe.
    stop_and_check(&ev, master).map(drop)
}

pub fn absent_listener() -> Outcome {
    let ev = Events::new("absent");
    let name = "absent";
    let path = std::env::temp_dir().join(format!("sisyphus-test-{}-{name}.sock", getpid()));
    let _ = std::fs::remove_file(&path);
    let job = Svc::new(&ev);
    let addr = path.to_string_lossy().into_owned();
    let master = spawn_master(&ev, || {
        // A keep-alive every 20 ms: many failed sends.
        service_env(Some(&addr), Some("40000"), None);
        Master::new(job).logger(ev.logger()).run()
    });
    let warn = "log WARN cannot notify the service manager (NOTIFY_SOCKET): ";
    ev.wait("the pool to be up", 10 * SEC, |ev| ev.has("log INFO ready: 1 worker up in "))?;
    // A measurement window: some 25 keep-alives fail meanwhile.
    std::thread::sleep(500 * MS);
    ensure!(alive(master), "the master is gone: {:?}", ev.lines());
    let warns = ev.count(warn);
    ensure!(warns == 1, "{warns} WARN lines for failed notifications: {:?}", ev.lines());
    // Someone listens again: the keep-alives arrive; gone again: one more WARN.
    let mut l = Listener::path(name)?;
    l.wait("WATCHDOG=1 once the socket is bound", 5 * SEC, |l| l.has("WATCHDOG=1"))?;
    drop(l);
    ev.wait("a second WARN line", 5 * SEC, |ev| ev.count(warn) == 2)?;
    std::thread::sleep(200 * MS);
    ensure!(ev.count(warn) == 2, "WARN lines: {:?}", ev.find(warn.trim_end()));
    println!(
        "       keep-alives every 20 ms into nobody for 500 ms, then again after a listener came and went: 2 WARN lines"
    );
    // The socket is still the master's own descriptor.
    stop(&ev, master, None, 1, libc::SIGTERM)
}

pub fn bad_notify_socket() -> Outcome {
    for value in ["vsock:2:1234", "run/notify.sock"] {
        let ev = Events::new("bad");
        let job = Svc::new(&ev);
        let t0 = Instant::now();
        let master = spawn_master(&ev, || {
            service_env(Some(value), None, None);
            Master::new(job).logger(ev.logger()).run()
        });
        let code = wait_exit(master, 5 * SEC)?;
        let took = t0.elapsed();
        let err = ev.find("run err ").first().map(|w| w.join(" ")).unwrap_or_default();
        ensure!(code == 2 && err.contains("NOTIFY_SOCKET"), "{value}: exit {code}: {:?}", ev.lines());
        ensure!(took < SEC, "{value}: run took {took:?} to fail");
        ensure!(!ev.has("setup ") && !ev.has("log INFO worker"), "{value}: a worker was forked: {:?}", ev.lines());
        assert_nothing_left(&ev, master)?;
        println!("       NOTIFY_SOCKET={value}: {err} ({:.1} ms)", took.as_secs_f64() * 1e3);
    }
    Ok(())
}
