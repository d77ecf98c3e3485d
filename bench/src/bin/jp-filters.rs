//! What the lists' filters cost: `q=` and `kind=` on the finished list at
//! 1,000,000 finished jobs, on PostgreSQL and on SQLite, and on the active
//! list at 10,000 active jobs on Redis (see BENCHMARKS.md, "Filters").
//!
//! The archives are throwaway: a database made and dropped on the server
//! of `--database-url`, and a SQLite file in a temporary folder, each
//! migrated as the server does, then seeded in one statement (every row
//! finished, ~50 ms apart, a quarter of each of four kinds and four name
//! words). Redis gets a random key prefix, removed at the end. Each query
//! runs `--runs` times; the median and the slowest are printed.
//!
//! ```sh
//! cargo run --release --manifest-path bench/Cargo.toml --bin jp-filters -- --rows 1000000 --active 10000
//! ```

use std::{path::Path, time::Duration};

use chrono::{TimeDelta, Utc};
use clap::Parser;
use futures_util::future::try_join_all;
use job_progress::{
    domain::{Finished, FinishedQuery, JobFilter, JobId, JobKind, JobName, JobStatus, ProgressRecord},
    store::{Archive, HotStore, Keys, PgArchive, RedisStore, SqliteArchive, Ttls},
};
use sqlx::{Connection as _, PgConnection};
use tokio::time::Instant;

#[derive(Parser)]
struct Args {
    /// Finished jobs in each archive.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Active jobs in Redis.
    #[arg(long, default_value_t = 10_000)]
    active: u64,
    /// Runs of each query.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// The PostgreSQL server (a database is made and dropped on it).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The Redis.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
}

/// The queries measured on each archive: a name, `kind`, `q`.
const FINISHED: [(&str, Option<&str>, Option<&str>); 5] = [
    ("q rare (1 row)", None, Some("0777777")),
    ("q none (0 rows)", None, Some("zqxjkv")),
    ("q common (25%)", None, Some("newsletter")),
    ("q 2 chars", None, Some("77")),
    ("kind (25%)", Some("import"), None),
];

const TIMEOUT: Duration = Duration::from_secs(120);

/// Median and slowest of `runs` runs of `call`, in ms, and what the last
/// returned.
async fn time<F, T>(runs: usize, mut call: impl FnMut() -> F) -> (f64, f64, T)
where
    F: Future<Output = T>,
{
    let mut took = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        last = Some(call().await);
        took.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    (took[took.len() / 2], took[took.len() - 1], last.unwrap())
}

async fn finished_lists(name: &str, archive: &dyn Archive, runs: usize) -> anyhow::Result<()> {
    for (what, kind, q) in FINISHED {
        let query = FinishedQuery {
            which: Finished::Either,
            since: Utc::now() - TimeDelta::hours(48),
            limit: 50,
            after: None,
            filter: JobFilter::parse(kind, q)?,
        };
        let (median, max, page) = time(runs, || archive.finished(&query)).await;
        let found = page?.jobs.len();
        println!("RESULT {name} finished {what}: median {median:.2} ms, max {max:.2} ms ({found} on the page of 50)");
    }
    Ok(())
}

async fn postgres(args: &Args) -> anyhow::Result<()> {
    let db = format!("jp_filters_{}", std::process::id());
    let mut admin = PgConnection::connect(&args.database_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut admin)
        .await?;
    let url = match args.database_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{db}"),
        None => anyhow::bail!("DATABASE_URL has no database name"),
    };
    let result = async {
        let pool = sqlx::PgPool::connect(&url).await?;
        let archive = PgArchive::from_pool(pool.clone(), TIMEOUT);
        archive.migrate().await?;
        let started = Instant::now();
        sqlx::query(
            "INSERT INTO job_progress (job_id, status, total_target_count, current_sent_count,
                 success_count, failure_count, started_at, updated_at, completed_at, name, kind)
             SELECT 'job-' || lpad(i::text, 7, '0'), 'completed', 100, 100, 100, 0,
                 now() - i * interval '50 ms' - interval '5 min', now() - i * interval '50 ms',
                 now() - i * interval '50 ms',
                 'Campaign ' || i || ' ' || (ARRAY['newsletter','invoice','import','digest'])[i % 4 + 1],
                 (ARRAY['mail','import','export','sync'])[i % 4 + 1]
             FROM generate_series(1, $1) AS i",
        )
        .bind(i64::try_from(args.rows)?)
        .execute(&pool)
        .await?;
        sqlx::query("ANALYZE job_progress").execute(&pool).await?;
        println!("RESULT postgres seeded {} rows in {:.1} s", args.rows, started.elapsed().as_secs_f64());
        finished_lists("postgres", &archive, args.runs).await?;
        pool.close().await;
        anyhow::Ok(())
    }
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {db} WITH (FORCE)")))
        .execute(&mut admin)
        .await?;
    result
}

