//! Resilience: output nobody reads, loggers that panic, output at a SIGKILL, the job's drop,
//! no descriptor left, stdio closed, no parent-death signal. See tests/README.md.

mod support;

use std::fmt::Arguments;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Instant;

use sisyphus::{BoxError, Context, Error, Job, Level, Master, NullLogger, Strategy};
use support::*;

fn main() {
    run_scenarios(&[
        ("a_full_stderr_pipe_does_not_stall_the_master", || full_stderr(false)),
        ("dropped_log_lines_are_counted_once_output_flows", || full_stderr(true)),
        ("a_panicking_logger_loses_lines_not_the_stop", panicking_logger_run),
        ("a_panicking_logger_in_drop_does_not_abort", panicking_logger_drop),
        ("finished_output_survives_a_later_sigkill", || output_survives_sigkill(false)),
        ("finished_c_stdio_output_survives_a_later_sigkill", || output_survives_sigkill(true)),
        ("c_stdio_output_is_neither_lost_nor_repeated", c_stdio),
        ("a_graceful_stop_drops_the_job_once_in_each_worker", job_dropped_once),
        ("stop_all_stops_workers_with_no_descriptor_left", || no_descriptors(false)),
        ("drop_stops_workers_with_no_descriptor_left", || no_descriptors(true)),
        ("the_self_pipe_never_lands_on_stdio", self_pipe_off_stdio),
        ("a_failed_death_signal_is_logged_and_workers_still_follow", no_death_signal),
    ]);
}

fn set_nonblock(fd: i32, on: bool) {
    // SAFETY: fcntl flag calls on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK });
    }
}

fn lines(ev: &Events) -> String {
    ev.lines().join("\n")
}

fn full_stderr(drain_it: bool) -> Outcome {
    let ev = Events::new("fullpipe");
    let (mut r, mut w) = std::io::pipe().map_err(|e| e.to_string())?;
    // Fill it (64 KiB of dots), then read one page back: room for the start-up lines and a few
    // more. The master gets a blocking write end, as a shell's `2>&1 | stuck` gives it.
    set_nonblock(w.as_raw_fd(), true);
    while w.write(&[b'.'; 4096]).is_ok() {}
    set_nonblock(w.as_raw_fd(), false);
    set_nonblock(r.as_raw_fd(), true);
    r.read_exact(&mut [0; 4096]).map_err(|e| e.to_string())?;
    let mut probe = Probe::new(&ev);
    probe.quiet = true;
    let wfd = w.as_raw_fd();
    let master = spawn_master(&ev, || {
        // SAFETY: pointing our stderr at the pipe; the default StderrLogger writes there.
        unsafe { libc::dup2(wfd, 2) };
        Master::new(probe).workers(16).strategy(Strategy::Simple).run()
    });
    let mut stuck = ev.wait("16 workers", 10 * SEC, |ev| ev.count("setup ") >= 16).err();
    let mut kills = 0;
    // Three rounds of SIGKILL to every worker: about 100 lines to log, 4 KiB of room.
    while stuck.is_none() && kills < 48 {
        let (victims, before) = (live_children(master), ev.count("setup "));
        victims.iter().for_each(|&v| kill(v, libc::SIGKILL));
        kills += victims.len();
        stuck = ev.wait("replacements", 5 * SEC, |ev| ev.count("setup ") >= before + victims.len()).err();
    }
    if stuck.is_some() {
        let zombies = zombie_children(master).len();
        kill(master, libc::SIGINT);
        let int = wait_exit(master, 3 * SEC).map_or("ignored for 3 s".to_string(), |c| format!("exit {c}"));
        return Err(format!("no replacement 5 s after {kills} kills: {zombies} zombies unreaped; INT {int}"));
    }
    wait_for("every dead worker reaped", 2 * SEC, || zombie_children(master).is_empty().then_some(()))?;
    ensure!(live_children(master).len() == 16, "{} workers after {kills} kills", live_children(master).len());
    if drain_it {
        // Drain it (non-blocking: all it holds, then WouldBlock), then make the master log.
        let mut text = Vec::new();
        let _ = r.read_to_end(&mut text);
        let held = text.len();
        let victim = live_children(master)[0];
        kill(victim, libc::SIGKILL);
        let died = format!("(pid {victim}) died after");
        let fresh = wait_for("the master's next line", 3 * SEC, || {
            let _ = r.read_to_end(&mut text);
            let fresh = String::from_utf8_lossy(&text[held..]).into_owned();
            fresh.contains(&died).then_some(fresh)
        })?;
        // The first line that gets through: `TIME PID WARN N log lines dropped: ...`, then the
        // line that brought it. (Shorter lines may have squeezed into the pipe's last bytes
        // while it filled, each with its own notice; those are in what we drained.)
        let lines: Vec<&str> = fresh.lines().collect();
        let words: Vec<&str> = lines[0].split_whitespace().collect();
        let n: u64 = words.get(3).and_then(|n| n.parse().ok()).unwrap_or(0);
        ensure!(lines.len() >= 2 && lines[1].contains(&died), "not a notice then the death:\n{fresh}");
        ensure!(words[1] == master.to_string() && words[2] == "WARN" && n >= 10, "{}", lines[0]);
        ensure!(lines[0].ends_with(" log lines dropped: the output was not being read"), "{}", lines[0]);
        println!("       {kills} kills with stderr full: {n} lines dropped, reported once it drained");
    }
    let t0 = Instant::now();
    let killed = stop_and_check(&ev, master)?;
    let took = t0.elapsed();
    ensure!(killed == 0 && took < 3 * SEC, "stop took {took:?} and killed {killed}");
    println!("       {kills} workers killed and replaced behind a full stderr; INT to exit {took:.0?}");
    Ok(())
}

