//! Bad input, `--help` and `--version`: one line and exit 2 (or 126, 127), nothing run.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use crate::support::*;
use crate::{Dir, Sis, ensure, nothing_left, sisyphus};

pub fn bad_input() -> Outcome {
    let dir = Dir::new("bad")?;
    let marker = dir.at("marker");
    let touch = format!("touch {marker}");
    let notify = dir.at("nobody.sock");
    let no_exec = dir.join("not-executable");
    std::fs::write(&no_exec, "#!/bin/sh\ntouch marker\n").map_err(|e| e.to_string())?;
    std::fs::set_permissions(&no_exec, std::fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())?;
    let (no_exec, a_dir) = (no_exec.to_string_lossy().into_owned(), dir.0.to_string_lossy().into_owned());
    let chmod = format!("not an executable file; chmod +x {no_exec} makes it one");
    dir.script("beside.sh", &format!("{touch}\n"))?;
    let beside = "beside.sh: command not found in PATH; for the one in the current directory, write ./beside.sh";
    let beside_no_exec = "not-executable: command not found in PATH; for the one in the current directory, chmod +x \
                          it and write ./not-executable";
    // A directory first in PATH, with a file that lacks its execute permission.
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).map_err(|e| e.to_string())?;
    std::fs::write(bin.join("in-path.sh"), "#!/bin/sh\n").map_err(|e| e.to_string())?;
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let in_path = bin.join("in-path.sh").to_string_lossy().into_owned();
    let in_path =
        format!("in-path.sh: found in PATH as {in_path}, but not an executable file; chmod +x {in_path} makes it one");
    // A script saved with CRLF line endings: the kernel would look for "/bin/sh\r".
    let crlf = dir.join("crlf.sh");
    std::fs::write(&crlf, format!("#!/bin/sh\r\n{touch}\r\n")).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&crlf, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let crlf = crlf.to_string_lossy().into_owned();
    // Bad input creates no log file either.
    let log = dir.join("never.log");
    let log_opt = ["--log-file".to_string(), log.to_string_lossy().into_owned()];
    let cmd = |opts: &[&str]| -> Vec<String> {
        let opts = opts.iter().map(|s| s.to_string()).chain(log_opt.iter().cloned());
        opts.chain(["sh", "-c", &touch].map(String::from)).collect()
    };
    let setup = |command: &[&str]| -> Vec<String> {
        ["--setup", &touch].iter().map(|s| s.to_string()).chain(command.iter().map(|s| s.to_string())).collect()
    };
    // (arguments, NOTIFY_SOCKET, exit code, words the one line must hold)
    let cases: Vec<(Vec<String>, bool, i32, Vec<&str>)> = vec![
        (cmd(&["--bogus"]), false, 2, vec!["--bogus"]),
        (vec![], false, 2, vec!["COMMAND"]),
        (vec!["-w".into(), "2".into()], false, 2, vec!["COMMAND"]),
        (cmd(&["--interval", "30"]), false, 2, vec!["--interval", "30", "unit"]),
        (cmd(&["--interval", "5M"]), false, 2, vec!["--interval", "5M", "unit"]),
        (cmd(&["--interval", "0s"]), false, 2, vec!["--interval", "0s", "zero"]),
        // What is wrong with a duration, and what to write instead.
        (
            cmd(&["--interval", "1.5s"]),
            false,
            2,
            vec![r#"--interval: "1.5s": decimals are not accepted, write 1500ms"#],
        ),
        (cmd(&["--interval", "5 min"]), false, 2, vec![r#"--interval: "5 min": no spaces, write 5m"#]),
        (cmd(&["--stop-timeout", "1h30"]), false, 2, vec![r#"--stop-timeout: "1h30": no unit after 30, write 1h30m"#]),
        (
            cmd(&["--perform-timeout", "2sec"]),
            false,
            2,
            vec![r#"--perform-timeout: "2sec": unknown unit "sec", write 2s"#],
        ),
        (cmd(&["-w", "four"]), false, 2, vec!["--workers", "four", "not a number"]),
        (cmd(&["--workers", "5000"]), false, 2, vec!["--workers", "5000", "out of range"]),
        (cmd(&["--daemonize"]), true, 2, vec!["--daemonize", "NOTIFY_SOCKET"]),
        (cmd(&["--spread"]), false, 2, vec!["--spread", "--interval"]),
        (cmd(&["--stop-signal", "SIGTSTP"]), false, 2, vec!["--stop-signal", "TSTP", "suspend"]),
        (cmd(&["--stop-signal", "23"]), false, 2, vec!["--stop-signal", "URG"]),
        (cmd(&["--perform-timeout", "30s", "--stop-timeout", "10s"]), false, 2, vec!["perform", "stop", "30s", "10s"]),
        (setup(&["no-such-command-sisyphus-test"]), false, 127, vec!["no-such-command-sisyphus-test", "not found"]),
        (setup(&["/nonexistent/sisyphus-test"]), false, 127, vec!["/nonexistent/sisyphus-test"]),
        (setup(&[no_exec.as_str()]), false, 126, vec![no_exec.as_str(), "not an executable", &chmod]),
        // A bare name that is not in PATH, but is in the current directory (sisyphus's).
        (setup(&["beside.sh"]), false, 127, vec![beside]),
        (setup(&["not-executable"]), false, 127, vec![beside_no_exec]),
        (setup(&["in-path.sh"]), false, 126, vec![&in_path]),
        (setup(&[a_dir.as_str()]), false, 126, vec![a_dir.as_str(), "not an executable"]),
        (setup(&[crlf.as_str()]), false, 126, vec![crlf.as_str(), "CRLF", "dos2unix", "sed -i"]),
        (setup(&[""]), false, 2, vec!["COMMAND", "empty"]),
        // A name that would break the line, or colour the terminal, is escaped.
        (setup(&["no\nsuch"]), false, 127, vec!["\"no\\nsuch\"", "not found"]),
        (setup(&["\x1b[31mred"]), false, 127, vec!["\"\\u{1b}[31mred\"", "not found"]),
    ];
    let mut summary = Vec::new();
    for (i, (args, with_notify, want, words)) in cases.iter().enumerate() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (mut cmd, out, err) = sisyphus(&dir, &format!("case{i}"), &args)?;
        cmd.current_dir(&dir.0).env("PATH", &path);
        if *with_notify {
            cmd.env("NOTIFY_SOCKET", &notify);
        }
        let t0 = Instant::now();
        let mut sis = Sis::spawn(cmd, out, err)?;
        let code = sis.wait(5 * SEC)?;
        let took = t0.elapsed();
        let (stdout, stderr) = (sis.out(), sis.err());
        let what = format!("sisyphus {args:?}: exit {code}, stdout {stdout:?}, stderr {stderr:?}");
        ensure!(code == *want, "{what}: want exit {want}");
        ensure!(stdout.is_empty(), "{what}: stdout not empty");
        ensure!(stderr.ends_with('\n') && stderr.lines().count() == 1, "{what}: not exactly one line");
        ensure!(stderr.starts_with("sisyphus: "), "{what}: no 'sisyphus: ' prefix");
        ensure!(!stderr.contains('\x1b'), "{what}: an escape sequence reaches the terminal");
        for w in words {
            ensure!(stderr.contains(w), "{what}: does not name {w:?}");
        }
        ensure!(stderr.contains("--help"), "{what}: does not point to --help");
        ensure!(took < 2 * SEC, "{what}: took {took:?}");
        ensure!(!Path::new(&marker).exists(), "{what}: something ran (the marker exists)");
        ensure!(!log.exists(), "{what}: the log file was created");
        ensure!(descendants().is_empty(), "{what}: left {:?}", descendants());
        summary.push(format!("{}", took.as_millis()));
    }
    println!("       {} cases, each exited in {} ms", cases.len(), summary.join("/"));
    nothing_left()
}

pub fn help_and_version() -> Outcome {
    let dir = Dir::new("help")?;
    for flag in ["--help", "-h"] {
        let mut sis = Sis::start(&dir, "help", &[flag])?;
        let code = sis.wait(5 * SEC)?;
        let (out, err) = (sis.out(), sis.err());
        ensure!(code == 0 && err.is_empty(), "{flag}: exit {code}, stderr {err:?}");
        ensure!(out.starts_with("Usage: sisyphus "), "{flag}: {out}");
        ensure!(out.contains("Examples"), "{flag}: no Examples:\n{out}");
        let wide: Vec<&str> = out.lines().filter(|l| l.chars().count() > 80).collect();
        ensure!(wide.is_empty(), "{flag}: lines over 80 columns: {wide:?}");
        ensure!(!out.contains('\t'), "{flag}: a tab makes columns unpredictable");
    }
    for flag in ["-V", "--version"] {
        let mut sis = Sis::start(&dir, "version", &[flag])?;
        let code = sis.wait(5 * SEC)?;
        let (out, err) = (sis.out(), sis.err());
        let want = format!("sisyphus {}\n", env!("CARGO_PKG_VERSION"));
        ensure!(code == 0 && err.is_empty() && out == want, "{flag}: exit {code}, stdout {out:?}, stderr {err:?}");
    }
    nothing_left()
}
