//! Who a request comes from: the one place that decides a client's
//! address, for rate limits, stream caps and logs.
//!
//! Without `TRUSTED_PROXIES` (the default) it is the TCP peer's, and
//! forwarding headers are ignored: anyone can write them. Behind a load
//! balancer every client would then be the balancer, so the networks of
//! the proxies in front of this server can be named; a request whose peer
//! is in one of them is attributed from `X-Forwarded-For` (or, when that
//! header is absent, the `for=` of `Forwarded`, RFC 7239):
//!
//! 1. the list of hops is read left (the first client) to right (the
//!    proxy nearest to this server), all header lines in order;
//! 2. from the right, hops that are themselves trusted proxies are passed
//!    over; the first that is not is the client. Entries left of it were
//!    written by the client or by untrusted proxies, so they are never
//!    believed: a spoofed `X-Forwarded-For: 1.2.3.4, <victim>` still ends
//!    at the address the trusted balancer saw;
//! 3. a hop that names no address (`unknown`, an obfuscated `_id`, or
//!    garbage) ends the walk at the last trusted hop's address, since
//!    nothing further can be believed; a list of trusted hops only gives
//!    its leftmost.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    str::FromStr,
    sync::Arc,
};

use actix_web::{HttpRequest, http::header::HeaderMap};
use ipnet::IpNet;

/// The networks of the proxies in front of this server
/// (`TRUSTED_PROXIES`), kept as app data for [`address`]. Empty: no proxy
/// is trusted.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    /// Proxies in these networks are believed about whom they forward.
    pub fn new(networks: impl IntoIterator<Item = IpNet>) -> Self {
        Self(networks.into_iter().collect())
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|network| network.contains(&ip))
    }

    /// The client behind a request from `peer` with these `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_hops(headers);
        let mut last_trusted = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => last_trusted = *ip,
                Some(ip) => return *ip,
                None => return last_trusted,
            }
        }
        last_trusted
    }
}

/// A network as `TRUSTED_PROXIES` takes it: a CIDR (`10.0.0.0/8`,
/// `fd00::/8`) or one address (`192.0.2.7`, the same as `/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNetwork(pub IpNet);

impl FromStr for ProxyNetwork {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        raw.parse::<IpNet>()
            .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
            .map(ProxyNetwork)
            .map_err(|_| {
                format!("'{raw}' is not a network: expected a CIDR (10.0.0.0/8) or an address")
            })
    }
}

