//! Typed settings, loaded once at start-up.
//!
//! Owns the layering (built-in defaults < `--config FILE` < environment
//! `RETINO_SYNC__SECTION__KEY`), the `DATABASE_URL` fallback, reading secrets
//! from files, and validation. Everything is checked here so the rest of the
//! program never starts half-configured: an error names the key to fix.
//! It must not do I/O beyond reading the files it is pointed at.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// The built-in defaults are the documented default file itself, so the two
/// cannot drift apart.
const DEFAULTS: &str = include_str!("../config/default.toml");
const ENV_PREFIX: &str = "RETINO_SYNC";
const FALLBACK_DATABASE_URL: &str = "postgres://localhost/retino";
const DEFAULT_ACCOUNT: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(config::ConfigError),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl From<config::ConfigError> for ConfigError {
    fn from(e: config::ConfigError) -> Self {
        Self::Load(e)
    }
}

impl ConfigError {
    fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub accounts: Vec<AccountSettings>,
    pub sync: SyncSettings,
    pub reconcile: ReconcileSettings,
    pub server: ServerSettings,
    pub telemetry: TelemetrySettings,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// May carry a password, so it is kept secret like the token.
    pub url: SecretString,
    pub max_connections: u32,
}

/// One Retino account: its name in the mirror and how to reach its API.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub name: String,
    /// When the daemon syncs this account (`sync.schedule` unless overridden).
    pub schedule: String,
    pub api: ApiSettings,
    /// Enables `POST /webhooks/retino/{name}`: deliveries must carry it in
    /// `X-Retino-Secret`.
    pub webhook_secret: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub base_url: Url,
    pub token: SecretString,
    pub page_size: u32,
    pub timeout: Duration,
    pub max_retries: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Client-side limit; `None` for unlimited.
    pub requests_per_second: Option<std::num::NonZeroU32>,
    pub language: String,
    pub query: QueryNames,
}

/// The list endpoint's query parameter names (inferred, not documented).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QueryNames {
    pub updated_from: String,
    pub updated_to: String,
    pub ordering: String,
    pub ordering_by_update: String,
}

