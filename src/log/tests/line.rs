//! One line: its prefix, escaping, truncation at a character boundary.

use super::super::line::{Line, MAX_LINE};
use super::*;

fn render(unix_ms: u64, args: fmt::Arguments<'_>) -> String {
    String::from_utf8(Line::new(unix_ms, 42, Level::Warn, args).as_bytes().to_vec()).unwrap()
}

#[test]
fn line_has_utc_timestamp_pid_level_and_message() {
    // 2026-11-28T09:15:02.123Z
    let ms = 1_795_857_302_123;
    assert_eq!(render(ms, format_args!("worker {} failed", 3)), "2026-11-28T09:15:02.123Z 42 WARN worker 3 failed\n");
    assert_eq!(render(0, format_args!("x")), "1970-01-01T00:00:00.000Z 42 WARN x\n");
    // A leap day.
    assert_eq!(&render(951_782_400_000, format_args!(""))[..10], "2000-02-29");
}

#[test]
fn long_lines_are_truncated_but_still_end_in_a_newline() {
    let long = "x".repeat(5000);
    let out = render(0, format_args!("{long}"));
    assert_eq!(out.len(), MAX_LINE);
    assert!(out.ends_with("x\n"));
}

#[test]
fn one_event_is_one_line_whatever_the_message_holds() {
    let out = render(0, format_args!("a\nb\rc\x1b[31md\te"));
    assert_eq!(out, "1970-01-01T00:00:00.000Z 42 WARN a\\nb\\rc\\x1b[31md\te\n");
    assert_eq!(out.matches('\n').count(), 1);
}

#[test]
fn a_cut_never_splits_a_character() {
    for pad in 0..4 {
        let text = format!("{}{}", "x".repeat(pad), "é€😀".repeat(400));
        let out = Line::new(0, 42, Level::Info, format_args!("{text}"));
        let bytes = out.as_bytes();
        assert!(std::str::from_utf8(bytes).is_ok(), "pad {pad}: not UTF-8");
        assert!(bytes.len() <= MAX_LINE && bytes.len() > MAX_LINE - 5 && bytes.ends_with(b"\n"));
    }
}