impl fmt::Display for ProxyNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The address of the client that sent `request`: the TCP peer's, or,
/// when the peer is a trusted proxy (see the module doc), the one it
/// forwards for. No peer address happens only on a Unix socket, which this
/// server does not listen on; such a request counts as `0.0.0.0`.
pub fn address(request: &HttpRequest) -> IpAddr {
    let peer = request
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    match request.app_data::<TrustedProxies>() {
        Some(proxies) if !proxies.is_empty() => proxies.client(peer, request.headers()),
        _ => canonical(peer),
    }
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.7`, as a dual-stack
/// socket reports it) is the IPv4 one: the same client, the same bucket,
/// and the same match against an IPv4 network.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The hops the forwarding headers name, first client first: each an
/// address, or `None` for one that names none.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff: Vec<_> = headers.get_all("x-forwarded-for").collect();
    if !xff.is_empty() {
        return xff
            .iter()
            .flat_map(|value| text(value).split(','))
            .map(|hop| node(hop.trim()))
            .collect();
    }
    headers
        .get_all("forwarded")
        .flat_map(|value| forwarded_for(text(value)))
        .collect()
}

/// A header's value as text; a value that is not visible ASCII names no
/// address (one unreadable hop, which stops the walk).
fn text(value: &actix_web::http::header::HeaderValue) -> &str {
    value.to_str().unwrap_or("\u{0}")
}

/// A node as forwarding headers write it: `192.0.2.7`, `192.0.2.7:4711`,
/// `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:4711`; anything else
/// (`unknown`, `_hidden`, garbage) is `None`.
fn node(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(socket) = raw.parse::<SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    let inner = raw.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

/// The `for=` of each element of one `Forwarded` value (RFC 7239 §4:
/// elements separated by `,`, pairs by `;`, each value a token or a
/// quoted string, in which `,` and `;` are text). An element without
/// `for=`, or one that cannot be read, is a hop naming no address.
fn forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    let mut element_for: Option<Option<IpAddr>> = None;
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let Some((pair, after)) = pair(rest) else {
            // Unreadable from here on: this element, and nothing after it,
            // can be believed.
            hops.push(None);
            return hops;
        };
        if let Some((name, value)) = pair
            && name.eq_ignore_ascii_case("for")
        {
            // A repeated `for` in one element is malformed (§4).
            element_for = match element_for {
                None => Some(node(&value)),
                Some(_) => Some(None),
            };
        }
        rest = after.trim_start_matches([' ', '\t']);
        match rest.as_bytes().first() {
            Some(b';') => rest = &rest[1..],
            Some(b',') => {
                hops.push(element_for.take().flatten());
                rest = &rest[1..];
            }
            None => {
                hops.push(element_for.take().flatten());
                return hops;
            }
            Some(_) => {
                hops.push(None);
                return hops;
            }
        }
    }
}

/// A `name=value` pair, its value unquoted; `None` for an empty one (as
/// in `for=a;;by=b`, or after a trailing `,`).
type Pair<'a> = Option<(&'a str, String)>;

/// The pair at the start of `text`, and what follows it; `None` when
/// `text` does not start with one.
fn pair(text: &str) -> Option<(Pair<'_>, &str)> {
    if text.is_empty() || text.starts_with([';', ',']) {
        return Some((None, text));
    }
    let name_end = text.find(|c: char| !is_tchar(c)).unwrap_or(text.len());
    let (name, after) = text.split_at(name_end);
    let after = after.strip_prefix('=')?;
    if name.is_empty() {
        return None;
    }
    if let Some(quoted) = after.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => return Some((Some((name, value)), &quoted[at + 1..])),
                '\\' => value.push(chars.next()?.1),
                c => value.push(c),
            }
        }
        None // no closing quote
    } else {
        let end = after.find(|c: char| !is_tchar(c)).unwrap_or(after.len());
        let (value, after) = after.split_at(end);
        (!value.is_empty()).then(|| (Some((name, value.to_owned())), after))
    }
}

/// A `token` character (RFC 9110 §5.6.2).
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(networks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            networks
                .iter()
                .map(|n| n.parse::<ProxyNetwork>().unwrap().0),
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn forwarded_elements_are_read_with_quotes_brackets_ports_and_obfuscation() {
        assert_eq!(
            forwarded_for(r#"for=192.0.2.60;proto=http;by=203.0.113.43"#),
            [Some(ip("192.0.2.60"))]
        );
        assert_eq!(
            forwarded_for(r#"For="[2001:db8:cafe::17]:4711", for=198.51.100.17"#),
            [Some(ip("2001:db8:cafe::17")), Some(ip("198.51.100.17"))]
        );
        assert_eq!(
            forwarded_for(r#"for="192.0.2.43:47011";by="a,b;c", for=unknown"#),
            [Some(ip("192.0.2.43")), None]
        );
        assert_eq!(
            forwarded_for("for=_hidden, for=\"[2001:db8::1]\""),
            [None, Some(ip("2001:db8::1"))]
        );
        assert_eq!(
            forwarded_for("proto=https, for=10.0.0.1"),
            [None, Some(ip("10.0.0.1"))],
            "an element without for="
        );
        assert_eq!(
            forwarded_for(r#"for="\"quoted\"", for=10.0.0.1"#),
            [None, Some(ip("10.0.0.1"))]
        );
        assert_eq!(forwarded_for("for=10.0.0.1;for=10.0.0.2"), [None]);
        assert_eq!(forwarded_for(r#"for="10.0.0.1"#), [None], "unclosed");
        assert_eq!(forwarded_for("for=10.0.0.1 junk"), [None]);
        assert_eq!(forwarded_for("=x"), [None]);
        assert_eq!(forwarded_for("for=[::1]"), [None], "brackets need quotes");
    }

    #[test]
    fn nodes_take_ports_and_brackets_and_ipv4_in_ipv6_is_ipv4() {
        assert_eq!(node("192.0.2.7:80"), Some(ip("192.0.2.7")));
        assert_eq!(node("[::1]:80"), Some(ip("::1")));
        assert_eq!(node("[::1]"), Some(ip("::1")));
        assert_eq!(node("::ffff:192.0.2.7"), Some(ip("192.0.2.7")));
        for none in ["", "unknown", "_x", "192.0.2", "[::1", "host.example"] {
            assert_eq!(node(none), None, "{none}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = TrustedProxies::default();
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(none.client(ip("10.0.0.9"), &spoofed), ip("10.0.0.9"));
        let some = proxies(&["127.0.0.1/32"]);
        assert_eq!(some.client(ip("10.0.0.9"), &spoofed), ip("10.0.0.9"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        let chain = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.5"),
            ("x-forwarded-for", "10.1.1.1"),
        ]);
        assert_eq!(p.client(ip("192.0.2.1"), &chain), ip("203.0.113.5"));
        let all_trusted = headers(&[("x-forwarded-for", "10.0.0.3, 10.0.0.2")]);
        assert_eq!(p.client(ip("10.0.0.1"), &all_trusted), ip("10.0.0.3"));
        let garbage = headers(&[("x-forwarded-for", "6.6.6.6, nonsense, 10.0.0.2")]);
        assert_eq!(
            p.client(ip("10.0.0.1"), &garbage),
            ip("10.0.0.2"),
            "the last trusted hop when the next one is unreadable"
        );
        let none = headers(&[]);
        assert_eq!(p.client(ip("10.0.0.1"), &none), ip("10.0.0.1"));
        assert_eq!(
            p.client(ip("::ffff:10.0.0.1"), &chain),
            ip("203.0.113.5"),
            "a v4-mapped peer is the v4 proxy"
        );
    }

    #[test]
    fn forwarded_counts_only_without_x_forwarded_for() {
        let p = proxies(&["10.0.0.0/8"]);
        let both = headers(&[
            ("forwarded", "for=198.51.100.1"),
            ("x-forwarded-for", "203.0.113.5"),
        ]);
        assert_eq!(p.client(ip("10.0.0.1"), &both), ip("203.0.113.5"));
        let forwarded = headers(&[("forwarded", r#"for="[2001:db8::7]:1234", for=10.0.0.5"#)]);
        assert_eq!(p.client(ip("10.0.0.1"), &forwarded), ip("2001:db8::7"));
        let hidden = headers(&[("forwarded", "for=_gateway")]);
        assert_eq!(p.client(ip("10.0.0.1"), &hidden), ip("10.0.0.1"));
    }

    #[test]
    fn networks_parse_as_cidrs_or_single_addresses() {
        assert!("10.0.0.0/8".parse::<ProxyNetwork>().is_ok());
        assert!(" fd00::/8 ".parse::<ProxyNetwork>().is_ok());
        assert_eq!(
            "192.0.2.7".parse::<ProxyNetwork>().unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert!("10.0.0.0/33".parse::<ProxyNetwork>().is_err());
        assert!("proxy.example".parse::<ProxyNetwork>().is_err());
    }
}
