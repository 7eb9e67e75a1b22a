//! Statistics and the table.

use crate::items::Cfg;

pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 { s[m] } else { (s[m - 1] + s[m]) / 2.0 }
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Goal {
    Info,
    /// median / baseline at least this.
    RatioAtLeast(f64),
    /// median below this.
    Below(f64),
    /// every sample at most this.
    AllAtMost(f64),
    /// median at most this.
    AtMost(f64),
    /// median at most the baseline.
    AtMostBase,
}

pub(crate) struct Row {
    item: u8,
    what: String,
    unit: &'static str,
    samples: Vec<f64>,
    base: Option<f64>,
    goal: Goal,
    pub(crate) error: Option<String>,
}

impl Row {
    pub(crate) fn new(item: u8, what: impl Into<String>, unit: &'static str, samples: Vec<f64>) -> Self {
        Row { item, what: what.into(), unit, samples, base: None, goal: Goal::Info, error: None }
    }

    pub(crate) fn base(mut self, base: f64) -> Self {
        self.base = Some(base);
        self
    }

    pub(crate) fn goal(mut self, goal: Goal) -> Self {
        self.goal = goal;
        self
    }

    pub(crate) fn error(item: u8, what: impl Into<String>, error: String) -> Self {
        Row { error: Some(error), ..Row::new(item, what, "", Vec::new()) }
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::Info => "(info)".into(),
            Goal::RatioAtLeast(r) => format!(">= {r} x base"),
            Goal::Below(x) => format!("< {} {}", num(x), self.unit),
            Goal::AllAtMost(x) => format!("{} in every run", num(x)),
            Goal::AtMost(x) => format!("<= {} {}", num(x), self.unit),
            Goal::AtMostBase => "<= base".into(),
        }
    }

    fn result(&self) -> &'static str {
        if self.error.is_some() {
            return "ERROR";
        }
        let m = median(&self.samples);
        let ok = match self.goal {
            Goal::Info => return "",
            Goal::RatioAtLeast(r) => self.base.is_some_and(|b| m / b >= r),
            Goal::Below(x) => m < x,
            Goal::AllAtMost(x) => !self.samples.is_empty() && self.samples.iter().all(|&s| s <= x),
            Goal::AtMost(x) => m <= x,
            Goal::AtMostBase => self.base.is_some_and(|b| m <= b),
        };
        if ok { "PASS" } else { "MISS" }
    }
}

/// A figure with about three significant digits.
fn num(x: f64) -> String {
    let a = x.abs();
    match () {
        _ if x.is_nan() => "n/a".into(),
        _ if a == 0.0 => "0".into(),
        _ if a >= 100.0 => format!("{x:.0}"),
        _ if a >= 10.0 => format!("{x:.1}"),
        _ if a >= 0.01 => format!("{x:.2}"),
        _ => format!("{x:.4}"),
    }
}

pub(crate) fn print_table(cfg: &Cfg, rows: &[Row], load: (String, String)) {
    println!(
        "sisyphus benchmark, {} mode: median, min and max over n samples; baseline = its median, same run",
        if cfg.quick { "quick" } else { "full" }
    );
    println!("machine: {}; load average before: {}; after: {}", machine(), load.0, load.1);
    println!("syscalls counted with {}", cfg.method.describe());
    println!();
    println!(
        "{:>2}  {:<60} {:<7} {:>3} {:>9} {:>9} {:>9} {:>9} {:>6}  {:<16} result",
        "#", "measurement", "unit", "n", "median", "min", "max", "baseline", "ratio", "goal"
    );
    for r in rows {
        if let Some(e) = &r.error {
            println!("{:>2}  {:<60} ERROR: {e}", r.item, r.what);
            continue;
        }
        let m = median(&r.samples);
        let (base, ratio) = match r.base {
            Some(b) => (num(b), if b != 0.0 && m != 0.0 && !m.is_nan() { format!("{:.2}", m / b) } else { "-".into() }),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:>2}  {:<60} {:<7} {:>3} {:>9} {:>9} {:>9} {:>9} {:>6}  {:<16} {}",
            r.item,
            r.what,
            r.unit,
            r.samples.len(),
            num(m),
            num(min(&r.samples)),
            num(max(&r.samples)),
            base,
            ratio,
            r.goal_text(),
            r.result()
        );
    }
    println!();
    println!("baselines: 1, 9: a bare fork + perform + _exit + waitpid loop (no library), same job and memory;");
    println!("  2: the same perform called directly in a plain loop; 3-6, 8: a bare sigtimedwait supervisor");
    println!("  (no library) doing the same; 7: one wake-up per perform timeout per worker;");
    println!("  10, 11: plain loops that std::thread::sleep to each next absolute deadline, same interval;");
    println!("  12: the bare supervisor, its workers asleep until TERM; 15: a bare libc fork + execv +");
    println!("  waitpid loop of /bin/true (runs/s: /proc/stat processes per s); 16: the command spawned");
    println!("  directly, without sisyphus.");
}

/// CPUs online, CPU model and kernel, for the table's header.
fn machine() -> String {
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("?", |m| m.trim_start_matches([' ', '\t', ':']));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} CPUs ({model}), Linux {}", kernel.trim())
}
