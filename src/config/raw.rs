//! Stage 1 of the config: what the file says, as serde reads it. Every table refuses unknown
//! keys (`deny_unknown_fields`), so a typo is an error, not a silently ignored setting. Nothing
//! here is checked beyond its TOML type; [`super::Config::from_raw`] validates it.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub agent: RawAgent,
    pub imap: RawImap,
    pub relay: Option<RawSmtp>,
    pub direct: Option<RawSmtp>,
    #[serde(default)]
    pub outbox: RawOutbox,
    #[serde(default)]
    pub control: RawControl,
    #[serde(default)]
    pub jmap: RawJmap,
    #[serde(default)]
    pub doctor: RawDoctor,
    #[serde(default)]
    pub phones: RawPhones,
    #[serde(default)]
    pub imap_server: RawImapServer,
    #[serde(default)]
    pub submission: RawSubmission,
    #[serde(default)]
    pub console: RawConsole,
    #[serde(default, rename = "mailbox")]
    pub mailboxes: Vec<RawMailbox>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub data_dir: Option<PathBuf>,
    pub time_zone: Option<String>,
    pub poll: Option<String>,
    pub batch_size: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImap {
    pub host: String,
    pub port: Option<i64>,
    pub tls: Option<String>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: String,
    pub port: Option<i64>,
    pub tls: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub send_while: Option<String>,
    pub log_sessions: Option<bool>,
    pub log_sessions_until: Option<toml::value::Datetime>,
    pub max_per_minute: Option<i64>,
    pub max_per_hour: Option<i64>,
    pub max_per_day: Option<i64>,
    pub max_recipients_per_message: Option<i64>,
}

/// Send-rate limits as written in `[direct]`, `[relay]` and `[mailbox.smtp]` (the same four
/// keys in each; not a flattened struct, which serde cannot combine with unknown-key refusal).
#[derive(Debug, Default, Clone)]
pub struct RawRate {
    pub max_per_minute: Option<i64>,
    pub max_per_hour: Option<i64>,
    pub max_per_day: Option<i64>,
    pub max_recipients_per_message: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    pub lifetime: Option<String>,
    pub transcript_retention: Option<String>,
    pub max_messages_per_connection: Option<u32>,
    pub retry_schedule: Option<Vec<String>>,
    pub still_waiting_after: Option<String>,
    pub working_hours: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawControl {
    pub listen: Option<String>,
    pub session_ttl: Option<String>,
    pub max_session_ttl: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawJmap {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub trusted_proxies: Option<Vec<String>>,
    pub push_ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConsole {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub session_idle: Option<String>,
    pub session_max: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPhones {
    pub host: Option<String>,
    pub imap_port: Option<i64>,
    pub imap_security: Option<String>,
    pub smtp_port: Option<i64>,
    pub smtp_security: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_connections_per_device: Option<i64>,
    pub setup_link_ttl: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSubmission {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
    pub listen_tls: Option<String>,
    pub max_message_size: Option<i64>,
    pub idle_timeout: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawImapServer {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
    pub listen_tls: Option<String>,
    pub idle_timeout: Option<String>,
    pub append_limit: Option<super::imap_server::RawSize>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDoctor {
    pub resolver: Option<String>,
    pub dkim_selectors: Option<Vec<String>>,
    pub timeout: Option<String>,
    pub reports_mailbox: Option<String>,
    pub reports_folder: Option<String>,
    pub direct_ips: Option<Vec<String>>,
    pub relay_ips: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMailbox {
    pub id: String,
    pub kind: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
    pub hosted_address: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub folders: Option<Vec<String>>,
    pub transport: Option<String>,
    pub sent_folder: Option<String>,
    pub smtp: Option<RawMailboxSmtp>,
    pub dkim: Option<RawDkim>,
    pub vacation: Option<RawVacation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMailboxSmtp {
    pub login: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub max_per_minute: Option<i64>,
    pub max_per_hour: Option<i64>,
    pub max_per_day: Option<i64>,
    pub max_recipients_per_message: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDkim {
    pub selector: String,
    pub key_file: PathBuf,
    pub domain: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawVacation {
    pub enabled: Option<bool>,
    pub start: Option<toml::value::Datetime>,
    pub end: Option<toml::value::Datetime>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub body_html: Option<String>,
    pub internal_body: Option<String>,
    pub interval: Option<String>,
    pub schedule: Option<Vec<String>>,
    pub answer: Option<String>,
    pub max_per_hour: Option<u32>,
    pub max_age: Option<String>,
}
