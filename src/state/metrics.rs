//! The run state in Prometheus' text format, for node_exporter's textfile collector.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use super::RunState;

/// The metrics for `state`, whose master is `up` (running) or not, with `workers` wanted and
/// `workers_up` of them up.
pub(crate) fn prometheus(state: &RunState, up: bool, workers: usize, workers_up: usize) -> String {
    let name = label(&state.name);
    let mut out = String::new();
    let header = |out: &mut String, metric: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP sisyphus_{metric} {help}\n# TYPE sisyphus_{metric} {kind}");
    };
    header(&mut out, "performs_total", "counter", "Performs by how they ended.");
    for (outcome, n) in ["ok", "failed", "timeout", "killed"].iter().zip(state.performs) {
        let _ = writeln!(out, "sisyphus_performs_total{{name=\"{name}\",outcome=\"{outcome}\"}} {n}");
    }
    let gauges: [(&str, &str, &str, String); 8] = [
        (
            "last_success_timestamp_seconds",
            "gauge",
            "When a perform last succeeded (Unix time; 0: never).",
            seconds(state.last_success()),
        ),
        (
            "failures_in_a_row",
            "gauge",
            "Failed performs in a row across the pool since the last success, carried over restarts.",
            state.failures_in_a_row().to_string(),
        ),
        ("workers", "gauge", "Workers wanted.", workers.to_string()),
        ("workers_up", "gauge", "Workers that finished setup and run.", workers_up.to_string()),
        ("restarts_total", "counter", "Workers that ended unasked or failed to start.", state.restarts.to_string()),
        ("late_starts_total", "counter", "Performs started late against the schedule.", state.late_starts.to_string()),
        ("up", "gauge", "1 while the master runs.", u8::from(up).to_string()),
        ("start_time_seconds", "gauge", "When the master started (Unix time).", seconds(state.master_started)),
    ];
    for (metric, kind, help, value) in gauges {
        header(&mut out, metric, kind, help);
        let _ = writeln!(out, "sisyphus_{metric}{{name=\"{name}\"}} {value}");
    }
    out
}

fn seconds(t: Option<SystemTime>) -> String {
    let ms = t.map_or(0, |t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis());
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// A label value, escaped as the format says: backslash, double quote and line feed.
fn label(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}
