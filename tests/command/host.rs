//! What the binary needs from the host, and what it says when that is missing: sisyphus runs in
//! a mount namespace of its own where `/proc`, the directory of `/bin/sh`, or `/dev` is hidden
//! under an empty tmpfs (root only; the namespace dies with it).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::support::*;
use crate::{Dir, Sis, ensure, lines, nothing_left, sisyphus};

/// Starts `sisyphus ARGS` with `hidden` covered by an empty tmpfs, in a private mount namespace.
fn start_without(dir: &Dir, tag: &str, hidden: &Path, args: &[&str]) -> Result<Sis, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("SKIP: hiding a directory takes root (a mount namespace)".into());
    }
    let (mut cmd, out, err) = sisyphus(dir, tag, args)?;
    let target = CString::new(hidden.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: unshare and mount are system calls, async-signal-safe; the strings outlive them.
    unsafe {
        cmd.pre_exec(move || {
            let private = (libc::MS_REC | libc::MS_PRIVATE) as libc::c_ulong;
            let none = std::ptr::null();
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(c"none".as_ptr(), c"/".as_ptr(), none, private, none.cast()) != 0
                || libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, c"size=4k".as_ptr().cast())
                    != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    Sis::spawn(cmd, out, err)
}

/// A copy of `true` in the scenario's directory, which hiding `/usr/bin` leaves in place.
fn own_true(dir: &Dir) -> Result<String, String> {
    let path = dir.join("true");
    let found = ["/usr/bin/true", "/bin/true"].into_iter().find(|p| Path::new(p).exists()).ok_or("no true")?;
    std::fs::copy(found, &path).map_err(|e| e.to_string())?;
    Ok(path.to_string_lossy().into_owned())
}

/// Without `/proc` the master cannot count its threads, so it forks nothing: exit 1 with the
/// reason and the way out (`mount -t proc proc /proc`).
pub fn without_proc() -> Outcome {
    let dir = Dir::new("noproc")?;
    let t = own_true(&dir)?;
    let mut sis = start_without(&dir, "noproc", Path::new("/proc"), &["--interval", "1h", "--", &t])?;
    let code = sis.wait(5 * SEC)?;
    let last = sis.err().lines().last().unwrap_or("").to_string();
    ensure!(code == 1, "exit {code}, want 1{}", sis.show());
    ensure!(last.starts_with("sisyphus: ") && last.contains("/proc is not mounted"), "{last:?}");
    ensure!(last.contains("mount -t proc proc /proc"), "no way out in {last:?}");
    println!("       {last}");
    nothing_left()
}

/// Without `/bin/sh`: `--setup` is refused up front (exit 127, naming `/bin/sh`), and a
/// COMMAND without `#!` fails each run with a line that names `/bin/sh` (both strategies).
pub fn without_bin_sh() -> Outcome {
    let dir = Dir::new("nosh")?;
    let sh = std::fs::canonicalize("/bin/sh").map_err(|e| e.to_string())?;
    let hidden = sh.parent().ok_or("/bin/sh has no directory")?;
    let t = own_true(&dir)?;
    let mut sis = start_without(&dir, "setup", hidden, &["--setup", "true", "--", &t])?;
    let code = sis.wait(5 * SEC)?;
    let err = sis.err();
    ensure!(code == 127, "--setup without /bin/sh: exit {code}, want 127{}", sis.show());
    ensure!(err.lines().count() == 1 && err.contains("--setup") && err.contains("/bin/sh"), "{err:?}");
    println!("       {}", err.trim_end());
    let plain = dir.join("plain");
    std::fs::write(&plain, "echo ran\n").map_err(|e| e.to_string())?;
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let p = plain.to_string_lossy().into_owned();
    for strategy in ["forking", "simple"] {
        let mut sis = start_without(&dir, strategy, hidden, &["--strategy", strategy, "--", &p])?;
        let failed = |l: &String| l.contains("run failed");
        let got = wait_for("a failed run", 10 * SEC, || lines(&sis.err).into_iter().find(failed));
        sis.stop()?;
        let line = got.map_err(|e| format!("{e}{}", sis.show()))?;
        ensure!(line.contains(&p) && line.contains("/bin/sh, which is missing"), "{strategy}: {line:?}");
        println!("       {strategy}: {}", line.split_once(" WARN ").map_or(line.as_str(), |(_, l)| l));
    }
    nothing_left()
}

/// Without `/dev`: `--daemonize` is refused before anything forks (exit 1, naming
/// `/dev/null`); without it, sisyphus runs COMMAND and stops as usual.
pub fn without_dev() -> Outcome {
    let dir = Dir::new("nodev")?;
    let t = own_true(&dir)?;
    let mut sis = start_without(&dir, "daemon", Path::new("/dev"), &["--daemonize", "--", &t])?;
    let code = sis.wait(5 * SEC)?;
    let last = sis.err().lines().last().unwrap_or("").to_string();
    ensure!(code == 1, "--daemonize without /dev: exit {code}, want 1{}", sis.show());
    ensure!(last.contains("/dev/null") && last.contains("a daemon needs it"), "{last:?}");
    println!("       {last}");
    let ran = dir.join("ran");
    let touch = format!("echo run >> {}", ran.display());
    let mut sis = start_without(&dir, "plain", Path::new("/dev"), &["--interval", "1h", "--", "sh", "-c", &touch])?;
    sis.wait_file("a run", &ran, 10 * SEC, |l| !l.is_empty())?;
    sis.stop()?;
    nothing_left()
}
