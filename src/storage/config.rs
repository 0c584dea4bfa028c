//! `.jit/config.json`: repository settings. Unknown keys are kept on rewrite.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Durability;
use crate::error::{Error, IoContext, Result};
use crate::model::{GateDef, State};

/// Current config schema.
pub const SCHEMA: u32 = 1;

/// Repository settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    pub schema: u32,
    /// `full` (default) or `relaxed`.
    #[serde(default)]
    pub durability: Durability,
    /// State of a new issue when `--state` is not given.
    #[serde(default = "default_state")]
    pub default_state: State,
    /// Declared label namespaces (name → description). Empty: any namespace is allowed.
    #[serde(default)]
    pub label_namespaces: BTreeMap<String, String>,
    /// A bulk change matching more issues than this needs `--yes`.
    #[serde(default = "default_bulk_confirm")]
    pub bulk_confirm: u64,
    /// Default lock wait in milliseconds.
    #[serde(default = "default_lock_timeout")]
    pub lock_timeout_ms: u64,
    /// The gate registry.
    #[serde(default)]
    pub gates: BTreeMap<String, GateDef>,
    /// Claims: lease length and fencing policy. Left out of the file while at the defaults.
    #[serde(default, skip_serializing_if = "ClaimsConfig::is_default")]
    pub claims: ClaimsConfig,
    /// A per-agent limit on write commands (token bucket); absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `rate_limit` section of config.json: each agent may run `per_minute` write commands
/// a minute on average, and `burst` at once after a pause (a token bucket).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `claims` section of config.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimsConfig {
    /// Lease of a claim or renewal without `--lease` (a duration such as `30m`).
    #[serde(default = "default_lease")]
    pub lease_default: String,
    /// The longest lease `--lease` may ask for.
    #[serde(default = "default_lease_max")]
    pub lease_max: String,
    /// Refuse writes to a claimed issue that do not present its current token.
    #[serde(default)]
    pub require_token: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_lease() -> String {
    "30m".into()
}

fn default_lease_max() -> String {
    "24h".into()
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        ClaimsConfig {
            lease_default: default_lease(),
            lease_max: default_lease_max(),
            require_token: false,
            extra: Map::new(),
        }
    }
}

impl ClaimsConfig {
    fn is_default(&self) -> bool {
        *self == ClaimsConfig::default()
    }
}

fn default_state() -> State {
    State::Backlog
}

fn default_bulk_confirm() -> u64 {
    100
}

fn default_lock_timeout() -> u64 {
    10_000
}

impl Default for Config {
    fn default() -> Self {
        Config {
            schema: SCHEMA,
            durability: Durability::Full,
            default_state: default_state(),
            label_namespaces: BTreeMap::new(),
            bulk_confirm: default_bulk_confirm(),
            lock_timeout_ms: default_lock_timeout(),
            gates: BTreeMap::new(),
            claims: ClaimsConfig::default(),
            rate_limit: None,
            extra: Map::new(),
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        // Not blocking on a FIFO, as for every file jit opens; a symbolic link to a regular
        // file is followed (a config shared between repositories is a fair use of one).
        let mut file =
            match super::open_regular(path, super::Access::ReadFollowingLinks).at(path)? {
                super::Opened::File(f) => f,
                super::Opened::Missing => {
                    return Err(std::io::Error::from(std::io::ErrorKind::NotFound)).at(path);
                }
                super::Opened::NotRegular => {
                    return Err(Error::NotRegularFile { path: path.to_path_buf() });
                }
            };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).at(path)?;
        let invalid = |message: String| Error::ConfigInvalid { path: path.to_path_buf(), message };
        if let Some(why) = crate::model::foreign_encoding(&bytes) {
            return Err(invalid(why.to_string()));
        }
        let bytes = crate::model::without_bom(&bytes);
        // The schema first: a newer one may mean things this jit would get wrong, or fields
        // it cannot even parse; either way say that, rather than guess or blame a field.
        #[derive(Deserialize)]
        struct SchemaOnly {
            schema: u32,
        }
        if let Ok(SchemaOnly { schema }) = serde_json::from_slice(bytes)
            && schema > SCHEMA
        {
            return Err(invalid(format!(
                "schema {schema} was written by a newer jit; this one reads schema {SCHEMA} \
                     and older"
            )));
        }
        serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("config serialises");
        v.push(b'\n');
        v
    }

    /// Check a label's namespace against the declared ones.
    pub fn check_label_namespace(&self, label: &str) -> Result<()> {
        let ns = label.split(':').next().unwrap_or_default();
        if self.label_namespaces.is_empty() || self.label_namespaces.contains_key(ns) {
            return Ok(());
        }
        Err(Error::InvalidLabel {
            label: label.to_string(),
            reason: format!(
                "namespace `{ns}` is not declared in config.json (declared: {})",
                self.label_namespaces.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    }
}