#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub schedule: String,
    pub lookback: Duration,
    pub max_concurrent_accounts: usize,
    pub backfill_concurrency: usize,
    pub parallel_backfill_after: Duration,
    pub stale_after: Duration,
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    pub schedule: String,
    /// The largest share of an account's mirror one pass may mark deleted
    /// without `--force`.
    pub max_share: f64,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Settings {
    /// Loads from the process environment and an optional file.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, &std::env::vars().collect())
    }

    /// Loads from an explicit environment, so tests need not mutate the
    /// process's own.
    pub fn load_from(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::invalid(
                    "--config",
                    format!("{} is not a readable file", path.display()),
                ));
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        let ours: config::Map<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(ours)),
        );
        let raw: RawSettings = builder.build()?.try_deserialize()?;
        raw.resolve(env.get("DATABASE_URL").map(String::as_str))
    }

    pub fn account(&self, name: &str) -> Option<&AccountSettings> {
        self.accounts.iter().find(|a| a.name == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    database: RawDatabase,
    api: RawApi,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    sync: RawSync,
    reconcile: RawReconcile,
    server: RawServer,
    telemetry: RawTelemetry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<SecretString>,
    max_connections: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    base_url: String,
    token: Option<SecretString>,
    token_file: Option<PathBuf>,
    webhook_secret: Option<SecretString>,
    webhook_secret_file: Option<PathBuf>,
    page_size: u32,
    #[serde(with = "humantime_serde")]
    timeout: Duration,
    max_retries: usize,
    #[serde(with = "humantime_serde")]
    backoff_min: Duration,
    #[serde(with = "humantime_serde")]
    backoff_max: Duration,
    requests_per_second: u32,
    language: String,
    query: QueryNames,
}

/// An `[[accounts]]` entry: a name plus any `[api]` key to override.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: String,
    schedule: Option<String>,
    base_url: Option<String>,
    token: Option<SecretString>,
    token_file: Option<PathBuf>,
    webhook_secret: Option<SecretString>,
    webhook_secret_file: Option<PathBuf>,
    page_size: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    max_retries: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    backoff_min: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    backoff_max: Option<Duration>,
    requests_per_second: Option<u32>,
    language: Option<String>,
    query: Option<QueryNames>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    schedule: String,
    #[serde(with = "humantime_serde")]
    lookback: Duration,
    max_concurrent_accounts: usize,
    backfill_concurrency: usize,
    #[serde(with = "humantime_serde")]
    parallel_backfill_after: Duration,
    #[serde(with = "humantime_serde")]
    stale_after: Duration,
    #[serde(with = "humantime_serde")]
    shutdown_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReconcile {
    schedule: String,
    max_share: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelemetry {
    format: LogFormat,
    level: String,
}

impl RawSettings {
    fn resolve(self, database_url_env: Option<&str>) -> Result<Settings, ConfigError> {
        let url = match self.database.url {
            Some(url) if !url.expose_secret().trim().is_empty() => url,
            _ => SecretString::from(database_url_env.unwrap_or(FALLBACK_DATABASE_URL)),
        };
        let parsed = Url::parse(url.expose_secret())
            .map_err(|e| ConfigError::invalid("database.url", format!("not a valid URL ({e})")))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(ConfigError::invalid(
                "database.url",
                "must start with postgres:// or postgresql://",
            ));
        }
        if self.database.max_connections < 2 {
            // One connection holds the account's advisory lock for the whole
            // run; page transactions need another.
            return Err(ConfigError::invalid(
                "database.max_connections",
                "must be at least 2",
            ));
        }

        let accounts = if self.accounts.is_empty() {
            vec![RawAccount::named(DEFAULT_ACCOUNT)]
        } else {
            self.accounts
        };
        let mut resolved = Vec::with_capacity(accounts.len());
        for (index, account) in accounts.into_iter().enumerate() {
            let settings = account.resolve(index, &self.api, &self.sync.schedule)?;
            if resolved
                .iter()
                .any(|a: &AccountSettings| a.name == settings.name)
            {
                return Err(ConfigError::invalid(
                    format!("accounts[{index}].name"),
                    format!("account `{}` is configured twice", settings.name),
                ));
            }
            resolved.push(settings);
        }

        validate_schedule("sync.schedule", &self.sync.schedule)?;
        for (key, value) in [
            (
                "sync.max_concurrent_accounts",
                self.sync.max_concurrent_accounts,
            ),
            ("sync.backfill_concurrency", self.sync.backfill_concurrency),
        ] {
            if !(1..=64).contains(&value) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{value} is out of range 1..=64"),
                ));
            }
        }
        validate_schedule("reconcile.schedule", &self.reconcile.schedule)?;
        if !(0.0..=1.0).contains(&self.reconcile.max_share) {
            return Err(ConfigError::invalid(
                "reconcile.max_share",
                format!(
                    "{} is not a share between 0.0 and 1.0",
                    self.reconcile.max_share
                ),
            ));
        }
        let listen = self.server.listen.trim().parse().map_err(|_| {
            ConfigError::invalid(
                "server.listen",
                format!(
                    "`{}` is not an address:port such as 0.0.0.0:8080",
                    self.server.listen
                ),
            )
        })?;
        tracing_subscriber::EnvFilter::try_new(&self.telemetry.level).map_err(|e| {
            ConfigError::invalid("telemetry.level", format!("not a valid log filter ({e})"))
        })?;

        Ok(Settings {
            database: DatabaseSettings {
                url,
                max_connections: self.database.max_connections,
            },
            accounts: resolved,
            sync: SyncSettings {
                schedule: self.sync.schedule,
                lookback: self.sync.lookback,
                max_concurrent_accounts: self.sync.max_concurrent_accounts,
                backfill_concurrency: self.sync.backfill_concurrency,
                parallel_backfill_after: self.sync.parallel_backfill_after,
                stale_after: self.sync.stale_after,
                shutdown_timeout: self.sync.shutdown_timeout,
            },
            reconcile: ReconcileSettings {
                schedule: self.reconcile.schedule,
                max_share: self.reconcile.max_share,
            },
            server: ServerSettings { listen },
            telemetry: TelemetrySettings {
                format: self.telemetry.format,
                level: self.telemetry.level,
            },
        })
    }
}

