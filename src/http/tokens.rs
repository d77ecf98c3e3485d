//! API tokens: the tokens file, looking a presented token up, and making
//! new ones.
//!
//! The file (`TOKENS_FILE`) holds one token per line, as
//!
//! ```text
//! # scope  sha256 of the token (hex)                                     name
//! read     3f1c…(64 hex digits)…                                          dashboard
//! write    9a0b…(64 hex digits)…                                          billing-worker
//! control  51d2…(64 hex digits)…                                          app-backend
//! ```
//!
//! The scopes: `read` reads; `write` reads and reports progress; `control`
//! reads, makes job-scoped read tokens for end users, and acts on jobs
//! (cancelling, when that lands) without reporting their progress. A
//! `write` token is a worker's, a `control` token an application
//! backend's: neither implies the other.
//!
//! Blank lines and lines starting with `#` are skipped. The server only
//! ever holds the hashes: a leaked file (or a leaked config map) gives no
//! token away. `job-progress token new` prints a fresh token and its line.

use std::{fmt, path::Path, str::FromStr, sync::Arc};

use anyhow::Context as _;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::{ConditionallySelectable as _, ConstantTimeEq as _};

/// What a token may do. `Write` and `Control` each imply `Read`, and
/// neither implies the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// The read API: progress, lists, streams.
    Read,
    /// Everything `Read` may, and the write API.
    Write,
    /// Everything `Read` may, and acting on jobs for their users: making
    /// job-scoped read tokens, and (when they land) cancelling.
    Control,
}

impl Scope {
    /// Whether a token of this scope may do what `needed` asks.
    pub fn grants(self, needed: Scope) -> bool {
        match needed {
            Scope::Read => true,
            Scope::Write | Scope::Control => self == needed,
        }
    }

    /// The scope's name, as the file and `WWW-Authenticate` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Control => "control",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "control" => Ok(Scope::Control),
            _ => Err("the scope must be `read`, `write` or `control`".into()),
        }
    }
}

/// A configured token, as the server knows it: its scope and its name
/// (what logs and rate limits say instead of the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What it may do.
    pub scope: Scope,
    /// Who holds it: 1-64 characters of `[A-Za-z0-9._:-]`.
    pub name: Arc<str>,
}

/// The configured tokens: their hashes, scopes and names.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<([u8; 32], Token)>,
}

/// A line of the tokens file that cannot be used. Its message names the
/// line and what is wrong, never the line's content: a token pasted where
/// its hash belongs must not end up in a log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {problem}")]
pub struct LineError {
    /// 1-based.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

impl Tokens {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the tokens file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("the tokens file {} is invalid", path.display()))
    }

    /// Parses a tokens file's text.
    pub fn parse(text: &str) -> Result<Self, LineError> {
        let mut tokens = Tokens::default();
        for (index, line) in text.lines().enumerate() {
            let problem = |problem: &str| LineError {
                line: index + 1,
                problem: problem.to_owned(),
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [scope, hash, name] = fields[..] else {
                return Err(problem(
                    "expected three fields, `<scope> <sha256 of the token, hex> <name>`",
                ));
            };
            let scope: Scope = scope.parse().map_err(|err: String| problem(&err))?;
            let hash = parse_hash(hash).ok_or_else(|| {
                problem(
                    "the second field must be 64 hex digits: the token's SHA-256, \
                     not the token itself (`job-progress token new` prints the line)",
                )
            })?;
            if !valid_name(name) {
                return Err(problem(
                    "the name must be 1-64 characters of letters, digits and `._:-`",
                ));
            }
            if tokens.entries.iter().any(|(h, _)| *h == hash) {
                return Err(problem("this hash is already on an earlier line"));
            }
            if tokens.entries.iter().any(|(_, t)| &*t.name == name) {
                return Err(problem(
                    "this name is already on an earlier line; names identify tokens in logs and rate limits",
                ));
            }
            let name = Arc::from(name);
            tokens.entries.push((hash, Token { scope, name }));
        }
        Ok(tokens)
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The token `presented` is, if it is one of ours. Compares its hash
    /// with every configured hash in constant time, and always with all
    /// of them, so the time taken says nothing about which bytes matched.
    pub fn find(&self, presented: &str) -> Option<&Token> {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = u32::MAX;
        for (index, (configured, _)) in self.entries.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            found.conditional_assign(&index, hash.ct_eq(configured));
        }
        self.entries.get(found as usize).map(|(_, token)| token)
    }
}

