//! `--metrics`: the Prometheus text file, read by a real parser (the `prometheus-client` Python
//! package's, which `.ci/run` installs), and its values against the state file's.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use sisyphus::RunState;

use crate::state::{state_at, wait_state};
use crate::support::*;
use crate::{Dir, Sis, ensure, nothing_left, read};

/// Parses the file named by argv[1] with `prometheus_client`'s parser and checks the format's
/// rules beyond what that parser enforces: each family typed and helped, the expected families
/// and types, valid metric and label names, a counter's samples named `<family>_total`, every
/// sample labelled `name` = argv[2], one sample per series. Prints `SAMPLE[:OUTCOME] VALUE`.
const CHECK: &str = r##"
import re, sys
from prometheus_client.parser import text_string_to_metric_families
text, name = open(sys.argv[1]).read(), sys.argv[2]
want = {"performs": "counter", "last_success_timestamp_seconds": "gauge", "failures_in_a_row": "gauge",
        "workers": "gauge", "workers_up": "gauge", "restarts": "counter", "late_starts": "counter",
        "up": "gauge", "start_time_seconds": "gauge"}
families = list(text_string_to_metric_families(text))
types = {f.name: f.type for f in families}
assert types == {"sisyphus_" + k: v for k, v in want.items()}, types
assert text.endswith("\n") and text.count("# TYPE ") == len(want) == text.count("# HELP "), text
seen = set()
for f in families:
    assert f.documentation, f.name
    for s in f.samples:
        assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s.name), s.name
        assert all(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", k) for k in s.labels), s.labels
        assert s.name == f.name + ("_total" if f.type == "counter" else ""), (f.name, s.name)
        assert s.labels.get("name") == name, s.labels
        key = (s.name, tuple(sorted(s.labels.items())))
        assert key not in seen, ("a series twice", key)
        seen.add(key)
        extra = set(s.labels) - {"name"}
        assert extra == ({"outcome"} if f.name == "sisyphus_performs" else set()), s.labels
        print(s.name + (":" + s.labels["outcome"] if "outcome" in s.labels else ""), repr(s.value))
outcomes = sorted(s.labels["outcome"] for f in families if f.name == "sisyphus_performs" for s in f.samples)
assert outcomes == ["failed", "killed", "ok", "timeout"], outcomes
"##;

/// The samples of the metrics file at `path`, by the real parser; `Err("SKIP: ...")` when it
/// is not installed (a failure when `NEED_PROMETHEUS_CLIENT` is set, as in `.ci/run`).
fn parsed(path: &str, name: &str) -> Result<BTreeMap<String, f64>, String> {
    let out = Command::new("python3")
        .args(["-c", CHECK, path, name])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("SKIP: python3: {e}"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("No module named 'prometheus_client'") && std::env::var_os("NEED_PROMETHEUS_CLIENT").is_none() {
        return Err(
            "SKIP: the prometheus_client Python package is not installed (pip install prometheus-client)".into()
        );
    }
    ensure!(out.status.success(), "the parser refused {path}: {err}\n--- file ---\n{}", read(path.as_ref()));
    let text = String::from_utf8_lossy(&out.stdout);
    let pair = |l: &str| Some((l.split_once(' ')?.0.to_string(), l.split_once(' ')?.1.parse().ok()?));
    Ok(text.lines().filter_map(pair).collect())
}

fn secs(t: Option<SystemTime>) -> f64 {
    t.map_or(0.0, |t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64())
}

/// The metrics' values are the state file's: `up`, `workers` and `workers_up` as given.
fn agree(m: &BTreeMap<String, f64>, s: &RunState, up: f64, workers_up: f64) -> Result<(), String> {
    let get = |k: &str| m.get(k).copied().unwrap_or(f64::NAN);
    let ms = |v: f64| (v * 1000.0).round() as i64;
    let pairs = [
        ("sisyphus_performs_total:ok", s.performs[0] as f64),
        ("sisyphus_performs_total:failed", s.performs[1] as f64),
        ("sisyphus_performs_total:timeout", s.performs[2] as f64),
        ("sisyphus_performs_total:killed", s.performs[3] as f64),
        ("sisyphus_failures_in_a_row", s.failures_in_a_row() as f64),
        ("sisyphus_restarts_total", s.restarts as f64),
        ("sisyphus_late_starts_total", s.late_starts as f64),
        ("sisyphus_workers", 2.0),
        ("sisyphus_workers_up", workers_up),
        ("sisyphus_up", up),
    ];
    for (key, want) in pairs {
        ensure!(get(key) == want, "{key} is {}, the state file says {want}\n{m:?}\n{s}", get(key));
    }
    for (key, want) in [
        ("sisyphus_last_success_timestamp_seconds", s.last_success()),
        ("sisyphus_start_time_seconds", s.master_started),
    ] {
        ensure!(ms(get(key)) == ms(secs(want)), "{key} is {}, the state file says {want:?}\n{m:?}\n{s}", get(key));
    }
    ensure!(m.len() == pairs.len() + 2, "samples: {m:?}");
    Ok(())
}

/// `--metrics M --state F --name 'a"b\c' -w 2 --perform-timeout 300ms`, runs that end ok,
/// failed, timed out and killed by a signal in turn, then ok: while it runs, the file parses
/// (up 1, 2 workers up); a worker SIGKILLed and replaced counts a restart and no count drops;
/// after INT, every value is the state file's, up 0.
pub fn metrics_parse() -> Outcome {
    let dir = Dir::new("metrics")?;
    let (state, metrics) = (dir.join("state"), dir.at("sisyphus.prom"));
    let script = dir.script(
        "run.sh",
        "case $SISYPHUS_ITERATION in\n1) exit 3 ;;\n2) exec sleep 5 ;;\n3) kill -KILL $$ ;;\nesac\nexit 0\n",
    )?;
    let name = "a\"b\\c";
    let (f, m) = (dir.at("state"), metrics.as_str());
    let args = ["--state", &f, "--metrics", m, "--name", name, "-w", "2", "--perform-timeout", "300ms", "--", &script];
    let mut sis = Sis::start(&dir, "metrics", &args)?;
    let each = |s: &RunState| s.performs[0] >= 4 && s.performs[1..].iter().all(|&n| n >= 2);
    let before = wait_state(&sis, &state, "each outcome in both workers", each)?;
    let running = parsed(m, name)?;
    ensure!(running.get("sisyphus_up") == Some(&1.0), "{running:?}");
    ensure!(running.get("sisyphus_workers_up") == Some(&2.0), "{running:?}");
    let worker = live_children(sis.pid).first().copied().ok_or("no worker")?;
    kill(worker, libc::SIGKILL);
    let after = wait_state(&sis, &state, "a restart", |s| s.restarts == 1 && s.performs[0] > before.performs[0])?;
    ensure!(before.performs.iter().zip(after.performs).all(|(b, a)| a >= *b), "{before}\n{after}");
    sis.stop()?;
    let end = state_at(&state)?.unwrap_or_default();
    agree(&parsed(m, name)?, &end, 0.0, 0.0)?;
    ensure!(end.name == name && end.performs[2] >= 2 && end.timeouts >= 2, "{end}");
    nothing_left()
}

/// `--state` in a folder that does not exist, `--metrics` in one that does: the state file
/// cannot be written (one WARN line naming it), the metrics file still is, and is kept up to
/// date until the stop (`sisyphus_up` 1, then 0).
pub fn metrics_written_when_the_state_file_cannot_be() -> Outcome {
    let dir = Dir::new("metricsalone")?;
    // A folder that goes away once the pool runs (a folder missing at the start is refused).
    let (folder, state, metrics) = (dir.join("gone"), dir.at("gone/state"), dir.join("sisyphus.prom"));
    std::fs::create_dir(&folder).map_err(|e| e.to_string())?;
    let m = metrics.to_string_lossy().into_owned();
    let mut sis = Sis::start(&dir, "alone", &["--state", &state, "--metrics", &m, "--", "true"])?;
    let up = |v: &str| format!("sisyphus_up{{name=\"sisyphus\"}} {v}\n");
    sis.until("the metrics file, up 1", 10 * SEC, || read(&metrics).contains(&up("1")))?;
    std::fs::remove_dir_all(&folder).map_err(|e| e.to_string())?;
    let failed = |sis: &Sis| sis.err().contains(&format!("cannot write {state}: "));
    sis.until("the state file's write failing", 10 * SEC, || failed(&sis))?;
    // The metrics go on: their counts still move.
    let before = read(&metrics);
    sis.until("the metrics file rewritten", 10 * SEC, || read(&metrics) != before)?;
    sis.stop()?;
    ensure!(read(&metrics).contains(&up("0")), "after the stop:\n{}", read(&metrics));
    let err = sis.err();
    let warns: Vec<&str> = err.lines().filter(|l| l.contains(" WARN ")).collect();
    ensure!(warns.len() == 1 && warns[0].contains(&format!("cannot write {state}: ")), "{warns:?}{}", sis.show());
    nothing_left()
}
