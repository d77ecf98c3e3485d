//! A raw Server-Sent Events client: one plain HTTP/1.1 connection per
//! stream, decoding the chunked body and splitting events on blank lines,
//! so the client's own cost stays out of the server's figures; and
//! `open_streams`, which opens many of them and hands every event on.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use job_progress::domain::JobId;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpSocket, TcpStream},
    sync::Semaphore,
};

use crate::http1::USER_AGENT;

/// When each write (job index, count) was sent: just before its
/// `RedisStore::write`; an event's arrival is timed against it.
pub type SentAt = Arc<Mutex<HashMap<(usize, u64), Instant>>>;

/// The event stream of each job: `/api/v1/jobs/{id}/events`.
pub fn event_paths(ids: &[JobId]) -> Vec<String> {
    ids.iter()
        .map(|id| format!("/api/v1/jobs/{id}/events"))
        .collect()
}

/// One event as parsed: its `event:` name (`message` when absent) and data.
pub struct Event {
    /// The `event:` field.
    pub kind: String,
    /// The `data:` lines, joined by newlines.
    pub data: String,
}

impl Event {
    /// The `jobId` of the record in the data.
    pub fn job_id(&self) -> Option<&str> {
        let at = self.data.find("\"jobId\":\"")? + "\"jobId\":\"".len();
        let len = self.data[at..].find('"')?;
        Some(&self.data[at..at + len])
    }

    /// `currentSentCount` of the record in the data.
    pub fn count(&self) -> Option<u64> {
        let at = self.data.find("\"currentSentCount\":")? + "\"currentSentCount\":".len();
        let digits: String = self.data[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    }
}

/// A stream of Server-Sent Events over one plain HTTP/1.1 connection.
pub struct SseClient {
    stream: TcpStream,
    /// Bytes read and not yet decoded (chunk framing included).
    raw: Vec<u8>,
    /// Decoded body not yet split into events.
    body: Vec<u8>,
    chunked: bool,
    /// ACK every read at once (`TCP_QUICKACK`), instead of the kernel's
    /// delayed ACK: a diagnosis of the server's Nagle setting.
    quickack: bool,
}

/// Asks the kernel to ACK what arrived at once; it falls back to delayed
/// ACKs by itself, so this is renewed after every read.
pub fn quickack(stream: &TcpStream) {
    use std::os::fd::AsRawFd as _;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket and a pointer to an int of the size given.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&raw const one).cast(),
            std::mem::size_of_val(&one) as libc::socklen_t,
        );
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Streams one client source address carries: below the kernel's
/// ephemeral ports to one server port (`net.ipv4.ip_local_port_range`,
/// about 28,000 by default).
pub const STREAMS_PER_SOURCE: usize = 20_000;

/// The loopback source addresses for `n` streams: none (the kernel's
/// choice, 127.0.0.1) up to [`STREAMS_PER_SOURCE`], else 127.0.0.2,
/// 127.0.0.3, ... (all of 127.0.0.0/8 is local on Linux), one per
/// [`STREAMS_PER_SOURCE`] streams, or `asked` of them when given.
pub fn loopback_sources(n: usize, asked: Option<usize>) -> Vec<IpAddr> {
    let count = asked.unwrap_or(if n > STREAMS_PER_SOURCE {
        n.div_ceil(STREAMS_PER_SOURCE)
    } else {
        0
    });
    (0..count.min(250))
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8)))
        .collect()
}

/// A connection to `addr`, from `source` when given (bound before the
/// connect, so each source address has its own ephemeral ports).
async fn connect(addr: &str, source: Option<IpAddr>) -> anyhow::Result<TcpStream> {
    let Some(source) = source else {
        return Ok(TcpStream::connect(addr).await?);
    };
    let addr: SocketAddr = addr.parse().context("the address must be IP:port")?;
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    Ok(socket.connect(addr).await?)
}

impl SseClient {
    /// Connects (from `source`, when given), asks for `path`, reads the
    /// head; fails unless 200.
    pub async fn open(
        addr: &str,
        source: Option<IpAddr>,
        path: &str,
        quickack: bool,
    ) -> anyhow::Result<Self> {
        let mut stream = connect(addr, source).await?;
        stream.set_nodelay(true)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {USER_AGENT}\r\n\
             Accept: text/event-stream\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::with_capacity(2048);
        let end = loop {
            if stream.read_buf(&mut raw).await? == 0 {
                bail!("closed before the head");
            }
            if let Some(end) = find(&raw, b"\r\n\r\n") {
                break end;
            }
        };
        let head = std::str::from_utf8(&raw[..end])?.to_owned();
        let status = head.split(' ').nth(1).unwrap_or("");
        if status != "200" {
            bail!("status {status}");
        }
        let chunked = head.lines().any(|l| {
            l.split_once(':').is_some_and(|(n, v)| {
                n.eq_ignore_ascii_case("transfer-encoding")
                    && v.trim().eq_ignore_ascii_case("chunked")
            })
        });
        raw.drain(..end + 4);
        Ok(Self {
            stream,
            raw,
            body: Vec::with_capacity(1024),
            chunked,
            quickack,
        })
    }

