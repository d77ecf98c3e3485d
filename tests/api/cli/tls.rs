//! `watch` and `ls` over https: the real app behind a TLS-terminating
//! front (as a deployment puts it behind a load balancer holding the
//! certificate), with a certificate authority each test makes, which no
//! system trusts.

use std::{path::PathBuf, sync::Arc, time::Instant};

use job_progress::write::JobSpec;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_rustls::TlsAcceptor;

use super::{LIMIT, Ran, start_with};
use support::{TestApp, eager, job, spawn_app};

/// A certificate authority, a server certificate it signed for
/// `127.0.0.1` and `localhost`, and the CA's PEM in a file.
struct TestCa {
    server: Arc<rustls::ServerConfig>,
    /// The CA's certificate, PEM, in a file (`--cacert`).
    pem_file: PathBuf,
    _dir: tempfile::TempDir,
}

fn test_ca() -> TestCa {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // A name of its own: a CA named like another would be tried as the
    // issuer of the other's certificates.
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("job-progress test CA {}", uuid::Uuid::new_v4()),
    );
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();

    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf = leaf.signed_by(&key, &ca).unwrap();

    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone(), CertificateDer::clone(ca.der())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let pem_file = dir.path().join("ca.pem");
    std::fs::write(&pem_file, ca.pem()).unwrap();
    TestCa {
        server: Arc::new(server),
        pem_file,
        _dir: dir,
    }
}

/// Terminates TLS on a port of its own and passes the bytes to the app.
struct TlsFront {
    /// `https://127.0.0.1:<port>`.
    url: String,
    task: JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_front(app: &TestApp, ca: &TestCa) -> TlsFront {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let upstream = app.address.trim_start_matches("http://").to_owned();
    let acceptor = TlsAcceptor::from(Arc::clone(&ca.server));
    let task = tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends here.
                let Ok(mut client) = acceptor.accept(client).await else {
                    return;
                };
                let mut app = TcpStream::connect(&upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut app).await;
            });
        }
    });
    TlsFront { url, task }
}

/// An app behind a TLS front, with one job running and one completed.
async fn https_app(pool: sqlx::PgPool) -> (TestApp, TestCa, TlsFront) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let running = writer.start(job("over-tls"), JobSpec::new(10));
    running.record(4, 0).unwrap();
    running.flush().await;
    let done = writer.start(job("done-tls"), JobSpec::new(2));
    done.record(2, 0).unwrap();
    done.complete().await.unwrap();
    let ca = test_ca();
    let front = tls_front(&app, &ca).await;
    (app, ca, front)
}

async fn run_with(api: &str, args: &[&str], env: &[(&str, &str)]) -> Ran {
    start_with(api, args, env).finish().await
}

