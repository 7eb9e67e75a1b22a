//! Hardening: timeouts, crash loops, fork failure, signal storms, descriptor hygiene, stray
//! signals, start-up races, adopted orphans, suspension, and the signal handlers' promises.
//! See tests/README.md.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use sisyphus::{BoxError, Context, Job, Master, Strategy};
use support::*;

/// Counts allocations, to prove the signal handlers make none.
struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    run_scenarios(&[
        ("forking_perform_timeout_kills_only_the_perform_child", forking_perform_timeout),
        ("simple_perform_timeout_replaces_the_worker", simple_perform_timeout),
        ("setup_timeout_is_a_failed_start", setup_timeout),
        ("max_restarts_gives_up_with_an_error", max_restarts_gives_up),
        ("fork_failure_backs_off_and_recovers", fork_failure),
        ("signal_storm_leaves_the_master_exact_and_clean", signal_storm),
        ("descriptors_stay_put_over_1000_respawns", descriptor_hygiene),
        ("master_signals_sent_to_a_worker_change_nothing", stray_signals_to_a_worker),
        ("term_to_one_worker_stops_and_replaces_it", term_to_one_worker),
        ("int_during_start_up_still_stops_everything", int_during_start_up),
        ("subreaper_reaps_adopted_orphans_quietly", subreaper_orphans),
        ("pid_1_reaps_adopted_orphans_quietly", pid1_orphans),
        ("worker_sigkilled_mid_perform_takes_its_child_along", worker_killed_mid_perform),
        ("suspended_master_kills_nobody_on_resume", suspended_master),
        ("handlers_neither_allocate_nor_clobber_errno", handler_promises),
        ("what_a_perform_leaves_in_its_group_dies_with_the_worker", stragglers),
    ]);
}

/// Milliseconds in a `timeout: running 123.4 ms, limit 100 ms` or `running 1.2 s` log fragment.
fn overrun_ms(line: &str) -> Option<f64> {
    let inner = &line[line.find("timeout: running ")? + 17..];
    let (value, unit) = inner.split_whitespace().take(2).fold((None, ""), |(v, _), w| match v {
        None => (w.parse::<f64>().ok(), ""),
        some => (some, w),
    });
    Some(if unit == "s" { value? * 1000.0 } else { value? })
}

fn forking_perform_timeout() -> Outcome {
    let ev = Events::new("ftimeout");
    let probe = Probe::new(&ev).perform(Act::Hang);
    let master = spawn_master(&ev, || {
        Master::new(probe)
            .perform_timeout(300 * MS)
            .no_perform_backoff()
            .stop_timeout(5 * SEC)
            .logger(ev.logger())
            .run()
    });
    ev.wait("3 performs killed by the timeout", 10 * SEC, |ev| ev.count("perform 0 ") >= 4)?;
    let kills = ev.find("log ERROR worker 0 (pid");
    ensure!(kills.len() >= 3, "timeouts not logged: {:?}", ev.lines());
    let line = ev.lines().into_iter().find(|l| l.contains("perform timeout")).unwrap_or_default();
    ensure!(line.contains(", limit 300 ms; killing its perform child"), "{line}");
    let ms = overrun_ms(&line).unwrap_or(0.0);
    ensure!((300.0..800.0).contains(&ms), "killed after {ms} ms with a 300 ms timeout");
    ensure!(setup_pids(&ev, 0).len() == 1, "the worker was replaced");
    let children: HashSet<Pid> = performs(&ev, 0).iter().map(|p| p.1).collect();
    let overdue: Vec<_> = children.iter().filter(|&&p| alive(p)).collect();
    ensure!(overdue.len() <= 1, "killed perform children still alive: {overdue:?}");
    ensure!(!ev.has("killed by signal KILL"), "the worker logged the timeout kill as a crash");
    // When the children really died: each next perform starts right after the kill. (The
    // first may take up to two periods: the master learns of the perform's start only then.)
    let starts: Vec<u64> = ev.stamped().iter().filter(|(_, l)| l.starts_with("perform 0 ")).map(|(t, _)| *t).collect();
    let gaps: Vec<u64> = starts.windows(2).skip(1).map(|w| (w[1] - w[0]) / 1_000_000).collect();
    ensure!(gaps.iter().all(|&g| (295..650).contains(&g)), "performs {gaps:?} ms apart with a 300 ms timeout");
    println!("       perform timeout 300 ms: logged at {ms:.0} ms; next performs {gaps:?} ms apart");
    stop_and_check(&ev, master).map(drop)
}

