//! Calendar schedules (`--cron`): runs on the schedule's marks, `--next` prints start times and
//! starts nothing, bad schedule input is refused, and `--splay` offsets come from the host name
//! and the slot.

use std::time::Instant;

use crate::support::*;
use crate::{Dir, Sis, ensure, lines, nothing_left, read, sisyphus, under, wall_secs};

/// Every even second of the wall clock.
const EVERY_2_S: &str = "*/2 * * * * *";
/// How late a run may start after its due time, its `sh` and `date` included: generous, for a
/// loaded machine (a few ms when idle), as for `--interval`.
const LATE_S: f64 = 0.3;

/// The lines `W SCHEDULED_AT AT` that runs append: (worker, `SISYPHUS_SCHEDULED_AT`, start).
fn runs_of(path: &std::path::Path) -> Vec<(u32, u64, f64)> {
    let parse = |l: &String| {
        let mut w = l.split_whitespace();
        Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?, w.next()?.parse().ok()?))
    };
    lines(path).iter().filter_map(parse).collect()
}

/// A script that appends `$SISYPHUS_WORKER $SISYPHUS_SCHEDULED_AT $(date +%s.%N)` to `runs`.
fn recorder(dir: &Dir, runs: &std::path::Path) -> Result<String, String> {
    let line = "\"$SISYPHUS_WORKER $SISYPHUS_SCHEDULED_AT $(date +%s.%N)\"";
    dir.script("run.sh", &format!("echo {line} >> {}\n", runs.display()))
}

/// `--cron '*/2 * * * * *' -w 2`: each worker runs at every even second from the first after
/// start-up, none at start-up, with `SISYPHUS_SCHEDULED_AT` the mark; INT: exit 0 at once.
pub fn cron_runs_on_the_marks() -> Outcome {
    let dir = Dir::new("cron")?;
    let runs = dir.join("runs");
    let script = recorder(&dir, &runs)?;
    let started = wall_secs();
    let mut sis = Sis::start(&dir, "cron", &["-w", "2", "--cron", EVERY_2_S, "--", &script])?;
    let count = |l: &[String], w: u32| l.iter().filter(|l| l.starts_with(&format!("{w} "))).count();
    sis.wait_file("2 runs of each worker", &runs, 10 * SEC, |l| count(l, 0) >= 2 && count(l, 1) >= 2)?;
    let t0 = Instant::now();
    sis.stop()?;
    let took = t0.elapsed();
    let all = runs_of(&runs);
    let mut shown = Vec::new();
    for w in 0..2 {
        let mine: Vec<&(u32, u64, f64)> = all.iter().filter(|r| r.0 == w).collect();
        let what = format!("worker {w}: runs (worker, SISYPHUS_SCHEDULED_AT, start) {mine:?}, started {started:.3}");
        let first = mine.first().ok_or(format!("{what}: none"))?.1 as f64;
        // None at start-up: the first is at the first even second after it.
        ensure!((0.0..=2.5).contains(&(first - started)) && first != started, "{what}");
        for (i, &&(_, at, start)) in mine.iter().enumerate() {
            ensure!(at % 2 == 0, "{what}: SISYPHUS_SCHEDULED_AT {at} is not an even second");
            let late = start - at as f64;
            ensure!((0.0..LATE_S).contains(&late), "{what}: run {i} started {late:.3} s after {at}");
            ensure!(i == 0 || at == mine[i - 1].1 + 2, "{what}: not one run per mark");
            shown.push(format!("{:.1}", late * 1e3));
        }
    }
    let err = sis.err();
    ensure!(err.contains(&format!("INFO schedule \"{EVERY_2_S}\": next start ")), "no schedule line:{}", sis.show());
    ensure!(!err.contains(" WARN ") && !err.contains(" ERROR "), "{}", sis.show());
    ensure!(took < SEC, "INT took {took:?} with the workers waiting for the next mark");
    println!("       runs start {} ms after their mark; INT: exit 0 in {} ms", shown.join(", "), took.as_millis());
    nothing_left()
}

