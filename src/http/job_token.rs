//! Read tokens for end users: short-lived, signed, good for one job (and
//! its children), verifiable by any instance without a store lookup.
//!
//! An application backend holding a `write` or `control` token asks
//! `POST /api/v1/jobs/{jobId}/read-tokens` for one and hands it to the
//! browser of the user who started the job. The format is versioned and
//! compact, and safe in a header and a URL:
//!
//! ```text
//! jpt1.<payload, base64url>.<HMAC-SHA256 of "jpt1.<payload>", base64url>
//! payload: {"job":"<jobId>","exp":<expiry, Unix seconds>}
//! ```
//!
//! The keys (`TOKEN_SIGNING_KEY`) are comma-separated secrets of at least
//! 32 characters: the first signs, every one verifies. To rotate, put the
//! new key first and keep the old one after it until the tokens it signed
//! have expired (24 h at most), then drop it. That is also how tokens are
//! revoked: there is no list of them, so removing the key that signed a
//! token is what ends it early (with every other token that key signed).
//!
//! HMAC rather than a JWT library: one algorithm, chosen here, leaves no
//! `alg` header for a client to pick, and the token stays about a third
//! shorter in a URL. The tag is compared in constant time (`hmac`'s
//! `verify_slice`), and against every key, so the time taken says nothing
//! about which key or which bytes matched.

use std::{
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::JobId;

/// The version prefix every read token starts with; how a presented token
/// is told from a tokens-file token (base64url, which has no `.`).
pub const PREFIX: &str = "jpt1.";

/// The shortest signing key taken: 32 characters, 256 bits when random.
pub const MIN_KEY_LEN: usize = 32;

/// The signing keys: the first signs, all verify.
#[derive(Clone)]
pub struct SigningKeys(Vec<Vec<u8>>);

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the keys: settings are printed with `{:?}` in places.
        write!(f, "SigningKeys({} keys)", self.0.len())
    }
}

/// A signed token's claim: which job, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    job: String,
    exp: u64,
}

/// What a valid read token grants: reading its job (and that job's
/// children) until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobGrant {
    /// The job the token was made for.
    pub job: JobId,
    /// When it stops being valid, in Unix seconds.
    pub expires_at: u64,
}

impl JobGrant {
    /// Whether this grant admits reading `requested`, whose record names
    /// `parent` as its parent job (if it names one): its own job, and the
    /// children of its job. The one place the parent rule lives; the auth
    /// layer passes the requested job's `parentJobId`.
    pub fn admits(&self, requested: &str, parent: Option<&str>) -> bool {
        let own = self.job.as_str();
        requested == own || parent == Some(own)
    }
}

/// Why a presented read token is not valid. Only logged and answered as
/// `invalid_token`: which of these it was is not told to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadToken {
    /// Not `jpt1.<payload>.<tag>`, or the payload is not the claim.
    #[error("malformed")]
    Malformed,
    /// No configured key made this tag: tampered, or signed by a key
    /// since removed.
    #[error("bad signature")]
    Signature,
    /// Past its expiry.
    #[error("expired")]
    Expired,
}