/// The token `/metrics` needs (`METRICS_TOKEN`), held as its SHA-256
/// only, so no settings dump or log can show it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken([u8; 32]);

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

impl MetricsToken {
    /// The token as configured: 16 to 256 visible ASCII characters, so
    /// it fits a header and cannot be guessed by a scraper's neighbour.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if !(16..=256).contains(&raw.len()) || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the metrics token must be 16 to 256 visible ASCII characters \
                 (`job-progress token new` makes a good one)"
                    .into(),
            );
        }
        Ok(Self(Sha256::digest(raw.as_bytes()).into()))
    }

    /// Whether `presented` is the token, compared in constant time (of
    /// hashes, so not even the length shows).
    pub fn matches(&self, presented: &str) -> bool {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        hash.ct_eq(&self.0).into()
    }
}

fn parse_hash(raw: &str) -> Option<[u8; 32]> {
    let mut hash = [0; 32];
    hex::decode_to_slice(raw, &mut hash).ok()?;
    Some(hash)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A fresh token and the tokens-file line that admits it.
#[derive(Debug)]
pub struct NewToken {
    /// The token: 32 random bytes from the operating system, base64url
    /// without padding (43 characters, safe in a header and a URL).
    pub token: String,
    /// `<scope> <sha256 hex> <name>`.
    pub line: String,
}

/// Makes a token for `name` with `scope`.
pub fn new_token(scope: Scope, name: &str) -> anyhow::Result<NewToken> {
    anyhow::ensure!(
        valid_name(name),
        "the name must be 1-64 characters of letters, digits and `._:-`"
    );
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).context("the operating system gave no random bytes")?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    Ok(NewToken {
        line: format!("{scope} {hash} {name}"),
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_round_trips_through_the_file_parser() {
        let made = new_token(Scope::Write, "billing-worker").unwrap();
        assert_eq!(made.token.len(), 43);
        let file = format!("# comment\n\n{}\n", made.line);
        let tokens = Tokens::parse(&file).unwrap();
        let found = tokens.find(&made.token).expect("the new token is found");
        assert_eq!(found.scope, Scope::Write);
        assert_eq!(&*found.name, "billing-worker");
        assert!(tokens.find("another token").is_none());
        assert_ne!(made.token, new_token(Scope::Write, "x").unwrap().token);
    }

    #[test]
    fn malformed_lines_are_refused_with_their_number_and_without_their_content() {
        let hash = "a".repeat(64);
        let token = "s3cr3t-t0ken-pasted-by-mistake";
        for (file, line) in [
            (format!("read {hash}\n"), 1),
            (format!("# ok\nadmin {hash} x\n"), 2),
            (format!("\n\nread {token} dashboard\n"), 3),
            (format!("read {hash} bad/name\n"), 1),
            (format!("read {hash} a\nwrite {hash} b\n"), 2),
            (format!("read {hash} a\nwrite {} a\n", "b".repeat(64)), 2),
        ] {
            let err = Tokens::parse(&file).unwrap_err();
            assert_eq!(err.line, line, "{file:?}: {err}");
            assert!(!err.to_string().contains(token), "{err}");
            assert!(!err.to_string().contains(&hash), "{err}");
        }
    }

    #[test]
    fn write_implies_read_and_not_the_other_way() {
        assert!(Scope::Write.grants(Scope::Read));
        assert!(Scope::Write.grants(Scope::Write));
        assert!(Scope::Read.grants(Scope::Read));
        assert!(!Scope::Read.grants(Scope::Write));
    }

    #[test]
    fn control_implies_read_and_is_neither_implied_by_write_nor_implies_it() {
        assert!(Scope::Control.grants(Scope::Read));
        assert!(Scope::Control.grants(Scope::Control));
        assert!(!Scope::Control.grants(Scope::Write));
        assert!(!Scope::Write.grants(Scope::Control));
        assert!(!Scope::Read.grants(Scope::Control));

        let made = new_token(Scope::Control, "app-backend").unwrap();
        assert!(made.line.starts_with("control "), "{}", made.line);
        let tokens = Tokens::parse(&made.line).unwrap();
        assert_eq!(tokens.find(&made.token).unwrap().scope, Scope::Control);
    }
}
