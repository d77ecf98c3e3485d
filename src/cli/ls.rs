//! `job-progress ls`: the active jobs as a table (or JSON lines), once or
//! refreshed with `--watch`; with `--tree`, child jobs too, each under its
//! parent.

use std::{
    collections::HashMap,
    io::{IsTerminal as _, Write as _},
    time::Duration,
};

use chrono::{DateTime, Utc};

use super::tree::depth;
use super::{
    args::LsArgs,
    client::{Api, Failure},
    format::{self, Clock},
    retry::Retry,
};
use crate::domain::{JobId, JobKind, ProgressRecord};

/// Records asked for per request: the server's default page, one Redis
/// MGET of a thousand values.
const PAGE: u32 = 1000;

/// The listed jobs, and how many are active in all.
#[derive(Debug)]
pub struct Listing {
    /// The jobs, oldest start first.
    pub records: Vec<ProgressRecord>,
    /// Every active job, listed or not.
    pub total: u64,
}

/// Lists the active jobs; returns the exit code: 0, or 3 when the API
/// cannot be asked (with `--watch`, transient failures are retried until
/// interrupted).
pub async fn run(args: LsArgs) -> u8 {
    let api = match Api::new(&args.api) {
        Ok(api) => api,
        Err(failure) => return gave_up(&failure),
    };
    let tty = std::io::stdout().is_terminal();
    let mut retry = Retry::new(None);
    loop {
        let wait = match list(&api, args.limit, args.kind.as_ref(), args.tree).await {
            Ok(mut listing) => {
                if args.tree {
                    listing.records = super::tree::tree(listing.records);
                }
                retry.succeeded();
                print(&listing, &args, tty);
                if !args.watch {
                    return 0;
                }
                Duration::from_secs(args.interval)
            }
            Err(failure) if args.watch => {
                let first = !retry.is_failing();
                match retry.after(&failure) {
                    Some(wait) => {
                        if first {
                            eprintln!("job-progress: {failure}; retrying until it answers");
                        }
                        wait
                    }
                    None => return gave_up(&failure),
                }
            }
            Err(failure) => return gave_up(&failure),
        };
        tokio::time::sleep(wait).await;
    }
}

fn gave_up(failure: &Failure) -> u8 {
    eprintln!("job-progress: {failure}");
    3
}

/// Every active job without a parent, or with `children` every one (or
/// the first `limit`; only those of `kind` when given), page by page.
pub async fn list(
    api: &Api,
    limit: Option<u64>,
    kind: Option<&JobKind>,
    children: bool,
) -> Result<Listing, Failure> {
    let mut records = Vec::new();
    let mut total = None;
    loop {
        let want = limit.map_or(u64::MAX, |limit| limit.saturating_sub(records.len() as u64));
        let page = api
            .active(
                PAGE.min(u32::try_from(want).unwrap_or(PAGE)),
                records.len() as u64,
                kind,
                children,
            )
            .await?;
        let total = *total.get_or_insert(page.total);
        let got = page.records.len();
        records.extend(page.records);
        let listed = records.len() as u64;
        // Jobs end while we page: a short page, or reaching the total or
        // the limit, is the end of the list.
        if got < PAGE as usize
            || total.is_some_and(|total| listed >= total)
            || limit.is_some_and(|limit| listed >= limit)
        {
            let total = total.unwrap_or(listed).max(listed);
            return Ok(Listing { records, total });
        }
    }
}

