//! What every bench client reports and reads, shared by the binaries
//! (`#[path]`-included by each): the result line run.sh collects, a
//! percentile, and a process's resident memory.

use std::io::Write as _;

use anyhow::Context as _;

/// One `RESULT<TAB>name<TAB>value` line, which `bench/run.sh` collects.
pub fn result(name: &str, value: impl std::fmt::Display) {
    println!("RESULT\t{name}\t{value}");
    let _ = std::io::stdout().flush();
}

/// The `p`th percentile (0-100) of sorted values; 0 for none.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Resident memory of process `pid`, in KiB.
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
