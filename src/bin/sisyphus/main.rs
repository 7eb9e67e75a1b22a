//! `sisyphus [OPTIONS] [--] COMMAND [ARGS...]`: runs COMMAND as the perform of every worker,
//! again and again, until stopped. Built on the library; std and libc only.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

mod args;
mod command;
mod duration;
mod relay;
mod status;
mod sys;

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use args::{Options, Parsed, flag_names};
use sisyphus::{Error, FileLogger, Job, Level, Master, Signal, StderrLogger};

/// Bad input: nothing was started.
const EXIT_USAGE: u8 = 2;
/// A fatal error: the pidfile is held, the restart limit was hit, runs failed `--max-failures`
/// times in a row, a daemon never came up.
const EXIT_FATAL: u8 = 1;
/// A stop that had to SIGKILL workers: still running at the stop timeout, or asked to stop
/// at once (a second INT or TERM, QUIT).
const EXIT_KILLED: u8 = 3;

const HELP: &str = "\
Usage: sisyphus [OPTIONS] [--] COMMAND [ARGS...]
Run COMMAND again and again in a pool of workers, until stopped (INT or TERM:
each run finishes first; a second one 1 s or more later, or QUIT, stops at
once). Options end at -- or at COMMAND.

  -w, --workers N          workers (default 1; 0 to 4096)
      --interval DUR       start a run at most once per DUR, on a fixed schedule
      --cron 'EXPR'        start runs on a calendar, local time (TZ): 5 fields
                           (min hour day month weekday), 6 with seconds first,
                           or @hourly, @daily, @weekly, @monthly, @yearly
      --next N             print the next N start times of --cron (before
                           --splay) and exit, starting nothing
      --from 'YYYY-MM-DD HH:MM[:SS]'  with --next: after this local time
      --splay DUR          start each worker's runs later by a fixed offset
                           below DUR, from the host name (logged at start)
      --state PATH         keep the run state in PATH (last runs, successes,
                           counts), replaced whole on change
      --catch-up           with a schedule and --state: a worker that missed
                           a start while nothing ran runs once at start
      --metrics PATH       keep Prometheus metrics in PATH (textfile collector)
      --status PATH        print the state in PATH and exit: 0 healthy, 1
                           unhealthy, 3 its master is gone, 2 unreadable
      --max-age DUR        with --status: unhealthy if no run succeeded within
                           DUR (and --max-failures N: if N in a row failed)
      --spread             spread the workers' first runs over the interval
      --align              start runs on wall-clock multiples of the interval
      --strategy S         forking (default: each run is exec'd from a fresh
                           child) or simple (the worker runs it itself)
      --setup 'SHELL CMD'  run once per worker before its first run; failing
                           is a failed start (retried with backoff)
      --perform-timeout DUR, --setup-timeout DUR, --stop-timeout DUR (25s)
      --max-performs N     replace a worker after about N runs
      --max-restarts N/DUR exit 1 after more than N deaths within DUR
      --max-failures N     exit 1 after N failed runs in a row
      --pidfile PATH       lock PATH and write the master's pid into it
      --daemonize          detach; exit 0 once every worker is up, else 1
      --log-file PATH      log there (reopened on USR1) instead of stderr
      --prefix             prefix each line COMMAND prints with [wN]
      --stop-signal SIG    send SIG to running COMMANDs on a stop or HUP
      --name NAME          workers call themselves NAME-wN in ps (sisyphus)
  -q, --quiet              log warnings and errors only
  -v, --verbose            log debug lines too
  -h, --help               show this help;  -V, --version  show the version

DUR: 250ms, 2s, 5m, 1h, 1h30m. COMMAND sees SISYPHUS_WORKER, SISYPHUS_WORKERS,
SISYPHUS_ITERATION, SISYPHUS_MASTER_PID and SISYPHUS_SCHEDULED_AT.
Signals to the master: TTIN/TTOU one worker more/fewer, HUP restart workers
one at a time, USR1 reopen the log, QUIT stop at once.
Exit: 0 stopped, 1 fatal error, 2 bad usage, 3 stopped by killing workers,
126/127 COMMAND not executable/not found.

