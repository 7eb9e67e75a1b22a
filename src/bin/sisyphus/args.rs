//! The command line, parsed by hand: options up to `--` or the first operand, then COMMAND
//! and its arguments, kept as `OsString`s.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use sisyphus::{BoxError, Context, Cron, Job, LocalTime, MAX_WORKERS, Master, Signal, Strategy};

use crate::duration;

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Box<Options>),
    Help,
    Version,
}

/// Every option, and the command.
#[derive(Debug, PartialEq)]
pub struct Options {
    pub workers: usize,
    pub interval: Option<Duration>,
    pub cron: Option<Cron>,
    pub splay: Option<Duration>,
    /// Print this many start times of the `cron` schedule and exit.
    pub next: Option<u64>,
    /// Those after this time.
    pub from: Option<LocalTime>,
    pub state: Option<PathBuf>,
    pub metrics: Option<PathBuf>,
    pub catch_up: bool,
    /// Read this state file, say how the pool stands, and exit.
    pub status: Option<PathBuf>,
    /// With `status`: unhealthy when no perform succeeded within this.
    pub max_age: Option<Duration>,
    pub spread: bool,
    pub align: bool,
    pub strategy: Strategy,
    pub setup: Option<OsString>,
    pub perform_timeout: Option<Duration>,
    pub setup_timeout: Option<Duration>,
    pub stop_timeout: Option<Duration>,
    pub max_performs: Option<u64>,
    pub max_restarts: Option<(u32, Duration)>,
    pub max_failures: Option<u64>,
    pub pidfile: Option<PathBuf>,
    pub daemonize: bool,
    pub log_file: Option<PathBuf>,
    pub prefix: bool,
    pub stop_signal: Option<i32>,
    /// What workers call themselves (`NAME-wN`).
    pub name: Option<String>,
    /// -1 quiet, 0 normal, 1 verbose.
    pub verbosity: i8,
    /// COMMAND and its arguments.
    pub command: Vec<OsString>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 1,
            interval: None,
            cron: None,
            splay: None,
            next: None,
            from: None,
            state: None,
            metrics: None,
            catch_up: false,
            status: None,
            max_age: None,
            spread: false,
            align: false,
            strategy: Strategy::Forking,
            setup: None,
            perform_timeout: None,
            setup_timeout: None,
            stop_timeout: None,
            max_performs: None,
            max_restarts: None,
            max_failures: None,
            pidfile: None,
            daemonize: false,
            log_file: None,
            prefix: false,
            stop_signal: None,
            name: None,
            verbosity: 0,
            command: Vec::new(),
        }
    }
}

/// Parses the arguments after the program name.
///
/// # Errors
/// The problem, in one line naming the option or value at fault.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    let mut args = args.into_iter();
    let mut o = Options::default();
    while let Some(arg) = args.next() {
        // Bytes, not text: a value such as a path need not be UTF-8.
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            break;
        }
        if let Some(long) = bytes.strip_prefix(b"--") {
            let (name, inline) = match long.iter().position(|&b| b == b'=') {
                Some(eq) => (&long[..eq], Some(OsString::from_vec(long[eq + 1..].to_vec()))),
                None => (long, None),
            };
            let name =
                std::str::from_utf8(name).map_err(|_| format!("unknown option --{}", String::from_utf8_lossy(name)))?;
            match flag(&mut o, name, inline.is_some())? {
                Some(done) => return Ok(done),
                None if takes_value(name) => {
                    let value = inline.or_else(|| args.next()).ok_or_else(|| format!("--{name} needs a value"))?;
                    set(&mut o, name, value)?;
                }
                None => {}
            }
        } else if bytes.len() > 1 && bytes[0] == b'-' {
            for (i, &b) in bytes.iter().enumerate().skip(1) {
                let c = char::from(b);
                let shown = || String::from_utf8_lossy(&bytes[i..]).chars().next().unwrap_or(c);
                let name = long_name(c).ok_or_else(|| format!("unknown option -{}", shown()))?;
                if takes_value(name) {
                    let rest = &bytes[i + 1..];
                    let value = if rest.is_empty() { args.next() } else { Some(OsString::from_vec(rest.to_vec())) };
                    set(&mut o, name, value.ok_or_else(|| format!("-{c} needs a value"))?)?;
                    break;
                }
                if let Some(done) = flag(&mut o, name, false)? {
                    return Ok(done);
                }
            }
        } else {
            o.command.push(arg);
            break;
        }
    }
    o.command.extend(args);
    if o.max_age.is_some() && o.status.is_none() {
        return Err("--max-age goes with --status".into());
    }
    if let Some(status) = &o.status {
        // Reads a file and says how the pool stands: an option for a pool would do nothing.
        let (max_age, max_failures, verbosity) = (o.max_age, o.max_failures, o.verbosity);
        let alone = Options { status: Some(status.clone()), max_age, max_failures, verbosity, ..Options::default() };
        if o != alone {
            return Err(
                "--status reads a state file and starts nothing: it takes only --max-age, --max-failures, -q, -v"
                    .into(),
            );
        }
        return Ok(Parsed::Run(Box::new(o)));
    }
    if o.from.is_some() && o.next.is_none() {
        return Err("--from goes with --next".into());
    }
    if o.next.is_some() && o.cron.is_none() {
        return Err("--next shows the start times of a --cron schedule: give --cron too".into());
    }
    // `--next` starts nothing: COMMAND may be there or not.
    if o.command.is_empty() && o.next.is_none() {
        return Err("no COMMAND given".into());
    }
    check(&o)?;
    Ok(Parsed::Run(Box::new(o)))
}

