//! A master that is PID 1 of a new PID namespace.

use std::time::Instant;

use crate::support::*;
use crate::{ensure, report, status_text, wait_all_gone};
use sisyphus::{BoxError, Context, Job, Master};

/// Each worker's first three performs leave an orphan that outlives its perform: two by a
/// double fork, whose grandchild leaves the perform's process group (which dies with the
/// perform), records `orphan HOSTPID NSPID ppid=PPID` once adopted and lives 200 ms; one by
/// `sh -c 'setsid sleep 0.2 &'`, recorded as `shorphan NSPID`. Performs record `perform SLOT
/// ITER` and `done SLOT ITER`.
struct Orphans(Events);

impl Orphans {
    fn double_fork(&self) {
        // SAFETY: forks of a single-threaded perform child; the middle child only forks and
        // _exits, the grandchild waits, writes one line, sleeps and _exits.
        unsafe {
            let middle = libc::fork();
            if middle == 0 {
                let middle = libc::getpid();
                if libc::fork() == 0 {
                    libc::setsid();
                    let _ = wait_for("adoption", SEC, || (libc::getppid() != middle).then_some(()));
                    let host = std::fs::read_link("/proc/self").ok().and_then(|p| p.to_str()?.parse::<Pid>().ok());
                    self.0.add(&format!("orphan {} {} ppid={}", host.unwrap_or(0), libc::getpid(), libc::getppid()));
                    std::thread::sleep(200 * MS);
                    libc::_exit(0);
                }
                libc::_exit(0);
            }
            libc::waitpid(middle, std::ptr::null_mut(), 0);
        }
    }
}

impl Job for Orphans {
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let (slot, i) = (ctx.worker(), ctx.iteration());
        self.0.add(&format!("perform {slot} {i}"));
        match i {
            0 | 1 => self.double_fork(),
            2 => {
                let out = std::process::Command::new("sh")
                    .args(["-c", "setsid sleep 0.2 >/dev/null 2>&1 & echo $!"])
                    .output()?;
                self.0.add(&format!("shorphan {}", String::from_utf8_lossy(&out.stdout).trim()));
            }
            _ => {}
        }
        std::thread::sleep(30 * MS);
        self.0.add(&format!("done {slot} {i}"));
        Ok(())
    }
}

pub fn pid1() -> Outcome {
    let ev = Events::new("pid1");
    let outer = fork_child(|| {
        // SAFETY: unshare in a single-threaded child; our next child is PID 1 of a new namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
            ev.add(&format!("unshare failed: {}", std::io::Error::last_os_error()));
            return 3;
        }
        let init = fork_child(|| {
            ev.add(&format!("pid1 {}", getpid()));
            let result = Master::new(Orphans(ev.clone())).workers(2).logger(ev.logger()).run();
            report(&ev, "main", result)
        });
        wait_exit(init, 60 * SEC).unwrap_or(4)
    });
    ev.wait("the master as PID 1", 10 * SEC, |ev| ev.has("pid1 ") || ev.has("unshare failed"))?;
    // SAFETY: no preconditions.
    let uid = unsafe { libc::geteuid() };
    ensure!(!ev.has("unshare failed"), "no PID namespace (we are uid {uid}): {:?}", ev.lines());
    ensure!(ev.lines().iter().any(|l| l == "pid1 1"), "the master is not PID 1: {:?}", ev.lines());
    let init = wait_for("the PID 1 master's host pid", 5 * SEC, || live_children(outer).first().copied())?;
    let nspid = status_text(init, "NSpid:");
    ensure!(nspid.as_deref().is_some_and(|n| n.ends_with("\t1") || n.ends_with(" 1")), "NSpid of {init}: {nspid:?}");
    ev.wait("4 double-forked and 2 shell orphans", 10 * SEC, |ev| {
        ev.count("orphan ") == 4 && ev.count("shorphan ") == 2
    })?;
    let orphans = ev.find("orphan ");
    ensure!(orphans.iter().all(|w| w[3] == "ppid=1"), "orphans not adopted by PID 1: {orphans:?}");
    let hosts: Vec<Pid> = orphans.iter().map(|w| w[1].parse().unwrap_or(0)).collect();
    let mut ns_pids: Vec<String> = orphans.iter().map(|w| w[2].clone()).collect();
    ns_pids.extend(ev.find("shorphan ").iter().map(|w| w[1].clone()));
    ensure!(hosts.iter().all(|&h| h > 1) && ns_pids.iter().all(|p| p.parse::<Pid>().is_ok()), "{:?}", ev.lines());
    // Once their 200 ms are up, PID 1 has reaped every one of them: no zombie left under it.
    let t0 = Instant::now();
    ev.wait("every orphan reaped by PID 1", 5 * SEC, |ev| {
        hosts.iter().all(|&h| state(h).is_none())
            && zombie_children(init).is_empty()
            && ns_pids.iter().all(|p| ev.has(&format!("log DEBUG reaped pid {p}, not a worker: exited with code 0")))
    })?;
    let reaped_after = t0.elapsed();
    ensure!(
        !ev.has("died") && !ev.has("failed to start") && ev.count("log INFO worker ") == 2,
        "an orphan was taken for a worker: {:?}",
        ev.lines()
    );
    kill(init, libc::SIGTERM);
    let code = wait_exit(outer, 15 * SEC)?;
    ensure!(code == 0 && ev.has("main 1 ok killed=0"), "exit {code}: {:?}", ev.lines());
    ensure!(ev.count("perform ") == ev.count("done "), "a perform was cut: {:?}", ev.lines());
    wait_all_gone("the namespace's processes")?;
    println!(
        "       PID 1 (host pid {init}) reaped 6 orphans ({:.0} ms after the last was recorded), then stopped on TERM with exit 0",
        reaped_after.as_secs_f64() * 1e3
    );
    Ok(())
}
