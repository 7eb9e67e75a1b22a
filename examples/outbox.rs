//! README.md's job, with its unit tests (`cargo test` runs them; `.ci/run` checks that the
//! README shows this code): every 30 s, each of 4 workers sends its share of the files waiting
//! in `outbox/`. `cargo run --example outbox`, then Ctrl-C.

use sisyphus::{BoxError, Context, Job, Level, Master};
use std::{fs, path::PathBuf, time::Duration};

struct Outbox {
    dir: PathBuf,
}

impl Job for Outbox {
    fn setup(&mut self, _: &Context) -> Result<(), BoxError> {
        Ok(fs::create_dir_all(&self.dir)?) // once per worker: connect, read settings
    }

    fn perform(&mut self, ctx: &Context) -> Result<(), BoxError> {
        let mut sent = 0;
        for entry in fs::read_dir(&self.dir)? {
            if ctx.stop_requested() {
                break; // INT or TERM: end early, the next run sends the rest
            }
            let path = entry?.path();
            let hash: usize = path.as_os_str().as_encoded_bytes().iter().map(|&b| b as usize).sum();
            if hash % ctx.workers() == ctx.worker() {
                fs::remove_file(&path)?; // "send" it: this worker's share
                sent += 1;
            }
        }
        ctx.log(Level::Info, format_args!("worker {} sent {sent}", ctx.worker()));
        Ok(()) // an Err is logged, and the next run waits a backoff
    }
}

fn main() -> Result<(), sisyphus::Error> {
    Master::new(Outbox { dir: "outbox".into() })
        .workers(4)
        .interval(Duration::from_secs(30)) // the schedule: every 30 s, per worker
        .perform_timeout(Duration::from_secs(20)) // a hung run is killed
        .stop_timeout(Duration::from_secs(25)) // INT or TERM: runs finish within 25 s
        .run()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_share_the_files_and_a_stop_sends_nothing() {
        let dir = std::env::temp_dir().join(format!("outbox-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for name in ["a", "b", "c", "d", "e"] {
            fs::write(dir.join(name), "mail").unwrap();
        }
        let mut job = Outbox { dir: dir.clone() };
        job.perform(&Context::new(0, 0).with_stop_requested(true)).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 5);
        job.perform(&Context::new(0, 0).with_workers(2)).unwrap();
        job.perform(&Context::new(1, 0).with_workers(2)).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir(&dir).unwrap();
    }
}
