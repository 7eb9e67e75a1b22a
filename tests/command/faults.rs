//! Output faults: a full disk under the log file, a log file that always fails, stdout or
//! stderr that cannot be written. A log line is written whole or dropped whole, and counted;
//! no fault panics sisyphus or changes its exit status.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Stdio;

use crate::support::*;
use crate::{Dir, Sis, ensure, nothing_left, read, sisyphus};

/// A 64 KiB tmpfs mounted on a directory of a scenario's, unmounted when dropped (root only):
/// declare it after its `Dir`, so that it goes first.
pub struct SmallDisk(pub PathBuf);

impl SmallDisk {
    pub fn mount(dir: &Dir, name: &str) -> Result<SmallDisk, String> {
        let path = dir.join(name);
        std::fs::create_dir(&path).map_err(|e| e.to_string())?;
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
        // SAFETY: NUL-terminated strings that outlive the call.
        let rc =
            unsafe { libc::mount(c"tmpfs".as_ptr(), c.as_ptr(), c"tmpfs".as_ptr(), 0, c"size=64k".as_ptr().cast()) };
        if rc != 0 {
            return Err(format!("SKIP: cannot mount a tmpfs (root only): {}", std::io::Error::last_os_error()));
        }
        Ok(SmallDisk(path))
    }

