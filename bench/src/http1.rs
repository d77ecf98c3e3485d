//! One keep-alive HTTP/1.1 exchange on a raw socket, shared by the bench
//! clients (`#[path]`-included by each binary): raw sockets keep the
//! client's own cost out of the server's figures.

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

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