impl SigningKeys {
    /// The keys as configured: comma-separated, each at least
    /// [`MIN_KEY_LEN`] characters (surrounding spaces ignored).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let keys: Vec<Vec<u8>> = raw
            .split(',')
            .map(|key| key.trim().as_bytes().to_vec())
            .collect();
        if keys.iter().any(|key| key.len() < MIN_KEY_LEN) {
            // Says which, by position, never the value.
            let at = keys.iter().position(|key| key.len() < MIN_KEY_LEN);
            return Err(format!(
                "each signing key must be at least {MIN_KEY_LEN} characters \
                 (key {} of {} is shorter; `job-progress token new` makes a good one)",
                at.unwrap_or(0) + 1,
                keys.len()
            ));
        }
        Ok(Self(keys))
    }

    /// A token for `job`, valid until `expires_at` (Unix seconds), signed
    /// with the first key.
    pub fn sign(&self, job: &JobId, expires_at: u64) -> String {
        let claims = Claims {
            job: job.as_str().to_owned(),
            exp: expires_at,
        };
        // A struct of a string and a number always serializes.
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let signed = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(payload));
        let tag = mac(&self.0[0], signed.as_bytes()).finalize().into_bytes();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// What `token` grants, if one of the keys signed it and it has not
    /// expired by `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<JobGrant, BadToken> {
        let (signed, tag) = token.rsplit_once('.').ok_or(BadToken::Malformed)?;
        let payload = signed.strip_prefix(PREFIX).ok_or(BadToken::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| BadToken::Malformed)?;
        // Every key is tried, whichever matches: no early exit to time.
        let mut valid = false;
        for key in &self.0 {
            valid |= mac(key, signed.as_bytes()).verify_slice(&tag).is_ok();
        }
        if !valid {
            return Err(BadToken::Signature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| BadToken::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| BadToken::Malformed)?;
        let job = JobId::parse(claims.job).map_err(|_| BadToken::Malformed)?;
        if claims.exp <= now {
            return Err(BadToken::Expired);
        }
        Ok(JobGrant {
            job,
            expires_at: claims.exp,
        })
    }
}

fn mac(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a-first-signing-key-of-32-chars-or-more";
    const B: &str = "b-second-signing-key-of-32-characters";

    fn job(id: &str) -> JobId {
        JobId::parse(id).unwrap()
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_names_its_job() {
        let keys = SigningKeys::parse(A).unwrap();
        let token = keys.sign(&job("export-1"), 1_000);
        assert!(token.starts_with(PREFIX));
        let grant = keys.verify(&token, 999).unwrap();
        assert_eq!(grant.job.as_str(), "export-1");
        assert_eq!(grant.expires_at, 1_000);
        assert_eq!(keys.verify(&token, 1_000), Err(BadToken::Expired));
    }

    #[test]
    fn the_first_key_signs_every_key_verifies_and_a_removed_key_fails() {
        let old = SigningKeys::parse(A).unwrap();
        let rotated = SigningKeys::parse(&format!("{B}, {A}")).unwrap();
        let by_old = old.sign(&job("j"), 100);
        assert!(
            rotated.verify(&by_old, 1).is_ok(),
            "the second key verifies"
        );
        let by_rotated = rotated.sign(&job("j"), 100);
        assert_eq!(old.verify(&by_rotated, 1), Err(BadToken::Signature));
        let dropped = SigningKeys::parse(B).unwrap();
        assert_eq!(dropped.verify(&by_old, 1), Err(BadToken::Signature));
    }

    #[test]
    fn a_changed_byte_or_a_bad_shape_is_refused() {
        let keys = SigningKeys::parse(A).unwrap();
        let token = keys.sign(&job("j"), 100);
        // Another job's claim under this token's tag.
        let other = keys.sign(&job("k"), 100);
        let (other_signed, _) = other.rsplit_once('.').unwrap();
        let (_, tag) = token.rsplit_once('.').unwrap();
        let forged = format!("{other_signed}.{tag}");
        assert_eq!(keys.verify(&forged, 1), Err(BadToken::Signature));
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(keys.verify(&flipped, 1).is_err());
        for bad in ["", "jpt1.", "jpt1.x", "jwt.a.b", "jpt1.a.!!"] {
            assert_eq!(keys.verify(bad, 1), Err(BadToken::Malformed), "{bad}");
        }
    }

    #[test]
    fn short_keys_are_refused_without_their_value_and_debug_shows_none() {
        let err = SigningKeys::parse(&format!("{A},short-secret")).unwrap_err();
        assert!(err.contains("key 2 of 2"), "{err}");
        assert!(!err.contains("short-secret"), "{err}");
        let keys = SigningKeys::parse(A).unwrap();
        assert!(!format!("{keys:?}").contains(A));
    }

    #[test]
    fn a_grant_admits_its_job_and_its_children_only() {
        let grant = JobGrant {
            job: job("p"),
            expires_at: 1,
        };
        assert!(grant.admits("p", None));
        assert!(grant.admits("child", Some("p")));
        assert!(!grant.admits("other", None));
        assert!(!grant.admits("other", Some("q")));
    }
}