fn assert_listed_and_watched(ls: &Ran, watch: &Ran) {
    assert_eq!(ls.code, 0, "{ls:?}");
    assert!(ls.stdout.contains("over-tls  in_progress  4/10"), "{ls:?}");
    assert_eq!(watch.code, 0, "{watch:?}");
    assert!(watch.stderr.contains("done-tls completed 2/2"), "{watch:?}");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn watch_and_ls_reach_an_https_api_whose_ca_is_given_with_cacert(pool: sqlx::PgPool) {
    let (_app, ca, front) = https_app(pool).await;
    let cacert = ca.pem_file.to_str().unwrap();

    let ls = run_with(&front.url, &["ls", "--cacert", cacert], &[]).await;
    let watch = run_with(&front.url, &["watch", "done-tls", "--cacert", cacert], &[]).await;

    assert_listed_and_watched(&ls, &watch);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn watch_and_ls_take_the_ca_from_job_progress_cacert(pool: sqlx::PgPool) {
    let (_app, ca, front) = https_app(pool).await;
    let env = [("JOB_PROGRESS_CACERT", ca.pem_file.to_str().unwrap())];

    let ls = run_with(&front.url, &["ls"], &env).await;
    let watch = run_with(&front.url, &["watch", "done-tls"], &env).await;

    assert_listed_and_watched(&ls, &watch);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn watch_and_ls_trust_the_system_roots(pool: sqlx::PgPool) {
    // The system's roots, as rustls-native-certs finds them: SSL_CERT_FILE
    // stands for /etc/ssl/certs here, since the test cannot install a CA.
    let (_app, ca, front) = https_app(pool).await;
    let env = [("SSL_CERT_FILE", ca.pem_file.to_str().unwrap())];

    let ls = run_with(&front.url, &["ls"], &env).await;
    let watch = run_with(&front.url, &["watch", "done-tls"], &env).await;

    assert_listed_and_watched(&ls, &watch);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn an_untrusted_certificate_ends_watch_and_ls_at_once_with_exit_3_and_the_fix(
    pool: sqlx::PgPool,
) {
    let (_app, _ca, front) = https_app(pool).await;

    let started = Instant::now();
    // The default --retry-for is 60 s: a refused certificate is not
    // retried, since waiting cannot fix it.
    let watch = run_with(&front.url, &["watch", "done-tls"], &[]).await;
    let ls = run_with(&front.url, &["ls"], &[]).await;

    for ran in [&watch, &ls] {
        assert_eq!(ran.code, 3, "{ran:?}");
        assert!(
            ran.stderr
                .contains("certificate this machine does not trust")
                && ran.stderr.contains("UnknownIssuer")
                && ran.stderr.contains("--cacert"),
            "{ran:?}"
        );
        assert!(!ran.stderr.contains("retrying"), "{ran:?}");
    }
    assert!(started.elapsed() < LIMIT / 2, "{:?}", started.elapsed());

    // Another CA's bundle does not make this certificate trusted.
    let other = test_ca();
    let wrong = run_with(
        &front.url,
        &["ls", "--cacert", other.pem_file.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(wrong.code, 3, "{wrong:?}");
    assert!(wrong.stderr.contains("UnknownIssuer"), "{wrong:?}");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn without_system_roots_only_the_cacert_is_trusted_and_plain_http_still_works(
    pool: sqlx::PgPool,
) {
    // A machine without ca-certificates: the system's roots are an empty
    // file.
    let (app, ca, front) = https_app(pool).await;
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-roots.pem");
    std::fs::write(&empty, "").unwrap();
    let no_roots = [("SSL_CERT_FILE", empty.to_str().unwrap())];

    let refused = run_with(&front.url, &["ls"], &no_roots).await;
    let ls = run_with(
        &front.url,
        &["ls", "--cacert", ca.pem_file.to_str().unwrap()],
        &no_roots,
    )
    .await;
    let plain = run_with(&app.address, &["watch", "done-tls"], &no_roots).await;

    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("no trusted root certificates on this machine")
            && refused.stderr.contains("install ca-certificates")
            && refused.stderr.contains("--cacert"),
        "{refused:?}"
    );
    assert_listed_and_watched(&ls, &plain);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_cacert_that_cannot_be_used_is_a_usage_error_naming_the_file(pool: sqlx::PgPool) {
    let (_app, _ca, front) = https_app(pool).await;
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not-a-bundle.pem");
    std::fs::write(&not_pem, "just some text\n").unwrap();
    let not_pem = not_pem.to_str().unwrap();
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();

    let flag = run_with(&front.url, &["watch", "done-tls", "--cacert", missing], &[]).await;
    let env = run_with(&front.url, &["ls"], &[("JOB_PROGRESS_CACERT", not_pem)]).await;

    // Exit 2, as for any other usage error; the message names the file.
    assert_eq!(flag.code, 2, "{flag:?}");
    assert!(
        flag.stderr
            .contains(&format!("cannot read the CA bundle {missing}")),
        "{flag:?}"
    );
    assert_eq!(env.code, 2, "{env:?}");
    assert!(
        env.stderr
            .contains(&format!("the CA bundle {not_pem} holds no PEM certificate")),
        "{env:?}"
    );
}