impl RawAccount {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            schedule: None,
            base_url: None,
            token: None,
            token_file: None,
            webhook_secret: None,
            webhook_secret_file: None,
            page_size: None,
            timeout: None,
            max_retries: None,
            backoff_min: None,
            backoff_max: None,
            requests_per_second: None,
            language: None,
            query: None,
        }
    }

    /// Merges this account's overrides over `[api]`. Keys in errors name
    /// where the offending value was set.
    fn resolve(
        self,
        index: usize,
        api: &RawApi,
        default_schedule: &str,
    ) -> Result<AccountSettings, ConfigError> {
        let own = |key: &str| format!("accounts[{index}].{key}");
        let name = self.name.trim().to_owned();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(ConfigError::invalid(
                own("name"),
                "must be non-empty and use only letters, digits, '-', '_' or '.'",
            ));
        }
        // Without [[accounts]] the implicit account has no section of its own.
        let key = |k: &str, overridden: bool| {
            if overridden {
                own(k)
            } else {
                format!("api.{k}")
            }
        };

        let base_url_key = key("base_url", self.base_url.is_some());
        let base_url = self.base_url.as_deref().unwrap_or(&api.base_url);
        let base_url = parse_base_url(&base_url_key, base_url)?;

        let token = if self.token.is_some() || self.token_file.is_some() {
            resolve_secret(
                &own("token"),
                &own("token_file"),
                self.token,
                self.token_file.as_deref(),
            )?
        } else {
            resolve_secret(
                "api.token",
                "api.token_file",
                api.token.clone(),
                api.token_file.as_deref(),
            )?
        }
        .ok_or_else(|| {
            ConfigError::invalid(
                key("token", false),
                format!(
                    "account `{name}` has no API token: set api.token or api.token_file \
                     (or RETINO_SYNC__API__TOKEN)"
                ),
            )
        })?;

        let webhook_secret = if self.webhook_secret.is_some() || self.webhook_secret_file.is_some()
        {
            resolve_secret(
                &own("webhook_secret"),
                &own("webhook_secret_file"),
                self.webhook_secret,
                self.webhook_secret_file.as_deref(),
            )?
        } else {
            resolve_secret(
                "api.webhook_secret",
                "api.webhook_secret_file",
                api.webhook_secret.clone(),
                api.webhook_secret_file.as_deref(),
            )?
        };

        let page_size = self.page_size.unwrap_or(api.page_size);
        if !(1..=1000).contains(&page_size) {
            return Err(ConfigError::invalid(
                key("page_size", self.page_size.is_some()),
                format!("{page_size} is out of range 1..=1000"),
            ));
        }
        let timeout = self.timeout.unwrap_or(api.timeout);
        if timeout.is_zero() {
            return Err(ConfigError::invalid(
                key("timeout", self.timeout.is_some()),
                "must be above zero",
            ));
        }
        let backoff_min = self.backoff_min.unwrap_or(api.backoff_min);
        let backoff_max = self.backoff_max.unwrap_or(api.backoff_max);
        if backoff_min > backoff_max {
            return Err(ConfigError::invalid(
                key("backoff_min", self.backoff_min.is_some()),
                "must not exceed backoff_max",
            ));
        }
        let schedule = match self.schedule {
            Some(schedule) => {
                validate_schedule(&own("schedule"), &schedule)?;
                schedule
            }
            None => default_schedule.to_owned(),
        };
        Ok(AccountSettings {
            webhook_secret,
            schedule,
            name,
            api: ApiSettings {
                base_url,
                token,
                page_size,
                timeout,
                max_retries: self.max_retries.unwrap_or(api.max_retries),
                backoff_min,
                backoff_max,
                requests_per_second: std::num::NonZeroU32::new(
                    self.requests_per_second.unwrap_or(api.requests_per_second),
                ),
                language: self.language.unwrap_or_else(|| api.language.clone()),
                query: self.query.unwrap_or_else(|| api.query.clone()),
            },
        })
    }
}