/// Records each line as `lost LEVEL message` and panics, except lines holding `spare`, which it
/// records as `log LEVEL message`.
fn panicky(ev: &Events, spare: Option<&'static str>) -> impl Fn(Level, Arguments<'_>) + 'static {
    let ev = ev.clone();
    move |level, args| {
        let line = format!("{level} {args}");
        if spare.is_some_and(|s| line.contains(s)) {
            return ev.add(&format!("log {line}"));
        }
        ev.add(&format!("lost {line}"));
        panic!("probe panic");
    }
}

fn panicking_logger_run() -> Outcome {
    let ev = Events::new("panicrun");
    let probe = Probe::new(&ev).perform(Act::Sleep(300 * MS));
    let master = spawn_master(&ev, || Master::new(probe).workers(2).logger(panicky(&ev, Some("start"))).run());
    ev.wait("2 workers performing", 10 * SEC, |ev| (0..2).all(|s| !performs(ev, s).is_empty()))?;
    // The scaling line panics during the run; the stop's lines panic during the stop.
    kill(master, libc::SIGTTIN);
    let third = ev.wait("a third worker performing", 5 * SEC, |ev| !performs(ev, 2).is_empty());
    kill(master, libc::SIGINT);
    let code = wait_exit(master, 10 * SEC)?;
    let (started, done) = (ev.count("perform "), ev.count("done "));
    let ok = code == 0 && ev.has("run ok killed=0") && third.is_ok();
    ensure!(ok && started == done, "exit {code}; {started} performs, {done} done:\n{}", lines(&ev));
    for lost in ["scaling from 2 to 3 workers", "INT: stopping 3 workers gracefully", "master stopped (0 killed)"] {
        ensure!(ev.has(&format!("lost INFO {lost}")), "no `{lost}`:\n{}", lines(&ev));
    }
    ensure!(ev.count("lost INFO worker ") == 3, "worker stops not logged:\n{}", lines(&ev));
    assert_nothing_left(&ev, master)
}