    /// Moves whole chunks from `raw` to `body`; `false` at the last chunk.
    fn decode(&mut self) -> anyhow::Result<bool> {
        if !self.chunked {
            self.body.append(&mut self.raw);
            return Ok(true);
        }
        while let Some(line_end) = find(&self.raw, b"\r\n") {
            let size_text = std::str::from_utf8(&self.raw[..line_end])?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .with_context(|| format!("bad chunk size {size_text:?}"))?;
            if size == 0 {
                return Ok(false);
            }
            let need = line_end + 2 + size + 2;
            if self.raw.len() < need {
                break;
            }
            self.body
                .extend_from_slice(&self.raw[line_end + 2..line_end + 2 + size]);
            self.raw.drain(..need);
        }
        Ok(true)
    }

    /// The next event (comments and `retry:` alone are skipped); `None`
    /// when the server ended the stream.
    pub async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            while let Some(end) = find(&self.body, b"\n\n") {
                let block: Vec<u8> = self.body.drain(..end + 2).collect();
                let (mut kind, mut data, mut any) = (String::from("message"), String::new(), false);
                for line in std::str::from_utf8(&block)?.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if any && !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                if any {
                    return Ok(Some(Event { kind, data }));
                }
            }
            if !self.decode()? {
                return Ok(None);
            }
            if find(&self.body, b"\n\n").is_some() {
                continue;
            }
            if self.stream.read_buf(&mut self.raw).await? == 0 {
                return Ok(None);
            }
            if self.quickack {
                quickack(&self.stream);
            }
        }
    }
}

/// Counters every stream task shares.
#[derive(Default)]
pub struct Tally {
    /// Streams that got their first event (the snapshot).
    pub opened: AtomicU64,
    /// Streams that did not open (an error, a status other than 200, or
    /// no first event within 20 s).
    pub failed: AtomicU64,
    /// Opened streams that have ended since.
    pub ended: AtomicU64,
    /// `progress` events received, over all streams.
    pub events: AtomicU64,
}

/// Where streams connect: the server's `IP:port`, and the client source
/// addresses to spread them over (stream i from `sources[i % len]`; none:
/// the kernel's choice).
pub struct Dial<'a> {
    /// The server's `IP:port`.
    pub addr: &'a str,
    /// Client source addresses ([`loopback_sources`]).
    pub sources: &'a [IpAddr],
}

impl<'a> From<&'a str> for Dial<'a> {
    fn from(addr: &'a str) -> Self {
        Self { addr, sources: &[] }
    }
}

impl<'a> From<&'a String> for Dial<'a> {
    fn from(addr: &'a String) -> Self {
        addr.as_str().into()
    }
}

/// Opens `n` streams (stream i on `paths[i % paths.len()]`), `gate` at a
/// time, each handing every `progress` event's count and arrival time to
/// `on_event(stream, job, event, at)`; returns once each has its first
/// event or failed (or after two minutes, plus a second per thousand
/// streams).
pub async fn open_streams<'a, F>(
    dial: impl Into<Dial<'a>>,
    paths: &[String],
    n: usize,
    gate: usize,
    quickack: bool,
    tally: &Arc<Tally>,
    on_event: F,
) -> tokio::task::JoinSet<()>
where
    F: Fn(usize, usize, &Event, Instant) + Send + Sync + Clone + 'static,
{
    let dial = dial.into();
    let gate = Arc::new(Semaphore::new(gate));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (addr, job) = (dial.addr.to_owned(), i % paths.len());
        let source = (!dial.sources.is_empty()).then(|| dial.sources[i % dial.sources.len()]);
        let path = paths[job].clone();
        let (gate, tally, on_event) = (gate.clone(), tally.clone(), on_event.clone());
        tasks.spawn(async move {
            let permit = gate.acquire_owned().await;
            let opened = tokio::time::timeout(Duration::from_secs(20), async {
                let mut client = SseClient::open(&addr, source, &path, quickack).await?;
                let first = client.next().await?.context("no first event")?;
                anyhow::Ok((client, first))
            })
            .await;
            drop(permit);
            let opened = match opened {
                Ok(Ok((client, _snapshot))) => Ok(client),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(_) => Err("no first event within 20 s".to_owned()),
            };
            let mut client = match opened {
                Ok(client) => client,
                Err(why) => {
                    // The first few say why, on stderr.
                    if tally.failed.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("stream {i} did not open: {why}");
                    }
                    return;
                }
            };
            tally.opened.fetch_add(1, Ordering::Relaxed);
            while let Ok(Some(event)) = client.next().await {
                let at = Instant::now();
                if event.kind == "progress" {
                    tally.events.fetch_add(1, Ordering::Relaxed);
                    on_event(i, job, &event, at);
                }
            }
            tally.ended.fetch_add(1, Ordering::Relaxed);
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120 + n as u64 / 1000);
    while (tally.opened.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed)) < n as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tasks
}
