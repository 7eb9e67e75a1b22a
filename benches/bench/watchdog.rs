//! Item 14, the systemd watchdog (issue 9): what each `WATCHDOG=1` costs the master. The
//! master runs 8 idle workers with `NOTIFY_SOCKET` on a socket this process drains, and a
//! `WATCHDOG_USEC` short enough that the keep-alive is all the master does; its CPU time and
//! wake-ups per message are read from `/proc`. Without a watchdog the same master wakes 0
//! times (item 7), so this is the whole cost.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use sisyphus::Strategy;

use crate::children::spawn_configured;
use crate::items::Cfg;
use crate::job::{Act, Spec};
use crate::procfs::status_field;
use crate::procs::with_proc;
use crate::table::Row;
use crate::{MS, SEC};

/// `WATCHDOG_USEC`: a keep-alive every 500 µs.
const WATCHDOG_USEC: u64 = 1000;
const WORKERS: usize = 8;

/// The master's user plus system CPU time, in clock ticks (`/proc/PID/stat` fields 14, 15).
fn cpu_ticks(pid: i32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    let after_name = &stat[stat.rfind(')').ok_or("bad stat")? + 2..];
    let field = |i: usize| after_name.split_whitespace().nth(i).and_then(|v| v.parse::<u64>().ok());
    Ok(field(11).ok_or("no utime")? + field(12).ok_or("no stime")?)
}

/// Messages received until `until`, counting the `WATCHDOG=1`s.
fn drain(sock: &UnixDatagram, until: Instant) -> u64 {
    let mut buf = [0u8; 256];
    let mut watchdogs = 0;
    while Instant::now() < until {
        if let Ok(n) = sock.recv(&mut buf) {
            watchdogs += u64::from(&buf[..n] == b"WATCHDOG=1");
        }
    }
    watchdogs
}

/// (CPU µs per `WATCHDOG=1`, master wake-ups per `WATCHDOG=1`) over one window.
fn sample(cfg: &Cfg, window: Duration) -> Result<(f64, f64), String> {
    let path = std::env::temp_dir().join(format!("sisyphus-bench-notify-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(10 * MS)).map_err(|e| e.to_string())?;
    let socket = path.clone();
    let p = spawn_configured(Spec::new(Act::Sleep(SEC), cfg.method), WORKERS, Strategy::Forking, move |m| {
        // SAFETY: in the forked bench child, which has one thread.
        unsafe {
            std::env::set_var("NOTIFY_SOCKET", &socket);
            std::env::set_var("WATCHDOG_USEC", WATCHDOG_USEC.to_string());
            std::env::remove_var("WATCHDOG_PID");
        }
        m
    });
    let result = with_proc(p?, |p| {
        p.setups(WORKERS, 10 * SEC)?;
        drain(&sock, Instant::now() + 200 * MS);
        let (ticks, switches) = (cpu_ticks(p.pid)?, status_field(p.pid, "voluntary_ctxt_switches:")?);
        let sent = drain(&sock, Instant::now() + window);
        let ticks = cpu_ticks(p.pid)? - ticks;
        let switches = status_field(p.pid, "voluntary_ctxt_switches:")? - switches;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let sent = sent.max(1) as f64;
        Ok((ticks as f64 / hz * 1e6 / sent, switches as f64 / sent))
    });
    let _ = std::fs::remove_file(&path);
    result
}

pub(crate) fn item14(cfg: &Cfg) -> Result<Vec<Row>, String> {
    let window = if cfg.quick { SEC } else { 5 * SEC };
    let samples = (0..cfg.runs).map(|_| sample(cfg, window)).collect::<Result<Vec<_>, _>>()?;
    Ok(vec![
        Row::new(
            14,
            "watchdog: master CPU per WATCHDOG=1, 8 idle workers",
            "µs",
            samples.iter().map(|s| s.0).collect(),
        ),
        Row::new(14, "watchdog: master wake-ups per WATCHDOG=1", "count", samples.iter().map(|s| s.1).collect()),
    ])
}
