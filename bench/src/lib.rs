//! The benchmark suite's helper programs and what they share.
//!
//! `bench/run.sh`, `bench/embedded.sh` and `bench/redis_cluster.sh` drive
//! the programs, and BENCHMARKS.md shows how to run the others by hand;
//! each program prints its figures on stdout as `RESULT<TAB>name<TAB>value`
//! lines (the three run by hand print `RESULT` lines of their own) and its
//! progress notes on stderr.
//!
//! # The programs (`src/bin/`)
//!
//! One program per scenario family of BENCHMARKS.md, named after what it
//! measures, so each reads in one sitting and a script line says what it
//! runs (the last three keep the names they had as the main package's
//! examples):
//!
//! | program | scenario | what it does |
//! |---|---|---|
//! | `ceiling` | 1 | a bare actix-web server answering fixed bytes: the framework's ceiling |
//! | `jp-seed` | 1-4, 6 | writes jobs through the real `ProgressWriter` to both stores |
//! | `jp-keys-listing` | 3 | a `KEYS`-based listing against the index the API reads |
//! | `jp-probe` | 4 | one request every 50 ms through an outage, logging where each answer came from |
//! | `jp-writer-load` | 5 | N jobs updating every second: Redis round trips, memory, writer CPU |
//! | `jp-conns` | 6 | N idle keep-alive connections polling slowly: server RSS per connection |
//! | `jp-latency` | 7 | delivery latency of each event, from the write to the stream client |
//! | `jp-streams` | 8, 9 | many open streams (RSS, Redis connections), then the fan-out of an update |
//! | `jp-watchers` | 10 | server CPU per watcher: polling against streaming |
//! | `jp-dashboards` | 12 | 10,000 jobs writing once a second, N dashboards' streams of a page of 50: server CPU per dashboard; with `--page`, the dashboard page's own CPU in Chromium |
//! | `checkpoint_load` | 11 | checkpoints reaching PostgreSQL, batched against one statement each |
//! | `sqlite_size` | "SQLite archive" | the SQLite file's size per job and its write rates |
//! | `redis_writes` | "Redis Cluster" | the write script's throughput and memory per job, node against cluster |
//! | `jp-children` | "Parents and children" | 1,000 children of one parent writing once a second: writes, Redis CPU, the parent's read latency |
//!
//! Each takes the flags its scenario needs, with `REDIS_URL`, `DATABASE_URL`
//! and `KEY_PREFIX` from the environment where it uses a store.
//!
//! # The library (`src/`)
//!
//! - [`stores`]: the stores as arguments (one [`stores::RedisArgs`], and
//!   [`stores::Stores`] adding the database), a writer as a worker has it,
//!   and [`stores::RecordWriter`], which writes straight through the hot
//!   store's script so a stream client and its writer share one clock.
//! - [`http1`]: one keep-alive HTTP/1.1 exchange on a raw socket, and the
//!   requests the pollers send.
//! - [`sse`]: a raw Server-Sent Events client, and [`sse::open_streams`],
//!   which opens many and hands each event to the scenario.
//! - [`procfs`]: what `/proc` says about a process (the server's or this
//!   one's): CPU time, resident memory, TCP connections to a peer.
//! - [`redis_stats`]: what Redis says about the traffic: `INFO` fields,
//!   command counts, which clients are the server's.
//! - [`measure`]: the `RESULT` line, a percentile, milliseconds.
//! - [`browser`]: a headless Chromium driven over WebDriver, and the CPU
//!   its renderer and its other processes use.
//!
//! The clients speak raw HTTP/1.1 on plain sockets rather than through an
//! HTTP client library, so their own cost stays out of the server's
//! figures. Only the WebDriver client uses `reqwest`: it talks to
//! chromedriver, not to the server under test.

pub mod browser;
pub mod http1;
pub mod measure;
pub mod procfs;
pub mod redis_stats;
pub mod sse;
pub mod stores;
