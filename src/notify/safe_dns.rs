//! Where a webhook may connect: never into the service's own network
//! unless allowed (`WEBHOOKS_ALLOW_PRIVATE`).
//!
//! A subscription's URL is written by whoever edits the file, but its host
//! is resolved by DNS, which someone else may control: a name that
//! resolves to 127.0.0.1 or 10.0.0.5 would turn the sender into a probe
//! of the inside. So the client's resolver ([`SafeResolver`]) resolves
//! each host once, checks every address it got, and hands the client
//! only checked addresses: the connection goes to one of them, with no
//! second lookup that could answer otherwise. A host with any refused
//! address is refused whole (a name mixing public and private addresses
//! is a rebinding attempt, not a receiver). A URL whose host is an IP
//! literal never reaches a resolver, so [`check_url`] checks it first.

use std::{
    net::{IpAddr, SocketAddr},
    sync::LazyLock,
};

use ipnet::IpNet;
use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
};

/// The networks a webhook may not reach: loopback, private, link-local,
/// CGNAT, unspecified, IPv4-mapped IPv6, and the multicast and broadcast
/// ranges, which are no receivers.
static REFUSED: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "::ffff:0:0/96",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ]
    .iter()
    .map(|net| net.parse().expect("a valid network"))
    .collect()
});

/// Whether a webhook may connect to `ip`.
pub fn allowed(ip: IpAddr) -> bool {
    !REFUSED.iter().any(|net| net.contains(&ip))
}

/// The address refused, for the attempt's record.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves to {ip}, a loopback, private or link-local address (WEBHOOKS_ALLOW_PRIVATE is off)"
)]
pub struct Refused {
    host: String,
    ip: IpAddr,
}

/// Checks a URL whose host is an IP literal (the resolver never sees those).
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), Refused> {
    if allow_private {
        return Ok(());
    }
    // `host_str` writes an IPv6 literal in brackets.
    let literal = url
        .host_str()
        .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|host| host.parse::<IpAddr>().ok());
    let Some(ip) = literal else {
        return Ok(());
    };
    if allowed(ip) {
        Ok(())
    } else {
        Err(Refused {
            host: ip.to_string(),
            ip,
        })
    }
}

/// The client's resolver: the system's lookup, every address checked.
#[derive(Debug, Clone, Copy)]
pub struct SafeResolver {
    /// Let private addresses through (tests, and receivers on the same
    /// network by choice).
    pub allow_private: bool,
}

impl Resolve for SafeResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the client puts the URL's port in.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && let Some(bad) = addrs.iter().find(|a| !allowed(a.ip())) {
                return Err(Box::new(Refused { host, ip: bad.ip() }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_inside_and_lets_the_outside_through() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "::ffff:8.8.8.8",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(!allowed(refused.parse().unwrap()), "{refused}");
        }
        for ok in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "100.128.0.1"] {
            assert!(allowed(ok.parse().unwrap()), "{ok}");
        }
    }

    #[test]
    fn literal_hosts_are_checked_before_any_connection() {
        let url = |u: &str| Url::parse(u).unwrap();
        assert!(check_url(&url("http://127.0.0.1:9/x"), false).is_err());
        assert!(check_url(&url("http://[::1]:9/x"), false).is_err());
        assert!(check_url(&url("http://127.0.0.1:9/x"), true).is_ok());
        assert!(check_url(&url("https://example.com/x"), false).is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused() {
        let resolver = SafeResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().unwrap();
        assert!(resolver.resolve(name).await.is_err());
        let open = SafeResolver {
            allow_private: true,
        };
        let name: Name = "localhost".parse().unwrap();
        assert!(open.resolve(name).await.is_ok());
    }
}
