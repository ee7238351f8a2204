//! The server's configuration file (`--config server.toml`): limits, and the tokens that
//! turn on tenants and authentication.
//!
//! ```toml
//! [server]
//! addr = "0.0.0.0:8080"        # optional; `--addr` wins when given
//! body_limit_bytes = 1048576   # optional, default 1 MiB
//! request_timeout_ms = 10000   # optional, default 10 s
//! max_batch = 1000             # optional: most requests in one evaluate-batch call
//!
//! [limits]                     # optional, every key too (defaults shown)
//! max_connections = 1024       # open at once; at the limit the oldest silent one is closed, else 503
//! header_read_timeout_ms = 10000  # to send a request's head; also the keep-alive idle time
//! max_running = 4              # evaluations running at once (default: 2 per core)
//! max_queued = 1024            # evaluations waiting for a slot; beyond, 503
//! max_running_per_tenant = 2   # default: 1 per core
//! max_queued_per_tenant = 512  # beyond, 429 for that tenant only
//! max_batch_inflight_bytes = 268435456  # results of evaluate-batch calls held at once; beyond, 503
//!
//! [[tokens]]
//! name = "acme-backend"        # shown in logs, never the token itself
//! sha256 = "<64 hex digits>"   # `aftersale serve --hash-token <token>` prints it
//! role = "evaluate"            # or "admin" (admin may also evaluate)
//! tenant = "acme"              # a first-level folder under --rules; "*" for an operator's admin token
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The tenant a token names to reach every tenant; only an `admin` token may.
pub const ALL_TENANTS: &str = "*";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read and evaluate its tenant's contracts.
    Evaluate,
    /// Everything `evaluate` may, plus the admin endpoints (reload, metrics).
    Admin,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Evaluate => "evaluate",
            Self::Admin => "admin",
        })
    }
}

/// One token of the configuration file; the token itself is stored only as a hash.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// A name for logs.
    pub name: String,
    /// The SHA-256 of the token, lowercase hex.
    pub sha256: String,
    /// What it may do.
    pub role: Role,
    /// The tenant it belongs to, or [`ALL_TENANTS`].
    pub tenant: String,
}

/// Limits and listening address of the `[server]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Where to listen when `--addr` is not given.
    pub addr: Option<SocketAddr>,
    /// The largest request body accepted (413 beyond).
    pub body_limit_bytes: usize,
    /// How long a request may take before it is answered 408.
    pub request_timeout_ms: u64,
    /// The most requests one `evaluate-batch` call may carry.
    pub max_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            addr: None,
            body_limit_bytes: 1 << 20,
            request_timeout_ms: 10_000,
            max_batch: 1000,
        }
    }
}

/// The `[limits]` table: what a client may hold of the server's resources. Each refusal is
/// counted in the metrics and answered with `Retry-After` where waiting helps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceLimits {
    /// Connections open at once. At the limit the oldest connection that has not sent a
    /// request yet is closed to make room; when every one has, a new one is answered 503
    /// and closed.
    pub max_connections: usize,
    /// How long a client may take to send a request's head, counted from the connection's
    /// start and, on a kept-alive connection, from the end of the previous response: the
    /// idle keep-alive timeout too (hyper's timer covers both). The connection is closed
    /// beyond it.
    pub header_read_timeout_ms: u64,
    /// Evaluations (one request, or one `evaluate-batch` call) running at once.
    pub max_running: usize,
    /// Evaluations waiting for a running slot; beyond, 503.
    pub max_queued: usize,
    /// Evaluations of one tenant running at once.
    pub max_running_per_tenant: usize,
    /// Evaluations of one tenant waiting; beyond, 429 for that tenant.
    pub max_queued_per_tenant: usize,
    /// Bytes of results all `evaluate-batch` calls being answered may hold at once (traces
    /// make them large); a call that would go beyond is answered 503.
    pub max_batch_inflight_bytes: usize,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            max_connections: 1024,
            header_read_timeout_ms: 10_000,
            max_running: cores * 2,
            max_queued: 1024,
            // A tenant may keep every core busy, never every slot.
            max_running_per_tenant: cores,
            // Half the server's queue: one tenant cannot fill it, and a burst at 2,000
            // requests a second through a reload's pause fits (benches/README.md).
            max_queued_per_tenant: 512,
            max_batch_inflight_bytes: 256 << 20,
        }
    }
}

