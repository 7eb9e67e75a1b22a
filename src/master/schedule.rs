//! Calendar schedules and splay on the master: the settings, and the lines that say at
//! start-up what they mean on this host.

use std::time::Duration;

use super::{Master, driver};
use crate::config::Config;
use crate::cron::Cron;
use crate::job::Job;
use crate::log::{Level, Logger};
use crate::pace::unknown_zone;
use crate::sys;

impl<J: Job> Master<J> {
    /// Starts performs on a calendar schedule, read on the local wall clock (`TZ`), instead
    /// of an [`interval`](Master::interval) (giving both is an [`Error::Config`](crate::Error::Config)).
    /// Each worker follows it, so with two workers both run at each time; the first perform
    /// waits for the first time due after `setup` (none at start-up). A perform still running
    /// when the next time comes makes that start late: it starts when the perform ends, with
    /// one WARN line, and the schedule goes on from there; a suspension or a clock step runs
    /// one start at once if a time passed meanwhile, never a burst. The daylight-saving rule
    /// is [`Cron`](crate::Cron)'s. A waiting worker reads the wall clock at least once a
    /// second. [`Context::scheduled`](crate::Context::scheduled), `max_performs`, HUP and the
    /// backoff work as with an interval.
    ///
    /// ```no_run
    /// # use sisyphus::{BoxError, Context, Cron, Job, Master};
    /// # struct Report;
    /// # impl Job for Report {
    /// #     fn perform(&mut self, _: &Context) -> Result<(), BoxError> { Ok(()) }
    /// # }
    /// // Weekdays at 09:00, local time.
    /// Master::new(Report).cron(Cron::parse("0 9 * * mon-fri")?).run()?;
    /// # Ok::<(), sisyphus::Error>(())
    /// ```
    pub fn cron(mut self, schedule: Cron) -> Self {
        self.config.pacing.cron = Some(schedule);
        self
    }

    /// With an [`interval`](Master::interval) or a [`cron`](Master::cron) schedule: moves every
    /// start of a slot later by a fixed offset in [0, `splay`), derived from the host's name
    /// and the slot: the same across restarts, different across hosts, so that replicas (pods,
    /// hosts of a fleet) do not all fire at once. The master logs each slot's offset at
    /// start-up. At least 10 ms and at most a year.
    pub fn splay(mut self, splay: Duration) -> Self {
        self.config.pacing.splay = Some(splay);
        self
    }
}

/// Says at start-up when a calendar's first start is, each slot's splay, and a `TZ` that names
/// no zone.
pub fn announce(config: &Config, logger: &dyn Logger) {
    if let Some(line) = config.pacing.describe(config.workers, &sys::hostname()) {
        driver::log(logger, Level::Info, format_args!("{line}"));
    }
    if let Some(line) = unknown_zone(&config.pacing) {
        driver::log(logger, Level::Warn, format_args!("{line}"));
    }
}
