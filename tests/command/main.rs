//! The `sisyphus` command, run as a process: bad input, help, what COMMAND inherits (its
//! variables, signal dispositions and mask, descriptors), pacing, `--prefix`, `--stop-signal`,
//! exit statuses, `--pidfile` and `--daemonize`, how failed runs are logged and paced,
//! `--name`, output faults, refused starts, what the binary needs from the host, one stop
//! request as one request, the runs' health (`STATUS=`, `--max-failures`), the command's own
//! words ("run", the last line, runs back to back), and calendar schedules (`--cron`, `--next`,
//! `--splay`).
//! See tests/README.md.
//!
//! This file holds the scenario table and what the scenarios share; the modules below hold the
//! scenarios, by concern.

#[path = "../support/mod.rs"]
mod support;

mod catchup;
mod daemon;
mod exits;
mod failures;
mod faults;
mod health;
mod host;
mod inherit;
mod input;
mod metrics;
mod naming;
mod output;
mod refusals;
mod requests;
mod schedule;
mod state;
mod stopping;
mod verbose;
mod wording;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::*;

use catchup::{catch_up_after_a_downtime, catch_up_survives_a_failed_setup, catch_up_with_an_interval_runs_once};
use daemon::{daemonize, daemonize_fails, daemonize_relative_command};
use exits::{pidfile_held, restart_limit, stop_timeout, stray_signals_are_ignored};
use failures::{backoff, killed_by_signal, missing_interpreter, relay_leaves_the_core_to_command, worker_killed};
use faults::{full_disk, full_disk_counts_every_lost_line, log_file_dev_full, unwritable_stdio};
use health::{failing_status, max_failures, max_failures_input, max_failures_pool, status_after_a_success};
use host::{without_bin_sh, without_dev, without_proc};
use inherit::{descriptors, dispositions, environment, every_ignored_signal, script_without_shebang};
use input::{bad_input, help_and_version};
use metrics::{metrics_parse, metrics_written_when_the_state_file_cannot_be};
use naming::name_option;
use output::{pacing, pacing_survives_replacement, prefix, prefix_long_lines_through_a_pipe};
use refusals::{full_disk_leaves_no_file, held_pidfile_leaves_no_log_file, missing_directory};
use requests::{double_term, forced_stop, real_timeout, second_signal_within_a_second};
use schedule::{bad_schedule_input, cron_runs_on_the_marks, next_prints_start_times_and_starts_nothing, splay_offsets};
use state::{
    a_bad_state_file_is_set_aside, sigkill_storm, state_paths_that_cannot_work_are_refused, status_exit_codes,
    status_sees_a_zombie_master_as_gone,
};
use stopping::{no_stop_signal, stop_as_runs_start, stop_signal, stop_signal_reaches_the_runs_group};
use verbose::verbose_lines;
use wording::{back_to_back, not_back_to_back, says_run};