impl ResourceLimits {
    /// The first key whose value cannot work (zero), if any.
    fn zero_key(&self) -> Option<&'static str> {
        [
            ("max_connections", self.max_connections == 0),
            ("header_read_timeout_ms", self.header_read_timeout_ms == 0),
            ("max_running", self.max_running == 0),
            ("max_running_per_tenant", self.max_running_per_tenant == 0),
            (
                "max_batch_inflight_bytes",
                self.max_batch_inflight_bytes == 0,
            ),
        ]
        .into_iter()
        .find_map(|(key, zero)| zero.then_some(key))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    server: Limits,
    #[serde(default)]
    limits: ResourceLimits,
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

/// A configuration: its limits and, when read from a file, its tokens by hash.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// The `[server]` table.
    pub limits: Limits,
    /// The `[limits]` table.
    pub resources: ResourceLimits,
    /// Tokens by their SHA-256 hex; `None` without a configuration file (no authentication,
    /// one tenant, loopback only).
    pub tokens: Option<HashMap<String, TokenEntry>>,
}

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config `{path}`: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("invalid config `{path}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its place.
        message: String,
    },
    /// A token entry is unusable.
    #[error("invalid config `{path}`: token `{name}`: {message}")]
    Token {
        /// The file.
        path: PathBuf,
        /// The token's name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

impl ServerConfig {
    /// Reads a configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Reads a configuration from its text; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        if let Some(key) = file.limits.zero_key() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("`limits.{key}` must be above zero"),
            });
        }
        let mut tokens = HashMap::new();
        for entry in file.tokens {
            let bad = |message: String| ConfigError::Token {
                path: path.to_path_buf(),
                name: entry.name.clone(),
                message,
            };
            let hash = entry.sha256.to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(
                    "`sha256` must be 64 hex digits (`aftersale serve --hash-token <token>` prints it)"
                        .into(),
                ));
            }
            if entry.tenant == ALL_TENANTS && entry.role != Role::Admin {
                return Err(bad(format!(
                    "only an `admin` token may have tenant `{ALL_TENANTS}`"
                )));
            }
            if entry.tenant != ALL_TENANTS && !is_tenant_name(&entry.tenant) {
                return Err(bad(format!(
                    "tenant `{}` is not a folder name of the form [a-z0-9_-]+",
                    entry.tenant
                )));
            }
            if tokens.contains_key(&hash) {
                return Err(bad("the same token hash appears twice".into()));
            }
            tokens.insert(hash, entry);
        }
        Ok(Self {
            limits: file.server,
            resources: file.limits,
            tokens: Some(tokens),
        })
    }

    /// Whether requests must carry a token (a configuration file was given).
    pub fn authenticates(&self) -> bool {
        self.tokens.is_some()
    }
}

/// Whether `name` can be a tenant (a first-level folder under the rules folder).
pub fn is_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The SHA-256 of a token as lowercase hex: what the configuration file stores.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_token_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_config_reads_tokens_by_hash_and_refuses_unknown_keys() {
        let text = format!(
            "[server]\nmax_batch = 5\n[[tokens]]\nname = \"a\"\nsha256 = \"{}\"\nrole = \"admin\"\ntenant = \"acme\"\n",
            hash_token("secret")
        );
        let config = ServerConfig::parse(Path::new("s.toml"), &text).unwrap();
        assert_eq!(config.limits.max_batch, 5);
        let tokens = config.tokens.unwrap();
        assert_eq!(tokens[&hash_token("secret")].role, Role::Admin);
        let err = ServerConfig::parse(Path::new("s.toml"), "[server]\nmax_bach = 5\n").unwrap_err();
        assert!(err.to_string().contains("max_bach"), "{err}");
        let err =
            ServerConfig::parse(Path::new("s.toml"), "[limits]\nmax_conections = 5\n").unwrap_err();
        assert!(err.to_string().contains("max_conections"), "{err}");
    }

    #[test]
    fn resource_limits_have_defaults_and_refuse_zero() {
        let config = ServerConfig::parse(
            Path::new("s.toml"),
            "[limits]\nmax_connections = 8\nmax_queued = 0\n",
        )
        .unwrap();
        assert_eq!(config.resources.max_connections, 8);
        assert_eq!(config.resources.max_queued, 0);
        assert_eq!(config.resources.header_read_timeout_ms, 10_000);
        let err =
            ServerConfig::parse(Path::new("s.toml"), "[limits]\nmax_running = 0\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("`limits.max_running` must be above zero"),
            "{err}"
        );
    }

    #[test]
    fn only_admin_tokens_reach_all_tenants() {
        let text = format!(
            "[[tokens]]\nname = \"a\"\nsha256 = \"{}\"\nrole = \"evaluate\"\ntenant = \"*\"\n",
            hash_token("x")
        );
        let err = ServerConfig::parse(Path::new("s.toml"), &text).unwrap_err();
        assert!(err.to_string().contains("only an `admin`"), "{err}");
    }
}