fn panicking_logger_drop() -> Outcome {
    let ev = Events::new("panicdrop");
    let probe = Probe::new(&ev).perform(Act::Sleep(300 * MS));
    let ev2 = ev.clone();
    let caller = fork_child(move || {
        let mut m = Master::new(probe).logger(panicky(&ev2, None));
        let ok = [m.start_worker().is_ok(), m.start_worker().is_ok()];
        ev2.add(&format!("started {ok:?}"));
        let _ = wait_for("both performing", 10 * SEC, || (ev2.count("perform ") >= 2).then_some(()));
        drop(m);
        ev2.add("dropped");
        record_left(&ev2);
        0
    });
    let code = wait_exit(caller, 20 * SEC)?;
    let (started, done) = (ev.count("perform "), ev.count("done "));
    let ok = code == 0 && ev.has("started [true, true]") && ev.has("dropped") && ev.has("left 0");
    ensure!(ok && started >= 2 && started == done, "exit {code}; {started} performs, {done} done:\n{}", lines(&ev));
    // 2 starts and 2 stops.
    ensure!(ev.count("lost INFO worker ") == 4, "lines not offered to the logger:\n{}", lines(&ev));
    Ok(())
}

/// Prints `x` in each of its first 100 performs (with C's stdio if `.1`), then hangs.
struct Printer(Events, bool);
impl Job for Printer {
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        if ctx.iteration() < 100 {
            if self.1 {
                // SAFETY: printf with a format string that has no conversion.
                unsafe { libc::printf(c"x".as_ptr()) };
            } else {
                print!("x");
            }
            return Ok(());
        }
        self.0.add(&format!("hang {} {}", ctx.worker(), getpid()));
        loop {
            std::thread::sleep(SEC);
        }
    }
}

/// Opens `out` for a master to take as its stdout with `redirect`. The master keeps our
/// descriptor too, so it has as many before `run` as after.
fn stdout_file(out: &Events) -> Result<(File, impl Fn() -> i32), String> {
    let file = OpenOptions::new().append(true).open(out.path()).map_err(|e| e.to_string())?;
    let fd = file.as_raw_fd();
    // SAFETY: pointing stdout at the file, in the master before anything is printed.
    Ok((file, move || unsafe { libc::dup2(fd, 1) }))
}

fn output_survives_sigkill(c: bool) -> Outcome {
    let (ev, out) = (Events::new("killout"), Events::new("killout-stdout"));
    let (job, (_file, redirect)) = (Printer(ev.clone(), c), stdout_file(&out)?);
    let master = spawn_master(&ev, || {
        redirect();
        Master::new(job).workers(7).strategy(Strategy::Simple).logger(ev.logger()).run()
    });
    ev.wait("7 workers hung after 100 performs each", 10 * SEC, |ev| ev.count("hang ") == 7)?;
    kill(master, libc::SIGQUIT);
    let code = wait_exit(master, 10 * SEC)?;
    ensure!(code == 0 && ev.has("run ok killed=7"), "exit {code}:\n{}", lines(&ev));
    let xs = std::fs::read_to_string(out.path()).unwrap_or_default().matches('x').count();
    let how = if c { "C's printf" } else { "print!" };
    println!("       {xs} of 700 characters printed with {how} by finished performs survived the SIGKILLs");
    ensure!(xs == 700, "{xs} of the 700 characters printed with {how} by finished performs reached the file");
    assert_nothing_left(&ev, master)
}

/// Prints `S;` in `setup` and `p;` in each perform through C's stdio.
struct CPrinter(Events);
impl Job for CPrinter {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.0.add(&format!("setup {} {}", ctx.worker(), getpid()));
        // SAFETY: printf with a format string that has no conversion.
        unsafe { libc::printf(c"S;".as_ptr()) };
        Ok(())
    }
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        // SAFETY: as above.
        unsafe { libc::printf(c"p;".as_ptr()) };
        self.0.add(&format!("done {} {} {}", ctx.worker(), ctx.iteration(), getpid()));
        std::thread::sleep(5 * MS);
        Ok(())
    }
}

