//! One keep-alive HTTP/1.1 exchange on a raw socket, and the requests the
//! polling clients send: raw sockets keep the client's own cost out of the
//! server's figures.

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// The `User-Agent` of every request the bench clients send (the server
/// reads none; it names the traffic in a capture).
pub const USER_AGENT: &str = "jp-bench";

/// The bytes of a keep-alive `GET path`, with `If-None-Match: etag` when
/// one is given.
pub fn get_request(path: &str, etag: Option<&str>) -> Vec<u8> {
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {USER_AGENT}\r\n");
    if let Some(etag) = etag {
        request.push_str(&format!("If-None-Match: {etag}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Sends `request` on `stream`, reads the whole answer into `buf`, and
/// returns its status and the value of the response header `header`.
pub async fn exchange(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    request: &[u8],
    header: &str,
) -> anyhow::Result<(u16, Option<String>)> {
    stream.write_all(request).await?;
    buf.clear();
    loop {
        if stream.read_buf(buf).await? == 0 {
            bail!("connection closed by the server");
        }
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buf[..end])?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .context("no status line")?
            .parse()?;
        let (mut length, mut wanted) = (0usize, None);
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse()?;
                } else if name.eq_ignore_ascii_case(header) {
                    wanted = Some(value.trim().to_owned());
                }
            }
        }
        while buf.len() < end + 4 + length {
            if stream.read_buf(buf).await? == 0 {
                bail!("connection closed mid-body");
            }
        }
        return Ok((status, wanted));
    }
}

/// One keep-alive poll of `path` (conditional when `etag` is given): the
/// status and the `ETag` the server answered with.
pub async fn poll_once(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    path: &str,
    etag: Option<&str>,
) -> anyhow::Result<(u16, Option<String>)> {
    exchange(stream, buf, &get_request(path, etag), "etag").await
}
