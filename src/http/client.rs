//! Who a request comes from: the one place that decides a client's
//! address, for rate limits, stream caps and logs.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpRequest;

/// The address of the client that sent `request`: today the TCP peer's.
/// No peer address happens only on a Unix socket, which this server does
/// not listen on; such a request counts as `0.0.0.0`.
pub fn address(request: &HttpRequest) -> IpAddr {
    request
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip())
}