fn simple_perform_timeout() -> Outcome {
    let ev = Events::new("stimeout");
    let probe = Probe::new(&ev).perform(Act::Hang);
    let master = spawn_master(&ev, || {
        Master::new(probe).strategy(Strategy::Simple).perform_timeout(200 * MS).logger(ev.logger()).run()
    });
    ev.wait("the worker replaced after a timeout", 10 * SEC, |ev| setup_pids(ev, 0).len() >= 2)?;
    ensure!(ev.has("perform timeout: running ") && ev.has("limit 200 ms; killing the worker"), "{:?}", ev.lines());
    ensure!(ev.has("after its perform timeout; restarting now"), "{:?}", ev.lines());
    ensure!(!alive(setup_pids(&ev, 0)[0]), "the timed-out worker lives on");
    stop_and_check(&ev, master).map(drop)
}

fn setup_timeout() -> Outcome {
    let ev = Events::new("setuptimeout");
    let probe = Probe::new(&ev).setup(Act::Hang);
    let master = spawn_master(&ev, || Master::new(probe).setup_timeout(200 * MS).logger(ev.logger()).run());
    ev.wait("two setups killed", 10 * SEC, |ev| ev.count("setup 0 ") >= 3)?;
    ensure!(ev.has("setup timeout: running "), "setup timeout not logged: {:?}", ev.lines());
    ensure!(
        ev.has("failed to start: was killed by signal KILL after its setup timeout; restarting in 100 ms"),
        "{:?}",
        ev.lines()
    );
    ensure!(!ev.has("perform timeout"), "a setup timeout was called a perform timeout");
    stop_and_check(&ev, master).map(drop)
}

fn max_restarts_gives_up() -> Outcome {
    let ev = Events::new("limit");
    let probe = Probe::new(&ev).setup(Act::Err);
    let master =
        spawn_master(&ev, || Master::new(probe).workers(2).max_restarts(3, 10 * SEC).logger(ev.logger()).run());
    let code = wait_exit(master, 15 * SEC)?;
    ensure!(code == 2, "exit {code}: {:?}", ev.lines());
    ensure!(ev.has("run err workers died more than 3 times within 10s; gave up"), "{:?}", ev.lines());
    ensure!(ev.count("setup ") == 4, "{} setups before giving up (want 4)", ev.count("setup "));
    assert_nothing_left(&ev, master)
}

fn cpu_ticks(pid: Pid) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat[stat.rfind(')').map_or(0, |i| i + 2)..].split(' ').collect();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

const UNPRIVILEGED: u32 = 54_321;

fn become_unprivileged() {
    // SAFETY: plain credential calls in a single-threaded child.
    unsafe {
        libc::setgid(UNPRIVILEGED);
        libc::setuid(UNPRIVILEGED);
    }
}

fn real_uid(pid: Pid) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.parse().ok()
}