fn long_name(short: char) -> Option<&'static str> {
    Some(match short {
        'w' => "workers",
        'q' => "quiet",
        'v' => "verbose",
        'h' => "help",
        'V' => "version",
        _ => return None,
    })
}

fn takes_value(name: &str) -> bool {
    matches!(
        name,
        "workers"
            | "interval"
            | "cron"
            | "splay"
            | "next"
            | "from"
            | "state"
            | "metrics"
            | "status"
            | "max-age"
            | "strategy"
            | "setup"
            | "perform-timeout"
            | "setup-timeout"
            | "stop-timeout"
            | "max-performs"
            | "max-restarts"
            | "max-failures"
            | "pidfile"
            | "log-file"
            | "stop-signal"
            | "name"
    )
}

/// Sets a flag option; `Some` for help and version, which end the parse. `Ok(None)` also for
/// an option that takes a value, which the caller sets.
fn flag(o: &mut Options, name: &str, has_value: bool) -> Result<Option<Parsed>, String> {
    const FLAGS: [&str; 9] =
        ["spread", "align", "catch-up", "daemonize", "prefix", "quiet", "verbose", "help", "version"];
    if takes_value(name) {
        return Ok(None);
    }
    if !FLAGS.contains(&name) {
        return Err(format!("unknown option --{name}"));
    }
    if has_value {
        return Err(format!("--{name} takes no value"));
    }
    match name {
        "spread" => o.spread = true,
        "align" => o.align = true,
        "catch-up" => o.catch_up = true,
        "daemonize" => o.daemonize = true,
        "prefix" => o.prefix = true,
        "quiet" => o.verbosity = -1,
        "verbose" => o.verbosity = 1,
        "help" => return Ok(Some(Parsed::Help)),
        _ => return Ok(Some(Parsed::Version)),
    }
    Ok(None)
}

fn set(o: &mut Options, name: &str, value: OsString) -> Result<(), String> {
    let text = || value.to_str().ok_or_else(|| format!("--{name}: {value:?} is not valid UTF-8"));
    let dur = || duration::parse(text()?).map_err(|e| format!("--{name}: {e}"));
    match name {
        "workers" => o.workers = number(name, text()?, 0, MAX_WORKERS as u64)? as usize,
        "interval" => o.interval = Some(dur()?),
        // The library says `cron: hour "25" is out of range 0-23`.
        "cron" => o.cron = Some(Cron::parse(text()?).map_err(|e| format!("--{}", config_text(e)))?),
        "splay" => o.splay = Some(dur()?),
        "next" => o.next = Some(number(name, text()?, 1, 100_000)?),
        "from" => o.from = Some(text()?.parse().map_err(|e| format!("--from: {}", config_text(e)))?),
        "strategy" => {
            o.strategy = match text()? {
                "forking" => Strategy::Forking,
                "simple" => Strategy::Simple,
                other => return Err(format!("--strategy: {other:?} is neither forking nor simple")),
            }
        }
        "setup" => o.setup = Some(value),
        "perform-timeout" => o.perform_timeout = Some(dur()?),
        "setup-timeout" => o.setup_timeout = Some(dur()?),
        "stop-timeout" => o.stop_timeout = Some(dur()?),
        "max-performs" => o.max_performs = Some(number(name, text()?, 1, u64::MAX)?),
        "max-failures" => o.max_failures = Some(number(name, text()?, 1, u64::MAX)?),
        "max-restarts" => {
            let (n, within) = text()?
                .split_once('/')
                .ok_or_else(|| format!("--max-restarts: write N/DURATION, as in 5/1m, not {value:?}"))?;
            let n = number(name, n, 0, u64::from(u32::MAX))? as u32;
            o.max_restarts = Some((n, duration::parse(within).map_err(|e| format!("--{name}: {e}"))?));
        }
        "pidfile" => o.pidfile = Some(value.into()),
        "state" => o.state = Some(value.into()),
        "metrics" => o.metrics = Some(value.into()),
        "status" => o.status = Some(value.into()),
        "max-age" => o.max_age = Some(dur()?),
        "log-file" => o.log_file = Some(value.into()),
        "stop-signal" => {
            let text = text()?;
            let sig = match text.parse() {
                Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) => Signal::from_raw(n),
                _ => Signal::from_name(text),
            };
            let sig = sig.ok_or_else(|| format!("--stop-signal: unknown signal {value:?}"))?;
            // The library's limits, whichever strategy passes the signal on.
            library_check(Master::new(Nothing).stop_signal(sig))?;
            o.stop_signal = Some(sig.as_raw());
        }
        "name" => o.name = Some(text()?.to_string()),
        _ => unreachable!("takes_value lists only these"),
    }
    Ok(())
}

