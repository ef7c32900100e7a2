//! The words of the verdict: every [`Code`] said in German and English, as a reason and, where
//! there is one, a fix. It is the only place a verdict's sentences live; the rules never format
//! text, and this module never decides a level.
//!
//! The golden file `tests/deliverability/verdicts.golden` pins every sentence.

use super::rules::{Code, PassedBy};
use super::{Lang, Level, Text};
use crate::deliverability::facts::{Policy, SPF_LOOKUP_LIMIT};

/// A finding's reason and its fix.
pub type Words = (Text, Option<Text>);

impl Level {
    /// The level as people read it.
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

/// The words around the findings in a report for people (`postbote doctor`).
#[derive(Debug, Clone, Copy)]
pub struct ReportWords {
    pub path: &'static str,
    pub via: &'static str,
    pub configured: &'static str,
    pub reason: &'static str,
    pub fix: &'static str,
    pub more: &'static str,
    /// The label of an ok finding among the further ones.
    pub hint: &'static str,
}

pub fn report_words(lang: Lang) -> ReportWords {
    match lang {
        Lang::De => ReportWords {
            path: "Weg",
            via: "über",
            configured: "konfiguriert",
            reason: "Grund",
            fix: "Abhilfe",
            more: "Weitere Hinweise",
            hint: "Hinweis",
        },
        Lang::En => ReportWords {
            path: "path",
            via: "via",
            configured: "configured",
            reason: "reason",
            fix: "fix",
            more: "more",
            hint: "hint",
        },
    }
}

fn t(de: impl Into<String>, en: impl Into<String>) -> Text {
    Text { de: de.into(), en: en.into() }
}

/// The reason and fix of one finding.
pub fn words(c: &Code) -> Words {
    use Code::*;
    match c {
        DnsUnavailable { .. } | ServerUnknown { .. } => lookups(c),
        SpfMissing { .. }
        | SpfMultiple { .. }
        | SpfInvalid { .. }
        | SpfTooManyLookups { .. }
        | SpfNotAuthorised { .. }
        | SpfPlusAll { .. }
        | SpfNeutralAll { .. }
        | RelaySpfNotAuthorised { .. } => spf(c),
        DkimKeyMissing { .. }
        | DkimKeyInvalid { .. }
        | DkimKeyRevoked { .. }
        | DkimKeyFileUnusable { .. }
        | DkimKeyMismatch { .. }
        | DkimUnaligned { .. }
        | DkimNotFound { .. } => dkim(c),
        DmarcInvalid { .. }
        | DmarcMissing { .. }
        | DmarcMonitorOnly { .. }
        | DmarcNoReports { .. }
        | DmarcPartial { .. } => dmarc(c),
        RelayUnaligned { .. } => relay_unaligned(c),
        DirectUnaligned { .. } => direct_unaligned(c),
        DmarcPasses { domain, server, by, relay } => dmarc_passes(domain, server, by, *relay),
    }
}

fn lookups(c: &Code) -> Words {
    match c {
        Code::DnsUnavailable { domain: d, detail } => (
            t(
                format!("DNS hat nicht (rechtzeitig) geantwortet: {detail}. Das sagt nichts über {d} aus."),
                format!("DNS did not answer (in time): {detail}. This says nothing about {d}."),
            ),
            Some(t(
                "Später erneut prüfen; bleibt es so, den DNS-Server (doctor.resolver) und die Nameserver der Domain prüfen.",
                "Check again later; if it persists, check the DNS server (doctor.resolver) and the domain's name servers.",
            )),
        ),
        Code::ServerUnknown { server } => (
            t(
                format!("Der Ausgangsserver {server} hat keine Adresse im DNS."),
                format!("The outgoing server {server} has no address in DNS."),
            ),
            Some(t(
                format!("Den Servernamen {server} in der Konfiguration prüfen."),
                format!("Check the server name {server} in the configuration."),
            )),
        ),
        _ => unreachable!("{c:?} is not a lookup code"),
    }
}

fn spf(c: &Code) -> Words {
    match c {
        Code::SpfMissing { domain: d, spf_terms } => (
            t(format!("{d} hat keinen SPF-Eintrag."), format!("{d} has no SPF record.")),
            Some(t(
                format!(
                    "Einen TXT-Eintrag für {d} anlegen: \"v=spf1 {spf_terms} -all\" (oder das include: des Mail-Anbieters)."
                ),
                format!(
                    "Publish a TXT record for {d}: \"v=spf1 {spf_terms} -all\" (or your mail provider's include:)."
                ),
            )),
        ),
        Code::SpfMultiple { domain: d, records } => (
            t(
                format!(
                    "{d} hat {records} SPF-Einträge; Empfänger werten das als Fehler (permerror), SPF besteht nie."
                ),
                format!(
                    "{d} publishes {records} SPF records; receivers treat that as an error (permerror), so SPF never passes."
                ),
            ),
            Some(t(
                "Die Einträge zu einem einzigen \"v=spf1 ...\"-Eintrag zusammenführen.",
                "Merge them into a single \"v=spf1 ...\" record.",
            )),
        ),
        Code::SpfInvalid { domain: d, record, problem } => (
            t(
                format!("Der SPF-Eintrag von {d} ist ungültig (permerror): {problem} in \"{record}\"."),
                format!("The SPF record of {d} is not valid (permerror): {problem} in \"{record}\"."),
            ),
            Some(t("Die Schreibweise des Eintrags korrigieren.", "Correct the record's syntax.")),
        ),
        Code::SpfTooManyLookups { domain: d, lookups } => (
            t(
                format!(
                    "Der SPF-Eintrag von {d} braucht {lookups} DNS-Abfragen, erlaubt sind {SPF_LOOKUP_LIMIT} (permerror)."
                ),
                format!(
                    "The SPF record of {d} needs {lookups} DNS lookups; {SPF_LOOKUP_LIMIT} are allowed (permerror)."
                ),
            ),
            Some(t(
                "include:-Einträge entfernen, die nicht gebraucht werden, oder durch ip4:/ip6: ersetzen.",
                "Remove includes that are not needed, or replace them with ip4:/ip6: terms.",
            )),
        ),
        Code::SpfNotAuthorised { domain: d, server, ips, result: r, spf_terms } => (
            t(
                format!("SPF von {d} erlaubt den Ausgangsserver {server} ({ips}) nicht (Ergebnis: {r})."),
                format!("The SPF record of {d} does not authorise the outgoing server {server} ({ips}) (result: {r})."),
            ),
            Some(t(
                format!(
                    "Im SPF-Eintrag von {d} vor dem \"all\" ergänzen: {spf_terms} (oder das include: des Mail-Anbieters)."
                ),
                format!(
                    "Add {spf_terms} (or your mail provider's include:) to the SPF record of {d}, before the \"all\"."
                ),
            )),
        ),
        Code::SpfPlusAll { domain: d } => (
            t(
                format!(
                    "SPF von {d} endet mit +all: jeder Server der Welt darf als {d} senden; Empfänger misstrauen dem."
                ),
                format!(
                    "The SPF record of {d} ends in +all: every server in the world may send as {d}; receivers distrust that."
                ),
            ),
            Some(t("Mit -all oder ~all abschließen.", "End it with -all or ~all.")),
        ),
        Code::SpfNeutralAll { domain: d } => (
            t(
                format!("SPF von {d} sagt nichts über andere Server (?all oder kein all)."),
                format!("The SPF record of {d} says nothing about other servers (?all or no all)."),
            ),
            Some(t("Mit ~all oder -all abschließen.", "End it with ~all or -all.")),
        ),
        Code::RelaySpfNotAuthorised { envelope_domain, server } => (
            t(
                format!(
                    "Der SPF-Eintrag des Hosting-Anbieters ({envelope_domain}) erlaubt dessen Server {server} nicht; das kann nur der Anbieter beheben."
                ),
                format!(
                    "The hosted domain's SPF ({envelope_domain}) does not authorise its own server {server}; only the vendor can fix that."
                ),
            ),
            None,
        ),
        _ => unreachable!("{c:?} is not an SPF code"),
    }
}

fn dkim(c: &Code) -> Words {
    let publish = |at: &str| {
        Some(t(
            format!("Den TXT-Eintrag für {at} veröffentlichen, den `postbote dkim record` ausgibt."),
            format!("Publish the TXT record for {at} that `postbote dkim record` prints."),
        ))
    };
    match c {
        Code::DkimKeyMissing { at } => (
            t(
                format!("postbote signiert mit DKIM, aber unter {at} ist kein Schlüssel veröffentlicht."),
                format!("postbote signs with DKIM, but no key is published at {at}."),
            ),
            publish(at),
        ),
        Code::DkimKeyInvalid { at, error } => (
            t(
                format!("Der Eintrag unter {at} ist kein gültiger DKIM-Schlüssel ({error})."),
                format!("The record at {at} is not a valid DKIM key ({error})."),
            ),
            publish(at),
        ),
        Code::DkimKeyRevoked { at } => (
            t(
                format!("Der Schlüssel unter {at} ist zurückgezogen (leeres p=)."),
                format!("The key at {at} is revoked (empty p=)."),
            ),
            publish(at),
        ),
        Code::DkimKeyFileUnusable { error } => (
            t(
                format!("Der konfigurierte DKIM-Schlüssel ist nicht verwendbar: {error}"),
                format!("The configured DKIM key cannot be used: {error}"),
            ),
            Some(t(
                "dkim.key_file prüfen oder mit `postbote dkim keygen` neu erzeugen.",
                "Check dkim.key_file or create a new key with `postbote dkim keygen`.",
            )),
        ),
        Code::DkimKeyMismatch { at } => (
            t(
                format!(
                    "Der unter {at} veröffentlichte Schlüssel passt nicht zum konfigurierten privaten Schlüssel; Signaturen von postbote scheitern."
                ),
                format!(
                    "The key published at {at} does not match the configured private key; postbote's signatures fail."
                ),
            ),
            publish(at),
        ),
        Code::DkimUnaligned { domain: d, signs_as } => (
            t(
                format!("postbote signiert als {signs_as}, das passt nicht zur Absenderdomain {d}."),
                format!("postbote signs as {signs_as}, which does not align with the From domain {d}."),
            ),
            Some(t(format!("dkim.domain auf {d} setzen."), format!("Set dkim.domain to {d}."))),
        ),
        Code::DkimNotFound { domain: d } => (
            t(
                format!(
                    "Unter den üblichen Selektoren ist kein DKIM-Schlüssel für {d} zu finden; weitergeleitete Mail verliert SPF."
                ),
                format!("No DKIM key for {d} under the common selectors; forwarded mail loses SPF."),
            ),
            Some(t("Den Mail-Anbieter mit DKIM signieren lassen.", "Have the mail provider sign with DKIM.")),
        ),
        _ => unreachable!("{c:?} is not a DKIM code"),
    }
}

fn dmarc(c: &Code) -> Words {
    match c {
        Code::DmarcInvalid { domain: d, problem } => (
            t(
                format!("Der DMARC-Eintrag von {d} ist ungültig ({problem}); Empfänger ignorieren ihn."),
                format!("The DMARC record of {d} is not valid ({problem}); receivers ignore it."),
            ),
            Some(t(
                format!("_dmarc.{d} korrigieren, z. B. \"v=DMARC1; p=none; rua=mailto:dmarc@{d}\"."),
                format!("Correct _dmarc.{d}, e.g. \"v=DMARC1; p=none; rua=mailto:dmarc@{d}\"."),
            )),
        ),
        Code::DmarcMissing { domain: d } => (
            t(format!("{d} hat keinen DMARC-Eintrag."), format!("{d} has no DMARC record.")),
            Some(t(
                format!("_dmarc.{d} anlegen: \"v=DMARC1; p=none; rua=mailto:dmarc@{d}\", später p=quarantine."),
                format!("Publish _dmarc.{d}: \"v=DMARC1; p=none; rua=mailto:dmarc@{d}\", later p=quarantine."),
            )),
        ),
        Code::DmarcMonitorOnly { domain: d } => (
            t(
                format!("DMARC von {d} beobachtet nur (p=none); gefälschte Absender werden nicht abgewiesen."),
                format!("DMARC of {d} only monitors (p=none); forged senders are not turned away."),
            ),
            Some(t(
                "Wenn die Berichte sauber sind, auf p=quarantine erhöhen.",
                "Once the reports are clean, raise it to p=quarantine.",
            )),
        ),
        Code::DmarcNoReports { domain: d, found_at } => (
            t(
                format!("DMARC von {d} fordert keine Berichte an (kein rua=); Probleme bleiben unbemerkt."),
                format!("DMARC of {d} asks for no reports (no rua=); problems go unnoticed."),
            ),
            Some(t(
                format!("rua=mailto:dmarc@{d} zum Eintrag _dmarc.{found_at} hinzufügen."),
                format!("Add rua=mailto:dmarc@{d} to the record _dmarc.{found_at}."),
            )),
        ),
        Code::DmarcPartial { domain: d, pct } => (
            t(
                format!("DMARC von {d} gilt nur für {pct}% der Mails (pct={pct})."),
                format!("DMARC of {d} applies to {pct}% of mail only (pct={pct})."),
            ),
            None,
        ),
        _ => unreachable!("{c:?} is not a DMARC code"),
    }
}

/// `p=reject`, or "no DMARC policy", in both languages.
fn policy_text(policy: Option<Policy>) -> Text {
    match policy {
        Some(p) => t(format!("p={}", p.as_str()), format!("p={}", p.as_str())),
        None => t("keine DMARC-Richtlinie", "no DMARC policy"),
    }
}

fn relay_unaligned(c: &Code) -> Words {
    let Code::RelayUnaligned { domain: d, server, envelope_sender, policy, strict, own_signature } = c else {
        unreachable!("{c:?} is not relay_unaligned")
    };
    let p = policy_text(*policy);
    let reason = if *own_signature {
        t(
            format!(
                "Die DKIM-Signatur von postbote für {d} besteht nicht (siehe oben), und SPF passt auf dem Relay-Weg nicht zu {d}: mit {} kommt die Mail nicht sicher an.",
                p.de
            ),
            format!(
                "postbote's DKIM signature for {d} cannot pass (see above), and SPF does not align with {d} on the relay path: with {}, the mail is not safe.",
                p.en
            ),
        )
    } else if *strict {
        t(
            format!(
                "Auf diesem Weg (Relay {server}) ist DKIM für {d} nicht zu haben, und SPF passt nicht zu {d} (Umschlag-Absender {envelope_sender}): {} – strenge Empfänger weisen die Mail ab.",
                p.de
            ),
            format!(
                "DKIM for {d} cannot be had on this path (relay {server}), and SPF does not align with {d} (envelope sender {envelope_sender}): with {}, strict receivers will reject it.",
                p.en
            ),
        )
    } else {
        t(
            format!(
                "Auf diesem Weg (Relay {server}) besteht weder SPF noch DKIM passend zu {d}; die Mail kommt nur an, weil {d} {} hat. Viele Empfänger sortieren sie als Spam aus, und eine strengere Richtlinie würde sie abweisen.",
                p.de
            ),
            format!(
                "On this path (relay {server}) neither SPF nor DKIM aligns with {d}; mail arrives only because {d} has {}. Many receivers junk it, and a stricter policy would reject it.",
                p.en
            ),
        )
    };
    let fix = t(
        "Den direkten Weg über den eigenen Ausgangsserver nutzen (transport = \"direct\"), oder postbote mit DKIM signieren lassen ([mailbox.dkim], `postbote dkim keygen`).",
        "Use the direct path through the company's own server (transport = \"direct\"), or let postbote sign with DKIM ([mailbox.dkim], `postbote dkim keygen`).",
    );
    (reason, Some(fix))
}

fn direct_unaligned(c: &Code) -> Words {
    let Code::DirectUnaligned { domain: d, server, policy, strict } = c else {
        unreachable!("{c:?} is not direct_unaligned")
    };
    let p = policy_text(*policy);
    let reason = if *strict {
        t(
            format!(
                "Weder SPF noch DKIM bestehen passend zu {d}: mit {} weisen Empfänger die Mail ab oder sortieren sie aus.",
                p.de
            ),
            format!("Neither SPF nor DKIM passes aligned with {d}: with {}, receivers reject or junk the mail.", p.en),
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
    };
    let fix = t(
        format!("SPF von {d} um {server} ergänzen (siehe oben) und den Anbieter mit DKIM signieren lassen."),
        format!("Authorise {server} in the SPF record of {d} (see above) and have the provider sign with DKIM."),
    );
    (reason, Some(fix))
}

fn dmarc_passes(d: &str, server: &str, by: &PassedBy, relay: bool) -> Words {
    let how = match by {
        PassedBy::Spf => t(
            format!("SPF besteht für {d} über {server} und passt zum Absender"),
            format!("SPF passes for {d} through {server} and aligns with From"),
        ),
        PassedBy::OwnSignature { at } => t(
            format!("die DKIM-Signatur von postbote ({at}) passt zu {d}"),
            format!("postbote's DKIM signature ({at}) aligns with {d}"),
        ),
        PassedBy::ProviderKeys { selectors } => t(
            format!("der Anbieter veröffentlicht DKIM-Schlüssel für {d} ({selectors})"),
            format!("the provider publishes DKIM keys for {d} ({selectors})"),
        ),
    };
    let caveat = if relay {
        t(
            " – solange das Relay die Nachricht unverändert lässt.",
            " – as long as the relay leaves the message unchanged.",
        )
    } else {
        t(".", ".")
    };
    (t(format!("DMARC besteht: {}{}", how.de, caveat.de), format!("DMARC passes: {}{}", how.en, caveat.en)), None)
}
