//! Replay a recorded trace through [`job_progress::write::eta::Estimator`].
//!
//! Reads a trace CSV on standard input: a header line
//! `total,N,chunk,C,delay_ms,D`, then `t_ms,processed` rows. Prints, for
//! every data row, `t_ms,pred_end_ms,earliest_ms,latest_ms`: the predicted
//! end (row time + remaining) and the ends of its 80 % range, all in ms
//! since the job started; `t_ms,` while there is no estimate. Bad input: a
//! message on stderr and exit status 2.

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use job_progress::write::eta::{Estimator, JobShape};

fn parse_u64(field: &str, what: &str, line_no: usize) -> Result<u64, String> {
    field
        .trim()
        .parse::<u64>()
        .map_err(|e| format!("line {line_no}: bad {what} {field:?}: {e}"))
}

fn parse_header(line: &str) -> Result<JobShape, String> {
    let f: Vec<&str> = line.trim().split(',').map(str::trim).collect();
    if f.len() != 6 || f[0] != "total" || f[2] != "chunk" || f[4] != "delay_ms" {
        return Err(format!(
            "line 1: expected header `total,N,chunk,C,delay_ms,D`, got {:?}",
            line.trim()
        ));
    }
    let total = parse_u64(f[1], "total", 1)?;
    let chunk = parse_u64(f[3], "chunk", 1)?;
    let delay = parse_u64(f[5], "delay_ms", 1)?;
    Ok(JobShape {
        total,
        chunk_size: (chunk > 0).then_some(chunk),
        pause: Some(Duration::from_millis(delay)),
    })
}

fn run() -> Result<(), String> {
    let stdin = io::stdin();
    let mut lines = stdin.lock().lines();
    let header = match lines.next() {
        Some(l) => l.map_err(|e| format!("reading stdin: {e}"))?,
        None => return Err("empty input: expected a header line".into()),
    };
    let mut est = Estimator::new(parse_header(&header)?);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split(',');
        let (t, p) = match (parts.next(), parts.next(), parts.next()) {
            (Some(t), Some(p), None) => (
                parse_u64(t, "t_ms", line_no)?,
                parse_u64(p, "processed", line_no)?,
            ),
            _ => {
                return Err(format!(
                    "line {line_no}: expected `t_ms,processed`, got {:?}",
                    line.trim()
                ));
            }
        };
        est.observe(t, p);
        let end = |d: Duration| t as f64 + d.as_secs_f64() * 1000.0;
        let res = match est.estimate() {
            Some(e) => writeln!(
                out,
                "{t},{:.1},{:.1},{:.1}",
                end(e.remaining),
                end(e.range.earliest),
                end(e.range.latest)
            ),
            None => writeln!(out, "{t},"),
        };
        res.map_err(|e| format!("writing stdout: {e}"))?;
    }
    out.flush().map_err(|e| format!("writing stdout: {e}"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("eta_replay: {msg}");
            ExitCode::from(2)
        }
    }
}
