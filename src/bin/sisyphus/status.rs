//! What the command says without running anything. `--status PATH`: how a pool stands, from
//! its state file, for a person, a liveness probe or a Nagios-style check; exits 0 healthy, 1
//! unhealthy (`--max-age`, `--max-failures`), 3 when the master that wrote the file is gone, 2
//! when the file cannot be read. `--next N`: a calendar's next start times.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use sisyphus::{LocalTime, RunState};

use crate::args::Options;

pub fn report(path: &Path, max_age: Option<Duration>, max_failures: Option<u64>) -> ExitCode {
    let state = match RunState::read(path) {
        Ok(state) => state,
        Err(e) => {
            let why = e.to_string().replacen("invalid configuration: ", "", 1);
            eprintln!("sisyphus: --status {}: {why}", path.display());
            return ExitCode::from(2);
        }
    };
    let now = SystemTime::now();
    let mut out = String::new();
    let master = match state.master_stopped {
        Some(at) => format!("stopped at {}", LocalTime(at)),
        None if !state.master_running() => "gone (killed?)".into(),
        None => format!("running since {}", state.master_started.map_or("?".into(), |t| LocalTime(t).to_string())),
    };
    out += &format!("{}: master {} {master}; schedule {}\n", state.name, state.master_pid, state.schedule);
    for (i, slot) in state.slots.iter().enumerate() {
        let outcome = match slot.outcome.as_str() {
            "" => "no run yet".to_string(),
            "ok" => "last run ok".to_string(),
            _ => format!("last run {}: {}", slot.outcome, slot.failure),
        };
        let next = slot.next_due.map_or(String::new(), |t| format!("; next due {}", when(t, now)));
        let (success, in_a_row) = (slot.last_success.map_or("never".into(), |t| when(t, now)), slot.failures_in_a_row);
        out += &format!(
            "worker {i}: {}; last success {success}; {outcome}; {in_a_row} failed in a row{next}\n",
            slot.state
        );
    }
    let [ok, failed, timeout, killed] = state.performs;
    out += &format!("runs: {ok} ok, {failed} failed, {timeout} timed out, {killed} killed; ");
    out += &format!("{} restarts, {} late starts; ", state.restarts, state.late_starts);
    out += &format!("{} failed in a row across the pool\n", state.failures_in_a_row());
    let gone = !state.master_running();
    // No success yet: counted from when the file, or this master, began.
    let since = state.last_success().or(state.created.max(state.master_started));
    let stale = max_age.filter(|age| since.is_none_or(|t| now.duration_since(t).unwrap_or_default() > *age));
    // As the master counts it: N failed in a row is where it gives up.
    let failing = max_failures.filter(|&n| state.failures_in_a_row() >= n);
    let (verdict, code) = if gone {
        (format!("UNKNOWN: the master (pid {}) is gone", state.master_pid), 3)
    } else if let Some(age) = stale {
        (format!("UNHEALTHY: no run succeeded within {}", human(age)), 1)
    } else if let Some(n) = failing {
        let in_a_row = state.failures_in_a_row();
        (format!("UNHEALTHY: {in_a_row} runs failed in a row across the pool (--max-failures {n})"), 1)
    } else {
        ("OK".to_string(), 0)
    };
    out += &verdict;
    println!("{out}");
    ExitCode::from(code)
}

/// A time as an age or a wait, and as the local time: `3m12s ago (2027-03-28T03:00:00+02:00)`.
fn when(t: SystemTime, now: SystemTime) -> String {
    match now.duration_since(t) {
        Ok(ago) => format!("{} ago ({})", human(ago), LocalTime(t)),
        Err(e) => format!("in {} ({})", human(e.duration()), LocalTime(t)),
    }
}

/// Whole seconds, in the two largest units: `45s`, `3m12s`, `2h5m`, `4d3h`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `--next`: the schedule's next `count` start times, one per line in local time, before any
/// `--splay` (each worker's offset is logged when it runs), starting nothing.
pub fn print_next(o: &Options, count: u64) -> ExitCode {
    let Some(cron) = o.cron else { return crate::usage("--next needs --cron") };
    if let Some(warning) = sisyphus::LocalTime::zone_warning() {
        crate::complain(&format!("sisyphus: warning: {warning}"));
    }
    let mut t = o.from.map_or_else(std::time::SystemTime::now, |from| from.0);
    let mut text = String::new();
    for _ in 0..count {
        t = cron.next_after(t);
        text += &format!("{}\n", sisyphus::LocalTime(t));
    }
    crate::print("start times", &text)
}