fn parse_base_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim())
        .map_err(|e| ConfigError::invalid(key, format!("`{value}` is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::invalid(
            key,
            format!("`{value}` is not an http(s) URL"),
        ));
    }
    Ok(url)
}

/// A secret from the setting itself or from a file; an empty value counts
/// as unset, so the default `token = ""` never passes for a real one.
fn resolve_secret(
    token_key: &str,
    file_key: &str,
    token: Option<SecretString>,
    file: Option<&Path>,
) -> Result<Option<SecretString>, ConfigError> {
    let token = token.filter(|t| !t.expose_secret().trim().is_empty());
    match (token, file) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            file_key,
            format!("set only one of `{token_key}` and `{file_key}`"),
        )),
        (Some(token), None) => Ok(Some(SecretString::from(token.expose_secret().trim()))),
        (None, Some(path)) => {
            let content = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::invalid(file_key, format!("cannot read {}: {e}", path.display()))
            })?;
            let token = content.trim();
            if token.is_empty() {
                return Err(ConfigError::invalid(
                    file_key,
                    format!("{} is empty", path.display()),
                ));
            }
            Ok(Some(SecretString::from(token)))
        }
        (None, None) => Ok(None),
    }
}

/// Parses a cron expression the way the scheduler will: six fields, seconds
/// first.
pub fn validate_schedule(key: &str, expression: &str) -> Result<(), ConfigError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expression)
        .map(|_| ())
        .map_err(|e| {
            ConfigError::invalid(
                key,
                format!("`{expression}` is not a cron expression with seconds, e.g. \"0 */5 * * * *\" ({e})"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_with_a_token_make_one_default_account() {
        let s = Settings::load_from(None, &env(&[("RETINO_SYNC__API__TOKEN", "t0k")])).unwrap();
        assert_eq!(s.accounts.len(), 1);
        assert_eq!(s.accounts[0].name, "default");
        assert_eq!(s.accounts[0].api.page_size, 100);
        assert_eq!(s.accounts[0].api.timeout, Duration::from_secs(30));
        assert_eq!(s.sync.lookback, Duration::from_secs(300));
        assert_eq!(s.database.url.expose_secret(), FALLBACK_DATABASE_URL);
    }

    #[test]
    fn database_url_env_is_used_only_when_the_key_is_unset() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("RETINO_SYNC__API__TOKEN", "t"),
                ("DATABASE_URL", "postgres://db/x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.url.expose_secret(), "postgres://db/x");
        let s = Settings::load_from(
            None,
            &env(&[
                ("RETINO_SYNC__API__TOKEN", "t"),
                ("DATABASE_URL", "postgres://db/x"),
                ("RETINO_SYNC__DATABASE__URL", "postgres://db/y"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.url.expose_secret(), "postgres://db/y");
    }

    #[test]
    fn a_missing_token_names_the_key() {
        let err = Settings::load_from(None, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("api.token"), "{err}");
    }

    #[test]
    fn a_bad_schedule_names_the_key() {
        let err = Settings::load_from(
            None,
            &env(&[
                ("RETINO_SYNC__API__TOKEN", "t"),
                ("RETINO_SYNC__SYNC__SCHEDULE", "every minute"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("sync.schedule"), "{err}");
    }
}
