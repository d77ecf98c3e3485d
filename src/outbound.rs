//! The HTTP client for every call this program makes to another server:
//! the terminal commands' requests to an API now, and any request the
//! server itself sends out. One place decides how TLS is spoken and which
//! certificates are trusted, so no caller can get it subtly different.
//!
//! **TLS is rustls with the `ring` provider.** Both build with the Rust
//! toolchain and a C compiler alone, on every architecture Debian ships
//! (ring carries its assembly pre-generated); `aws-lc-rs`, reqwest's own
//! default, compiles AWS-LC, which wants cmake on targets without
//! pre-generated bindings (and for FIPS) and NASM on Windows. ring is
//! also already compiled into this program for the NATS client.
//!
//! **Roots are the system's, plus an optional bundle** ([`CaBundle`],
//! the terminal's `--cacert`). The system's are read by
//! `rustls-platform-verifier` (the verifier reqwest itself uses): on Linux
//! it loads them with `rustls-native-certs`, that is
//! `/etc/ssl/certs/ca-certificates.crt` from Debian's `ca-certificates`
//! (or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set); on macOS and Windows it
//! asks the operating system. A machine without `ca-certificates` has no
//! system roots: it trusts only the bundle, and without one every
//! certificate is refused, saying so (plain `http://` works
//! regardless). Compiled-in roots (`webpki-roots`) were not chosen: they
//! age with the binary and ignore a company CA installed the system's way.
//!
//! reqwest is built without a default crypto provider (its
//! `rustls-no-provider` feature), so a `reqwest::Client` built anywhere
//! but [`client_builder`] would panic on its first build: clippy's
//! `disallowed-methods` (clippy.toml) points there instead.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::WebPkiSupportedAlgorithms,
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject as _},
};

/// Extra trust anchors read from a PEM file: a private CA's certificate,
/// or a bundle of them, trusted besides the system's roots.
#[derive(Clone)]
pub struct CaBundle {
    path: PathBuf,
    certs: Vec<CertificateDer<'static>>,
}

/// Why a [`CaBundle`] file cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    /// The file cannot be read.
    #[error("cannot read the CA bundle {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A `CERTIFICATE` section is not valid PEM.
    #[error("the CA bundle {} is not valid PEM: {cause}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        cause: String,
    },
    /// No `-----BEGIN CERTIFICATE-----` section at all.
    #[error("the CA bundle {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A section decodes but is not a certificate that can be trusted.
    #[error("the CA bundle {} holds a certificate that cannot be used as a root: {cause}", path.display())]
    NotARoot {
        /// The file.
        path: PathBuf,
        /// What the certificate parser said.
        cause: String,
    },
}

