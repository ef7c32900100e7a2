//! The verdict: a pure function from the gathered [`Facts`] to ok / at risk / will fail /
//! could not check, with every finding's reason and fix in German and English.
//!
//! The reasoning follows what a DMARC receiver does: mail passes when SPF passes for the
//! envelope domain *and* that domain aligns with From, or when a DKIM signature of a domain
//! aligned with From verifies. On the relay path the envelope sender is the hosted address, so
//! SPF can never align with the company domain, and only postbote's own DKIM signature can
//! carry it. A lookup that could not be made is never a fault of the domain. This module does
//! no I/O; the table tests below pin each case.

use serde::Serialize;

use super::dns::Dns;
use super::facts::*;
use crate::config::Transport;

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
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Level::Ok, Lang::De) => "in Ordnung",
            (Level::Ok, Lang::En) => "ok",
            (Level::AtRisk, Lang::De) => "gefährdet",
            (Level::AtRisk, Lang::En) => "at risk",
            (Level::WillFail, Lang::De) => "wird scheitern",
            (Level::WillFail, Lang::En) => "will fail",
            (Level::CouldNotCheck, Lang::De) => "nicht prüfbar",
            (Level::CouldNotCheck, Lang::En) => "could not check",
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

fn t(de: impl Into<String>, en: impl Into<String>) -> Text {
    Text { de: de.into(), en: en.into() }
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

fn finding(level: Level, code: &'static str, reason: Text, fix: Option<Text>) -> Finding {
    Finding { level, code, reason, fix }
}

/// Judge one mailbox's path for one company domain.
pub fn judge(f: &Facts) -> Verdict {
    let d = &f.from_domain;
    let server = &f.server;

    // 1. Anything essential that DNS did not answer makes the whole verdict "could not check".
    let mut unknown = Vec::new();
    if let Dns::Failed(e) = &f.server_ips {
        unknown.push(e.clone());
    }
    if let Spf::CouldNotCheck { error } = &f.spf {
        unknown.push(error.clone());
    }
    if let Spf::Record { results, .. } = &f.spf
        && results.iter().any(|(_, r)| *r == SpfEval::TempError)
    {
        unknown.push(format!("SPF of {}: a DNS lookup during the evaluation failed (temperror)", f.envelope_domain));
    }
    if let DmarcState::CouldNotCheck { error } = &f.dmarc {
        unknown.push(error.clone());
    }
    if let Some(Signing { published: KeyRecord::CouldNotCheck { error }, .. }) = &f.signing {
        unknown.push(error.clone());
    }
    if !unknown.is_empty() {
        let detail = unknown.join("; ");
        return Verdict {
            level: Level::CouldNotCheck,
            findings: vec![finding(
                Level::CouldNotCheck,
                "dns_unavailable",
                t(
                    format!("DNS hat nicht (rechtzeitig) geantwortet: {detail}. Das sagt nichts über {d} aus."),
                    format!("DNS did not answer (in time): {detail}. This says nothing about {d}."),
                ),
                Some(t(
                    "Später erneut prüfen; bleibt es so, den DNS-Server (doctor.resolver) und die Nameserver der Domain prüfen.",
                    "Check again later; if it persists, check the DNS server (doctor.resolver) and the domain's name servers.",
                )),
            )],
        };
    }

    let mut out = Vec::new();
    let ips = match &f.server_ips {
        Dns::Found(ips) => ips.clone(),
        _ => {
            out.push(finding(
                Level::WillFail,
                "server_unknown",
                t(
                    format!("Der Ausgangsserver {server} hat keine Adresse im DNS."),
                    format!("The outgoing server {server} has no address in DNS."),
                ),
                Some(t(
                    format!("Den Servernamen {server} in der Konfiguration prüfen."),
                    format!("Check the server name {server} in the configuration."),
                )),
            ));
            Vec::new()
        }
    };
    let spf_terms = ips
        .iter()
        .map(|i| if i.is_ipv4() { format!("ip4:{i}") } else { format!("ip6:{i}") })
        .collect::<Vec<_>>()
        .join(" ");

    // 2. What DMARC asks for, and whether aligned SPF or DKIM carries the mail.
    let dmarc = match &f.dmarc {
        DmarcState::Found(m) => Some(m),
        _ => None,
    };
    let policy = dmarc.map(|m| if m.found_at.eq_ignore_ascii_case(d) { m.p } else { m.sp });
    let pct = dmarc.map(|m| m.pct).unwrap_or(100);
    let strict = matches!(policy, Some(Policy::Reject | Policy::Quarantine)) && pct > 0;
    let aspf = dmarc.map(|m| m.aspf).unwrap_or(Alignment::Relaxed);
    let adkim = dmarc.map(|m| m.adkim).unwrap_or(Alignment::Relaxed);
    let spf_aligned = f.spf.passes() && aligned(&f.envelope_domain, d, aspf);
    let signing_ok = f.signing.as_ref().is_some_and(|s| {
        matches!(s.published, KeyRecord::Valid { .. }) && s.matches == KeyMatch::Matches && aligned(&s.domain, d, adkim)
    });
    // On the direct path the provider signs; a key under a common selector is the sign of it.
    let provider_dkim = f.transport == Transport::Direct && !f.dkim_selectors_found.is_empty();
    let dkim_aligned = signing_ok || provider_dkim;
    let dmarc_pass = spf_aligned || dkim_aligned;
    let policy_text = policy.map(|p| format!("p={}", p.as_str())).unwrap_or_else(|| "keine DMARC-Richtlinie".into());
    let policy_text_en = policy.map(|p| format!("p={}", p.as_str())).unwrap_or_else(|| "no DMARC policy".into());
    // A broken SPF is fatal unless DKIM carries the mail.
    let spf_broken_level = if dkim_aligned { Level::AtRisk } else { Level::WillFail };

    // 3. SPF of the envelope domain.
    if f.transport == Transport::Direct {
        match &f.spf {
            Spf::None => out.push(finding(
                Level::AtRisk,
                "spf_missing",
                t(format!("{d} hat keinen SPF-Eintrag."), format!("{d} has no SPF record.")),
                Some(t(
                    format!("Einen TXT-Eintrag für {d} anlegen: \"v=spf1 {spf_terms} -all\" (oder das include: des Mail-Anbieters)."),
                    format!("Publish a TXT record for {d}: \"v=spf1 {spf_terms} -all\" (or your mail provider's include:)."),
                )),
            )),
            Spf::Multiple { records } => out.push(finding(
                spf_broken_level,
                "spf_multiple",
                t(
                    format!("{d} hat {} SPF-Einträge; Empfänger werten das als Fehler (permerror), SPF besteht nie.", records.len()),
                    format!("{d} publishes {} SPF records; receivers treat that as an error (permerror), so SPF never passes.", records.len()),
                ),
                Some(t(
                    "Die Einträge zu einem einzigen \"v=spf1 ...\"-Eintrag zusammenführen.",
                    "Merge them into a single \"v=spf1 ...\" record.",
                )),
            )),
            Spf::Invalid { record, problem } => out.push(finding(
                spf_broken_level,
                "spf_invalid",
                t(
                    format!("Der SPF-Eintrag von {d} ist ungültig (permerror): {problem} in \"{record}\"."),
                    format!("The SPF record of {d} is not valid (permerror): {problem} in \"{record}\"."),
                ),
                Some(t("Die Schreibweise des Eintrags korrigieren.", "Correct the record's syntax.")),
            )),
            Spf::TooManyLookups { lookups, .. } => out.push(finding(
                spf_broken_level,
                "spf_too_many_lookups",
                t(
                    format!("Der SPF-Eintrag von {d} braucht {lookups} DNS-Abfragen, erlaubt sind {SPF_LOOKUP_LIMIT} (permerror)."),
                    format!("The SPF record of {d} needs {lookups} DNS lookups; {SPF_LOOKUP_LIMIT} are allowed (permerror)."),
                ),
                Some(t(
                    "include:-Einträge entfernen, die nicht gebraucht werden, oder durch ip4:/ip6: ersetzen.",
                    "Remove includes that are not needed, or replace them with ip4:/ip6: terms.",
                )),
            )),
            Spf::Record { results, all, .. } => {
                let failing: Vec<_> = results.iter().filter(|(_, r)| *r != SpfEval::Pass).collect();
                let worst = failing.iter().map(|(_, r)| *r).max_by_key(|r| matches!(r, SpfEval::Fail | SpfEval::PermError));
                // Name only the addresses that do not pass (a server may pass on IPv4 and not on IPv6).
                let ip_list = failing.iter().map(|(i, _)| i.to_string()).collect::<Vec<_>>().join(", ");
                let spf_terms = failing
                    .iter()
                    .map(|(i, _)| if i.is_ipv4() { format!("ip4:{i}") } else { format!("ip6:{i}") })
                    .collect::<Vec<_>>()
                    .join(" ");
                match worst {
                    Some(r) => {
                        let level = match r {
                            SpfEval::Fail | SpfEval::PermError => spf_broken_level,
                            _ => Level::AtRisk,
                        };
                        let r = serde_json::to_value(r).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                        out.push(finding(
                            level,
                            "spf_not_authorised",
                            t(
                                format!("SPF von {d} erlaubt den Ausgangsserver {server} ({ip_list}) nicht (Ergebnis: {r})."),
                                format!("The SPF record of {d} does not authorise the outgoing server {server} ({ip_list}) (result: {r})."),
                            ),
                            Some(t(
                                format!("Im SPF-Eintrag von {d} vor dem \"all\" ergänzen: {spf_terms} (oder das include: des Mail-Anbieters)."),
                                format!("Add {spf_terms} (or your mail provider's include:) to the SPF record of {d}, before the \"all\"."),
                            )),
                        ));
                    }
                    None => match all {
                        Some(AllQualifier::Pass) => out.push(finding(
                            Level::AtRisk,
                            "spf_plus_all",
                            t(
                                format!("SPF von {d} endet mit +all: jeder Server der Welt darf als {d} senden; Empfänger misstrauen dem."),
                                format!("The SPF record of {d} ends in +all: every server in the world may send as {d}; receivers distrust that."),
                            ),
                            Some(t("Mit -all oder ~all abschließen.", "End it with -all or ~all.")),
                        )),
                        Some(AllQualifier::Neutral) | None => out.push(finding(
                            Level::Ok,
                            "spf_neutral_all",
                            t(
                                format!("SPF von {d} sagt nichts über andere Server (?all oder kein all)."),
                                format!("The SPF record of {d} says nothing about other servers (?all or no all)."),
                            ),
                            Some(t("Mit ~all oder -all abschließen.", "End it with ~all or -all.")),
                        )),
                        _ => {}
                    },
                }
            }
            Spf::CouldNotCheck { .. } => {}
        }
    } else if !f.spf.passes() {
        out.push(finding(
            Level::AtRisk,
            "relay_spf_not_authorised",
            t(
                format!("Der SPF-Eintrag des Hosting-Anbieters ({}) erlaubt dessen Server {server} nicht; das kann nur der Anbieter beheben.", f.envelope_domain),
                format!("The hosted domain's SPF ({}) does not authorise its own server {server}; only the vendor can fix that.", f.envelope_domain),
            ),
            None,
        ));
    }

    // 4. DKIM signing by postbote.
    if let Some(s) = &f.signing {
        let at = format!("{}._domainkey.{}", s.selector, s.domain);
        let publish = t(
            format!("Den TXT-Eintrag für {at} veröffentlichen, den `postbote dkim record` ausgibt."),
            format!("Publish the TXT record for {at} that `postbote dkim record` prints."),
        );
        let problem = match (&s.published, &s.matches) {
            (KeyRecord::Absent, _) => Some((
                "dkim_key_missing",
                t(
                    format!("postbote signiert mit DKIM, aber unter {at} ist kein Schlüssel veröffentlicht."),
                    format!("postbote signs with DKIM, but no key is published at {at}."),
                ),
                Some(publish.clone()),
            )),
            (KeyRecord::Invalid { error }, _) => Some((
                "dkim_key_invalid",
                t(
                    format!("Der Eintrag unter {at} ist kein gültiger DKIM-Schlüssel ({error})."),
                    format!("The record at {at} is not a valid DKIM key ({error})."),
                ),
                Some(publish.clone()),
            )),
            (KeyRecord::Revoked, _) => Some((
                "dkim_key_revoked",
                t(
                    format!("Der Schlüssel unter {at} ist zurückgezogen (leeres p=)."),
                    format!("The key at {at} is revoked (empty p=)."),
                ),
                Some(publish.clone()),
            )),
            (_, KeyMatch::Unreadable { error }) => Some((
                "dkim_key_file_unusable",
                t(
                    format!("Der konfigurierte DKIM-Schlüssel ist nicht verwendbar: {error}"),
                    format!("The configured DKIM key cannot be used: {error}"),
                ),
                Some(t(
                    "dkim.key_file prüfen oder mit `postbote dkim keygen` neu erzeugen.",
                    "Check dkim.key_file or create a new key with `postbote dkim keygen`.",
                )),
            )),
            (KeyRecord::Valid { .. }, KeyMatch::Mismatch) => Some((
                "dkim_key_mismatch",
                t(
                    format!(
                        "Der unter {at} veröffentlichte Schlüssel passt nicht zum konfigurierten privaten Schlüssel; Signaturen von postbote scheitern."
                    ),
                    format!(
                        "The key published at {at} does not match the configured private key; postbote's signatures fail."
                    ),
                ),
                Some(publish.clone()),
            )),
            _ if !aligned(&s.domain, d, adkim) => Some((
                "dkim_unaligned",
                t(
                    format!("postbote signiert als {}, das passt nicht zur Absenderdomain {d}.", s.domain),
                    format!("postbote signs as {}, which does not align with the From domain {d}.", s.domain),
                ),
                Some(t(format!("dkim.domain auf {d} setzen."), format!("Set dkim.domain to {d}."))),
            )),
            _ => None,
        };
        if let Some((code, reason, fix)) = problem {
            // When the signature was the only way through a strict policy, this is the cause.
            let level = if strict && !dmarc_pass { Level::WillFail } else { Level::AtRisk };
            out.push(finding(level, code, reason, fix));
        }
    }

    // 5. The DMARC record itself.
    match &f.dmarc {
        DmarcState::Invalid { problem, .. } => out.push(finding(
            Level::AtRisk,
            "dmarc_invalid",
            t(
                format!("Der DMARC-Eintrag von {d} ist ungültig ({problem}); Empfänger ignorieren ihn."),
                format!("The DMARC record of {d} is not valid ({problem}); receivers ignore it."),
            ),
            Some(t(
                format!("_dmarc.{d} korrigieren, z. B. \"v=DMARC1; p=none; rua=mailto:dmarc@{d}\"."),
                format!("Correct _dmarc.{d}, e.g. \"v=DMARC1; p=none; rua=mailto:dmarc@{d}\"."),
            )),
        )),
        DmarcState::Absent => out.push(finding(
            Level::Ok,
            "dmarc_missing",
            t(format!("{d} hat keinen DMARC-Eintrag."), format!("{d} has no DMARC record.")),
            Some(t(
                format!("_dmarc.{d} anlegen: \"v=DMARC1; p=none; rua=mailto:dmarc@{d}\", später p=quarantine."),
                format!("Publish _dmarc.{d}: \"v=DMARC1; p=none; rua=mailto:dmarc@{d}\", later p=quarantine."),
            )),
        )),
        DmarcState::Found(m) if dmarc_pass && m.p == Policy::None => out.push(finding(
            Level::Ok,
            "dmarc_monitor_only",
            t(
                format!("DMARC von {d} beobachtet nur (p=none); gefälschte Absender werden nicht abgewiesen."),
                format!("DMARC of {d} only monitors (p=none); forged senders are not turned away."),
            ),
            Some(t(
                "Wenn die Berichte sauber sind, auf p=quarantine erhöhen.",
                "Once the reports are clean, raise it to p=quarantine.",
            )),
        )),
        _ => {}
    }

    if let DmarcState::Found(m) = &f.dmarc {
        if m.rua.is_empty() {
            out.push(finding(
                Level::Ok,
                "dmarc_no_reports",
                t(
                    format!("DMARC von {d} fordert keine Berichte an (kein rua=); Probleme bleiben unbemerkt."),
                    format!("DMARC of {d} asks for no reports (no rua=); problems go unnoticed."),
                ),
                Some(t(
                    format!("rua=mailto:dmarc@{d} zum Eintrag _dmarc.{} hinzufügen.", m.found_at),
                    format!("Add rua=mailto:dmarc@{d} to the record _dmarc.{}.", m.found_at),
                )),
            ));
        }
        if m.pct < 100 && m.p != Policy::None {
            out.push(finding(
                Level::Ok,
                "dmarc_partial",
                t(
                    format!("DMARC von {d} gilt nur für {}% der Mails (pct={}).", m.pct, m.pct),
                    format!("DMARC of {d} applies to {}% of mail only (pct={}).", m.pct, m.pct),
                ),
                None,
            ));
        }
    }

    // 6. The outcome: does this path pass DMARC for the company domain?
    let fix_path = t(
        "Den direkten Weg über den eigenen Ausgangsserver nutzen (transport = \"direct\"), oder postbote mit DKIM signieren lassen ([mailbox.dkim], `postbote dkim keygen`).",
        "Use the direct path through the company's own server (transport = \"direct\"), or let postbote sign with DKIM ([mailbox.dkim], `postbote dkim keygen`).",
    );
    if !dmarc_pass {
        let level = if strict { Level::WillFail } else { Level::AtRisk };
        let (code, reason, fix) = match f.transport {
            Transport::Relay if f.signing.is_some() => (
                "relay_unaligned",
                t(
                    format!(
                        "Die DKIM-Signatur von postbote für {d} besteht nicht (siehe oben), und SPF passt auf dem Relay-Weg nicht zu {d}: mit {policy_text} kommt die Mail nicht sicher an."
                    ),
                    format!(
                        "postbote's DKIM signature for {d} cannot pass (see above), and SPF does not align with {d} on the relay path: with {policy_text_en}, the mail is not safe."
                    ),
                ),
                fix_path.clone(),
            ),
            Transport::Relay => (
                "relay_unaligned",
                if strict {
                    t(
                        format!(
                            "Auf diesem Weg (Relay {server}) ist DKIM für {d} nicht zu haben, und SPF passt nicht zu {d} (Umschlag-Absender {}): {policy_text} – strenge Empfänger weisen die Mail ab.",
                            f.envelope_sender
                        ),
                        format!(
                            "DKIM for {d} cannot be had on this path (relay {server}), and SPF does not align with {d} (envelope sender {}): with {policy_text_en}, strict receivers will reject it.",
                            f.envelope_sender
                        ),
                    )
                } else {
                    t(
                        format!(
                            "Auf diesem Weg (Relay {server}) besteht weder SPF noch DKIM passend zu {d}; die Mail kommt nur an, weil {d} {policy_text} hat. Viele Empfänger sortieren sie als Spam aus, und eine strengere Richtlinie würde sie abweisen."
                        ),
                        format!(
                            "On this path (relay {server}) neither SPF nor DKIM aligns with {d}; mail arrives only because {d} has {policy_text_en}. Many receivers junk it, and a stricter policy would reject it."
                        ),
                    )
                },
                fix_path.clone(),
            ),
            Transport::Direct => (
                "direct_unaligned",
                if strict {
                    t(
                        format!(
                            "Weder SPF noch DKIM bestehen passend zu {d}: mit {policy_text} weisen Empfänger die Mail ab oder sortieren sie aus."
                        ),
                        format!(
                            "Neither SPF nor DKIM passes aligned with {d}: with {policy_text_en}, receivers reject or junk the mail."
                        ),
                    )
                } else {
                    t(
                        format!(
                            "Weder SPF noch DKIM bestehen für {d}: Empfänger, die Authentifizierung verlangen (Gmail, Microsoft), sortieren die Mail aus oder weisen sie ab."
                        ),
                        format!(
                            "Neither SPF nor DKIM passes for {d}: receivers that require authentication (Gmail, Microsoft) junk or reject the mail."
                        ),
                    )
                },
                t(
                    format!(
                        "SPF von {d} um {server} ergänzen (siehe oben) und den Anbieter mit DKIM signieren lassen."
                    ),
                    format!(
                        "Authorise {server} in the SPF record of {d} (see above) and have the provider sign with DKIM."
                    ),
                ),
            ),
        };
        out.push(finding(level, code, reason, Some(fix)));
    } else {
        let how = if spf_aligned {
            t(
                format!("SPF besteht für {d} über {server} und passt zum Absender"),
                format!("SPF passes for {d} through {server} and aligns with From"),
            )
        } else if signing_ok {
            let s = f.signing.as_ref().map(|s| format!("{}._domainkey.{}", s.selector, s.domain)).unwrap_or_default();
            t(
                format!("die DKIM-Signatur von postbote ({s}) passt zu {d}"),
                format!("postbote's DKIM signature ({s}) aligns with {d}"),
            )
        } else {
            t(
                format!("der Anbieter veröffentlicht DKIM-Schlüssel für {d} ({})", f.dkim_selectors_found.join(", ")),
                format!("the provider publishes DKIM keys for {d} ({})", f.dkim_selectors_found.join(", ")),
            )
        };
        let caveat = if f.transport == Transport::Relay {
            t(
                " – solange das Relay die Nachricht unverändert lässt.",
                " – as long as the relay leaves the message unchanged.",
            )
        } else {
            t(".", ".")
        };
        // First among equals: when all is well, this is the reason.
        out.insert(
            0,
            finding(
                Level::Ok,
                "dmarc_passes",
                t(format!("DMARC besteht: {}{}", how.de, caveat.de), format!("DMARC passes: {}{}", how.en, caveat.en)),
                None,
            ),
        );
        if f.transport == Transport::Direct && !dkim_aligned && f.dkim_search_failed.is_none() {
            out.push(finding(
                Level::Ok,
                "dkim_not_found",
                t(
                    format!("Unter den üblichen Selektoren ist kein DKIM-Schlüssel für {d} zu finden; weitergeleitete Mail verliert SPF."),
                    format!("No DKIM key for {d} under the common selectors; forwarded mail loses SPF."),
                ),
                Some(t("Den Mail-Anbieter mit DKIM signieren lassen.", "Have the mail provider sign with DKIM.")),
            ));
        }
    }

    // Worst first; equal levels keep their order (the specific cause before the outcome).
    out.sort_by_key(|f| std::cmp::Reverse(f.level));
    let level = out.first().map(|f| f.level).unwrap_or(Level::Ok);
    Verdict { level, findings: out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const DIRECT_IP: &str = "192.0.2.2";

    fn dmarc(p: Policy) -> DmarcState {
        DmarcState::Found(Dmarc {
            found_at: "bau-firma.de".into(),
            record: String::new(),
            p,
            sp: p,
            pct: 100,
            adkim: Alignment::Relaxed,
            aspf: Alignment::Relaxed,
            rua: vec![],
        })
    }

    fn spf_with(r: SpfEval, all: AllQualifier) -> Spf {
        Spf::Record {
            record: "v=spf1 ...".into(),
            all: Some(all),
            redirect: false,
            lookups: Some(1),
            results: vec![(DIRECT_IP.parse::<IpAddr>().unwrap(), r)],
        }
    }

    /// Direct path, SPF passing with -all, DMARC reject, provider DKIM found: all is well.
    fn direct_ok() -> Facts {
        Facts {
            mailbox: "becker".into(),
            transport: Transport::Direct,
            from_domain: "bau-firma.de".into(),
            server: "smtp.provider.de".into(),
            server_ips: Dns::Found(vec![DIRECT_IP.parse().unwrap()]),
            envelope_sender: "becker@bau-firma.de".into(),
            envelope_domain: "bau-firma.de".into(),
            spf: spf_with(SpfEval::Pass, AllQualifier::Fail),
            dkim_selectors_found: vec!["default".into()],
            dkim_search_failed: None,
            signing: None,
            dmarc: dmarc(Policy::Reject),
        }
    }

    fn relay(mut f: Facts) -> Facts {
        f.transport = Transport::Relay;
        f.server = "smtp.handwerk.org".into();
        f.envelope_sender = "becker.bau-firma@handwerk.org".into();
        f.envelope_domain = "handwerk.org".into();
        f
    }

    fn signing(published: KeyRecord, matches: KeyMatch) -> Option<Signing> {
        Some(Signing { selector: "postbote".into(), domain: "bau-firma.de".into(), published, matches })
    }

    type Case = (&'static str, fn() -> Facts, Level, &'static str);

    /// Each case: its name, its facts, the expected level and the code of the first finding.
    fn cases() -> Vec<Case> {
        vec![
            ("direct, SPF pass, DKIM found, p=reject", direct_ok, Level::Ok, "dmarc_passes"),
            (
                "direct, no SPF, no DKIM, no DMARC",
                || Facts { spf: Spf::None, dkim_selectors_found: vec![], dmarc: DmarcState::Absent, ..direct_ok() },
                Level::AtRisk,
                "spf_missing",
            ),
            (
                "direct, two SPF records, p=quarantine",
                || Facts {
                    spf: Spf::Multiple { records: vec!["a".into(), "b".into()] },
                    dkim_selectors_found: vec![],
                    dmarc: dmarc(Policy::Quarantine),
                    ..direct_ok()
                },
                Level::WillFail,
                "spf_multiple",
            ),
            (
                "direct, two SPF records but DKIM carries it",
                || Facts { spf: Spf::Multiple { records: vec!["a".into(), "b".into()] }, ..direct_ok() },
                Level::AtRisk,
                "spf_multiple",
            ),
            (
                "direct, SPF -all without the server, p=none",
                || Facts {
                    spf: spf_with(SpfEval::Fail, AllQualifier::Fail),
                    dkim_selectors_found: vec![],
                    dmarc: dmarc(Policy::None),
                    ..direct_ok()
                },
                Level::WillFail,
                "spf_not_authorised",
            ),
            (
                "direct, SPF ~all without the server, p=none",
                || Facts {
                    spf: spf_with(SpfEval::SoftFail, AllQualifier::SoftFail),
                    dkim_selectors_found: vec![],
                    dmarc: dmarc(Policy::None),
                    ..direct_ok()
                },
                Level::AtRisk,
                "spf_not_authorised",
            ),
            (
                "direct, SPF ~all without the server, p=reject, no DKIM",
                || Facts {
                    spf: spf_with(SpfEval::SoftFail, AllQualifier::SoftFail),
                    dkim_selectors_found: vec![],
                    ..direct_ok()
                },
                Level::WillFail,
                "direct_unaligned",
            ),
            (
                "direct, SPF syntax error",
                || Facts {
                    spf: Spf::Invalid { record: "v=spf1 ip4:300.1.1.1 -all".into(), problem: "bad".into() },
                    dkim_selectors_found: vec![],
                    dmarc: dmarc(Policy::None),
                    ..direct_ok()
                },
                Level::WillFail,
                "spf_invalid",
            ),
            (
                "direct, too many SPF lookups",
                || Facts {
                    spf: Spf::TooManyLookups { record: String::new(), lookups: 11 },
                    dkim_selectors_found: vec![],
                    dmarc: dmarc(Policy::None),
                    ..direct_ok()
                },
                Level::WillFail,
                "spf_too_many_lookups",
            ),
            (
                "direct, +all",
                || Facts { spf: spf_with(SpfEval::Pass, AllQualifier::Pass), ..direct_ok() },
                Level::AtRisk,
                "spf_plus_all",
            ),
            (
                "direct, SPF ok, p=none",
                || Facts { dmarc: dmarc(Policy::None), dkim_selectors_found: vec![], ..direct_ok() },
                Level::Ok,
                "dmarc_passes",
            ),
            (
                "direct, SPF ok, DMARC invalid",
                || Facts { dmarc: DmarcState::Invalid { record: "x".into(), problem: "no p".into() }, ..direct_ok() },
                Level::AtRisk,
                "dmarc_invalid",
            ),
            ("relay, p=reject, no signing", || relay(direct_ok()), Level::WillFail, "relay_unaligned"),
            (
                "relay, p=quarantine, no signing",
                || Facts { dmarc: dmarc(Policy::Quarantine), ..relay(direct_ok()) },
                Level::WillFail,
                "relay_unaligned",
            ),
            (
                "relay, p=reject pct=0",
                || {
                    let mut f = relay(direct_ok());
                    if let DmarcState::Found(m) = &mut f.dmarc {
                        m.pct = 0;
                    }
                    f
                },
                Level::AtRisk,
                "relay_unaligned",
            ),
            (
                "relay, p=none",
                || Facts { dmarc: dmarc(Policy::None), ..relay(direct_ok()) },
                Level::AtRisk,
                "relay_unaligned",
            ),
            (
                "relay, no DMARC",
                || Facts { dmarc: DmarcState::Absent, ..relay(direct_ok()) },
                Level::AtRisk,
                "relay_unaligned",
            ),
            (
                "relay, p=reject, postbote signs with the published key",
                || Facts {
                    signing: signing(KeyRecord::Valid { bits: Some(2048) }, KeyMatch::Matches),
                    ..relay(direct_ok())
                },
                Level::Ok,
                "dmarc_passes",
            ),
            (
                "relay, p=reject, key missing",
                || Facts { signing: signing(KeyRecord::Absent, KeyMatch::NotChecked), ..relay(direct_ok()) },
                Level::WillFail,
                "dkim_key_missing",
            ),
            (
                "relay, p=reject, key mismatch",
                || Facts {
                    signing: signing(KeyRecord::Valid { bits: Some(2048) }, KeyMatch::Mismatch),
                    ..relay(direct_ok())
                },
                Level::WillFail,
                "dkim_key_mismatch",
            ),
            (
                "relay, p=none, key mismatch",
                || Facts {
                    dmarc: dmarc(Policy::None),
                    signing: signing(KeyRecord::Valid { bits: Some(2048) }, KeyMatch::Mismatch),
                    ..relay(direct_ok())
                },
                Level::AtRisk,
                "dkim_key_mismatch",
            ),
            (
                "relay, signing as another domain",
                || Facts {
                    signing: Some(Signing {
                        selector: "s".into(),
                        domain: "other.de".into(),
                        published: KeyRecord::Valid { bits: None },
                        matches: KeyMatch::Matches,
                    }),
                    ..relay(direct_ok())
                },
                Level::WillFail,
                "dkim_unaligned",
            ),
            (
                "DNS timeout on SPF",
                || Facts { spf: Spf::CouldNotCheck { error: "timeout".into() }, ..direct_ok() },
                Level::CouldNotCheck,
                "dns_unavailable",
            ),
            (
                "SERVFAIL on DMARC",
                || Facts { dmarc: DmarcState::CouldNotCheck { error: "SERVFAIL".into() }, ..direct_ok() },
                Level::CouldNotCheck,
                "dns_unavailable",
            ),
            (
                "server address lookup failed",
                || Facts { server_ips: Dns::Failed("timeout".into()), ..direct_ok() },
                Level::CouldNotCheck,
                "dns_unavailable",
            ),
            (
                "temperror during SPF evaluation",
                || Facts { spf: spf_with(SpfEval::TempError, AllQualifier::Fail), ..direct_ok() },
                Level::CouldNotCheck,
                "dns_unavailable",
            ),
            (
                "signing key lookup failed",
                || Facts {
                    signing: signing(KeyRecord::CouldNotCheck { error: "timeout".into() }, KeyMatch::NotChecked),
                    ..relay(direct_ok())
                },
                Level::CouldNotCheck,
                "dns_unavailable",
            ),
            (
                "server has no address",
                || Facts {
                    server_ips: Dns::Absent,
                    spf: Spf::Record {
                        record: String::new(),
                        all: None,
                        redirect: false,
                        lookups: Some(0),
                        results: vec![],
                    },
                    dkim_selectors_found: vec![],
                    ..direct_ok()
                },
                Level::WillFail,
                "server_unknown",
            ),
        ]
    }

    /// More facts, for the rules and wordings the table above does not reach first.
    fn more_cases() -> Vec<(&'static str, fn() -> Facts)> {
        vec![
            ("direct, DKIM key record invalid", || Facts {
                signing: signing(KeyRecord::Invalid { error: "no p= tag".into() }, KeyMatch::NotChecked),
                ..direct_ok()
            }),
            ("relay, DKIM key revoked, p=none", || Facts {
                dmarc: dmarc(Policy::None),
                signing: signing(KeyRecord::Revoked, KeyMatch::NotChecked),
                ..relay(direct_ok())
            }),
            ("relay, DKIM key file unusable", || Facts {
                signing: signing(
                    KeyRecord::Valid { bits: Some(2048) },
                    KeyMatch::Unreadable { error: "no such file".into() },
                ),
                ..relay(direct_ok())
            }),
            ("direct, ?all", || Facts { spf: spf_with(SpfEval::Pass, AllQualifier::Neutral), ..direct_ok() }),
            ("relay, hosted SPF fails, own signature carries it", || Facts {
                spf: spf_with(SpfEval::Fail, AllQualifier::Fail),
                signing: signing(KeyRecord::Valid { bits: Some(2048) }, KeyMatch::Matches),
                ..relay(direct_ok())
            }),
            ("direct, p=quarantine pct=50 with reports", || {
                let mut f = Facts { dmarc: dmarc(Policy::Quarantine), ..direct_ok() };
                if let DmarcState::Found(m) = &mut f.dmarc {
                    m.pct = 50;
                    m.rua = vec!["mailto:dmarc@bau-firma.de".into()];
                }
                f
            }),
            ("direct, SPF fails, no DKIM, no DMARC", || Facts {
                spf: spf_with(SpfEval::Fail, AllQualifier::Fail),
                dkim_selectors_found: vec![],
                dmarc: DmarcState::Absent,
                ..direct_ok()
            }),
            ("direct, SPF passes, no DKIM found, p=reject", || Facts { dkim_selectors_found: vec![], ..direct_ok() }),
            ("direct, DKIM search failed", || Facts {
                dkim_selectors_found: vec![],
                dkim_search_failed: Some("timeout".into()),
                ..direct_ok()
            }),
            ("direct, own signature passes, SPF missing", || Facts {
                spf: Spf::None,
                dkim_selectors_found: vec![],
                signing: signing(KeyRecord::Valid { bits: Some(2048) }, KeyMatch::Matches),
                ..direct_ok()
            }),
            ("relay, p=none, signature as another domain", || Facts {
                dmarc: dmarc(Policy::None),
                signing: Some(Signing {
                    selector: "s".into(),
                    domain: "other.de".into(),
                    published: KeyRecord::Valid { bits: None },
                    matches: KeyMatch::Matches,
                }),
                ..relay(direct_ok())
            }),
        ]
    }

    /// Every finding of every case, in both languages, against the golden file: a change of
    /// wording or of a rule shows here. `POSTBOTE_BLESS=1` rewrites the file after a deliberate change.
    #[test]
    fn verdict_texts_match_the_golden_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deliverability/verdicts.golden");
        let all = cases().into_iter().map(|(n, f, _, _)| (n, f)).chain(more_cases());
        let mut text = String::new();
        for (name, facts) in all {
            let v = judge(&facts());
            text.push_str(&format!("## {name}\n{}\n\n", serde_json::to_string_pretty(&v).unwrap()));
        }
        if std::env::var_os("POSTBOTE_BLESS").is_some() {
            std::fs::write(path, &text).unwrap();
        }
        let golden = std::fs::read_to_string(path).unwrap();
        assert!(golden == text, "verdict texts differ from {path}; diff it against POSTBOTE_BLESS=1 output");
    }

    #[test]
    fn verdicts_follow_the_facts() {
        for (name, facts, level, code) in cases() {
            let v = judge(&facts());
            assert_eq!(v.level, level, "{name}: {v:#?}");
            assert_eq!(v.findings[0].code, code, "{name}: {v:#?}");
            assert!(!v.reason().de.is_empty() && !v.reason().en.is_empty(), "{name}");
        }
    }

    #[test]
    fn the_relay_reason_says_what_the_article_says() {
        let v = judge(&relay(direct_ok()));
        let en = &v.reason().en;
        assert!(en.contains("DKIM for bau-firma.de cannot be had on this path"), "{en}");
        assert!(en.contains("SPF does not align"), "{en}");
        assert!(en.contains("strict receivers will reject"), "{en}");
        assert!(v.fix().unwrap().en.contains("Use the direct path"), "{:?}", v.fix());
        assert!(v.reason().de.contains("strenge Empfänger weisen die Mail ab"), "{}", v.reason().de);
    }

    #[test]
    fn the_spf_fix_names_the_servers_address() {
        let v = judge(&Facts {
            spf: spf_with(SpfEval::Fail, AllQualifier::Fail),
            dkim_selectors_found: vec![],
            dmarc: dmarc(Policy::None),
            ..direct_ok()
        });
        assert!(v.fix().unwrap().en.contains("ip4:192.0.2.2"), "{:?}", v.fix());
    }

    #[test]
    fn only_the_addresses_that_fail_are_named() {
        let mut f = Facts { dkim_selectors_found: vec![], dmarc: dmarc(Policy::None), ..direct_ok() };
        f.spf = Spf::Record {
            record: "v=spf1 ip4:192.0.2.2 ~all".into(),
            all: Some(AllQualifier::SoftFail),
            redirect: false,
            lookups: Some(0),
            results: vec![
                ("192.0.2.2".parse().unwrap(), SpfEval::Pass),
                ("2001:db8::2".parse().unwrap(), SpfEval::SoftFail),
            ],
        };
        let v = judge(&f);
        assert_eq!((v.level, v.findings[0].code), (Level::AtRisk, "spf_not_authorised"));
        let fix = &v.fix().unwrap().en;
        assert!(fix.contains("ip6:2001:db8::2") && !fix.contains("ip4:"), "{fix}");
    }

    #[test]
    fn dmarc_hints_do_not_change_the_level() {
        let v = judge(&direct_ok());
        assert_eq!(v.level, Level::Ok);
        assert!(v.findings.iter().any(|f| f.code == "dmarc_no_reports"), "{v:#?}");
    }

    #[test]
    fn could_not_check_is_not_worse() {
        assert!(Level::CouldNotCheck.severity().is_none());
        assert!(Level::WillFail.severity() > Level::AtRisk.severity());
        assert_eq!(Level::parse("at_risk"), Some(Level::AtRisk));
    }
}
