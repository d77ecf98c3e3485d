//! What Redis says about the traffic a scenario caused: a connection of
//! the bench's own to ask it, `INFO` fields and command counts, and which
//! of its clients are the server's.

use std::{collections::HashMap, str::FromStr};

use anyhow::Context as _;
use redis::aio::MultiplexedConnection;

use crate::procfs;

/// A connection for the bench's own questions, with no response timeout:
/// `KEYS` over a full database or `MEMORY USAGE` under load may take longer
/// than the client's default, and an answer that comes late is still the
/// answer.
pub async fn connect(url: &str) -> anyhow::Result<MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

/// `INFO commandstats` as command -> calls.
pub async fn commandstats(
    conn: &mut MultiplexedConnection,
) -> anyhow::Result<HashMap<String, u64>> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    let mut calls = HashMap::new();
    for line in info.lines() {
        let Some(rest) = line.strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, stats)) = rest.split_once(':') else {
            continue;
        };
        for field in stats.split(',') {
            if let Some(n) = field.strip_prefix("calls=") {
                calls.insert(name.to_owned(), n.parse()?);
            }
        }
    }
    Ok(calls)
}

/// The value of `field` in `info`, the text `INFO section` answered.
pub fn parse_info<T>(info: &str, section: &str, field: &str) -> anyhow::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .with_context(|| format!("no {field} in INFO {section}"))?
        .trim()
        .parse()
        .with_context(|| format!("{field} in INFO {section} is not a number"))
}

/// The number `field` of `INFO section`.
pub async fn info_field(
    conn: &mut MultiplexedConnection,
    section: &str,
    field: &str,
) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg(section).query_async(conn).await?;
    parse_info(&info, section, field)
}

/// The server's connections as Redis sees them: the `CLIENT LIST` entries
/// whose port is one of the server's sockets to Redis; returns how many and
/// their last commands (`subscribe` is the bus, the rest the store).
pub async fn server_redis_clients(
    conn: &mut MultiplexedConnection,
    server_pid: u32,
    redis_port: u16,
) -> anyhow::Result<(usize, String)> {
    let ports = procfs::tcp_ports_to(server_pid, redis_port)?;
    let list: String = redis::cmd("CLIENT").arg("LIST").query_async(conn).await?;
    let mut cmds: Vec<String> = Vec::new();
    for line in list.lines() {
        let field = |name: &str| {
            line.split(' ')
                .find_map(|f| f.strip_prefix(name))
                .map(str::to_owned)
        };
        let port = field("addr=")
            .and_then(|a| a.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()));
        if port.is_some_and(|p| ports.contains(&p)) {
            cmds.push(field("cmd=").unwrap_or_default());
        }
    }
    cmds.sort();
    Ok((cmds.len(), cmds.join(",")))
}
