//! The master in a terminal session, as a user runs it from a shell. Workers and perform
//! children lead background process groups there, so a job that touches the terminal gets
//! TTIN or TTOU from the kernel.

mod support;

use std::time::Duration;

use sisyphus::{BoxError, Context, Job, Master, Strategy};
use support::*;

const SEC: Duration = Duration::from_secs(1);

fn main() {
    run_scenarios(&[
        ("forking_perform_reading_the_terminal_gets_eio", || terminal_read(Strategy::Forking)),
        ("simple_perform_reading_the_terminal_gets_eio", || terminal_read(Strategy::Simple)),
    ]);
}

/// Reads one byte of standard input (the terminal) and records how the read ended.
struct ReadTerminal(Events);

impl Job for ReadTerminal {
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let mut byte = 0u8;
        // SAFETY: reading one byte into a valid buffer.
        let n = unsafe { libc::read(0, (&mut byte as *mut u8).cast(), 1) };
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        self.0.add(&format!("read {} {n} errno {errno}", ctx.worker()));
        if !ctx.stop_requested() {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// A new session whose controlling terminal is a fresh pseudo-terminal on fds 0-2, with the
/// master in its foreground group, as a login shell would start it. Returns the pty's master
/// side, which must stay open.
fn terminal_session() -> Result<i32, String> {
    // SAFETY: plain libc calls on descriptors this function opens; the path buffer is valid.
    unsafe {
        if libc::setsid() < 0 {
            return Err(format!("setsid: {}", std::io::Error::last_os_error()));
        }
        let ptm = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        if ptm < 0 || libc::grantpt(ptm) != 0 || libc::unlockpt(ptm) != 0 {
            return Err(format!("posix_openpt: {}", std::io::Error::last_os_error()));
        }
        let mut name = [0 as libc::c_char; 64];
        if libc::ptsname_r(ptm, name.as_mut_ptr(), name.len()) != 0 {
            return Err("ptsname_r failed".into());
        }
        let pts = libc::open(name.as_ptr(), libc::O_RDWR);
        if pts < 0 || libc::ioctl(pts, libc::TIOCSCTTY, 0) != 0 {
            return Err(format!("controlling terminal: {}", std::io::Error::last_os_error()));
        }
        for fd in 0..3 {
            libc::dup2(pts, fd);
        }
        Ok(ptm)
    }
}

/// With the worker's TTIN left to a handler, the kernel would restart the read after every
/// TTIN, forever, and the perform would spin without end; ignored, the read fails with EIO.
fn terminal_read(strategy: Strategy) -> Outcome {
    let ev = Events::new("tty");
    let ev2 = ev.clone();
    let session = fork_child(move || {
        // A process group leader cannot start a session: the master is one generation down.
        // SAFETY: this test process is single-threaded.
        let master = unsafe { libc::fork() };
        if master == 0 {
            let code = match terminal_session() {
                Ok(_ptm) => {
                    let job = ReadTerminal(ev2.clone());
                    let run = Master::new(job).strategy(strategy).stop_timeout(5 * SEC).logger(ev2.logger()).run();
                    ev2.add(&format!("run {}", if run.is_ok() { "ok" } else { "err" }));
                    0
                }
                Err(e) => {
                    ev2.add(&format!("setup error {e}"));
                    1
                }
            };
            // SAFETY: ends the forked master without running this process's cleanup.
            unsafe { libc::_exit(code) }
        }
        ev2.add(&format!("master {master}"));
        wait_exit(master, 30 * SEC).unwrap_or(-1)
    });
    ev.wait("two reads of the terminal", 10 * SEC, |ev| ev.count("read 0 ") >= 2 || ev.has("setup error"))?;
    ensure!(!ev.has("setup error"), "{:?}", ev.lines());
    let reads = ev.find("read 0 ");
    ensure!(
        reads.iter().all(|r| r.get(2).map(String::as_str) == Some("-1") && r.get(4).map(String::as_str) == Some("5")),
        "reads: {reads:?}"
    );
    let master: Pid = ev.find("master ").first().and_then(|l| l.get(1)?.parse().ok()).ok_or("no master pid")?;
    kill(master, libc::SIGINT);
    ensure!(wait_exit(session, 20 * SEC)? == 0, "{:?}", ev.lines());
    ensure!(ev.has("run ok"), "{:?}", ev.lines());
    Ok(())
}
