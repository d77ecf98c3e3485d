//! `TRUSTED_PROXIES`: whose forwarding headers name the client, for the
//! rate limit (and stream caps and logs, through the same address).

use support::{TestApp, spawn_app_with};

/// An app allowing each client one request at once (and one a second).
async fn one_request_each(pool: sqlx::PgPool, trusted: &[&str]) -> TestApp {
    let trusted: Vec<_> = trusted.iter().map(|n| n.parse().unwrap()).collect();
    spawn_app_with(pool, |o| {
        o.settings.access.rate_limit_per_second = 1;
        o.settings.access.rate_limit_burst = 1;
        o.settings.access.trusted_proxies = trusted;
    })
    .await
}

/// The status of a read of the active list sent with `header: value`.
async fn read_as(app: &TestApp, header: &str, value: &str) -> u16 {
    app.get_with("/api/v1/jobs/active", header, value)
        .await
        .status()
        .as_u16()
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_forwarded_address_from_an_untrusted_peer_is_ignored(pool: sqlx::PgPool) {
    // The test connects from 127.0.0.1, which is not trusted here.
    let app = one_request_each(pool, &["10.0.0.0/8"]).await;
    assert_eq!(read_as(&app, "X-Forwarded-For", "203.0.113.1").await, 200);
    assert_eq!(
        read_as(&app, "X-Forwarded-For", "203.0.113.2").await,
        429,
        "two spoofed clients share the peer's bucket"
    );
    assert_eq!(read_as(&app, "Forwarded", "for=203.0.113.3").await, 429);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(pool: sqlx::PgPool) {
    let app = one_request_each(pool, &["127.0.0.1/32"]).await;
    assert_eq!(read_as(&app, "X-Forwarded-For", "203.0.113.1").await, 200);
    assert_eq!(read_as(&app, "X-Forwarded-For", "203.0.113.1").await, 429);
    assert_eq!(
        read_as(&app, "X-Forwarded-For", "203.0.113.2").await,
        200,
        "another client behind the same proxy"
    );
    let v6 = r#"for="[2001:db8::1]:4711";proto=https"#;
    assert_eq!(read_as(&app, "Forwarded", v6).await, 200);
    assert_eq!(read_as(&app, "Forwarded", v6).await, 429);
    assert_eq!(
        read_as(&app, "Forwarded", "for=_hidden").await,
        200,
        "an obfuscated client counts as the proxy"
    );
    assert_eq!(read_as(&app, "X-Request-Id", "no-forwarding").await, 429);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn through_a_chain_of_proxies_the_rightmost_untrusted_address_is_the_client(
    pool: sqlx::PgPool,
) {
    let app = one_request_each(pool, &["127.0.0.1/32", "10.0.0.0/8"]).await;
    let chain = "198.51.100.7, 203.0.113.9, 10.0.0.2";
    assert_eq!(read_as(&app, "X-Forwarded-For", chain).await, 200);
    assert_eq!(
        read_as(
            &app,
            "X-Forwarded-For",
            "198.51.100.8, 203.0.113.9, 10.1.2.3"
        )
        .await,
        429,
        "what the client wrote left of its address does not count"
    );
    assert_eq!(
        read_as(&app, "X-Forwarded-For", "203.0.113.10, 10.0.0.2").await,
        200
    );
    assert_eq!(
        read_as(&app, "Forwarded", "for=203.0.113.11, for=10.0.0.2").await,
        200
    );
}