fn fork_failure() -> Outcome {
    // RLIMIT_NPROC binds only unprivileged users and counts all processes of the user: the
    // master runs as an unused uid under a limit of 5, two of which are held by "hogs". When
    // the hogs go, fork works again.
    ensure!(is_root(), "SKIP: needs root to switch to an unprivileged user");
    let ev = Events::new("nproc");
    std::fs::set_permissions(ev.path(), std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .map_err(|e| e.to_string())?;
    let hogs: Vec<Pid> = (0..2)
        .map(|_| {
            fork_child(|| {
                become_unprivileged();
                loop {
                    std::thread::sleep(SEC);
                }
            })
        })
        .collect();
    wait_for("the hogs to switch user", 5 * SEC, || {
        hogs.iter().all(|&h| real_uid(h) == Some(UNPRIVILEGED)).then_some(())
    })?;
    let probe = Probe::new(&ev).perform(Act::Sleep(50 * MS));
    let master = spawn_master(&ev, || {
        let limit = libc::rlimit { rlim_cur: 5, rlim_max: 5 };
        // SAFETY: lowering our own limit with a valid rlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &limit) };
        become_unprivileged();
        Master::new(probe).workers(4).strategy(Strategy::Simple).logger(ev.logger()).run()
    });
    ev.wait("fork to fail", 10 * SEC, |ev| ev.has("cannot fork worker "))?;
    let line = ev.lines().into_iter().find(|l| l.contains("cannot fork worker")).unwrap_or_default();
    ensure!(
        line.contains("Resource temporarily unavailable")
            && line.contains("cannot fork worker 2: ")
            && line.contains("retrying in"),
        "{line}"
    );
    let ticks = cpu_ticks(master);
    let t0 = Instant::now();
    ev.wait("a few retries", 10 * SEC, |_| t0.elapsed() >= SEC)?;
    let used = cpu_ticks(master) - ticks;
    ensure!(used <= 10, "the master used {used} ticks of CPU in 1 s while fork failed: spinning");
    ensure!(ev.count("log ERROR cannot fork worker") == 1, "fork failure logged more than once per burst");
    ensure!(live_children(master).len() == 2, "{:?}", live_children(master));
    for hog in hogs {
        kill(hog, libc::SIGKILL);
        wait_exit(hog, 5 * SEC)?;
    }
    ev.wait("all 4 workers once fork works again", 15 * SEC, |ev| ev.count("setup ") == 4)?;
    ensure!(ev.has("fork works again after"), "recovery not logged");
    println!("       master CPU while fork failed: {used} ticks (of 100) in 1 s");
    stop_and_check(&ev, master).map(drop)
}

/// Signals a process only if it is still a child of `parent`, through a pidfd, so a recycled
/// pid is never hit.
/// Returns whether the signal was sent.
fn kill_child_of(parent: Pid, pid: Pid, sig: i32) -> bool {
    // SAFETY: pidfd_open and pidfd_send_signal take plain integers; the fd is closed after.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32;
        if fd < 0 {
            return false;
        }
        let sent = parent_of(pid) == Some(parent)
            && libc::syscall(libc::SYS_pidfd_send_signal, fd, sig, std::ptr::null::<libc::siginfo_t>(), 0) == 0;
        libc::close(fd);
        sent
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn signal_storm() -> Outcome {
    let ev = Events::new("storm");
    let probe = Probe::new(&ev).perform(Act::Sleep(5 * MS));
    let master = spawn_master(&ev, || {
        Master::new(probe).workers(4).strategy(Strategy::Simple).stop_timeout(5 * SEC).logger(ev.logger()).run()
    });
    ev.wait("4 workers", 10 * SEC, |ev| ev.count("setup ") == 4)?;
    let fds_before = open_fds(master);
    let seed = std::env::var("SISYPHUS_STORM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(mono_ns() | 1);
    let mut rng = Rng(seed);
    let (mut target, mut sent, mut kills) = (4i64, 0, 0);
    let mut workers = live_children(master);
    let mut refreshed = Instant::now();
    let t0 = Instant::now();
    while sent < 10_000 {
        // About 10 s in all: one signal per ms.
        while t0.elapsed() < Duration::from_micros(sent as u64 * 1000) {
            std::hint::spin_loop();
        }
        if refreshed.elapsed() > 5 * MS {
            workers = live_children(master);
            refreshed = Instant::now();
            ensure!(alive(master), "the master died during the storm (seed {seed})");
        }
        let roll = rng.next() % 3;
        // Keep the target off the floor of 0, where sequential and batched TTOU/TTIN differ.
        if (roll == 0 && target < 12) || target <= 2 {
            kill(master, libc::SIGTTIN);
            target += 1;
        } else if roll == 1 {
            kill(master, libc::SIGTTOU);
            target -= 1;
        } else if !workers.is_empty() {
            kills += usize::from(kill_child_of(master, workers[rng.next() as usize % workers.len()], libc::SIGKILL));
        }
        sent += 1;
    }
    let storm = t0.elapsed();
    ensure!(alive(master), "the master died (seed {seed})");
    // The kernel merges a signal sent again while the first is still pending, so the master's
    // target is the one it logged last; ours (what we sent) bounds it. Replacements may be
    // backing off (up to 30 s after a slot's many quick deaths).
    let sent_target = target;
    let logged_target = || ev.find("log INFO scaling from ").last().and_then(|w| w[6].parse::<usize>().ok());
    let target = wait_for(&format!("the logged target of workers (seed {seed})"), 45 * SEC, || {
        let target = logged_target()?;
        (live_children(master).len() == target && zombie_children(master).is_empty()).then_some(target)
    })
    .map_err(|e| {
        let lines: Vec<String> = ev.lines().into_iter().filter(|l| l.starts_with("log")).collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!("{e}: children {:?}\n{tail}", descendants_of(master))
    })?;
    let fds_after = open_fds(master);
    ensure!(fds_after == fds_before, "master descriptors {fds_before} before, {fds_after} after");
    println!(
        "       storm: {sent} signals ({kills} SIGKILLs) in {:.1} s; target {target} reached ({sent_target} sent)",
        storm.as_secs_f64()
    );
    stop_and_check(&ev, master).map(drop)
}

/// The descriptors of `pid`: fd number to what it points at.
fn fd_targets(pid: Pid) -> Vec<(i32, String)> {
    let mut out: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            Some((fd, std::fs::read_link(e.path()).ok()?.to_string_lossy().into_owned()))
        })
        .collect();
    out.sort();
    out
}

fn descriptor_hygiene() -> Outcome {
    let ev = Events::new("fds");
    // Quick performs, so a retirement takes milliseconds; unrecorded, so the file stays small.
    let mut probe = Probe::new(&ev);
    probe.quiet = true;
    let master = spawn_master(&ev, || Master::new(probe).workers(2).logger(ev.logger()).run());
    ev.wait("2 workers", 10 * SEC, |ev| ev.count("setup ") == 2)?;
    let master_fds = fd_targets(master);
    // The self-pipe: the master's pipes that it did not inherit from us.
    let ours = fd_targets(getpid());
    let pipes: Vec<&(i32, String)> =
        master_fds.iter().filter(|(_, t)| t.starts_with("pipe:") && !ours.iter().any(|(_, o)| o == t)).collect();
    ensure!(pipes.len() == 2, "not one self-pipe in the master: {master_fds:?}");
    for (fd, _) in &pipes {
        let info = std::fs::read_to_string(format!("/proc/{master}/fdinfo/{fd}")).unwrap_or_default();
        let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).map(str::trim).unwrap_or("0");
        let flags = u32::from_str_radix(flags, 8).unwrap_or(0);
        ensure!(flags & libc::O_CLOEXEC as u32 != 0, "fd {fd} of the master is not CLOEXEC (flags {flags:o})");
    }
    // 1,000 forks of a worker: each TTIN forks one into slot 2 and a TTOU retires it; every
    // tenth is SIGKILLed while it retires, so deaths by signal are reaped too. (Killing it
    // before the TTOU would build a crash streak and back slot 2 off for up to 30 s.)
    let mut killed_while_retiring = 0;
    for i in 0..1000 {
        let before = ev.count("setup ");
        kill(master, libc::SIGTTIN);
        ev.wait("a new worker", 10 * SEC, |ev| ev.count("setup ") > before)?;
        let newest = setup_pids(&ev, 2).last().copied().unwrap_or(0);
        kill(master, libc::SIGTTOU);
        if i % 10 == 9 {
            let retiring = format!("retiring worker 2 (pid {newest})");
            ev.wait("the retirement", 10 * SEC, |ev| ev.has(&retiring))?;
            killed_while_retiring += usize::from(kill_child_of(master, newest, libc::SIGKILL));
        }
        // Else the next TTIN could arrive with this TTOU and cancel it out.
        ev.wait("slot 2 emptied", 10 * SEC, |ev| {
            ev.lines()
                .iter()
                .filter(|l| l.starts_with("log") && l.contains(" worker 2 (pid") && l.contains(" stopped: "))
                .count()
                > i
        })?;
    }
    let by_kill = ev.lines().iter().filter(|l| l.contains(" stopped: was killed by signal KILL")).count();
    // A SIGKILL can reach a worker that is already exiting (a zombie takes it too): at most
    // as many seen as sent, and some.
    ensure!(by_kill > 0 && by_kill <= killed_while_retiring, "{killed_while_retiring} SIGKILLs sent, {by_kill} seen");
    let after = fd_targets(master);
    ensure!(after == master_fds, "master descriptors changed after 1000 respawns:\n{master_fds:?}\n{after:?}");
    for worker in live_children(master) {
        let theirs = fd_targets(worker);
        let leaked: Vec<_> = theirs.iter().filter(|(_, t)| pipes.iter().any(|(_, p)| p == t)).collect();
        ensure!(leaked.is_empty(), "worker {worker} holds the master's self-pipe: {leaked:?}");
        let expected: Vec<_> = master_fds
            .iter()
            .filter(|(_, t)| !t.starts_with("pipe:") || !pipes.iter().any(|(_, p)| p == t))
            .cloned()
            .collect();
        ensure!(theirs == expected, "worker {worker} descriptors {theirs:?}, master's minus its pipe {expected:?}");
    }
    println!("       {} workers started; master fds {} before and after", ev.count("setup "), after.len());
    stop_and_check(&ev, master).map(drop)
}

