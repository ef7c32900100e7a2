//! Validation helpers every section shares: the value checks behind stage 2, each returning an
//! error that names the key and the problem (`imap.port 99999 is not a port`), and the small
//! parsers other modules use too (durations, crontab schedules, addresses, local dates).
//! Pure: no file is written, nothing is logged; `existing_file` only looks.

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;

pub(super) fn invalid(s: String) -> ConfigError {
    ConfigError::Invalid(s)
}

pub(super) fn non_empty(s: String, key: &str) -> Result<String, ConfigError> {
    if s.trim().is_empty() { Err(invalid(format!("{key} is empty"))) } else { Ok(s.trim().to_string()) }
}

pub(super) fn port(p: Option<i64>, default: u16, key: &str) -> Result<u16, ConfigError> {
    match p {
        None => Ok(default),
        Some(p) if (1..=65535).contains(&p) => Ok(p as u16),
        Some(p) => Err(invalid(format!("{key} {p} is not a port"))),
    }
}

pub(super) fn existing_file(p: PathBuf, key: &str) -> Result<PathBuf, ConfigError> {
    if p.is_file() { Ok(p) } else { Err(invalid(format!("{key} \"{}\" is not a readable file", p.display()))) }
}

/// A section's `tls_cert` and `tls_key`: both or neither, each a readable file (relative to
/// the config's directory); an error names `section.tls_cert` / `section.tls_key`.
pub(super) fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    section: &str,
    rel: super::Rel,
) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
    match (cert, key) {
        (Some(c), Some(k)) => Ok(Some((
            existing_file(rel(c), &format!("{section}.tls_cert"))?,
            existing_file(rel(k), &format!("{section}.tls_key"))?,
        ))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(invalid(format!("{section}.tls_cert is set but {section}.tls_key is not"))),
        (None, Some(_)) => Err(invalid(format!("{section}.tls_key is set but {section}.tls_cert is not"))),
    }
}

/// A plausible addr-spec: one '@', a non-empty local part, a dotted domain, no spaces.
pub fn is_address(a: &str) -> bool {
    match a.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !a.chars().any(|c| c.is_whitespace() || c == '<' || c == '>' || c == ',')
        }
        None => false,
    }
}

/// Parse a duration like `90s`, `15m`, `8h`, `5d`, `2w` (one number, one unit).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit.trim() {
        "s" => n,
        "m" | "min" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        "w" => n.checked_mul(7 * 86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

pub(super) fn duration(s: &str, key: &str) -> Result<Duration, ConfigError> {
    parse_duration(s)
        .ok_or_else(|| invalid(format!("{key} \"{s}\" is not a duration (a number and one of s, m, h, d, w: \"5d\")")))
}

/// The fields of a crontab expression, in order, with what each takes.
const CRON_FIELDS: [(&str, &str); 5] = [
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT"),
];

/// Parse a 5-field crontab expression. An error names the field that is wrong.
pub fn parse_cron(s: &str) -> Result<croner::Cron, String> {
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("has {} fields, expected 5: minute hour day-of-month month day-of-week", fields.len()));
    }
    s.parse::<croner::Cron>().map_err(|whole| {
        // Try each field alone among stars: the first that fails is the one to name.
        for (i, (name, takes)) in CRON_FIELDS.iter().enumerate() {
            let mut probe = ["*"; 5];
            probe[i] = fields[i];
            if let Err(e) = probe.join(" ").parse::<croner::Cron>() {
                return format!("the {name} field \"{}\" is wrong (it takes {takes}): {e}", fields[i]);
            }
        }
        whole.to_string()
    })
}

/// Why `s` cannot be a header value postbote writes, if it cannot: a CR or LF would end the
/// header and start another (header injection), a NUL is not allowed in mail at all.
pub fn header_text_problem(s: &str) -> Option<&'static str> {
    if s.contains(['\r', '\n']) {
        Some("contains a line break (CR or LF)")
    } else if s.contains('\0') {
        Some("contains a NUL character")
    } else {
        None
    }
}

/// A TOML date or local date-time, read in `tz`. A bare date means the start of that day,
/// or, when `end_of_day`, the end of it (so "until 6 Jan" includes the 6th).
pub fn local_datetime(
    d: &toml::value::Datetime,
    tz: chrono_tz::Tz,
    end_of_day: bool,
    key: &str,
) -> Result<chrono::DateTime<chrono::Utc>, ConfigError> {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
    let bad = || invalid(format!("{key} \"{d}\" is not a local date or date-time"));
    let date = d.date.ok_or_else(bad)?;
    let date = NaiveDate::from_ymd_opt(date.year as i32, date.month as u32, date.day as u32).ok_or_else(bad)?;
    if d.offset.is_some() {
        // An explicit offset is taken as written.
        let t = d.time.ok_or_else(bad)?;
        let s = d.to_string();
        let _ = t;
        return chrono::DateTime::parse_from_rfc3339(&s).map(|x| x.with_timezone(&chrono::Utc)).map_err(|_| bad());
    }
    let (date, time) = match d.time {
        Some(t) => (
            date,
            NaiveTime::from_hms_opt(t.hour as u32, t.minute as u32, t.second.unwrap_or(0) as u32).ok_or_else(bad)?,
        ),
        None if end_of_day => (date.succ_opt().ok_or_else(bad)?, NaiveTime::MIN),
        None => (date, NaiveTime::MIN),
    };
    let naive = NaiveDateTime::new(date, time);
    // A local time skipped by a DST change is moved forward; a doubled one takes the earlier.
    let local = tz
        .from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest())
        .ok_or_else(bad)?;
    Ok(local.with_timezone(&chrono::Utc))
}
