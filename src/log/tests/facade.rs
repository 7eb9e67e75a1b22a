//! `LogFacade` (the `log` feature): levels and target reach the facade.

use std::sync::Mutex;

use super::*;

/// Collects `LEVEL target message` for each record, for the one test below: the facade's
/// logger can be set only once per process.
struct Collect(Mutex<Vec<String>>);

impl ::log::Log for Collect {
    fn enabled(&self, _: &::log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &::log::Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        self.0.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

static COLLECT: Collect = Collect(Mutex::new(Vec::new()));

#[test]
fn each_level_reaches_the_facade_with_the_crate_target() {
    ::log::set_logger(&COLLECT).unwrap();
    ::log::set_max_level(::log::LevelFilter::Trace);
    let logger = LogFacade;
    logger.log(Level::Error, format_args!("worker {} died", 1));
    logger.log(Level::Warn, format_args!("perform failed: {}", "boom"));
    logger.log(Level::Info, format_args!("worker 0 started"));
    logger.log(Level::Debug, format_args!("reaped {}", 4711));
    logger.reopen();
    ::log::set_max_level(::log::LevelFilter::Warn);
    logger.log(Level::Info, format_args!("below the max level"));
    assert_eq!(
        COLLECT.0.lock().unwrap().as_slice(),
        [
            "ERROR sisyphus worker 1 died",
            "WARN sisyphus perform failed: boom",
            "INFO sisyphus worker 0 started",
            "DEBUG sisyphus reaped 4711",
        ]
    );
}
