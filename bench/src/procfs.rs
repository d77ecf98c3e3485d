//! What `/proc` says about a process: its CPU time, its resident memory,
//! its TCP connections to a peer, and the processes below it (a browser's
//! renderers under the driver that started it). This program's own
//! figures come from the same probes, with `std::process::id()` as the
//! pid (`/proc/<own pid>` is `/proc/self`).

use std::{collections::HashSet, time::Duration};

use anyhow::Context as _;

/// User + system CPU time of process `pid` (all its threads): utime +
/// stime of `/proc/<pid>/stat`, counted in USER_HZ = 100 ticks a second,
/// which Linux fixes for user space, so the result is a whole number of
/// 10 ms ticks.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = stat
        .rsplit_once(')')
        .with_context(|| format!("unexpected /proc/{pid}/stat"))?
        .1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // after ")": state is field 3, so utime (14) and stime (15) are at 11, 12.
    let field = |at: usize| -> anyhow::Result<u64> {
        fields
            .get(at)
            .with_context(|| format!("short /proc/{pid}/stat"))?
            .parse()
            .with_context(|| format!("bad /proc/{pid}/stat"))
    };
    let ticks = field(11)? + field(12)?;
    Ok(Duration::from_millis(ticks * 10))
}

/// Resident memory of process `pid` (`VmRSS` of `/proc/<pid>/status`), in
/// KiB.
pub fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .context("no VmRSS")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .context("bad VmRSS")
}

/// The local ports of the established TCP connections process `pid` holds
/// to `remote_port` (its sockets in `/proc/<pid>/fd`, matched by inode
/// against `/proc/<pid>/net/tcp` and `tcp6`).
pub fn tcp_ports_to(pid: u32, remote_port: u16) -> anyhow::Result<Vec<u16>> {
    let mut inodes = HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(link) = std::fs::read_link(fd?.path()) else {
            continue;
        };
        if let Some(inode) = link
            .to_str()
            .and_then(|l| l.strip_prefix("socket:["))
            .and_then(|l| l.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    let port_of = |addr: &str| {
        addr.rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "01" {
                continue; // not ESTABLISHED
            }
            if port_of(f[2]) == Some(remote_port) && inodes.contains(f[9]) {
                ports.extend(port_of(f[1]));
            }
        }
    }
    Ok(ports)
}

/// The parent of process `pid` (field 4 of `/proc/<pid>/stat`); None when
/// it has gone.
pub fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // after ")": state, then the parent's pid
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Every process below `pid` now (children, their children...), found by
/// walking each process's parent in `/proc`. A process that ends during
/// the walk is left out.
pub fn descendants(pid: u32) -> anyhow::Result<Vec<u32>> {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    for entry in std::fs::read_dir("/proc")? {
        let Some(child) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(parent) = parent(child) {
            children.entry(parent).or_default().push(child);
        }
    }
    let (mut found, mut next) = (Vec::new(), vec![pid]);
    while let Some(at) = next.pop() {
        for &child in children.get(&at).map(Vec::as_slice).unwrap_or_default() {
            found.push(child);
            next.push(child);
        }
    }
    Ok(found)
}

/// The command line of process `pid`, its arguments joined by spaces;
/// empty when it has gone.
pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .unwrap_or_default()
}
