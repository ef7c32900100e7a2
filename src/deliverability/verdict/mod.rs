//! The verdict: a pure function from the gathered [`Facts`] to ok / at risk / will fail /
//! could not check, with every finding's reason and fix in German and English.
//!
//! The reasoning follows what a DMARC receiver does: mail passes when SPF passes for the
//! envelope domain *and* that domain aligns with From, or when a DKIM signature of a domain
//! aligned with From verifies. On the relay path the envelope sender is the hosted address, so
//! SPF can never align with the company domain, and only postbote's own DKIM signature can
//! carry it. A lookup that could not be made is never a fault of the domain.
//!
//! Rules apart from words: [`rules`] turns the facts into typed findings (a [`Level`] and a
//! [`Code`] such as `Code::SpfMissing { domain, .. }`), [`catalog`] says each code in German and
//! English, and [`judge`] puts them together, worst first. This module does no I/O; the table
//! tests in `tests.rs` pin each case, and a golden file pins every sentence.

mod catalog;
mod rules;

use serde::Serialize;

use super::facts::Facts;
pub use catalog::{ReportWords, report_words};
pub use rules::{Code, PassedBy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    AtRisk,
    WillFail,
    CouldNotCheck,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::AtRisk => "at_risk",
            Level::WillFail => "will_fail",
            Level::CouldNotCheck => "could_not_check",
        }
    }
    pub fn parse(s: &str) -> Option<Level> {
        [Level::Ok, Level::AtRisk, Level::WillFail, Level::CouldNotCheck].into_iter().find(|l| l.as_str() == s)
    }
    /// How bad a verdict about the domain is; `None` for "could not check", which says nothing.
    pub fn severity(self) -> Option<u8> {
        match self {
            Level::Ok => Some(0),
            Level::AtRisk => Some(1),
            Level::WillFail => Some(2),
            Level::CouldNotCheck => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    De,
    En,
}

/// A sentence in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Text {
    pub de: String,
    pub en: String,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::De => &self.de,
            Lang::En => &self.en,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    /// A short stable name for tests and scripts (`spf_multiple`, `relay_unaligned`, ...).
    pub code: &'static str,
    pub reason: Text,
    pub fix: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub level: Level,
    /// Worst first; the first is the verdict's reason.
    pub findings: Vec<Finding>,
}

impl Verdict {
    pub fn reason(&self) -> &Text {
        &self.findings[0].reason
    }
    pub fn fix(&self) -> Option<&Text> {
        self.findings[0].fix.as_ref()
    }
}

/// Judge one mailbox's path for one company domain: the rules find, the catalog words.
pub fn judge(f: &Facts) -> Verdict {
    let mut findings: Vec<Finding> = rules::findings(f)
        .into_iter()
        .map(|(level, code)| {
            let (reason, fix) = catalog::words(&code);
            Finding { level, code: code.as_str(), reason, fix }
        })
        .collect();
    // Worst first; equal levels keep their order (the specific cause before the outcome).
    findings.sort_by_key(|f| std::cmp::Reverse(f.level));
    let level = findings.first().map(|f| f.level).unwrap_or(Level::Ok);
    Verdict { level, findings }
}

#[cfg(test)]
mod tests;
