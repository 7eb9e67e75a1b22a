//! Refused starts leave no file they made: a pidfile in a missing directory is bad input, as a
//! log file there is; a held pidfile or a full disk leaves neither a log file nor a pidfile;
//! a log file that was there before is left as it was.

use std::path::Path;

use crate::faults::SmallDisk;
use crate::support::*;
use crate::{Dir, Sis, ensure, nothing_left, read};

/// `--pidfile` or `--log-file` in a directory that does not exist: exit 2 within 2 s, one line
/// of the same shape naming the option and the path, no file made, COMMAND never ran.
pub fn missing_directory() -> Outcome {
    let dir = Dir::new("nodir")?;
    let (marker, log) = (dir.at("marker"), dir.join("sis.log"));
    let touch = format!("touch {marker}");
    let missing = dir.at("nowhere/sis.file");
    let l = log.to_string_lossy().into_owned();
    let mut said = Vec::new();
    for (option, other) in [("--pidfile", "--log-file"), ("--log-file", "--pidfile")] {
        let pidfile = dir.at("sis.pid");
        let other_path = if other == "--log-file" { l.clone() } else { pidfile.clone() };
        let args = [option, missing.as_str(), other, other_path.as_str(), "--", "sh", "-c", touch.as_str()];
        let mut sis = Sis::start(&dir, option.trim_start_matches('-'), &args)?;
        let code = sis.wait(5 * SEC)?;
        let err = sis.err();
        let want = format!("sisyphus: {option} {missing}: No such file or directory");
        ensure!(code == 2, "{option} in a missing directory: exit {code}, want 2{}", sis.show());
        ensure!(err.lines().count() == 1 && err.starts_with(&want), "want one line {want:?}:{}", sis.show());
        ensure!(err.trim_end().ends_with("(see sisyphus --help)"), "no pointer to --help:{}", sis.show());
        ensure!(!log.exists() && !Path::new(&pidfile).exists(), "{option}: a file was made");
        ensure!(!Path::new(&marker).exists(), "{option}: COMMAND ran");
        said.push(err.trim_end().to_string());
    }
    for line in said {
        println!("       {line}");
    }
    nothing_left()
}

/// A second sisyphus refused over a held pidfile: a log file it had to make is gone after its
/// exit 1; one that was there before (empty, or with lines) is left as it was.
pub fn held_pidfile_leaves_no_log_file() -> Outcome {
    let dir = Dir::new("heldlog")?;
    let pidfile = dir.join("sis.pid");
    let p = pidfile.to_string_lossy().into_owned();
    let mut first = Sis::start(&dir, "first", &["--pidfile", &p, "--interval", "1h", "--", "true"])?;
    let want = format!("{}\n", first.pid);
    first.wait_err("the pidfile", 10 * SEC, |_| read(&pidfile) == want)?;
    let (empty, kept) = (dir.join("empty.log"), dir.join("kept.log"));
    std::fs::write(&empty, "").map_err(|e| e.to_string())?;
    std::fs::write(&kept, "an earlier line\n").map_err(|e| e.to_string())?;
    for (log, was) in [(dir.join("new.log"), None), (empty, Some("")), (kept, Some("an earlier line\n"))] {
        let l = log.to_string_lossy().into_owned();
        let mut second = Sis::start(&dir, "second", &["--pidfile", &p, "--log-file", &l, "--", "true"])?;
        let code = second.wait(5 * SEC)?;
        let last = second.err().lines().last().unwrap_or("").to_string();
        ensure!(code == 1 && last.contains("locked by pid"), "{l}: exit {code}{}", second.show());
        match was {
            None => ensure!(!log.exists(), "the log file it made is left: {l} ({:?})", read(&log)),
            Some(was) => ensure!(log.exists() && read(&log) == was, "{l} was {was:?}, now {:?}", read(&log)),
        }
    }
    ensure!(read(&pidfile) == want, "the first one's pidfile changed: {:?}", read(&pidfile));
    first.stop()?;
    nothing_left()
}

/// A pidfile and a log file on a full disk: the pid cannot be written, exit 1 naming the
/// pidfile and the cause, and neither file is left (an empty one was, before).
pub fn full_disk_leaves_no_file() -> Outcome {
    let dir = Dir::new("fullstart")?;
    let disk = SmallDisk::mount(&dir, "disk")?;
    disk.fill()?;
    let (pidfile, log, marker) = (disk.0.join("sis.pid"), disk.0.join("sis.log"), dir.at("marker"));
    let (p, l) = (pidfile.to_string_lossy().into_owned(), log.to_string_lossy().into_owned());
    let touch = format!("touch {marker}");
    let mut sis = Sis::start(&dir, "fullstart", &["--pidfile", &p, "--log-file", &l, "--", "sh", "-c", &touch])?;
    let code = sis.wait(5 * SEC)?;
    let last = sis.err().lines().last().unwrap_or("").to_string();
    ensure!(code == 1, "exit {code}, want 1{}", sis.show());
    ensure!(last.starts_with("sisyphus: ") && last.contains(&p) && last.contains("No space left"), "{last:?}");
    ensure!(!pidfile.exists(), "the pidfile is left ({:?})", read(&pidfile));
    ensure!(!log.exists(), "the log file is left ({:?})", read(&log));
    ensure!(!Path::new(&marker).exists(), "COMMAND ran");
    println!("       {last}");
    drop(disk);
    nothing_left()
}