fn stray_signals_to_a_worker() -> Outcome {
    let ev = Events::new("stray");
    let probe = Probe::new(&ev).perform(Act::Sleep(30 * MS));
    let master = spawn_master(&ev, || Master::new(probe).workers(2).logger(ev.logger()).run());
    ev.wait("performs", 10 * SEC, |ev| performs(ev, 0).len() >= 2)?;
    let worker = setup_pids(&ev, 0)[0];
    let (iteration, child) = performs(&ev, 0).last().copied().unwrap_or_default();
    for _ in 0..5 {
        for target in [worker, child] {
            kill(target, libc::SIGTTIN);
            kill(target, libc::SIGTTOU);
        }
    }
    ev.wait("5 more performs of the signalled worker", 10 * SEC, |ev| {
        performs(ev, 0).last().is_some_and(|p| p.0 >= iteration + 5)
    })?;
    ensure!(ev.has(&format!("done 0 {iteration} {child}")), "the signalled perform child did not finish");
    ensure!(!ev.has("scaling"), "signals sent to a worker reached the master");
    ensure!(setup_pids(&ev, 0) == [worker], "the worker was replaced");
    ensure!(live_children(master).len() == 2, "{:?}", live_children(master));
    stop_and_check(&ev, master).map(drop)
}

fn term_to_one_worker() -> Outcome {
    let ev = Events::new("termone");
    let probe = Probe::new(&ev).perform(Act::Sleep(200 * MS));
    let master = spawn_master(&ev, || Master::new(probe).workers(2).logger(ev.logger()).run());
    ev.wait("worker 1 in a perform", 10 * SEC, |ev| !performs(ev, 1).is_empty())?;
    let worker = setup_pids(&ev, 1)[0];
    let (iteration, child) = performs(&ev, 1)[0];
    kill(worker, libc::SIGTERM);
    ev.wait("worker 1 replaced", 10 * SEC, |ev| setup_pids(ev, 1).len() == 2)?;
    ensure!(ev.has(&format!("done 1 {iteration} {child}")), "TERM interrupted the perform");
    ensure!(ev.has(&format!("worker 1 (pid {worker}) ended unasked after")), "{:?}", ev.lines());
    ensure!(ev.has("exited with code 0; restarting now"), "{:?}", ev.lines());
    ensure!(setup_pids(&ev, 0).len() == 1, "worker 0 was disturbed");
    stop_and_check(&ev, master).map(drop)
}