    /// Takes every byte left with a file of its own, whose path it returns.
    pub fn fill(&self) -> Result<PathBuf, String> {
        let path = self.0.join("filler");
        let mut file = File::create(&path).map_err(|e| e.to_string())?;
        loop {
            match file.write(&[0u8; 4096]) {
                Ok(0) => return Ok(path),
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return Ok(path),
                Err(e) => return Err(format!("filling {}: {e}", path.display())),
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if let Ok(c) = CString::new(self.0.as_os_str().as_bytes()) {
            // SAFETY: a NUL-terminated path; a lazy unmount, even with a file still open on it.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Whether `line` is one whole log line: `2026-11-28T09:15:02.123Z PID LEVEL message`, one
/// timestamp only.
fn whole(line: &str) -> bool {
    let b = line.as_bytes();
    let stamp = b.len() > 25 && (b[4], b[7], b[10], b[23], b[24]) == (b'-', b'-', b'T', b'Z', b' ');
    let mut rest = line.get(25..).unwrap_or("").splitn(3, ' ');
    let pid = rest.next().is_some_and(|p| p.parse::<u32>().is_ok());
    let level = rest.next().is_some_and(|l| ["ERROR", "WARN", "INFO"].contains(&l));
    stamp && pid && level && rest.next().is_some_and(|m| !m.is_empty()) && line.matches("Z ").count() == 1
}

/// The log file on a 64 KiB tmpfs, filled up: the line that crosses the end of the log's last
/// page is cut. Once there is room again, that piece stays on a line of its own, the next line
/// says one line was dropped, and the master said once on stderr that the log could not be
/// written.
pub fn full_disk() -> Outcome {
    let dir = Dir::new("fulldisk")?;
    let disk = SmallDisk::mount(&dir, "disk")?;
    let log = disk.0.join("sis.log");
    let l = log.to_string_lossy().into_owned();
    let mut sis = Sis::start(&dir, "fulldisk", &["--log-file", &l, "--interval", "1h", "--", "true"])?.logging_to(&log);
    sis.wait_file("the ready line", &log, 10 * SEC, |l| l.iter().any(|l| l.contains("ready:")))?;
    let filler = disk.fill()?;
    // Each USR2 makes the master log one WARN line, which lands until the page is full.
    let size = || std::fs::metadata(&log).map_or(0, |m| m.len());
    while size() % 4096 != 0 {
        let before = size();
        ensure!(before < 8192, "the log grew past its page on a full disk: {before} bytes");
        sis.signal(libc::SIGUSR2);
        sis.until("a USR2 line to land", 5 * SEC, || size() != before)?;
    }
    let cut = !read(&log).ends_with('\n');
    if !cut {
        // The last line ended right at the page's end: the next one fails whole.
        sis.signal(libc::SIGUSR2);
    }
    // The first failure is reported at once; wait for it, so that the room made below comes
    // after it. (Checked below: the glued line comes first when it is missing.)
    let told = sis.wait_err("the log's failure on stderr", 5 * SEC, |e| e.contains("cannot write to log file"));
    std::fs::remove_file(&filler).map_err(|e| e.to_string())?;
    sis.signal(libc::SIGUSR2);
    sis.until("a USR2 line after the room was made", 10 * SEC, || {
        let text = read(&log);
        text.len() > 4096 && text.ends_with("it has no meaning here\n")
    })?;
    let text = std::fs::read(&log).map_err(|e| e.to_string())?;
    let after = String::from_utf8_lossy(&text[4096..]).into_owned();
    let show = format!("{}\n--- from byte 4000 ---\n{}", sis.show(), String::from_utf8_lossy(&text[4000..]));
    let first = after.lines().next().unwrap_or("");
    ensure!(
        after.starts_with('\n') || (!cut && whole(first)),
        "the next line is glued to the cut one: {first:?}{show}"
    );
    let lines: Vec<&str> = after.lines().filter(|l| !l.is_empty()).collect();
    ensure!(lines.iter().all(|l| whole(l)), "a line that is not whole:{show}");
    ensure!(after.lines().filter(|l| l.is_empty()).count() <= 1, "more than one blank line:{show}");
    ensure!(lines.first().is_some_and(|l| l.ends_with(" WARN 1 log lines dropped: writing failed")), "no count:{show}");
    ensure!(lines.len() == 2 && lines[1].ends_with("SIGUSR2 ignored: it has no meaning here"), "{show}");
    told?;
    let err = sis.err();
    let said: Vec<&str> = err.lines().collect();
    ensure!(said.len() == 1, "stderr is not one line:{show}");
    ensure!(said[0].contains(&format!("{} ERROR cannot write to log file {l}: No space left", sis.pid)), "{show}");
    sis.stop()?;
    println!("       {} the line at the page's end; {}", if cut { "cut" } else { "no cut:" }, lines[0]);
    drop(disk);
    nothing_left()
}

/// A worker's lines on a disk with no byte left (the log's page padded full, so nothing is
/// cut): three failed runs' lines fail whole with ENOSPC; once there is room, the next line of
/// that worker comes after one blank line (the newline that would end a cut line) and a notice
/// counting all three; the worker, not the master, said once on stderr that the log failed.
pub fn full_disk_counts_every_lost_line() -> Outcome {
    let dir = Dir::new("fullcount")?;
    let disk = SmallDisk::mount(&dir, "disk")?;
    let (log, runs, full, room) = (disk.0.join("sis.log"), dir.join("runs"), dir.at("full"), dir.at("room"));
    let (l, r) = (log.to_string_lossy().into_owned(), runs.display());
    // Runs wait for the disk to be full; the first three fail at once, the fourth once there is
    // room again.
    let wait = |f: &str| format!("while [ ! -e {f} ]; do sleep 0.01; done");
    let run = format!("{}; echo run >> {r}; [ $(wc -l < {r}) -le 3 ] && exit 1; {}; exit 1", wait(&full), wait(&room));
    let mut sis = Sis::start(&dir, "fullcount", &["--log-file", &l, "--", "sh", "-c", &run])?.logging_to(&log);
    sis.wait_file("the ready line", &log, 10 * SEC, |l| l.iter().any(|l| l.contains("ready:")))?;
    let filler = disk.fill()?;
    let size = std::fs::metadata(&log).map_err(|e| e.to_string())?.len() as usize;
    let pad = format!("{}\n", "-".repeat(4096 - size % 4096 - 1));
    File::options().append(true).open(&log).and_then(|mut f| f.write_all(pad.as_bytes())).map_err(|e| e.to_string())?;
    File::create(&full).map_err(|e| e.to_string())?;
    // Run 4 has started: the worker tried to log runs 1 to 3, and could not.
    sis.wait_file("4 runs", &runs, 10 * SEC, |l| l.len() == 4)?;
    std::fs::remove_file(&filler).map_err(|e| e.to_string())?;
    File::create(&room).map_err(|e| e.to_string())?;
    let failed = |l: &String| l.contains("exited with code 1");
    sis.wait_file("run 4's line", &log, 10 * SEC, |l| l.iter().any(failed))?;
    sis.stop()?;
    let text = read(&log);
    let after: Vec<&str> = text.split_once(pad.as_str()).map_or(vec![], |(_, after)| after.lines().collect());
    let worker = after.iter().find(|l| l.contains("exited with code 1")).and_then(|l| l.split(' ').nth(1));
    let notice = format!("{} WARN 3 log lines dropped: writing failed", worker.unwrap_or("?"));
    ensure!(
        after.len() > 3 && after[0].is_empty() && after[1].ends_with(&notice),
        "want a blank line, {notice:?}:\n{text}"
    );
    ensure!(after[2].contains("exited with code 1") && after[1..].iter().all(|l| whole(l)), "{}", sis.show());
    let err = sis.err();
    let want = format!("{} ERROR cannot write to log file {l}: No space left", worker.unwrap_or("?"));
    ensure!(err.lines().count() == 1 && err.contains(&want), "stderr, want one line {want:?}:\n{err}");
    println!("       {}", after[1]);
    drop(disk);
    nothing_left()
}

/// `--log-file /dev/full`: every line fails, and the master says so once on stderr; the runs
/// go on and INT still exits 0.
pub fn log_file_dev_full() -> Outcome {
    let dir = Dir::new("devfull")?;
    let runs = dir.join("runs");
    let run = format!("echo run >> {}", runs.display());
    let args = ["--log-file", "/dev/full", "--interval", "100ms", "--", "sh", "-c", &run];
    let mut sis = Sis::start(&dir, "devfull", &args)?;
    sis.wait_file("3 runs", &runs, 10 * SEC, |l| l.len() >= 3)?;
    sis.stop()?;
    let err = sis.err();
    let want = format!("{} ERROR cannot write to log file /dev/full: No space left on device", sis.pid);
    ensure!(err.lines().count() == 1 && err.contains(&want), "stderr, want one line with {want:?}:\n{err}");
    println!("       {}", err.trim_end());
    nothing_left()
}

/// Where a case sends stdout or stderr.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sink {
    File,
    /// `/dev/full`: every write fails with ENOSPC.
    Full,
    /// A pipe whose reader is gone: every write fails with EPIPE.
    Gone,
}

fn stdio(sink: Sink) -> Result<Option<Stdio>, String> {
    match sink {
        Sink::File => Ok(None),
        Sink::Full => Ok(Some(File::options().write(true).open("/dev/full").map_err(|e| e.to_string())?.into())),
        Sink::Gone => {
            let (reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
            drop(reader);
            Ok(Some(writer.into()))
        }
    }
}

/// Help, bad input, a COMMAND not found, a fatal error and a daemon's failure, each with stdout
/// or stderr unwritable: the exit status is the one the case has with working output (the
/// help that cannot be written is a failure: 1), never a panic's 101.
pub fn unwritable_stdio() -> Outcome {
    use Sink::*;
    let dir = Dir::new("stdio")?;
    let limit = ["--max-restarts", "0/10s", "--setup", "exit 3", "--", "true"];
    let daemon = ["--daemonize", "--setup", "exit 4", "--", "true"];
    let cases: [(&[&str], Sink, Sink, i32); 14] = [
        (&["--help"], Full, File, 1),
        (&["--version"], Gone, File, 1),
        (&["--help"], Full, Full, 1),
        (&["--help"], Gone, Gone, 1),
        (&["--help"], File, Full, 0),
        (&["--bogus", "true"], File, Full, 2),
        (&["--bogus", "true"], File, Gone, 2),
        (&["--", "no-such-command-sisyphus-test"], File, Full, 127),
        (&["--", "no-such-command-sisyphus-test"], File, Gone, 127),
        (&["--", "/"], Gone, Gone, 126),
        (&limit, File, Full, 1),
        (&limit, Full, Gone, 1),
        (&daemon, File, Full, 1),
        (&daemon, File, Gone, 1),
    ];
    for (i, (args, out, err, want)) in cases.iter().enumerate() {
        let (mut cmd, out_path, err_path) = sisyphus(&dir, &format!("case{i}"), args)?;
        if let Some(s) = stdio(*out)? {
            cmd.stdout(s);
        }
        if let Some(s) = stdio(*err)? {
            cmd.stderr(s);
        }
        let mut sis = Sis::spawn(cmd, out_path, err_path)?;
        let code = sis.wait(10 * SEC)?;
        let what = format!("sisyphus {args:?} with stdout {out:?}, stderr {err:?}: exit {code}");
        ensure!(code == *want, "{what}, want {want}{}", sis.show());
        if *err == File {
            let text = sis.err();
            ensure!(!text.contains("panicked"), "{what}{}", sis.show());
            if *out != File {
                ensure!(
                    text.lines().count() == 1 && text.starts_with("sisyphus: cannot write the "),
                    "{what}: {text:?}"
                );
            }
        }
        nothing_left().map_err(|e| format!("{what}: {e}"))?;
    }
    println!("       {} cases", cases.len());
    nothing_left()
}