fn print(listing: &Listing, args: &LsArgs, tty: bool) {
    let mut stdout = std::io::stdout().lock();
    let text = if args.json {
        listing
            .records
            .iter()
            .filter_map(|record| serde_json::to_string(record).ok())
            .map(|line| line + "\n")
            .collect()
    } else {
        let now = Utc::now();
        let mut text = String::new();
        if args.watch && tty {
            // Clear the screen and go home: the table replaces the last.
            text.push_str("\x1b[2J\x1b[H");
            text.push_str(&format!(
                "{} active job{} at {} (every {}s; Ctrl-C to stop)\n\n",
                listing.total,
                if listing.total == 1 { "" } else { "s" },
                Clock::Local.time(now, now),
                args.interval
            ));
        }
        let width = tty.then(|| usize::from(console::Term::stdout().size().1));
        text.push_str(&table(&listing.records, now, tty, width));
        if (listing.records.len() as u64) < listing.total {
            text.push_str(&format!(
                "({} of {} active jobs shown)\n",
                listing.records.len(),
                listing.total
            ));
        }
        if args.watch && !tty {
            text.push('\n');
        }
        text
    };
    // A closed pipe (`| head`) ends nothing here but the output.
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// The columns, in order; `NAME` is the one that gives way.
const HEADER: [&str; 10] = [
    "JOB", "NAME", "STATUS", "DONE", "%", "FAILED", "RATE", "ETA", "LEFT", "UPDATED",
];
/// The `NAME` column's index.
const NAME: usize = 1;
/// A name narrower than this is not worth showing: the column goes.
const NARROWEST_NAME: usize = 8;

/// The table: a header and one row per job; `no active jobs` when empty.
/// `colour` marks stalled jobs for a person's terminal. The `NAME` column
/// shows only when a job has a name, and within `width` (a terminal's)
/// only where there is room: names are cut to fit, or the column left
/// out when even a short one would not.
pub fn table(
    records: &[ProgressRecord],
    now: DateTime<Utc>,
    colour: bool,
    width: Option<usize>,
) -> String {
    if records.is_empty() {
        return "no active jobs\n".into();
    }
    let parents: HashMap<&JobId, Option<&JobId>> = records
        .iter()
        .map(|record| (&record.job_id, record.parent_job_id.as_ref()))
        .collect();
    let mut rows: Vec<[String; 10]> = records
        .iter()
        .map(|record| {
            let mut row = row(record, now);
            // A child sits under its parent, two spaces a level.
            row[0] = format!("{}{}", "  ".repeat(depth(record, &parents)), row[0]);
            row
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // Two spaces between columns.
    let others: usize = widths
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != NAME)
        .map(|(_, w)| w + 2)
        .sum();
    let room = width.map_or(usize::MAX, |width| width.saturating_sub(others + 2));
    let named = records.iter().any(|record| record.name.is_some());
    let show_name = named && room >= NARROWEST_NAME;
    if show_name && widths[NAME] > room {
        widths[NAME] = room;
        for row in &mut rows {
            row[NAME] = cut(&row[NAME], room);
        }
    }
    let line = |cells: [&str; 10], stalled: bool| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i == NAME && !show_name {
                continue;
            }
            // Counts right-aligned, words left-aligned.
            let padded = if matches!(i, 3..=6) {
                format!("{cell:>width$}")
            } else {
                format!("{cell:<width$}")
            };
            if i == 2 && stalled && colour {
                text.push_str(&console::style(padded).yellow().bold().to_string());
            } else {
                text.push_str(&padded);
            }
            text.push_str("  ");
        }
        text.truncate(text.trim_end().len());
        text + "\n"
    };
    let mut text = line(HEADER, false);
    for (record, row) in records.iter().zip(&rows) {
        text.push_str(&line(row.each_ref().map(String::as_str), record.stalled));
    }
    text
}

/// `text` cut to `width` characters, with `…` when cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn row(record: &ProgressRecord, now: DateTime<Utc>) -> [String; 10] {
    let status = if record.stalled {
        "stalled".to_owned()
    } else {
        record.status.to_string()
    };
    let eta = record
        .estimated_end_at
        .map_or("-".into(), |end| Clock::Local.time(end, now));
    let left = format::remaining(record, now).map_or("-".into(), format::duration);
    let updated = record.updated_at.map_or("-".into(), |at| {
        format!(
            "{} ago",
            format::duration((now - at).to_std().unwrap_or_default())
        )
    });
    [
        record.job_id.to_string(),
        record
            .name
            .as_ref()
            .map_or("-".into(), |name| name.as_str().to_owned()),
        status,
        format::counts(record),
        record.progress_percentage.to_string(),
        record.failure_count.to_string(),
        format::rate(record),
        eta,
        left,
        updated,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobId, JobName, JobStatus};

    #[test]
    fn the_table_lines_up_and_names_stalled_jobs() {
        let now = Utc::now();
        let mut running = ProgressRecord::new(
            JobId::parse("import-42").unwrap(),
            JobStatus::InProgress,
            Some(5000),
        );
        running.success_count = 1500;
        running.updated_at = Some(now - chrono::Duration::seconds(3));
        let mut stuck =
            ProgressRecord::new(JobId::parse("s").unwrap(), JobStatus::InProgress, Some(10));
        stuck.stalled = true;
        let text = table(&[running.normalized(), stuck], now, false, None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("JOB        STATUS"), "{text}");
        assert!(lines[1].contains("in_progress  1500/5000  30"), "{text}");
        assert!(lines[1].ends_with("3s ago"), "{text}");
        assert!(lines[2].starts_with("s          stalled"), "{text}");
        assert_eq!(table(&[], now, false, None), "no active jobs\n");
    }

    #[test]
    fn names_show_where_there_is_room() {
        let now = Utc::now();
        let mut named = ProgressRecord::new(
            JobId::parse("podcast-7").unwrap(),
            JobStatus::InProgress,
            None,
        );
        named.name = Some(JobName::parse("Nightly podcast summary").unwrap());
        let records = [named];
        let wide = table(&records, now, false, None);
        assert!(wide.starts_with("JOB        NAME"), "{wide}");
        assert!(
            wide.contains("podcast-7  Nightly podcast summary  in_progress"),
            "{wide}"
        );
        let header_width = wide.lines().next().unwrap().len();
        let fits = table(&records, now, false, Some(header_width - 10));
        assert!(fits.contains("  Nightly po…  in_progress"), "{fits}");
        assert!(
            fits.lines()
                .all(|line| line.chars().count() <= header_width - 10),
            "{fits}"
        );
        let narrow = table(&records, now, false, Some(40));
        assert!(
            !narrow.contains("NAME") && !narrow.contains("Nightly"),
            "{narrow}"
        );
    }
}