fn int_during_start_up() -> Outcome {
    for when in [0, 10, 60, 150] {
        let ev = Events::new("startup");
        let probe = Probe::new(&ev).perform(Act::Sleep(10 * MS));
        let logger = ev.logger();
        let master =
            spawn_master(&ev, || Master::new(probe).workers(200).strategy(Strategy::Simple).logger(logger).run());
        let started = format!("log INFO worker {when} started");
        ev.wait("the start-up to be under way", 10 * SEC, |ev| ev.has(&started))?;
        // To the master's whole process group: a worker forked a moment ago may be in it still.
        kill(-master, libc::SIGINT);
        let code = wait_exit(master, 15 * SEC)?;
        ensure!(code == 0 && ev.has("run ok killed=0"), "INT after worker {when} started: exit {code}");
        assert_nothing_left(&ev, master)?;
        let forked = ev.lines().iter().filter(|l| l.contains(" started (pid")).count();
        println!("       INT after worker {when} started: {forked} had been forked; all stopped cleanly");
    }
    Ok(())
}

/// A job whose first performs each leave an orphan: the perform forks a child that forks a
/// grandchild and exits at once, so the grandchild is reparented to the nearest subreaper.
struct OrphanMaker(Events);

impl Job for OrphanMaker {
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        if ctx.iteration() < 3 {
            // SAFETY: forks of a single-threaded perform child; both children only sleep,
            // write one line and _exit.
            unsafe {
                let middle = libc::fork();
                if middle == 0 {
                    if libc::fork() == 0 {
                        self.0.add(&format!("orphan {}", libc::getpid()));
                        std::thread::sleep(Duration::from_millis(50));
                        libc::_exit(0);
                    }
                    libc::_exit(0);
                }
                libc::waitpid(middle, std::ptr::null_mut(), 0);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        Ok(())
    }
}

fn check_orphans_reaped(ev: &Events) -> Outcome {
    // Two workers, three orphans each.
    ev.wait("6 orphans reaped by the master", 10 * SEC, |ev| {
        ev.find("orphan ").iter().filter(|w| ev.has(&format!("log DEBUG reaped pid {}, not a worker", w[1]))).count()
            == 6
    })?;
    ensure!(!ev.has("died") && !ev.has("failed to start"), "an orphan was taken for a worker: {:?}", ev.lines());
    ensure!(ev.count("log INFO worker ") == 2, "worker count disturbed: {:?}", ev.lines());
    Ok(())
}

fn subreaper_orphans() -> Outcome {
    let ev = Events::new("subreaper");
    let job = OrphanMaker(ev.clone());
    let master = spawn_master(&ev, || {
        // SAFETY: prctl with an integer argument.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
        Master::new(job).workers(2).logger(ev.logger()).run()
    });
    check_orphans_reaped(&ev)?;
    wait_for("no zombies under the master", 5 * SEC, || zombie_children(master).is_empty().then_some(()))?;
    stop_and_check(&ev, master).map(drop)
}

fn pid1_orphans() -> Outcome {
    ensure!(is_root(), "SKIP: needs root for a new PID namespace");
    let ev = Events::new("pid1");
    let job = OrphanMaker(ev.clone());
    let ev2 = ev.clone();
    let outer = fork_child(move || {
        // SAFETY: unshare in a single-threaded child; our next child is PID 1 of a new namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
            ev2.add(&format!("unshare failed {}", std::io::Error::last_os_error()));
            return 3;
        }
        let init = spawn_master(&ev2, || {
            ev2.add(&format!("init pid {}", getpid()));
            Master::new(job).workers(2).logger(ev2.logger()).run()
        });
        wait_exit(init, 60 * SEC).unwrap_or(4)
    });
    ev.wait("the master as PID 1", 10 * SEC, |ev| ev.has("init pid") || ev.has("unshare failed"))?;
    ensure!(ev.lines().iter().any(|l| l == "init pid 1"), "{:?}", ev.lines());
    check_orphans_reaped(&ev)?;
    let init = wait_for("the PID 1 master's host pid", 5 * SEC, || live_children(outer).first().copied())?;
    kill(init, libc::SIGTERM);
    // ("left N" means nothing here: the namespace's pids are not /proc's.)
    let code = wait_exit(outer, 15 * SEC)?;
    ensure!(code == 0 && ev.has("run ok killed=0"), "exit {code}: {:?}", ev.lines());
    Ok(())
}

