//! Unit tests of the loggers (no process is forked).

#[cfg(feature = "log")]
mod facade;
mod file;
mod line;

use super::*;

#[test]
fn closures_are_loggers_and_levels_order_by_severity() {
    let seen = std::cell::RefCell::new(Vec::new());
    let logger = |level: Level, args: fmt::Arguments<'_>| seen.borrow_mut().push(format!("{level} {args}"));
    logger.log(Level::Error, format_args!("boom {}", 1));
    assert_eq!(seen.borrow().as_slice(), ["ERROR boom 1"]);
    assert!(Level::Error < Level::Warn && Level::Warn < Level::Info && Level::Info < Level::Debug);
}
