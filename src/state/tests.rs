//! The state file's text, both ways, and the metrics' format.

use super::*;

fn at(ms: u64) -> Option<SystemTime> {
    Some(UNIX_EPOCH + Duration::from_millis(ms))
}

fn sample() -> RunState {
    let slot = SlotState {
        state: "up".into(),
        scheduled: at(1_796_569_566_000),
        started: at(1_796_569_566_004),
        ended: at(1_796_569_567_001),
        outcome: "failed".into(),
        failure: "perform child 7 exited with code 3".into(),
        last_success: at(1_796_569_500_250),
        failures_in_a_row: 2,
        next_due: at(1_796_569_568_000),
    };
    RunState {
        name: "sweep \"nightly\"".into(),
        created: at(1_796_000_000_000),
        master_pid: 1234,
        master_started: at(1_796_569_560_816),
        master_stopped: None,
        master_identity: "5e1c0c3a-8f4e-4d7b-9a51-3c2b1f0e9d77/4242".into(),
        schedule: "cron */2 * * * * *".into(),
        performs: [100, 3, 1, 0],
        restarts: 2,
        timeouts: 1,
        late_starts: 0,
        in_a_row: 2,
        slots: vec![slot, SlotState { state: "starting".into(), ..SlotState::default() }],
    }
}

#[test]
fn the_file_reads_back_what_was_written() {
    let state = sample();
    let text = state.to_string();
    assert!(text.starts_with("sisyphus-state 1\nname sweep \"nightly\"\n"), "{text}");
    assert!(
        text.contains(
            "\nslot 0 up 1796569566.000 1796569566.004 1796569567.001 failed 1796569500.250 2 1796569568.000\n"
        ),
        "{text}"
    );
    assert!(text.contains("\nslot 1 starting - - - - - 0 -\n"), "{text}");
    assert_eq!(text.parse::<RunState>().unwrap(), state);
    assert_eq!(state.failures_in_a_row(), 2);
    assert_eq!(state.last_success(), at(1_796_569_500_250));
}

#[test]
fn anything_else_is_refused_naming_the_line() {
    let text = sample().to_string();
    let cut = &text[..text.len() - 4];
    let why = |t: &str| match t.parse::<RunState>() {
        Err(Error::Config(why)) => why,
        other => panic!("{other:?}"),
    };
    assert!(why(cut).contains("cut short"), "{}", why(cut));
    assert!(why("sisyphus-state 2\nend\n").contains("line 1"));
    assert!(why("").contains("line 1"));
    let garbled = text.replace("performs 100", "performs x100");
    assert!(why(&garbled).contains("line 7"), "{}", why(&garbled));
    assert!(why(&text.replace("slot 1 ", "slot 7 ")).contains("slot 7"));
}

#[test]
fn metrics_follow_the_text_format() {
    let text = prometheus(&sample(), true, 2, 1);
    assert!(text.contains("# TYPE sisyphus_performs_total counter\n"));
    assert!(text.contains("sisyphus_performs_total{name=\"sweep \\\"nightly\\\"\",outcome=\"ok\"} 100\n"), "{text}");
    assert!(text.contains("sisyphus_last_success_timestamp_seconds{name=\"sweep \\\"nightly\\\"\"} 1796569500.250\n"));
    assert!(text.contains("sisyphus_workers_up{name=\"sweep \\\"nightly\\\"\"} 1\n"));
    assert!(text.contains("sisyphus_up{name=\"sweep \\\"nightly\\\"\"} 1\n"));
    assert_eq!(text.matches("# HELP ").count(), 9);
    assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 4 + 8);
}

#[test]
fn a_master_is_running_only_if_its_pid_is_the_same_process() {
    let me = std::process::id();
    let identity = crate::sys::process_identity(me).unwrap_or_default();
    let state = RunState { master_pid: me, master_identity: identity.clone(), ..RunState::default() };
    assert!(state.master_running(), "this very process: {identity:?}");
    if !identity.is_empty() {
        // Another process later given this pid: another start time.
        let later = RunState { master_identity: format!("{identity}0"), ..state.clone() };
        assert!(!later.master_running(), "a reused pid");
    }
    let stopped = RunState { master_stopped: at(1), ..state };
    assert!(!stopped.master_running());
    assert!(!RunState { master_pid: 0, ..RunState::default() }.master_running(), "pid 0 is no master");
}