fn c_stdio() -> Outcome {
    for strategy in [Strategy::Forking, Strategy::Simple] {
        let (ev, out) = (Events::new("cstdio"), Events::new("cstdio-stdout"));
        let (job, (_file, redirect)) = (CPrinter(ev.clone()), stdout_file(&out)?);
        let master = spawn_master(&ev, || {
            redirect();
            Master::new(job).workers(2).strategy(strategy).logger(ev.logger()).run()
        });
        ev.wait("40 performs", 10 * SEC, |ev| ev.count("done ") >= 40)?;
        ensure!(stop_and_check(&ev, master)? == 0, "the stop killed a worker");
        let text = std::fs::read_to_string(out.path()).unwrap_or_default();
        let (setups, done) = (ev.count("setup "), ev.count("done "));
        let (s, p) = (text.matches("S;").count(), text.matches("p;").count());
        println!("       {strategy:?}: C stdio printed {s} of {setups} setups' and {p} of {done} performs' output");
        ensure!(s == setups && p == done, "{strategy:?}: {s} `S;` for {setups} setups, {p} `p;` for {done} performs");
    }
    Ok(())
}

/// Writes a line per perform through a `BufWriter` it opens in `setup`; records its drop.
struct Ledger {
    ev: Events,
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl Job for Ledger {
    fn setup(&mut self, ctx: &Context) -> Result<(), BoxError> {
        self.ev.add(&format!("setup {} {}", ctx.worker(), getpid()));
        self.out = Some(BufWriter::new(OpenOptions::new().append(true).open(&self.path)?));
        Ok(())
    }
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let (slot, i) = (ctx.worker(), ctx.iteration());
        self.ev.add(&format!("perform {slot} {i} {}", getpid()));
        // One write per line, so whole lines reach the buffer and the file.
        self.out.as_mut().ok_or("no setup")?.write_all(format!("line {slot} {i}\n").as_bytes())?;
        self.ev.add(&format!("done {slot} {i} {}", getpid()));
        std::thread::sleep(5 * MS);
        Ok(())
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.ev.add(&format!("drop {}", getpid()));
    }
}

fn job_dropped_once() -> Outcome {
    for strategy in [Strategy::Simple, Strategy::Forking] {
        let (ev, out) = (Events::new("drop"), Events::new("drop-out"));
        let job = Ledger { ev: ev.clone(), path: out.path().to_path_buf(), out: None };
        let master = spawn_master(&ev, || Master::new(job).workers(2).strategy(strategy).logger(ev.logger()).run());
        ev.wait("100 performs in each worker", 10 * SEC, |ev| (0..2).all(|s| performs(ev, s).len() >= 100))?;
        ensure!(stop_and_check(&ev, master)? == 0, "the stop killed a worker");
        if strategy == Strategy::Simple {
            // Every line the performs wrote through the job's BufWriter.
            let mut done: Vec<String> = ev.find("done ").iter().map(|w| format!("line {} {}", w[1], w[2])).collect();
            let text = std::fs::read_to_string(out.path()).unwrap_or_default();
            let mut written: Vec<&str> = text.lines().collect();
            println!("       {} of {} buffered lines reached the file", written.len(), done.len());
            done.sort();
            written.sort();
            ensure!(written == done, "{} lines in the file for {} finished performs", written.len(), done.len());
        }
        let drops: Vec<Pid> = ev.find("drop ").iter().map(|w| w[1].parse().unwrap_or(0)).collect();
        let workers: Vec<Pid> = (0..2).flat_map(|s| setup_pids(&ev, s)).collect();
        let once = workers.iter().filter(|w| drops.iter().filter(|d| d == w).count() == 1).count();
        // Never in a perform child. This runner drops the copy it moved into `spawn_master`, the
        // master its own at the end of `run`.
        let elsewhere: Vec<_> =
            drops.iter().filter(|d| !workers.contains(d) && ![master, getpid()].contains(d)).collect();
        println!("       {strategy:?}: {once} of 2 workers dropped the job once; {} drops elsewhere", elsewhere.len());
        ensure!(once == 2 && workers.len() == 2, "{strategy:?}: drops {drops:?}, workers {workers:?}");
        ensure!(elsewhere.is_empty(), "{strategy:?}: dropped in {elsewhere:?}: {}", lines(&ev));
    }
    Ok(())
}