fn worker_killed_mid_perform() -> Outcome {
    let ev = Events::new("midperform");
    let probe = Probe::new(&ev).perform(Act::Hang);
    let master = spawn_master(&ev, || Master::new(probe).stop_timeout(SEC).logger(ev.logger()).run());
    ev.wait("a hung perform", 10 * SEC, |ev| ev.count("perform 0 ") == 1)?;
    let (worker, child) = (setup_pids(&ev, 0)[0], performs(&ev, 0)[0].1);
    // With the master stopped, only the kernel's parent-death signal can end the child (the
    // master would otherwise kill the worker's group as it reaps it).
    kill(master, libc::SIGSTOP);
    wait_for("the master to stop", 5 * SEC, || (state(master) == Some('T')).then_some(()))?;
    kill(worker, libc::SIGKILL);
    wait_for("the orphaned perform child to die", 5 * SEC, || {
        // SAFETY: reaping what was reparented to us (the test runner is a subreaper).
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        (!alive(child)).then_some(())
    })?;
    let t0 = Instant::now();
    kill(master, libc::SIGCONT);
    ev.wait("the worker replaced", 5 * SEC, |ev| setup_pids(ev, 0).len() == 2)?;
    let replaced = t0.elapsed();
    ensure!(replaced < SEC, "replacement waited {replaced:?}, as if for the perform child");
    ensure!(ev.has(&format!("worker 0 (pid {worker}) died after")), "{:?}", ev.lines());
    println!(
        "       perform child died with its worker; worker replaced {:.1} ms after the master resumed",
        replaced.as_secs_f64() * 1e3
    );
    stop_and_check(&ev, master).map(drop)
}