async fn sqlite(args: &Args, folder: &Path) -> anyhow::Result<()> {
    let path = folder.join("archive.db");
    let archive = SqliteArchive::open(&path, TIMEOUT)?;
    archive.migrate().await?;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
    let started = Instant::now();
    let now = Utc::now().timestamp_micros();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO job_progress (job_id, status, total_target_count, current_sent_count,
             success_count, failure_count, started_at, updated_at, completed_at, name, kind)
         SELECT printf('job-%07d', i), 'completed', 100, 100, 100, 0,
             ?2 - i * 50000 - 300000000, ?2 - i * 50000, ?2 - i * 50000,
             'Campaign ' || i || ' ' || (CASE i % 4 WHEN 0 THEN 'newsletter' WHEN 1 THEN 'invoice'
                 WHEN 2 THEN 'import' ELSE 'digest' END),
             (CASE i % 4 WHEN 0 THEN 'mail' WHEN 1 THEN 'import' WHEN 2 THEN 'export' ELSE 'sync' END)
         FROM n",
    )
    .bind(i64::try_from(args.rows)?)
    .bind(now)
    .execute(&mut conn)
    .await?;
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    conn.close().await?;
    println!("RESULT sqlite seeded {} rows in {:.1} s", args.rows, started.elapsed().as_secs_f64());
    finished_lists("sqlite", &archive, args.runs).await
}

async fn redis(args: &Args) -> anyhow::Result<()> {
    let prefix = format!("bench-filters-{}:", std::process::id());
    let store = RedisStore::new(&args.redis_url, Keys::new(prefix.clone()), Ttls::default(), TIMEOUT)?;
    let kinds = ["mail", "import", "export", "sync"];
    let words = ["newsletter", "invoice", "import", "digest"];
    let records: Vec<ProgressRecord> = (0..args.active)
        .map(|i| {
            let mut record = ProgressRecord::new(JobId::parse(format!("job-{i:07}")).unwrap(), JobStatus::InProgress, Some(100));
            record.started_at = Some(Utc::now() - TimeDelta::seconds(i as i64));
            record.updated_at = Some(Utc::now());
            record.kind = Some(JobKind::parse(kinds[(i % 4) as usize]).unwrap());
            record.name = Some(JobName::parse(format!("Campaign {i} {}", words[(i % 4) as usize])).unwrap());
            record
        })
        .collect();
    for chunk in records.chunks(500) {
        try_join_all(chunk.iter().map(|record| store.write(record))).await?;
    }
    let cases = [
        ("unfiltered", None, None),
        ("kind (25%)", Some("import"), None),
        ("q rare (1 job)", None, Some("0007777")),
        ("q common (25%)", None, Some("newsletter")),
    ];
    for (what, kind, q) in cases {
        let filter = JobFilter::parse(kind, q)?;
        let (median, max, page) = time(args.runs, || store.active(&filter, 50, 0)).await;
        let (page, total) = page?;
        println!(
            "RESULT redis active {what} at {} jobs: median {median:.2} ms, max {max:.2} ms ({} of {total})",
            args.active,
            page.len()
        );
    }
    let client = redis::Client::open(args.redis_url.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let names: u64 = redis::cmd("MEMORY").arg("USAGE").arg(format!("{prefix}active:names")).query_async(&mut conn).await?;
    println!("RESULT redis names hash at {} jobs: {names} bytes", args.active);
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await?;
    for chunk in keys.chunks(1000) {
        redis::cmd("DEL").arg(chunk).query_async::<()>(&mut conn).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    redis(&args).await?;
    let folder = tempfile::tempdir()?;
    sqlite(&args, folder.path()).await?;
    postgres(&args).await
}