fn no_descriptors(by_drop: bool) -> Outcome {
    let ev = Events::new("nofds");
    let probe = Probe::new(&ev).perform(Act::Sleep(200 * MS));
    let ev2 = ev.clone();
    let caller = fork_child(move || {
        let mut m = Master::new(probe).stop_timeout(10 * SEC).logger(NullLogger);
        let pids: Vec<Pid> = (0..2).filter_map(|_| m.start_worker().ok()).map(|p| p as Pid).collect();
        let _ = wait_for("both performing", 10 * SEC, || (ev2.count("perform ") >= 2).then_some(()));
        // No descriptor left: a limit of 64, then /dev/null until EMFILE.
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        let mut held = Vec::new();
        // SAFETY: rlimit calls with valid structs; open with a NUL-terminated path.
        let full = unsafe {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            libc::setrlimit(libc::RLIMIT_NOFILE, &libc::rlimit { rlim_cur: 64, ..limit });
            loop {
                match libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) {
                    -1 => break std::io::Error::last_os_error().raw_os_error() == Some(libc::EMFILE),
                    fd => held.push(fd),
                }
            }
        };
        let t0 = Instant::now();
        let outcome = if by_drop {
            drop(m);
            "dropped".to_string()
        } else {
            m.stop_all().map_or_else(|e| format!("err {e}"), |s| format!("ok killed={}", s.killed))
        };
        let took = t0.elapsed().as_millis();
        // Live or zombie, still our child? kill(pid, 0) needs no descriptor.
        // SAFETY: signal 0 only checks that the process exists.
        let unreaped = pids.iter().filter(|&&p| unsafe { libc::kill(p, 0) } == 0).count();
        // SAFETY: closing what we opened, and putting the limit back.
        unsafe {
            for fd in held {
                libc::close(fd);
            }
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        ev2.add(&format!("result {outcome} unreaped={unreaped} took={took} emfile={full} workers={}", pids.len()));
        record_left(&ev2);
        0
    });
    let code = wait_exit(caller, 30 * SEC)?;
    let result = ev.lines().into_iter().find(|l| l.starts_with("result ")).unwrap_or_default();
    let want = if by_drop { "result dropped " } else { "result ok killed=0 " };
    println!("       {result}");
    ensure!(code == 0 && result.starts_with(want) && result.contains(" unreaped=0 "), "exit {code}: {result}");
    ensure!(result.ends_with("emfile=true workers=2"), "descriptors not exhausted: {result}");
    let took: u64 = result.split(" took=").nth(1).and_then(|t| t.split(' ').next()?.parse().ok()).unwrap_or(u64::MAX);
    ensure!(took < 5000, "the stop took {took} ms");
    ensure!(ev.count("perform ") == ev.count("done "), "a perform was cut:\n{}", lines(&ev));
    ensure!(ev.has("left 0"), "children left:\n{}", lines(&ev));
    Ok(())
}

/// Pipes among `pid`'s descriptors: (fd, `pipe:[inode]`).
fn pipes_of(pid: Pid) -> Vec<(i32, String)> {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten();
    entries
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?.to_string_lossy().into_owned();
            target.starts_with("pipe:").then_some((fd, target))
        })
        .collect()
}

