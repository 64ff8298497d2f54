//! What `/proc` says about a process: whether it is still the one we started (its
//! start time), whether it is a zombie, and the CPU time and memory of its process
//! group.
//!
//! Linux only, like the rest of `ProcessRuntime`'s bookkeeping.

use std::fs;

/// Fields of `/proc/<pid>/stat` the runtime uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ProcStat {
    /// The state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// The process group.
    pub pgrp: i32,
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// When it started, in clock ticks after boot (field 22): with the pid, what tells
    /// a process apart from a later one that reused its pid.
    pub start_time: u64,
    /// Resident pages.
    pub rss_pages: u64,
}

impl ProcStat {
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Parses one `/proc/<pid>/stat` line. The command name (field 2) is in parentheses
/// and may itself contain spaces and parentheses, so fields are counted from the last
/// `)`.
pub(super) fn parse_stat(line: &str) -> Option<ProcStat> {
    let rest = &line[line.rfind(')')? + 1..];
    // Fields after the name, numbered from 3 (state) on.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    let num = |n: usize| field(n).and_then(|f| f.parse::<u64>().ok());
    Some(ProcStat {
        state: field(3)?.chars().next()?,
        pgrp: field(5)?.parse().ok()?,
        cpu_ticks: num(14)? + num(15)?,
        start_time: num(22)?,
        rss_pages: num(24)?,
    })
}

/// The stat of process `pid`, if it exists.
pub(super) fn read_stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether `pid` is still the live (non-zombie) process that started at `start_time`.
pub(super) fn is_alive(pid: u32, start_time: u64) -> bool {
    read_stat(pid).is_some_and(|s| s.start_time == start_time && !s.is_zombie())
}

/// CPU time (ticks) and resident pages summed over every process in group `pgrp`: a
/// container is its whole process tree, not just its first process.
pub(super) fn group_usage(pgrp: i32) -> (u64, u64) {
    let Ok(entries) = fs::read_dir("/proc") else {
        return (0, 0);
    };
    let mut ticks = 0;
    let mut pages = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(stat) = read_stat(pid) {
            if stat.pgrp == pgrp && !stat.is_zombie() {
                ticks += stat.cpu_ticks;
                pages += match stat.rss_pages {
                    0 => walked_rss_pages(pid).unwrap_or(0),
                    counted => counted,
                };
            }
        }
    }
    (ticks, pages)
}

/// Resident pages of `pid` counted by walking its page tables (`smaps_rollup`).
///
/// The resident count in `stat` comes from per-CPU counters that Linux folds in
/// batches, so a small process that has just started can read as 0 pages there; the
/// walk is exact but costs more, so it is only asked when the cheap count says 0.
fn walked_rss_pages(pid: u32) -> Option<u64> {
    let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let kib = rss_kib(&rollup)?;
    let (_, page_size) = tick_and_page();
    Some((kib * 1024).div_ceil(page_size))
}

/// The `Rss:` line of an `smaps_rollup` file, in KiB.
fn rss_kib(rollup: &str) -> Option<u64> {
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("Rss:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// Clock ticks per second and the page size, from `sysconf` (with Linux's usual
/// values if it cannot say).
pub(super) fn tick_and_page() -> (u64, u64) {
    use nix::unistd::{SysconfVar, sysconf};
    let get = |var, fallback: u64| {
        sysconf(var)
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .filter(|v| *v > 0)
            .unwrap_or(fallback)
    };
    (
        get(SysconfVar::CLK_TCK, 100),
        get(SysconfVar::PAGE_SIZE, 4096),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parentheses() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 1000000 250 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.pgrp, 4242);
        assert_eq!(stat.cpu_ticks, 10);
        assert_eq!(stat.start_time, 123456);
        assert_eq!(stat.rss_pages, 250);
    }

    #[test]
    fn reads_the_resident_size_of_an_smaps_rollup() {
        let rollup = "55fbfb03b000-7ffe3ad2c000 ---p 00000000 00:00 0  [rollup]\nRss:                1764 kB\nPss:                 550 kB\n";
        assert_eq!(rss_kib(rollup), Some(1764));
        assert_eq!(rss_kib("Pss: 5 kB\n"), None);
    }

    #[test]
    fn walks_the_page_tables_of_this_process() {
        assert!(walked_rss_pages(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn reads_this_process() {
        let stat = read_stat(std::process::id()).unwrap();
        assert!(stat.rss_pages > 0);
        assert!(is_alive(std::process::id(), stat.start_time));
        assert!(!is_alive(std::process::id(), stat.start_time + 1));
    }
}