impl CaBundle {
    /// Reads the PEM bundle at `path`, checking each certificate as a
    /// trust anchor, so a bad file is refused now rather than at the
    /// first handshake.
    pub fn read(path: &Path) -> Result<Self, CaBundleError> {
        let pem = std::fs::read(path).map_err(|source| CaBundleError::Read {
            path: path.to_owned(),
            source,
        })?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| CaBundleError::Pem {
                path: path.to_owned(),
                cause: err.to_string(),
            })?;
        if certs.is_empty() {
            return Err(CaBundleError::Empty {
                path: path.to_owned(),
            });
        }
        let mut check = RootCertStore::empty();
        for cert in &certs {
            check
                .add(cert.clone())
                .map_err(|err| CaBundleError::NotARoot {
                    path: path.to_owned(),
                    cause: err.to_string(),
                })?;
        }
        Ok(Self {
            path: path.to_owned(),
            certs,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many certificates it holds.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Never true for a bundle that was read (an empty file is refused).
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaBundle")
            .field("path", &self.path)
            .field("certificates", &self.certs.len())
            .finish()
    }
}

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS: {0}")]
pub struct ClientError(#[from] rustls::Error);

/// A `reqwest` builder that speaks TLS as described above, trusting the
/// system's roots and `extra`'s. Callers add their own timeouts and
/// user agent, then `build()`.
///
/// Each call reads the system's roots afresh: build a client once and
/// keep it (a `reqwest::Client` is a cheap handle to its pool).
pub fn client_builder(extra: Option<&CaBundle>) -> Result<reqwest::ClientBuilder, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra = extra.map(|bundle| bundle.certs.clone()).unwrap_or_default();
    let verifier: Arc<dyn ServerCertVerifier> =
        match rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone()) {
            Ok(verifier) => Arc::new(verifier),
            // No root at all (no `ca-certificates`, no bundle): plain http
            // still works, and every certificate gets a refusal that says
            // why.
            Err(err) => Arc::new(NoTrustedRoots {
                cause: err.to_string(),
                algorithms: provider.signature_verification_algorithms,
            }),
        };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // reqwest is built for HTTP/1.1 only (no `http2` feature): say so
    // in ALPN rather than let a server pick h2.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    // The one allowed call: preconfigured, reqwest uses this config as it
    // is and never asks for a process-wide provider.
    #[allow(clippy::disallowed_methods)]
    let builder = reqwest::Client::builder();
    Ok(builder.tls_backend_preconfigured(tls))
}

/// The TLS failure behind a request's error, if there is one: a
/// certificate refused, a handshake that failed.
pub fn tls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // rustls' error reaches reqwest inside an io::Error or two, whose
        // `source()` skips the error each wraps: step into them instead.
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => err.source(),
            },
            None => err.source(),
        };
    }
    None
}

/// A TLS error in words: rustls shows a certificate error it has no
/// variant for (`Other`) in its debug form; this shows its message.
pub fn describe(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            format!("invalid peer certificate: {}", other.0)
        }
        _ => err.to_string(),
    }
}

/// Whether `err` says the certificate's issuer is not trusted here (an
/// unknown CA, or no trusted roots at all): what an extra bundle fixes.
pub fn is_untrusted_issuer(err: &rustls::Error) -> bool {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => true,
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            other.0.downcast_ref::<NoRootsError>().is_some()
        }
        _ => false,
    }
}

/// The verifier when there are no roots at all: refuses every
/// certificate, saying why.
#[derive(Debug)]
struct NoTrustedRoots {
    /// Why the platform verifier could not be made.
    cause: String,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The refusal [`NoTrustedRoots`] gives.
#[derive(Debug, thiserror::Error)]
#[error("no trusted root certificates on this machine ({0}; on Debian, install ca-certificates)")]
struct NoRootsError(String);

impl ServerCertVerifier for NoTrustedRoots {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(NoRootsError(self.cause.clone()))),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(contents: &[u8]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), contents).unwrap();
        file
    }

    #[test]
    fn a_bundle_that_cannot_be_used_is_refused_naming_the_file() {
        let missing = Path::new("/nonexistent/ca.pem");
        let err = CaBundle::read(missing).unwrap_err().to_string();
        assert!(
            err.contains("/nonexistent/ca.pem") && err.contains("cannot read"),
            "{err}"
        );

        let text = file(b"not a certificate\n");
        let err = CaBundle::read(text.path()).unwrap_err().to_string();
        assert!(err.contains(&text.path().display().to_string()), "{err}");
        assert!(err.contains("no PEM certificate"), "{err}");

        let garbage = file(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let err = CaBundle::read(garbage.path()).unwrap_err().to_string();
        assert!(err.contains(&garbage.path().display().to_string()), "{err}");
        assert!(err.contains("cannot be used as a root"), "{err}");

        let broken = file(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        let err = CaBundle::read(broken.path()).unwrap_err().to_string();
        assert!(err.contains("not valid PEM"), "{err}");
    }

    #[test]
    fn a_client_builds_without_a_bundle() {
        client_builder(None).unwrap().build().unwrap();
    }
}
