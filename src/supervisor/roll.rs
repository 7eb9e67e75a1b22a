//! HUP: a rolling restart. One slot at a time, the old worker is asked to stop (it finishes
//! its perform), its replacement is forked as soon as it exits, and the roll moves on once the
//! replacement has finished `setup`: at most one slot is ever without a ready worker. A
//! replacement that fails `setup` stops the roll; the slots not yet rolled keep their workers.
//! The service manager hears `RELOADING=1` at the HUP and `READY=1` when the roll ends, either
//! way. The master needs no polling: a worker signals it when its `setup` is done.

use std::time::Duration;

use super::slot::Life;
use super::{FORCE_GRACE, Notice, Supervisor, World, say};
use crate::log::Workers;

/// A rolling restart in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roll {
    /// The latest HUP: a worker forked before it still has to be replaced.
    pub since: Duration,
    /// The slot being replaced now, and when its old worker was asked to stop.
    pub slot: Option<(usize, Duration)>,
    /// Workers replaced so far.
    pub replaced: usize,
}

impl Supervisor {
    /// HUP: every worker forked before now is to be replaced (again, for those a roll still
    /// running had not reached).
    pub(super) fn begin_roll(&mut self, now: Duration, world: &mut impl World) {
        let workers = self.live();
        let (slot, replaced) = self.roll.map_or((None, 0), |r| (r.slot, r.replaced));
        self.roll = Some(Roll { since: now, slot, replaced });
        say!(world, Info, "HUP: rolling restart of {}, one at a time", Workers(workers));
        world.notify(&Notice::Reloading { at: now });
    }

    /// Moves the roll on.
    pub(super) fn step_roll(&mut self, now: Duration, world: &mut impl World) {
        let Some(mut roll) = self.roll else { return };
        if let Some((i, asked)) = roll.slot {
            let s = &self.slots[i];
            let fresh = s.pid().is_some() && s.started >= asked;
            // A slot retired by TTOU meanwhile has nothing left to roll.
            if i < self.target && !(fresh && world.heartbeat(i).ready) {
                // The old worker is finishing, or the replacement is in `setup`.
                return;
            }
            roll.slot = None;
            roll.replaced += 1;
        }
        let next = (0..self.slots.len().min(self.target)).find(|&i| {
            let s = &self.slots[i];
            // One killed for a timeout, not yet reaped, is replaced next: its slot's turn.
            matches!(s.life, Life::Running(_) | Life::Killed(_, _, false)) && s.started < roll.since
        });
        match next {
            Some(i) => {
                roll.slot = Some((i, now));
                self.roll = Some(roll);
                self.ask_to_stop(i, now, world);
                // This slot may take a perform's end and a `setup`, beyond any start timeout.
                if let Some(setup) = self.cfg.setup_timeout {
                    world.notify(&Notice::ExtendTimeout(self.cfg.stop_timeout + setup + FORCE_GRACE));
                }
            }
            None => {
                self.roll = None;
                say!(world, Info, "rolling restart done: {} replaced", Workers(roll.replaced));
                world.notify(&Notice::Ready);
            }
        }
    }

    /// A worker in `slot` ended without coming up: if it was the roll's replacement, the roll
    /// stops there.
    pub(super) fn roll_failed(&mut self, slot: usize, world: &mut impl World) {
        let replacing = |r: &Roll| r.slot.is_some_and(|(i, asked)| i == slot && self.slots[slot].started >= asked);
        if let Some(roll) = self.roll.filter(replacing) {
            self.roll = None;
            let left = (0..self.slots.len()).filter(|&i| i != slot && self.slots[i].pid().is_some()).count();
            let (replaced, left) = (Workers(roll.replaced), Workers(left));
            say!(
                world,
                Error,
                "rolling restart stopped: worker {slot}'s replacement failed to start; {replaced} replaced, {left} keep \
                 their old setup; slot {slot} restarts with backoff"
            );
            world.notify(&Notice::Ready);
        }
    }
}