Examples:
  sisyphus -w 4 --interval 30s -- ./sweep.sh
  sisyphus --cron '30 2 * * *' --next 5 --from '2027-03-27 00:00'
  sisyphus --prefix --stop-signal TERM -w 2 -- ./consume-queue --batch 100
  sisyphus --daemonize --pidfile /run/sweep.pid --log-file /var/log/sweep.log \\
      --interval 5m -- /usr/local/bin/sweep
";

fn main() -> ExitCode {
    // First thing: the mask COMMAND will be given back.
    let mask = sys::Mask::current();
    let options = match args::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => return print("help", HELP),
        Ok(Parsed::Version) => return print("version", &format!("sisyphus {}\n", env!("CARGO_PKG_VERSION"))),
        Err(why) => return usage(&why),
    };
    if options.daemonize && std::env::var_os("NOTIFY_SOCKET").is_some_and(|v| !v.is_empty()) {
        return usage("--daemonize under a service manager (NOTIFY_SOCKET is set): let it supervise instead");
    }
    if let Some(path) = &options.status {
        return status::report(path, options.max_age, options.max_failures);
    }
    if let Some(count) = options.next {
        return status::print_next(&options, count);
    }
    let mut options = options;
    let path = match find(&options.command[0]) {
        Err((code, why)) => return usage_exit(&why, code),
        // A daemon works from `/`: `./sweep.sh` must name the same file there.
        Ok(path) if options.daemonize && path.is_relative() => match std::path::absolute(&path) {
            Ok(path) => {
                options.command[0] = path.clone().into();
                path
            }
            Err(e) => return usage(&format!("{}: {e}", shown(&path))),
        },
        Ok(path) => path,
    };
    if options.setup.is_some() && !sys::executable(Path::new("/bin/sh")) {
        return usage_exit("--setup needs /bin/sh to run its command, and there is none here", 127);
    }
    let level = level(&options);
    let (log_file, pidfile) = (options.log_file.clone(), options.pidfile.clone());
    let master = master(*options, path, mask);
    // Before the log file is created: bad input leaves nothing behind.
    if let Err(Error::Config(why)) = master.validate() {
        return usage(&flag_names(&why));
    }
    // As for the log file just below: the same error, the same exit status.
    if let Some(Err(e)) = pidfile.as_deref().map(directory_of) {
        return usage(&format!("--pidfile {}: {e}", shown(pidfile.unwrap_or_default())));
    }
    let made = log_file.as_deref().and_then(make_log_file);
    let file = match log_file.as_deref().map(FileLogger::new).transpose() {
        Ok(file) => file,
        Err(e) => return usage(&format!("--log-file {}: {e}", shown(log_file.unwrap_or_default()))),
    };
    let master = match file {
        Some(file) => master.logger(file.with_level(level)),
        None => master.logger(StderrLogger::new(level)),
    };
    let result = master.run();
    let code = match &result {
        Ok(shutdown) if shutdown.forced() => ExitCode::from(EXIT_KILLED),
        Ok(_) => ExitCode::SUCCESS,
        Err(Error::Config(why)) => usage(&flag_names(why)),
        // In the command's words, as its log lines are.
        Err(Error::Failing { failures, last }) => {
            complain(&format!("sisyphus: {failures} runs failed in a row; gave up; last: {last}"));
            ExitCode::from(EXIT_FATAL)
        }
        Err(e) => {
            complain(&format!("sisyphus: {e}"));
            ExitCode::from(EXIT_FATAL)
        }
    };
    // A refused start leaves no file it made: the log file, if nothing was logged to it.
    if let Some(made) = made.filter(|made| result.is_err() && std::fs::metadata(made).is_ok_and(|m| m.len() == 0)) {
        let _ = std::fs::remove_file(&made);
    }
    code
}