fn suspended_master() -> Outcome {
    let ev = Events::new("suspend");
    let probe = Probe::new(&ev).perform(Act::Sleep(100 * MS));
    let master =
        spawn_master(&ev, || Master::new(probe).workers(2).perform_timeout(400 * MS).logger(ev.logger()).run());
    ev.wait("performs", 10 * SEC, |ev| performs(ev, 0).len() >= 2 && performs(ev, 1).len() >= 2)?;
    // The fault itself: everything stops for well over the perform timeout (workers too, so
    // their perform stamps grow old), and the master resumes first.
    let workers = [setup_pids(&ev, 0)[0], setup_pids(&ev, 1)[0]];
    kill(master, libc::SIGSTOP);
    for w in workers {
        kill(-w, libc::SIGSTOP);
    }
    std::thread::sleep(1500 * MS);
    let before = (performs(&ev, 0).len(), performs(&ev, 1).len());
    kill(master, libc::SIGCONT);
    for w in workers {
        kill(-w, libc::SIGCONT);
    }
    ev.wait("5 more performs each after the resume", 10 * SEC, |ev| {
        performs(ev, 0).len() >= before.0 + 5 && performs(ev, 1).len() >= before.1 + 5
    })?;
    ensure!(!ev.has("perform timeout"), "a worker was killed for the master's suspension: {:?}", ev.lines());
    ensure!(ev.count("setup ") == 2, "workers replaced");
    ensure!(ev.has("late (suspended?); timeouts count again from now"), "suspension not noticed");
    stop_and_check(&ev, master).map(drop)
}

fn errno() -> *mut i32 {
    // SAFETY: the calling thread's errno slot.
    unsafe { libc::__errno_location() }
}

fn raise(sig: i32) {
    // SAFETY: raise runs our handler synchronously on this thread before it returns.
    unsafe { libc::raise(sig) };
}

