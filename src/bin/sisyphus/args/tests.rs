//! The command line's parse: options, values and refusals.

use super::*;

fn run(args: &[&str]) -> Result<Options, String> {
    match parse(args.iter().map(OsString::from))? {
        Parsed::Run(o) => Ok(*o),
        other => Err(format!("not a run: {other:?}")),
    }
}

fn command(o: &Options) -> Vec<&str> {
    o.command.iter().map(|a| a.to_str().unwrap()).collect()
}

#[test]
fn options_stop_at_the_first_operand_or_at_double_dash() {
    let o = run(&["-w4", "./sweep.sh", "--verbose", "-w", "9"]).unwrap();
    assert_eq!((o.workers, o.verbosity), (4, 0));
    assert_eq!(command(&o), ["./sweep.sh", "--verbose", "-w", "9"]);
    let o = run(&["--prefix", "--", "-x", "--", "y"]).unwrap();
    assert!(o.prefix);
    assert_eq!(command(&o), ["-x", "--", "y"]);
    assert_eq!(command(&run(&["-", "a"]).unwrap()), ["-", "a"]);
}

#[test]
fn every_spelling_of_a_value_is_accepted() {
    for args in [&["-w", "3", "x"][..], &["-w3", "x"], &["--workers", "3", "x"], &["--workers=3", "x"]] {
        assert_eq!(run(args).unwrap().workers, 3, "{args:?}");
    }
    let o = run(&["-qw", "2", "--interval=1h30m", "--max-restarts", "5/1m", "--stop-signal", "SIGTERM", "x"]).unwrap();
    assert_eq!((o.verbosity, o.workers), (-1, 2));
    assert_eq!(o.interval, Some(Duration::from_secs(5400)));
    assert_eq!(o.max_restarts, Some((5, Duration::from_secs(60))));
    assert_eq!(o.stop_signal, Some(libc::SIGTERM));
    assert_eq!(run(&["-vq", "x"]).unwrap().verbosity, -1, "the last of bundled flags wins");
    assert_eq!(parse(["-vh"].map(OsString::from)), Ok(Parsed::Help));
    assert_eq!(parse(["--version", "--bogus"].map(OsString::from)), Ok(Parsed::Version));
}

#[test]
fn values_that_are_not_utf8_pass_through_or_are_named() {
    use std::os::unix::ffi::OsStringExt;
    let raw = |b: &[u8]| OsString::from_vec(b.to_vec());
    let args = [raw(b"--log-file=/tmp/\xff.log"), raw(b"-qw2"), raw(b"\xfe"), raw(b"--pidfile=x")];
    let Ok(Parsed::Run(o)) = parse(args) else { panic!("not a run") };
    assert_eq!(o.log_file, Some(PathBuf::from(raw(b"/tmp/\xff.log"))));
    assert_eq!((o.verbosity, o.workers), (-1, 2));
    assert_eq!(o.command, [raw(b"\xfe"), raw(b"--pidfile=x")]);
    let got = parse([raw(b"--workers=\xff"), raw(b"x")]).unwrap_err();
    assert!(got.contains("--workers") && got.contains("not valid UTF-8"), "{got}");
    let got = parse([raw(b"--\xff=1"), raw(b"x")]).unwrap_err();
    assert!(got.contains("unknown option --\u{fffd}"), "{got}");
    let got = parse([raw(b"-w\xff"), raw(b"x")]).unwrap_err();
    assert!(got.contains("-w") && got.contains("not valid UTF-8"), "{got}");
    let got = parse([raw(b"-q\xff"), raw(b"x")]).unwrap_err();
    assert!(got.ends_with("unknown option -\u{fffd}"), "{got}");
    assert_eq!(parse([raw(b"-qZw2"), raw(b"x")]).unwrap_err(), "unknown option -Z");
    assert_eq!(parse([OsString::from("-qéw2"), raw(b"x")]).unwrap_err(), "unknown option -é");
}

#[test]
fn bad_input_names_the_problem() {
    let cases: [(&[&str], &str); 13] = [
        (&[], "no COMMAND"),
        (&["-w"], "-w needs a value"),
        (&["--bogus", "x"], "unknown option --bogus"),
        (&["-x", "y"], "unknown option -x"),
        (&["--prefix=yes", "x"], "--prefix takes no value"),
        (&["-w", "4097", "x"], "out of range"),
        (&["-w", "four", "x"], "not a number"),
        (&["-w", "+4", "x"], "not a number"),
        (&["--interval", "30", "x"], "no unit"),
        (&["--interval", "0s", "x"], "is zero"),
        (&["--strategy", "threads", "x"], "neither forking nor simple"),
        (&["--max-restarts", "5", "x"], "N/DURATION"),
        (&["--spread", "x"], "need an --interval"),
    ];
    for (args, want) in cases {
        let got = run(args).unwrap_err();
        assert!(got.contains(want), "{args:?}: {got:?} lacks {want:?}");
    }
    assert!(run(&["--stop-signal", "BOGUS", "x"]).unwrap_err().contains("unknown signal"));
    for sig in ["STOP", "TSTP", "TTIN", "TTOU"] {
        let got = run(&["--stop-signal", sig, "x"]).unwrap_err();
        assert!(got.contains("would suspend"), "{sig}: {got}");
    }
    assert!(run(&["--stop-signal", "URG", "x"]).unwrap_err().contains("sisyphus's own"));
    assert!(run(&["--max-performs", "0", "x"]).unwrap_err().contains("out of range"));
}