/// `--next 3 --from '2027-03-27 00:00'` of `30 2 * * *` in Europe/Paris: the spring change's
/// day runs at 03:00, once; exit 0, nothing started (COMMAND and `--setup` given or not).
pub fn next_prints_start_times_and_starts_nothing() -> Outcome {
    let dir = Dir::new("next")?;
    let marker = dir.at("marker");
    let touch = format!("touch {marker}");
    let want = "2027-03-27T02:30:00+01:00\n2027-03-28T03:00:00+02:00\n2027-03-29T02:30:00+02:00\n";
    let base = ["--cron", "30 2 * * *", "--next", "3", "--from", "2027-03-27 00:00"];
    let with_command = ["-w", "2", "--setup", &touch, "--", "sh", "-c", &touch];
    let cases: [(&str, Vec<&str>); 2] =
        [("command", base.iter().chain(&with_command).copied().collect()), ("bare", base.to_vec())];
    for (tag, args) in cases {
        let (mut cmd, out, err) = sisyphus(&dir, tag, &args)?;
        cmd.env("TZ", "Europe/Paris");
        let t0 = Instant::now();
        let mut sis = Sis::spawn(cmd, out, err)?;
        let code = sis.wait(5 * SEC)?;
        let what = format!("{args:?}: exit {code}{}", sis.show());
        ensure!(code == 0 && sis.out() == want && sis.err().is_empty(), "{what}\n--- wanted ---\n{want}");
        ensure!(t0.elapsed() < 2 * SEC, "{what}: took {:?}", t0.elapsed());
        ensure!(!std::path::Path::new(&marker).exists(), "{what}: something ran (the marker exists)");
        ensure!(descendants().is_empty(), "{what}: left {:?}", descendants());
    }
    // Without --from: after now. `@hourly` in UTC: the next whole hour, as `date` writes it.
    let hour = |t: f64| ((t / 3600.0).floor() as u64 + 1) * 3600;
    let before = hour(wall_secs());
    let (mut cmd, out, err) = sisyphus(&dir, "now", &["--cron", "@hourly", "--next", "2", "--", "sh", "-c", &touch])?;
    cmd.env("TZ", "UTC");
    let mut sis = Sis::spawn(cmd, out, err)?;
    let code = sis.wait(5 * SEC)?;
    let after = hour(wall_secs());
    let utc = |t: u64| -> Result<String, String> {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%S+00:00"])
            .output()
            .map_err(|e| format!("date: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let wants = [format!("{}{}", utc(before)?, utc(before + 3600)?), format!("{}{}", utc(after)?, utc(after + 3600)?)];
    ensure!(code == 0 && wants.contains(&sis.out()), "@hourly --next 2: exit {code}, want {wants:?}{}", sis.show());
    ensure!(!std::path::Path::new(&marker).exists(), "@hourly --next 2: something ran (the marker exists)");
    println!("       {}", want.trim_end().replace('\n', ", "));
    nothing_left()
}

/// Bad `--cron`, `--from`, `--next` and `--splay` input, and schedules that do not go together:
/// exit 2 within 2 s, one `sisyphus: ` line naming the option and pointing to `--help`, stdout
/// empty, nothing run, no log file.
pub fn bad_schedule_input() -> Outcome {
    let dir = Dir::new("badcron")?;
    let marker = dir.at("marker");
    let touch = format!("touch {marker}");
    let log = dir.join("never.log");
    let log_arg = log.to_string_lossy().into_owned();
    // (options, the start of the line, or words it must hold)
    let cases: [(&[&str], &[&str]); 14] = [
        (&["--cron", "0 25 * * *"], &["sisyphus: --cron: hour \"25\" is out of range 0-23"]),
        (&["--cron", "0 0 30 2 *"], &["--cron", "never fires"]),
        (&["--cron", "0 0 L * *"], &["--cron", "\"L\"", "not supported"]),
        (&["--cron", "* * * *"], &["--cron", "4 fields"]),
        (&["--cron", "@reboot"], &["--cron", "@reboot"]),
        (&["--cron", "30 2 * * *", "--next", "3", "--from", "2027-02-30 00:00"], &["--from", "2027-02-30 00:00"]),
        (&["--cron", "30 2 * * *", "--next", "3", "--from", "tomorrow"], &["--from", "tomorrow"]),
        (&["--cron", "30 2 * * *", "--from", "2027-03-27 00:00"], &["--from", "--next"]),
        (&["--cron", "30 2 * * *", "--next", "0"], &["--next", "out of range"]),
        (&["--next", "3"], &["--next", "--cron"]),
        (&["--interval", "1s", "--cron", "30 2 * * *"], &["--interval", "--cron"]),
        (&["--interval", "1s", "--cron", "30 2 * * *", "--next", "3"], &["--interval", "--cron"]),
        (&["--splay", "1m"], &["--splay", "needs a schedule"]),
        (&["--splay", "5ms", "--cron", "30 2 * * *"], &["--splay", "5ms"]),
    ];
    let mut took = Vec::new();
    for (i, (opts, words)) in cases.iter().enumerate() {
        let mut args = opts.to_vec();
        args.extend(["--log-file", &log_arg, "--setup", &touch, "--", "sh", "-c", &touch]);
        let (cmd, out, err) = sisyphus(&dir, &format!("case{i}"), &args)?;
        let t0 = Instant::now();
        let mut sis = Sis::spawn(cmd, out, err)?;
        let code = sis.wait(5 * SEC)?;
        took.push(t0.elapsed().as_millis().to_string());
        let (stdout, stderr) = (sis.out(), sis.err());
        let what = format!("sisyphus {opts:?}: exit {code}, stdout {stdout:?}, stderr {stderr:?}");
        ensure!(code == 2 && stdout.is_empty(), "{what}: want exit 2 and nothing on stdout");
        ensure!(stderr.starts_with("sisyphus: ") && stderr.lines().count() == 1, "{what}: not one sisyphus line");
        ensure!(stderr.ends_with(" (see sisyphus --help)\n"), "{what}: does not point to --help");
        match words {
            [start] if start.starts_with("sisyphus: ") => ensure!(stderr.starts_with(start), "{what}: want {start:?}"),
            _ => {
                for w in *words {
                    ensure!(stderr.contains(w), "{what}: does not name {w:?}");
                }
            }
        }
        ensure!(t0.elapsed() < 2 * SEC, "{what}: took {:?}", t0.elapsed());
        ensure!(!std::path::Path::new(&marker).exists(), "{what}: something ran (the marker exists)");
        ensure!(!log.exists(), "{what}: the log file was created");
        ensure!(descendants().is_empty(), "{what}: left {:?}", descendants());
    }
    println!("       {} cases, each exited 2 in {} ms", cases.len(), took.join("/"));
    nothing_left()
}

/// The start-up line's `splay up to D on host "H": worker 0 +X, ...`: the host and each
/// worker's offset in ms.
fn splay_line(err: &str) -> Option<(String, Vec<f64>)> {
    let line = err.lines().find(|l| l.contains(" INFO ") && l.contains("splay up to "))?;
    let (host, list) = line.split("on host \"").nth(1)?.split_once("\": ")?;
    let offsets = list.split(", ").map(|w| {
        let (n, unit) = w.split(" +").nth(1)?.split_once(' ')?;
        let n: f64 = n.parse().ok()?;
        match unit {
            "ms" => Some(n),
            "s" => Some(n * 1e3),
            _ => None,
        }
    });
    Some((host.to_string(), offsets.collect::<Option<Vec<f64>>>()?))
}

/// Runs sisyphus `args` under `wrapper` until it logs its splay line, then stops it: the host
/// and offsets it logged.
fn splay_of(dir: &Dir, tag: &str, wrapper: &[&str], args: &[&str]) -> Result<(String, Vec<f64>), String> {
    let (cmd, out, err) = under(dir, tag, wrapper, args)?;
    let mut sis = Sis::spawn(cmd, out, err)?;
    sis.wait_err("the splay line", 5 * SEC, |e| splay_line(e).is_some())?;
    sis.stop()?;
    nothing_left()?;
    splay_line(&sis.err()).ok_or(format!("no splay line{}", sis.show()))
}

/// `--splay 10m -w 3`: the offsets logged are below 10 min and the same on a restart; under
/// another host name (`unshare --uts`, as root) they differ. With `--splay 1s`, each worker
/// runs its logged offset after each mark.
pub fn splay_offsets() -> Outcome {
    let dir = Dir::new("splay")?;
    let args = ["--splay", "10m", "-w", "3", "--cron", EVERY_2_S, "--", "true"];
    let (host, first) = splay_of(&dir, "first", &[], &args)?;
    let (_, again) = splay_of(&dir, "again", &[], &args)?;
    let ours = read(std::path::Path::new("/proc/sys/kernel/hostname")).trim().to_string();
    ensure!(host == ours, "logged host {host:?}, this host is {ours:?}");
    ensure!(first.len() == 3 && first.iter().all(|ms| (0.0..600_000.0).contains(ms)), "offsets (ms) {first:?}");
    ensure!(first == again, "offsets (ms) changed across a restart: {first:?}, then {again:?}");
    println!("       host {host:?}: offsets {first:?} ms, the same after a restart");
    // A host name of its own: a UTS namespace, for root only.
    let probe = std::process::Command::new("unshare").args(["--uts", "true"]).output();
    match probe {
        Ok(o) if o.status.success() => {
            let wrapper = ["unshare", "--uts", "sh", "-c", "hostname other-host && exec \"$0\" \"$@\""];
            let (other, theirs) = splay_of(&dir, "other", &wrapper, &args)?;
            ensure!(other == "other-host", "under unshare --uts the host is {other:?}");
            ensure!(theirs.len() == 3 && theirs.iter().all(|ms| (0.0..600_000.0).contains(ms)), "{theirs:?}");
            ensure!(theirs != first, "the same offsets on host {other:?}: {theirs:?}");
            println!("       host {other:?}: offsets {theirs:?} ms");
        }
        Ok(o) => println!("       note: unshare --uts refused ({}): other host not checked", o.status),
        Err(e) => println!("       note: no unshare ({e}): other host not checked"),
    }
    splay_runs(&dir)
}

/// `--splay 1s -w 2` on the even seconds: each worker's runs start its logged offset after the
/// mark, with `SISYPHUS_SCHEDULED_AT` that second.
fn splay_runs(dir: &Dir) -> Outcome {
    let runs = dir.join("runs");
    let script = recorder(dir, &runs)?;
    let mut sis = Sis::start(dir, "runs", &["--splay", "1s", "-w", "2", "--cron", EVERY_2_S, "--", &script])?;
    let ran = |l: &[String], w: u32| l.iter().any(|l| l.starts_with(&format!("{w} ")));
    sis.wait_file("a run of each worker", &runs, 10 * SEC, |l| ran(l, 0) && ran(l, 1))?;
    sis.stop()?;
    let (_, offsets) = splay_line(&sis.err()).ok_or(format!("no splay line{}", sis.show()))?;
    let mut shown = Vec::new();
    for (w, at, start) in runs_of(&runs) {
        let offset = offsets.get(w as usize).copied().ok_or(format!("no offset for worker {w}: {offsets:?}"))?;
        let late = start - at as f64 - offset / 1e3;
        let what = format!("worker {w} (offset {offset} ms): run scheduled at {at}, started at {start:.3}");
        ensure!(at % 2 == 0 && (0.0..LATE_S).contains(&late), "{what}: {late:.3} s late{}", sis.show());
        shown.push(format!("{w}: +{offset} ms, then {:.1} ms late", late * 1e3));
    }
    println!("       --splay 1s: {}", shown.join("; "));
    nothing_left()
}
