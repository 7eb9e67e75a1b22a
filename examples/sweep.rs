//! The program `deploy/` runs: workers sweep a spool directory every 30 s, removing files older
//! than an hour. Environment: `SWEEP_DIR` (default `/var/spool/sweep`), `SWEEP_WORKERS` (default
//! 2), `SWEEP_STATE` (a run state file, for `sisyphus --status` in a liveness probe),
//! `SWEEP_METRICS` (a Prometheus file for node_exporter's textfile collector). Flags:
//! `--pidfile PATH`, `--log-file PATH`, `--daemonize`. Signals: see `deploy/README.md`.

use std::{env, fs, io, path::PathBuf, process, time::Duration, time::SystemTime};

use sisyphus::{BoxError, Context, FileLogger, Job, Level, Master};

const MAX_AGE: Duration = Duration::from_secs(3600);
const USAGE: &str = "usage: sweep [--pidfile PATH] [--log-file PATH] [--daemonize]";

struct Sweep {
    dir: PathBuf,
}

impl Job for Sweep {
    fn setup(&mut self, _: &Context) -> Result<(), BoxError> {
        // Each worker, and each HUP's replacement: the directory exists, or is made, or no start.
        Ok(fs::create_dir_all(&self.dir).map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?)
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let (mut removed, mut kept, mut failed) = (0, 0, 0);
        let now = SystemTime::now();
        for entry in fs::read_dir(&self.dir).map_err(|e| format!("cannot read {}: {e}", self.dir.display()))? {
            let path = entry?.path();
            // A symlink is judged, and removed, as itself; directories are left alone.
            let Ok(meta) = fs::symlink_metadata(&path) else { continue };
            let age = now.duration_since(meta.modified()?).unwrap_or_default();
            if meta.is_dir() || age < MAX_AGE {
                kept += 1;
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => removed += 1,
                // Another worker, or another replica on a shared volume, was first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    ctx.log(Level::Warn, format_args!("cannot remove {}: {e}", path.display()));
                    failed += 1;
                }
            }
        }
        let (worker, dir) = (ctx.worker(), self.dir.display());
        ctx.log(Level::Info, format_args!("worker {worker} swept {dir}: {removed} removed, {kept} kept"));
        if failed > 0 { Err(format!("{failed} file(s) could not be removed").into()) } else { Ok(()) }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("sweep: {e}");
        process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let dir = PathBuf::from(env::var_os("SWEEP_DIR").unwrap_or_else(|| "/var/spool/sweep".into()));
    let workers = match env::var("SWEEP_WORKERS") {
        Ok(n) => n.trim().parse().map_err(|_| format!("SWEEP_WORKERS={n:?} is not a number"))?,
        Err(_) => 2,
    };
    let mut master = Master::new(Sweep { dir })
        .name("sweep")
        .workers(workers)
        .interval(Duration::from_secs(30))
        .spread_starts()
        .stop_timeout(Duration::from_secs(20))
        .setup_timeout(Duration::from_secs(60))
        .max_restarts(5, Duration::from_secs(60));
    if let Some(path) = env::var_os("SWEEP_STATE").filter(|p| !p.is_empty()) {
        master = master.state_file(path);
    }
    if let Some(path) = env::var_os("SWEEP_METRICS").filter(|p| !p.is_empty()) {
        master = master.metrics_file(path);
    }
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        master = match arg.as_str() {
            "--pidfile" => master.pidfile(value()?),
            "--log-file" => master.logger(FileLogger::new(value()?).map_err(|e| format!("log file: {e}"))?),
            "--daemonize" => master.daemonize(),
            _ => return Err(format!("unknown argument {arg:?}; {USAGE}").into()),
        };
    }
    // With --daemonize only the daemon returns (its stdout and stderr go to the log file).
    let shutdown = master.run()?;
    println!("sweep: stopped ({} worker(s) killed)", shutdown.killed);
    Ok(())
}