fn self_pipe_off_stdio() -> Outcome {
    // All three closed; and stdin kept, as `daemon >&- 2>&-` leaves it.
    for closed in [&[0, 1, 2][..], &[1, 2]] {
        let ev = Events::new("stdio");
        let probe = Probe::new(&ev).perform(Act::Sleep(50 * MS));
        let ev2 = ev.clone();
        // spawn_master, with the descriptors closed before it counts them.
        let master = fork_child(move || {
            for &fd in closed {
                // SAFETY: closing standard descriptors of this child.
                unsafe { libc::close(fd) };
            }
            ev2.add(&format!("fds before {}", open_fds(getpid())));
            let result = Master::new(probe).workers(2).run();
            ev2.add(&format!("fds after {}", open_fds(getpid())));
            if let Ok(s) = &result {
                ev2.add(&format!("run ok killed={}", s.killed));
            }
            record_left(&ev2);
            i32::from(result.is_err())
        });
        ev.wait("2 workers performing", 10 * SEC, |ev| (0..2).all(|s| performs(ev, s).len() >= 2))?;
        let ours = pipes_of(getpid());
        let made: Vec<i32> =
            pipes_of(master).into_iter().filter(|(_, t)| !ours.iter().any(|(_, o)| o == t)).map(|(fd, _)| fd).collect();
        println!("       stdio {closed:?} closed: the self-pipe is on descriptors {made:?}");
        ensure!(made.len() == 2 && made.iter().all(|&fd| fd > 2), "fds {closed:?} closed: self-pipe on {made:?}");
        // An idle master sleeps in poll: 300 ms in which it must hardly wake.
        let before = status_field(master, "voluntary_ctxt_switches:")?;
        let _ = wait_for("nothing (a bounded look)", 300 * MS, || None::<()>);
        let woke = status_field(master, "voluntary_ctxt_switches:")? - before;
        ensure!(woke < 30, "the idle master woke {woke} times in 300 ms");
        ensure!(stop_and_check(&ev, master)? == 0, "the stop killed a worker");
    }
    Ok(())
}

/// Makes `prctl(PR_SET_PDEATHSIG, ...)` fail with EPERM in this process and those it forks.
fn deny_death_signal() -> bool {
    const LD_ABS_W: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const ARCH: u32 = if cfg!(target_arch = "aarch64") { 0xc000_00b7 } else { 0xc000_003e };
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let prog = [
        op(LD_ABS_W, 0, 0, 4), // seccomp_data.arch
        op(JEQ_K, 0, 5, ARCH),
        op(LD_ABS_W, 0, 0, 0), // .nr
        op(JEQ_K, 0, 3, libc::SYS_prctl as u32),
        op(LD_ABS_W, 0, 0, 16), // .args[0], low half
        op(JEQ_K, 0, 1, libc::PR_SET_PDEATHSIG as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr().cast_mut() };
    // SAFETY: prctl with a valid filter program that outlives the call.
    unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const libc::sock_fprog) == 0
    }
}

fn no_death_signal() -> Outcome {
    for strategy in [Strategy::Forking, Strategy::Simple] {
        let ev = Events::new("nodeath");
        // A forking worker looks for its master while it waits, even for a perform that hangs.
        let act = if strategy == Strategy::Forking { Act::Hang } else { Act::Sleep(100 * MS) };
        let probe = Probe::new(&ev).perform(act);
        let master = spawn_master(&ev, || {
            if !deny_death_signal() {
                return Err(Error::Config("no seccomp filter".into()));
            }
            Master::new(probe).workers(2).strategy(strategy).logger(ev.logger()).run()
        });
        ev.wait("2 workers performing", 10 * SEC, |ev| (0..2).all(|s| !performs(ev, s).is_empty()))?;
        let warning = "(Operation not permitted (os error 1)); checking for the master between performs instead";
        let warned = ev.lines().iter().filter(|l| l.starts_with("log WARN worker ") && l.ends_with(warning)).count();
        let mut pids: Vec<Pid> = (0..2).flat_map(|s| setup_pids(&ev, s)).collect();
        pids.extend((0..2).filter_map(|s| performs(&ev, s).last().map(|p| p.1)));
        kill(master, libc::SIGKILL);
        wait_exit(master, 5 * SEC)?;
        let t0 = Instant::now();
        let gone = wait_for("workers to follow", 3 * SEC, || pids.iter().all(|&p| !alive(p)).then_some(()));
        let left = pids.iter().filter(|&&p| alive(p)).count();
        println!("       {strategy:?}: {warned} of 2 workers warned; {left} processes left {:.0?} after", t0.elapsed());
        ensure!(warned == 2, "{strategy:?}: {warned} of 2 workers warned:\n{}", lines(&ev));
        ensure!(gone.is_ok(), "{strategy:?}: {left} of {} alive 3 s after the master's SIGKILL", pids.len());
    }
    Ok(())
}