/// What a library error says, without its "invalid configuration" heading.
fn config_text(e: sisyphus::Error) -> String {
    match e {
        sisyphus::Error::Config(why) => why,
        other => other.to_string(),
    }
}

fn number(name: &str, text: &str, min: u64, max: u64) -> Result<u64, String> {
    // Digits only: `parse` would also take `+4`.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("--{name}: {text:?} is not a number"));
    }
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("--{name}: {text} is out of range ({min} to {max})")),
    }
}

/// What the options say together, in the library's words. The rest of the settings are
/// checked once COMMAND is found (a missing COMMAND exits 127 before a bad timeout exits 2).
fn check(o: &Options) -> Result<(), String> {
    // The library checks the others against each other.
    let log = o.log_file.as_deref().and_then(|p| std::path::absolute(p).ok());
    for (flag, other) in [("--pidfile", &o.pidfile), ("--state", &o.state), ("--metrics", &o.metrics)] {
        if log.is_some() && other.as_deref().and_then(|p| std::path::absolute(p).ok()) == log {
            return Err(format!("--log-file and {flag} name one file: give each its own"));
        }
    }
    let mut pacing = Master::new(Nothing);
    if let Some(every) = o.interval {
        pacing = pacing.interval(every);
    }
    if let Some(cron) = o.cron {
        pacing = pacing.cron(cron);
    }
    if let Some(splay) = o.splay {
        pacing = pacing.splay(splay);
    }
    if o.spread {
        pacing = pacing.spread_starts();
    }
    if o.align {
        pacing = pacing.align_to_clock();
    }
    library_check(pacing)
}

/// A job that does nothing, for checking settings with the library before anything runs.
struct Nothing;

impl Job for Nothing {
    fn perform(&mut self, _: &Context) -> Result<(), BoxError> {
        Ok(())
    }
}

fn library_check(master: Master<Nothing>) -> Result<(), String> {
    master.validate().map_err(|e| match e {
        sisyphus::Error::Config(why) => flag_names(&why),
        other => other.to_string(),
    })
}

/// The library's words for its settings, as this command's options.
pub fn flag_names(text: &str) -> String {
    let names = [
        ("perform_timeout", "--perform-timeout"),
        ("setup_timeout", "--setup-timeout"),
        ("stop_timeout", "--stop-timeout"),
        ("max_restarts", "--max-restarts"),
        ("max_performs", "--max-performs"),
        ("interval", "--interval"),
        ("and cron", "and --cron"),
        ("or cron", "or --cron"),
        ("splay", "--splay"),
        ("catch_up", "--catch-up"),
        ("state_file", "--state"),
        ("metrics_file", "--metrics"),
        ("the pidfile's", "--pidfile's"),
        ("stop_signal", "--stop-signal"),
        ("spread_starts", "--spread"),
        ("align_to_clock", "--align"),
        ("name ", "--name "),
        // The command's word for a perform.
        ("suspend the perform, not end it", "suspend runs, not end them"),
    ];
    // Only outside quotes: a quoted value is the user's own, as they wrote it.
    let words = |part: &str| names.iter().fold(part.to_string(), |t, (from, to)| t.replace(from, to));
    let parts = text.split('"').enumerate().map(|(i, part)| if i % 2 == 0 { words(part) } else { part.into() });
    parts.collect::<Vec<_>>().join("\"")
}

#[cfg(test)]
mod tests;
