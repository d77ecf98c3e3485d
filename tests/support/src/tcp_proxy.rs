//! A TCP proxy in front of a real server (PostgreSQL, Redis) that can cut
//! every connection and refuse new ones, or hold the server's replies
//! while still forwarding requests: network faults without root.
//!
//! Holding replies is how a test makes a write *happen* while its client
//! gives up on it: the server applies the request, its answer waits in the
//! proxy until the client's timeout has passed.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::watch,
};

/// Byte strings that, all found in one request, start holding replies
/// (see [`TcpProxy::hold_replies_after`]).
type Trigger = Arc<Mutex<Option<Vec<Vec<u8>>>>>;

/// A TCP proxy that can cut all its connections and refuse new ones, and
/// hold the server's replies.
pub struct TcpProxy {
    /// The port to connect to instead of the target's.
    pub port: u16,
    up: watch::Sender<bool>,
    /// Whether server-to-client bytes are held (on every connection).
    holding: watch::Sender<bool>,
    trigger: Trigger,
}

impl TcpProxy {
    /// A proxy on a free port forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, _) = watch::channel(true);
        let (holding, _) = watch::channel(false);
        let trigger = Trigger::default();
        let state = up.clone();
        let (hold, armed) = (holding.clone(), Arc::clone(&trigger));
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !*state.borrow() {
                    continue; // dropped: the client sees the connection close
                }
                let mut down = state.subscribe();
                let (hold, armed) = (hold.clone(), Arc::clone(&armed));
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (from_client, to_client) = inbound.into_split();
                    let (from_server, to_server) = outbound.into_split();
                    tokio::select! {
                        _ = requests(from_client, to_server, &hold, &armed) => {}
                        _ = replies(from_server, to_client, hold.subscribe()) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self {
            port,
            up,
            holding,
            trigger,
        }
    }

    /// Drops every connection; new ones are closed at once.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }

    /// Once a request holding every one of `needles` has been forwarded,
    /// holds every reply (on every connection) until [`release`]: the
    /// server still gets and applies requests, their clients hear nothing.
    /// (A request is matched as one read of the client's bytes: enough for
    /// the small commands of a Redis client.)
    ///
    /// [`release`]: Self::release
    pub fn hold_replies_after(&self, needles: &[&[u8]]) {
        let needles = needles.iter().map(|needle| needle.to_vec()).collect();
        *self.trigger.lock().unwrap() = Some(needles);
    }

    /// Sends the held replies on, and forwards replies again.
    pub fn release(&self) {
        self.trigger.lock().unwrap().take();
        self.holding.send_replace(false);
    }

    /// Whether replies are being held (a request has matched).
    pub fn holding(&self) -> bool {
        *self.holding.borrow()
    }
}

/// Forwards the client's bytes to the server; a request matching the
/// armed trigger starts holding replies before it is forwarded, so its
/// own reply is held.
async fn requests(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    hold: &watch::Sender<bool>,
    trigger: &Trigger,
) {
    let mut buf = vec![0; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        let request = &buf[..n];
        if fires(trigger, request) {
            hold.send_replace(true);
        }
        if to.write_all(request).await.is_err() {
            return;
        }
    }
}

/// Whether `request` holds every needle of the armed trigger (disarming
/// it).
fn fires(trigger: &Trigger, request: &[u8]) -> bool {
    let mut armed = trigger.lock().unwrap();
    let found = armed.as_ref().is_some_and(|needles| {
        needles.iter().all(|needle| {
            request
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
        })
    });
    if found {
        armed.take();
    }
    found
}

/// Forwards the server's bytes to the client, each read waiting while
/// replies are held.
async fn replies(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut holding: watch::Receiver<bool>,
) {
    let mut buf = vec![0; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        if holding.wait_for(|held| !*held).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
