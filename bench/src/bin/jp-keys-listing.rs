//! Scenario 3: what a `KEYS`-based listing of the active jobs costs Redis,
//! next to the index the API reads (`ZRANGE`, then `MGET` in batches).
//! The median of `--reps` runs of each.
//!
//! Every result is printed on stdout as `RESULT<TAB>name<TAB>value`.

use std::time::{Duration, Instant};

use clap::Parser;
use job_progress_bench::{measure::result, redis_stats, stores::RedisArgs};

/// Scenario 3: time KEYS + MGET against the index + batched MGET.
#[derive(Parser)]
struct KeysListingArgs {
    #[command(flatten)]
    redis: RedisArgs,
    #[arg(long, default_value_t = 3)]
    reps: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = KeysListingArgs::parse();
    let key_prefix = &args.redis.key_prefix;
    let mut conn = redis_stats::connect(&args.redis.redis_url).await?;
    let dbsize: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await?;
    let pattern = format!("{key_prefix}progress:*");
    let index = format!("{key_prefix}active");
    let (mut keys_t, mut mget_all_t, mut keys_total_t, mut index_t) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut found = 0;
    for _ in 0..args.reps {
        let t = Instant::now();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut conn)
            .await?;
        let keys_elapsed = t.elapsed();
        let t2 = Instant::now();
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        let mget_elapsed = t2.elapsed();
        found = values.iter().flatten().count();
        keys_t.push(keys_elapsed);
        mget_all_t.push(mget_elapsed);
        keys_total_t.push(keys_elapsed + mget_elapsed);

        // What the API does: the index, then MGET in batches of 500.
        let t = Instant::now();
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(&index)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?;
        let keys: Vec<String> = members
            .iter()
            .map(|m| format!("{key_prefix}progress:{m}"))
            .collect();
        for batch in keys.chunks(500) {
            let _: Vec<Option<String>> =
                redis::cmd("MGET").arg(batch).query_async(&mut conn).await?;
        }
        index_t.push(t.elapsed());
    }
    let ms = |v: &mut Vec<Duration>| {
        v.sort();
        format!("{:.1}", v[v.len() / 2].as_secs_f64() * 1000.0)
    };
    result("dbsize", dbsize);
    result("keys_found_values", found);
    result("keys_ms", ms(&mut keys_t));
    result("keys_mget_all_ms", ms(&mut mget_all_t));
    result("keys_listing_total_ms", ms(&mut keys_total_t));
    result("index_listing_total_ms", ms(&mut index_t));
    Ok(())
}
