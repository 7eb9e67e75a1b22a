//! Plain functions over /proc, shared by the process tests (through `tests/support/mod.rs`) and
//! the benchmark (`benches/bench/main.rs` includes this file by path). They depend on nothing
//! but `std` and `libc`; each includer uses only some of them.
#![allow(dead_code)]

pub type Pid = libc::pid_t;

/// The fields of `/proc/PID/stat` after the name, from the state letter on. The name is in
/// parentheses and may hold spaces: the rest starts after the last ')'.
fn stat_rest(stat: &str) -> Option<&str> {
    stat.get(stat.rfind(')')? + 2..)
}

/// Every process below `root`, with its state letter (`Z` for a zombie).
pub fn descendants_of(root: Pid) -> Vec<(Pid, char)> {
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<Pid>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat_rest(&stat) else {
            continue;
        };
        let mut fields = rest.split(' ');
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let Some(ppid) = fields.next().and_then(|s| s.parse::<Pid>().ok()) else {
            continue;
        };
        procs.push((pid, ppid, state));
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, state) in &procs {
            if ppid == parent {
                out.push((pid, state));
                frontier.push(pid);
            }
        }
    }
    out
}

/// Live (non-zombie) children of `pid`.
pub fn live_children(pid: Pid) -> Vec<Pid> {
    descendants_of(pid).into_iter().filter(|&(p, s)| s != 'Z' && parent_of(p) == Some(pid)).map(|(p, _)| p).collect()
}

/// Zombie children of `pid` (children it has not reaped).
pub fn zombie_children(pid: Pid) -> Vec<Pid> {
    descendants_of(pid).into_iter().filter(|&(p, s)| s == 'Z' && parent_of(p) == Some(pid)).map(|(p, _)| p).collect()
}

pub fn parent_of(pid: Pid) -> Option<Pid> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_rest(&stat)?.split(' ').nth(1)?.parse().ok()
}

/// The state letter of `pid` (`R`, `S`, `T`, `Z`...), if it exists.
pub fn state(pid: Pid) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_rest(&stat)?.chars().next()
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: Pid) -> bool {
    state(pid).is_some_and(|s| s != 'Z')
}

/// How many descriptors `pid` has open (0 if it does not exist).
pub fn open_fds(pid: Pid) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// A numeric field of /proc/PID/status, such as `VmRSS:` (in kB) or `voluntary_ctxt_switches:`.
pub fn status_field(pid: Pid, key: &str) -> Result<u64, String> {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}