fn usage(why: &str) -> ExitCode {
    usage_exit(why, EXIT_USAGE)
}

fn usage_exit(why: &str, code: u8) -> ExitCode {
    complain(&format!("sisyphus: {why} (see sisyphus --help)"));
    ExitCode::from(code)
}

/// Writes `line` to stderr in one `write`, with its newline, and its control characters
/// escaped, so that it stays one line and cannot drive the terminal. A failure (a full disk, a
/// reader gone) is ignored: the exit status says what happened all the same.
fn complain(line: &str) {
    let mut text = String::with_capacity(line.len() + 1);
    for c in line.chars() {
        match c.is_control() {
            true => text.extend(c.escape_debug()),
            false => text.push(c),
        }
    }
    text.push('\n');
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Prints the help or the version, `text`, on stdout. If stdout does not take it whole (a full
/// disk, a reader gone), says so on stderr and exits 1, as GNU tools do: a caller that
/// redirected the help into a file must not take a cut one for the whole.
fn print(what: &str, text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            complain(&format!("sisyphus: cannot write the {what}: {e}"));
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// A name or a path as errors show it: as it is when it is printable text, else quoted with
/// its control characters and bytes that are not UTF-8 escaped (`"no\nsuch"`,
/// `"\u{1b}[31mred"`), as option values are.
pub fn shown(text: impl AsRef<OsStr>) -> String {
    let text = text.as_ref();
    match text.to_str() {
        Some(t) if !t.is_empty() && !t.chars().any(char::is_control) => t.to_string(),
        _ => format!("{text:?}"),
    }
}

/// Fails as opening a file in `path`'s directory would, when that directory is missing or is
/// not one.
fn directory_of(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match std::fs::metadata(dir)?.is_dir() {
        true => Ok(()),
        false => Err(std::io::Error::from_raw_os_error(libc::ENOTDIR)),
    }
}

/// Makes the log file at `path` if there is none (mode 0644 less the umask, as `FileLogger`
/// would), and then returns its absolute path, for a refused start to remove it again. A file
/// that was there is never ours to remove: `None`.
fn make_log_file(path: &Path) -> Option<PathBuf> {
    let path = std::path::absolute(path).ok()?;
    std::fs::OpenOptions::new().append(true).create_new(true).mode(0o644).open(&path).ok()?;
    Some(path)
}

fn level(o: &Options) -> Level {
    match o.verbosity {
        ..0 => Level::Warn,
        0 => Level::Info,
        _ => Level::Debug,
    }
}

fn master(o: Options, path: PathBuf, mask: sys::Mask) -> Master<command::Run> {
    let run = command::Run {
        command: o.command.clone(),
        path,
        setup: o.setup.clone(),
        workers: o.workers,
        strategy: o.strategy,
        prefix: o.prefix,
        stop_signal: o.stop_signal,
        mask,
        master: 0,
        worker: 0,
        to_default: Vec::new(),
        exec: None,
        up: None,
        said: sys::shared_flag(),
    };
    configure(Master::new(run), &o).say_runs()
}

/// The library's settings for `o`: for the master that runs, and to check the options with.
pub fn configure<J: Job>(m: Master<J>, o: &Options) -> Master<J> {
    let mut m = m.workers(o.workers).strategy(o.strategy);
    let set = |m: Master<J>, d: Option<_>, f: fn(Master<J>, _) -> Master<J>| match d {
        Some(d) => f(m, d),
        None => m,
    };
    m = set(m, o.interval, Master::interval);
    if let Some(cron) = o.cron {
        m = m.cron(cron);
    }
    m = set(m, o.splay, Master::splay);
    if let Some(path) = &o.state {
        m = m.state_file(path);
    }
    if let Some(path) = &o.metrics {
        m = m.metrics_file(path);
    }
    if o.catch_up {
        m = m.catch_up();
    }
    m = set(m, o.perform_timeout, Master::perform_timeout);
    m = set(m, o.setup_timeout, Master::setup_timeout);
    m = set(m, o.stop_timeout, Master::stop_timeout);
    if o.spread {
        m = m.spread_starts();
    }
    if o.align {
        m = m.align_to_clock();
    }
    if let Some(n) = o.max_performs {
        m = m.max_performs(n);
    }
    if let Some((n, within)) = o.max_restarts {
        m = m.max_restarts(n, within);
    }
    if let Some(n) = o.max_failures {
        m = m.max_failures(n);
    }
    // To a perform child that is COMMAND; a worker or `--prefix` relay that starts COMMAND
    // passes it on itself.
    let stop_signal = o.stop_signal.and_then(Signal::from_raw);
    if let Some(sig) = stop_signal.filter(|_| o.strategy == sisyphus::Strategy::Forking && !o.prefix) {
        m = m.stop_signal(sig);
    }
    if let Some(name) = &o.name {
        m = m.name(name.clone());
    }
    if let Some(path) = &o.pidfile {
        m = m.pidfile(path);
    }
    if o.daemonize {
        m = m.daemonize();
    }
    m
}

/// Where COMMAND is, as `execvp` would find it, or the exit code and reason it cannot run:
/// 2 for an empty name, 127 not found, 126 found but not executable, or a script whose `#!`
/// line the kernel would misread (CRLF line endings).
fn find(program: &OsString) -> Result<PathBuf, (u8, String)> {
    if program.is_empty() {
        return Err((EXIT_USAGE, "COMMAND is empty ('')".into()));
    }
    let path = locate(program)?;
    match command::shebang(&path) {
        Some(line) if line.ends_with(b"\r") => Err((126, format!("{}: {}", shown(&path), command::CRLF))),
        _ => Ok(path),
    }
}

fn locate(program: &OsString) -> Result<PathBuf, (u8, String)> {
    let name = shown(program);
    let runnable = |p: &Path| p.is_file() && sys::executable(p);
    // A file that only lacks its execute permission.
    let chmod = |p: &Path| match p.is_file() {
        true => format!("; chmod +x {} makes it one", shell_word(p.as_os_str())),
        false => String::new(),
    };
    if program.as_bytes().contains(&b'/') {
        let path = Path::new(program);
        return match path.exists() {
            false => Err((127, format!("{name}: no such file"))),
            true if runnable(path) => Ok(path.to_owned()),
            true => Err((126, format!("{name}: not an executable file{}", chmod(path)))),
        };
    }
    let dirs = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut unrunnable = None;
    for dir in std::env::split_paths(&dirs) {
        let candidate = dir.join(program);
        if runnable(&candidate) {
            return Ok(candidate);
        }
        if unrunnable.is_none() && candidate.exists() {
            unrunnable = Some(candidate);
        }
    }
    if let Some(path) = unrunnable {
        let why = format!("found in PATH as {}, but not an executable file{}", shown(&path), chmod(&path));
        return Err((126, format!("{name}: {why}")));
    }
    // A script beside the user: the shell's habit of not looking there is easy to forget.
    let (file, dotted) = (Path::new(program), shell_word(Path::new(".").join(program).as_os_str()));
    let here = match file.is_file() {
        true if sys::executable(file) => format!("; for the one in the current directory, write {dotted}"),
        true => format!("; for the one in the current directory, chmod +x it and write {dotted}"),
        false => String::new(),
    };
    Err((127, format!("{name}: command not found in PATH{here}")))
}

/// `text` as one word a shell reads back as it is: quoted unless it is plain.
fn shell_word(text: &OsStr) -> String {
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"_-+./,:=@%".contains(b);
    match text.to_str() {
        Some(t) if !t.is_empty() && t.bytes().all(|b| plain(&b)) => t.to_string(),
        Some(t) if !t.chars().any(char::is_control) => format!("'{}'", t.replace('\'', "'\\''")),
        _ => shown(text),
    }
}