fn handler_promises() -> Outcome {
    let ev = Events::new("handlers");
    let ev2 = ev.clone();
    let step = AtomicUsize::new(0);
    // The raising happens in the logger, called by the master inside `run` with its handlers
    // installed: first at "starting" (before any fork), then at the scaling that follows.
    let logger = move |_: sisyphus::Level, args: std::fmt::Arguments<'_>| {
        let message = args.to_string();
        if message.contains("starting") && step.swap(1, Relaxed) == 0 {
            let before = ALLOCATIONS.load(Relaxed);
            // 2,000 TTIN and 1,997 TTOU: exact counts make the master scale from 2 to 5.
            for i in 0..2000 {
                raise(libc::SIGCHLD);
                raise(libc::SIGTTIN);
                if i >= 3 {
                    raise(libc::SIGTTOU);
                }
            }
            let allocated = ALLOCATIONS.load(Relaxed) - before;
            // Enough signals to fill the self-pipe, so the handler's write fails with EAGAIN.
            let mut clobbered = 0;
            for _ in 0..70_000 {
                // SAFETY: writing our own thread's errno.
                unsafe { *errno() = 4242 };
                raise(libc::SIGCHLD);
                // SAFETY: as above.
                if unsafe { *errno() } != 4242 {
                    clobbered += 1;
                }
            }
            ev2.add(&format!("handlers allocated {allocated} clobbered {clobbered}"));
        } else if message.contains("scaling") && step.swap(2, Relaxed) == 1 {
            let before = ALLOCATIONS.load(Relaxed);
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGQUIT] {
                for _ in 0..1000 {
                    raise(sig);
                }
            }
            ev2.add(&format!("stop handlers allocated {}", ALLOCATIONS.load(Relaxed) - before));
        }
        ev2.add(&format!("log {message}"));
    };
    let job = Probe::new(&ev);
    let master = spawn_master(&ev, || Master::new(job).workers(2).logger(logger).run());
    let code = wait_exit(master, 15 * SEC)?;
    ensure!(code == 0 && ev.has("run ok"), "exit {code}: {:?}", ev.lines());
    ensure!(ev.has("handlers allocated 0 clobbered 0"), "{:?}", ev.find("handlers "));
    ensure!(ev.has("stop handlers allocated 0"), "{:?}", ev.find("stop "));
    ensure!(ev.has("log scaling from 2 to 5 workers"), "a TTIN or TTOU was lost: {:?}", ev.find("log scaling"));
    println!("       78,997 signals handled: 0 allocations, errno intact, TTIN/TTOU counted exactly");
    assert_nothing_left(&ev, master)
}

/// A job whose first perform leaves a child running in the worker's process group.
struct Straggler(Events);

impl Job for Straggler {
    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        if ctx.iteration() == 0 {
            // SAFETY: fork of a single-threaded process; the child only sleeps.
            unsafe {
                if libc::fork() == 0 {
                    loop {
                        libc::sleep(3600);
                    }
                }
            }
            self.0.add("straggler left");
        }
        std::thread::sleep(Duration::from_millis(20));
        Ok(())
    }
}

fn stragglers() -> Outcome {
    for strategy in [Strategy::Simple, Strategy::Forking] {
        let ev = Events::new("straggler");
        let job = Straggler(ev.clone());
        let master = spawn_master(&ev, || Master::new(job).workers(2).strategy(strategy).logger(ev.logger()).run());
        ev.wait("stragglers", 10 * SEC, |ev| ev.count("straggler left") == 2)?;
        let workers = live_children(master);
        let left: Vec<Pid> =
            workers.iter().flat_map(|&w| descendants_of(w)).filter(|&(_, s)| s != 'Z').map(|(p, _)| p).collect();
        ensure!(!left.is_empty(), "no straggler found under {workers:?}");
        stop_and_check(&ev, master)?;
        ensure!(left.iter().all(|&p| !alive(p)), "{strategy:?}: stragglers {left:?} outlived their workers");
    }
    Ok(())
}
