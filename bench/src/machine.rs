//! The machine a run happened on, and the file system under the benchmark directory.
//!
//! Everything is read from /proc (Linux): a number without its machine means nothing,
//! and a number measured on tmpfs means less than nothing for a durability benchmark,
//! because fdatasync there returns without touching a disk.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// File systems that keep data in memory only: fsync on them measures nothing.
const MEMORY_FILE_SYSTEMS: &[&str] = &["tmpfs", "ramfs", "devtmpfs", "hugetlbfs"];

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_bytes: u64,
    pub kernel: String,
    pub bench_dir: String,
    pub file_system: String,
    pub device: String,
    pub sqlite_version: String,
    pub profile: String,
    /// /proc/loadavg when the run started: other work on the machine skews every number.
    pub load_average_start: String,
    /// The commit the engine was built from, and whether engine/ had local changes.
    pub kiln_revision: String,
}

impl Machine {
    pub fn describe(bench_dir: &Path) -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(|| "unknown".to_string(), |(_, m)| m.trim().to_string());
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_bytes = kib_field(&meminfo, "MemTotal:").unwrap_or(0) * 1024;
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string());
        let mount = mount_of(bench_dir);
        Machine {
            cpu_model,
            cores,
            memory_bytes,
            kernel,
            bench_dir: bench_dir.display().to_string(),
            file_system: mount
                .as_ref()
                .map_or("unknown".into(), |m| m.fs_type.clone()),
            device: mount.map_or("unknown".into(), |m| m.source),
            sqlite_version: rusqlite::version().to_string(),
            profile: if cfg!(debug_assertions) {
                "debug".into()
            } else {
                "release".into()
            },
            kiln_revision: kiln_revision(),
            load_average_start: load_average(),
        }
    }

    /// Whether fsync on the benchmark directory reaches a device.
    pub fn is_memory_file_system(&self) -> bool {
        MEMORY_FILE_SYSTEMS.contains(&self.file_system.as_str())
    }
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg has them.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// `git rev-parse --short HEAD` of the workspace this binary was built from, plus a note
/// when engine/ differs from it; "unknown" outside a git checkout.
fn kiln_revision() -> String {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&workspace)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    match git(&["status", "--porcelain", "--", "engine"]) {
        Some(changes) if !changes.is_empty() => {
            format!("{head} with uncommitted changes in engine/")
        }
        _ => head,
    }
}

/// A `Key:   1234 kB` line of /proc/meminfo or /proc/self/status, in KiB.
pub fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

struct Mount {
    fs_type: String,
    source: String,
}

/// The mount that holds `path`: the longest mount point that is a prefix of it.
fn mount_of(path: &Path) -> Option<Mount> {
    let path = fs::canonicalize(path).ok()?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(usize, Mount)> = None;
    for line in mountinfo.lines() {
        // Fields: id parent major:minor root mount-point options [optional...] - type source super-options
        let (left, right) = line.split_once(" - ")?;
        let mount_point = unescape(left.split(' ').nth(4)?);
        let mut right = right.split(' ');
        let fs_type = right.next()?.to_string();
        let source = right.next().unwrap_or("").to_string();
        if !path.starts_with(&mount_point) {
            continue;
        }
        let depth = mount_point.len();
        // Later lines shadow earlier ones mounted at the same point.
        if best.as_ref().is_none_or(|(d, _)| depth >= *d) {
            best = Some((depth, Mount { fs_type, source }));
        }
    }
    best.map(|(_, m)| m)
}

/// Mount points escape space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Today's date (UTC) as YYYY-MM-DD, from the system clock.
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_file_system_has_a_type() {
        let m = Machine::describe(Path::new("/"));
        assert_ne!(m.file_system, "unknown");
        assert!(m.cores >= 1);
    }

    #[test]
    fn meminfo_fields_parse() {
        assert_eq!(kib_field("MemTotal:  1024 kB\n", "MemTotal:"), Some(1024));
        assert_eq!(kib_field("VmHWM:\t  77 kB\n", "VmHWM:"), Some(77));
    }
}
