//! Replay a recorded trace through [`job_progress::write::eta::Estimator`].
//!
//! Reads a trace CSV on standard input: a header line
//! `total,N,chunk,C,delay_ms,D`, then `t_ms,processed` rows. Prints, for
//! every data row, `t_ms,pred_end_ms,earliest_ms,latest_ms`: the predicted
//! end (row time + remaining) and the ends of its 80 % range, all in ms
//! since the job started; `t_ms,` while there is no estimate. Bad input: a
//! message on stderr and exit status 2.
//!
//! With `--history DIR`, the trace CSVs in DIR are earlier runs of the same
//! kind of job, oldest first by file name: each is replayed, its
//! [`RunSummary`](job_progress::write::eta::RunSummary) kept in a
//! [`KindHistory`], and the trace on standard input is replayed with that
//! history's prior, as the service does for a job with a `kind`.

use std::io::{self, BufRead, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use job_progress::write::eta::{Estimator, JobShape, KindHistory};

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

/// A trace: its shape and its `(t_ms, processed)` rows.
fn read_trace(input: impl BufRead) -> Result<(JobShape, Vec<(u64, u64)>), String> {
    let mut lines = input.lines();
    let header = match lines.next() {
        Some(l) => l.map_err(|e| format!("reading: {e}"))?,
        None => return Err("empty input: expected a header line".into()),
    };
    let shape = parse_header(&header)?;
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        let line = line.map_err(|e| format!("reading: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split(',');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(t), Some(p), None) => rows.push((
                parse_u64(t, "t_ms", line_no)?,
                parse_u64(p, "processed", line_no)?,
            )),
            _ => {
                return Err(format!(
                    "line {line_no}: expected `t_ms,processed`, got {:?}",
                    line.trim()
                ));
            }
        }
    }
    Ok((shape, rows))
}

/// The history of the runs in `dir`, oldest first by file name.
fn load_history(dir: &Path) -> Result<KindHistory, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("--history {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    paths.sort();
    let mut history = KindHistory::new();
    for path in paths {
        let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (shape, rows) =
            read_trace(io::BufReader::new(file)).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut est = Estimator::new(shape);
        for (t, p) in rows {
            est.observe(t, p);
        }
        // A run that never finished has no summary, as in the service.
        if let Some(summary) = est.run_summary() {
            history.push(summary);
        }
    }
    Ok(history)
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let history = match args.as_slice() {
        [] => None,
        [flag, dir] if flag == "--history" => Some(load_history(Path::new(dir))?),
        _ => return Err("usage: eta_replay [--history DIR] < trace.csv".into()),
    };
    let (shape, rows) = read_trace(io::stdin().lock())?;
    let mut est = Estimator::new(shape);
    if let Some(prior) = history.and_then(|h| h.prior()) {
        est.set_prior(prior);
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (t, p) in rows {
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
