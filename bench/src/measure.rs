//! What every bench client reports: the result line the scripts collect,
//! a percentile, and milliseconds as the tables print them.

use std::io::Write as _;

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

/// `us` microseconds as milliseconds with two decimals.
pub fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}