fn main() {
    run_scenarios(&[
        ("bad_input_exits_2_and_starts_nothing", bad_input),
        ("help_fits_80_columns_and_version_prints_the_version", help_and_version),
        ("forking_command_gets_the_worker_environment", || environment("forking")),
        ("simple_command_gets_the_worker_environment", || environment("simple")),
        ("forking_command_gets_default_dispositions_and_the_startup_mask", || dispositions("forking")),
        ("simple_command_gets_default_dispositions_and_the_startup_mask", || dispositions("simple")),
        ("forking_script_without_shebang_runs_with_sh", || script_without_shebang("forking")),
        ("simple_script_without_shebang_runs_with_sh", || script_without_shebang("simple")),
        ("command_gets_every_ignored_signal_back_to_default", every_ignored_signal),
        ("forking_command_holds_only_its_stdio", || descriptors("forking")),
        ("simple_command_holds_only_its_stdio", || descriptors("simple")),
        ("interval_paces_command_starts", pacing),
        ("interval_schedule_survives_recycling_rolls_and_crashes", pacing_survives_replacement),
        ("forking_prefix_relays_whole_lines", || prefix("forking")),
        ("simple_prefix_relays_whole_lines", || prefix("simple")),
        ("prefix_cuts_long_lines_into_whole_pieces_a_pipe_never_mixes", prefix_long_lines_through_a_pipe),
        ("forking_stop_signal_reaches_every_running_command", || stop_signal("forking", false)),
        ("simple_stop_signal_reaches_every_running_command", || stop_signal("simple", false)),
        ("forking_prefix_stop_signal_reaches_commands_and_relays_their_last_lines", || stop_signal("forking", true)),
        ("simple_prefix_stop_signal_reaches_commands_and_relays_their_last_lines", || stop_signal("simple", true)),
        ("forking_stop_signal_reaches_the_runs_group", || stop_signal_reaches_the_runs_group(false)),
        ("forking_prefix_stop_signal_reaches_the_runs_group", || stop_signal_reaches_the_runs_group(true)),
        ("forking_stop_signal_reaches_runs_caught_starting", || stop_as_runs_start("forking", false)),
        ("simple_stop_signal_reaches_runs_caught_starting", || stop_as_runs_start("simple", false)),
        ("forking_prefix_stop_signal_reaches_runs_caught_starting", || stop_as_runs_start("forking", true)),
        ("forking_without_stop_signal_commands_run_to_their_end", || no_stop_signal("forking")),
        ("simple_without_stop_signal_commands_run_to_their_end", || no_stop_signal("simple")),
        ("a_held_pidfile_exits_1_naming_the_holder", pidfile_held),
        ("the_restart_limit_exits_1", restart_limit),
        ("signals_with_no_meaning_are_logged_and_ignored", stray_signals_are_ignored),
        ("forking_a_stop_that_kills_a_run_exits_3", || stop_timeout("forking")),
        ("simple_a_stop_that_kills_a_run_exits_3", || stop_timeout("simple")),
        ("daemonize_launcher_exits_0_once_workers_are_up_and_command_output_goes_to_the_log", daemonize),
        ("daemonize_with_a_failing_setup_exits_1", daemonize_fails),
        ("daemonize_resolves_a_relative_command_before_moving_to_root", daemonize_relative_command),
        ("forking_command_killed_by_a_signal_is_logged_with_its_name", || killed_by_signal("forking", false)),
        ("simple_command_killed_by_a_signal_is_logged_with_its_name", || killed_by_signal("simple", false)),
        ("forking_prefix_command_killed_by_a_signal_is_logged_with_its_name", || killed_by_signal("forking", true)),
        ("forking_killed_worker_takes_its_run_and_the_runs_children", || worker_killed("forking", false)),
        ("simple_killed_worker_takes_its_run_and_the_runs_children", || worker_killed("simple", false)),
        ("forking_prefix_killed_worker_takes_its_run_and_the_runs_children", || worker_killed("forking", true)),
        ("prefix_relay_leaves_the_core_dump_to_command", relay_leaves_the_core_to_command),
        ("forking_failing_command_backs_off", || backoff("forking")),
        ("simple_failing_command_backs_off", || backoff("simple")),
        ("name_option_names_the_workers", name_option),
        ("forking_verbose_logs_each_runs_start_and_end", || verbose_lines("forking")),
        ("simple_verbose_logs_each_runs_start_and_end", || verbose_lines("simple")),
        ("forking_a_missing_interpreter_is_named", || missing_interpreter("forking", false)),
        ("simple_a_missing_interpreter_is_named", || missing_interpreter("simple", false)),
        ("forking_prefix_a_missing_interpreter_is_named", || missing_interpreter("forking", true)),
        ("a_full_disk_drops_log_lines_whole_and_counts_them", full_disk),
        ("a_full_disk_counts_every_line_it_kept_out", full_disk_counts_every_lost_line),
        ("log_file_dev_full_is_reported_once_on_stderr", log_file_dev_full),
        ("unwritable_stdout_or_stderr_keeps_the_exit_status", unwritable_stdio),
        ("a_missing_pidfile_or_log_directory_is_bad_input", missing_directory),
        ("a_held_pidfile_leaves_no_log_file_it_made", held_pidfile_leaves_no_log_file),
        ("a_full_disk_at_start_leaves_no_pidfile_or_log_file", full_disk_leaves_no_file),
        ("without_proc_the_error_says_how_to_mount_it", without_proc),
        ("without_bin_sh_setup_and_plain_scripts_name_it", without_bin_sh),
        ("without_dev_daemonize_names_dev_null", without_dev),
        ("term_then_term_to_the_group_20_times_is_one_graceful_stop", double_term),
        ("term_to_the_group_after_the_stop_began_is_the_same_request", || {
            second_signal_within_a_second(libc::SIGTERM, "TERM")
        }),
        ("int_then_term_within_a_second_is_the_same_request", || second_signal_within_a_second(libc::SIGINT, "INT")),
        ("real_timeout_stops_gracefully", real_timeout),
        ("forking_second_term_after_1_5_s_stops_at_once_leaving_nothing", || {
            forced_stop("forking", libc::SIGTERM, 1500 * MS, "second TERM")
        }),
        ("simple_second_term_after_1_5_s_stops_at_once_leaving_nothing", || {
            forced_stop("simple", libc::SIGTERM, 1500 * MS, "second TERM")
        }),
        ("forking_quit_during_a_stop_stops_at_once_leaving_nothing", || {
            forced_stop("forking", libc::SIGQUIT, Duration::ZERO, "QUIT")
        }),
        ("simple_quit_during_a_stop_stops_at_once_leaving_nothing", || {
            forced_stop("simple", libc::SIGQUIT, Duration::ZERO, "QUIT")
        }),
        ("failing_runs_show_in_status", failing_status),
        ("a_success_clears_the_status_and_its_age_counts_up", status_after_a_success),
        ("forking_max_failures_exits_1_after_exactly_5_runs", || max_failures("forking")),
        ("simple_max_failures_exits_1_after_exactly_5_runs", || max_failures("simple")),
        ("max_failures_with_3_workers_starts_no_run_after_giving_up", max_failures_pool),
        ("max_failures_needs_a_count_of_at_least_1", max_failures_input),
        ("forking_log_lines_say_run_not_perform", || says_run("forking")),
        ("simple_log_lines_say_run_not_perform", || says_run("simple")),
        ("forking_back_to_back_runs_are_said_once_for_the_pool", || back_to_back("forking", false)),
        ("simple_back_to_back_runs_are_said_once_for_the_pool", || back_to_back("simple", false)),
        ("forking_prefix_back_to_back_runs_are_said_once_for_the_pool", || back_to_back("forking", true)),
        ("no_back_to_back_line_on_a_schedule_or_for_slow_runs", not_back_to_back),
        ("cron_runs_on_the_marks_and_int_stops_it", cron_runs_on_the_marks),
        ("next_prints_start_times_and_starts_nothing", next_prints_start_times_and_starts_nothing),
        ("bad_schedule_input_exits_2_and_starts_nothing", bad_schedule_input),
        ("splay_offsets_are_stable_across_restarts_and_differ_by_host", splay_offsets),
        ("state_file_stays_whole_through_200_sigkills_of_the_master", sigkill_storm),
        ("a_bad_state_file_is_set_aside_and_the_start_goes_on", a_bad_state_file_is_set_aside),
        ("status_exits_0_healthy_1_stale_or_failing_3_master_gone_2_unreadable", status_exit_codes),
        ("status_sees_a_zombie_master_as_gone", status_sees_a_zombie_master_as_gone),
        ("state_paths_that_cannot_work_are_refused", state_paths_that_cannot_work_are_refused),
        ("catch_up_after_a_downtime_runs_once_per_worker_then_the_schedule", catch_up_after_a_downtime),
        ("catch_up_with_an_interval_runs_once_then_the_schedule", catch_up_with_an_interval_runs_once),
        ("catch_up_survives_a_failed_setup", catch_up_survives_a_failed_setup),
        ("metrics_file_parses_as_prometheus_text_and_agrees_with_the_state_file", metrics_parse),
        ("metrics_file_is_written_when_the_state_file_cannot_be", metrics_written_when_the_state_file_cannot_be),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Helpers

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A scenario's own directory under the (canonical) temporary directory, removed when dropped,
/// so that `/proc/PID/fd` links compare equal to the paths in it.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Result<Dir, String> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = std::fs::canonicalize(std::env::temp_dir()).unwrap_or_else(|_| std::env::temp_dir());
        let path = tmp.join(format!("sisyphus-cmd-{}-{n}-{name}", getpid()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        Ok(Dir(path))
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `p` of a file in this directory, as text for a script or an argument.
    fn at(&self, name: &str) -> String {
        self.join(name).to_string_lossy().into_owned()
    }

    /// An executable `#!/bin/sh` script with `body`.
    fn script(&self, name: &str, body: &str) -> Result<String, String> {
        let path = self.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
        Ok(path.to_string_lossy().into_owned())
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Lines of a file, empty if it is missing.
fn lines(path: &Path) -> Vec<String> {
    read(path).lines().map(str::to_string).collect()
}

fn wall_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// The command line to start `sisyphus ARGS` with: its own process group, killed if we die,
/// stdin on /dev/null, stdout and stderr to files of `dir` (named after `tag`), no service
/// manager variables, and no descriptor above 2 but those it opens itself.
fn sisyphus(dir: &Dir, tag: &str, args: &[&str]) -> Result<(Command, PathBuf, PathBuf), String> {
    under(dir, tag, &[], args)
}

/// As `sisyphus`, but started by `wrapper` (a program and its arguments, such as `timeout 1`),
/// which is what gets the process group, the files and the environment, and passes them on.
fn under(dir: &Dir, tag: &str, wrapper: &[&str], args: &[&str]) -> Result<(Command, PathBuf, PathBuf), String> {
    let (out, err) = (dir.join(&format!("{tag}.out")), dir.join(&format!("{tag}.err")));
    let file = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let bin = env!("CARGO_BIN_EXE_sisyphus");
    let mut cmd = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut cmd = Command::new(program);
            cmd.args(rest).arg(bin);
            cmd
        }
        None => Command::new(bin),
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(file(&out)?)
        .stderr(file(&err)?)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .process_group(0);
    // SAFETY: prctl and fcntl/close_range are async-signal-safe and touch no memory.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // Whatever this test inherited (a job server's pipe...) must not reach sisyphus;
            // close-on-exec rather than closed, so std's exec-error pipe keeps working.
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) != 0 {
                for fd in 3..4096 {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            Ok(())
        })
    };
    Ok((cmd, out, err))
}

/// A running (or finished) sisyphus, with where its output goes.
struct Sis {
    child: Child,
    pid: Pid,
    out: PathBuf,
    err: PathBuf,
    /// Its `--log-file`, if any.
    log: Option<PathBuf>,
    code: Option<i32>,
}

impl Sis {
    fn start(dir: &Dir, tag: &str, args: &[&str]) -> Result<Sis, String> {
        let (cmd, out, err) = sisyphus(dir, tag, args)?;
        Sis::spawn(cmd, out, err)
    }

    fn spawn(mut cmd: Command, out: PathBuf, err: PathBuf) -> Result<Sis, String> {
        let child = cmd.spawn().map_err(|e| format!("spawning sisyphus: {e}"))?;
        Ok(Sis { pid: child.id() as Pid, child, out, err, log: None, code: None })
    }

    fn logging_to(mut self, log: &Path) -> Sis {
        self.log = Some(log.to_owned());
        self
    }

    fn out(&self) -> String {
        read(&self.out)
    }

    fn err(&self) -> String {
        read(&self.err)
    }

    /// Its stdout, stderr and log file, to show with a failure.
    fn show(&self) -> String {
        let log = self.log.as_deref().map(|l| format!("\n--- log ---\n{}", read(l))).unwrap_or_default();
        format!("\n--- stdout ---\n{}\n--- stderr ---\n{}{log}", self.out(), self.err())
    }

    /// The line saying a run failed because COMMAND could not be run at all: no wait for a
    /// run to do something need go on then.
    fn cannot_run(&self) -> Option<String> {
        let log = self.log.as_deref().map(read).unwrap_or_default();
        [self.err(), log]
            .iter()
            .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
            .find(|l| l.contains("run failed: cannot run"))
    }

    fn signal(&self, sig: i32) {
        if self.code.is_none() {
            kill(self.pid, sig);
        }
    }

    /// Its exit code (or 128 + the signal that killed it), waiting at most `timeout`.
    fn wait(&mut self, timeout: Duration) -> Result<i32, String> {
        if let Some(code) = self.code {
            return Ok(code);
        }
        let child = &mut self.child;
        let got = wait_for(&format!("sisyphus {} to exit", self.pid), timeout, || match child.try_wait() {
            Ok(Some(s)) => Some(s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))),
            _ => None,
        });
        match got {
            Ok(code) => {
                self.code = Some(code);
                Ok(code)
            }
            Err(e) => Err(format!("{e}{}", self.show())),
        }
    }

    /// INT, then exit 0 within a few seconds.
    fn stop(&mut self) -> Outcome {
        self.signal(libc::SIGINT);
        let code = self.wait(10 * SEC)?;
        ensure!(code == 0, "exit {code} after INT{}", self.show());
        Ok(())
    }

    /// Waits until `pred` holds, failing at once if COMMAND cannot be run.
    fn until(&self, what: &str, timeout: Duration, pred: impl Fn() -> bool) -> Outcome {
        let got = wait_for(what, timeout, || if pred() { Some(Ok(())) } else { self.cannot_run().map(Err) });
        match got {
            Ok(Ok(())) => Ok(()),
            Ok(Err(line)) => Err(format!("waiting for {what}, COMMAND could not be run: {line}{}", self.show())),
            Err(e) => Err(format!("{e}{}", self.show())),
        }
    }

    /// Waits until `pred` holds over the stdout text.
    fn wait_out(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> Outcome {
        self.until(what, timeout, || pred(&self.out()))
    }

    /// Waits until `pred` holds over the stderr text.
    fn wait_err(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> Outcome {
        self.until(what, timeout, || pred(&self.err()))
    }

    /// Waits until `pred` holds over the lines of the file at `path`.
    fn wait_file(&self, what: &str, path: &Path, timeout: Duration, pred: impl Fn(&[String]) -> bool) -> Outcome {
        self.until(what, timeout, || pred(&lines(path)))
            .map_err(|e| format!("{e}\n--- {} ---\n{}", path.display(), read(path)))
    }
}

fn reap_orphans() {
    // SAFETY: waitpid with a valid out-pointer (null is allowed).
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

/// The end of every scenario, once every sisyphus it started has been waited for: whatever it
/// left (orphans reparented to us, the runner being a subreaper) is gone and reaped.
fn nothing_left() -> Outcome {
    wait_for("every process sisyphus started to be gone", 5 * SEC, || {
        reap_orphans();
        descendants().is_empty().then_some(())
    })
    .map_err(|e| format!("{e}: left {:?}", descendants()))
}

/// A bound datagram socket to point `NOTIFY_SOCKET` at.
struct Notify {
    sock: UnixDatagram,
    path: PathBuf,
}

impl Notify {
    fn bind(dir: &Dir) -> Result<Notify, String> {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).map_err(|e| format!("binding {}: {e}", path.display()))?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(Notify { sock, path })
    }

    /// Every datagram queued so far.
    fn received(&self) -> Vec<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        got
    }
}

/// `KEY=VALUE` lines of an `env` dump.
fn env_map(text: &str) -> BTreeMap<String, String> {
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A hexadecimal mask field of a `/proc/PID/status` text (`SigBlk:`).
fn mask(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Seconds since the first of `date +%s.%N` stamps, one a line, as ms gaps between neighbours.
fn gaps_ms(stamps: &[String]) -> Vec<f64> {
    let t: Vec<f64> = stamps.iter().filter_map(|l| l.trim().parse().ok()).collect();
    t.windows(2).map(|w| (w[1] - w[0]) * 1000.0).collect()
}
