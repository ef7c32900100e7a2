//! JMAP ids and state strings.
//!
//! Ids are the store's row ids with a one-letter type prefix (`M12` an email, `F3` a mailbox,
//! `T7` a thread, `B9` a whole blob, `P12-3` part 3 of email 12 decoded), never IMAP UIDs,
//! which change on a move or a UIDVALIDITY reset. A state is `<epoch>-<modseq>`: the epoch
//! changes only when the store is rebuilt, so a state from before that can never produce
//! wrong deltas. Anything that does not parse is treated as "cannot calculate".

pub fn email(id: i64) -> String {
    format!("M{id}")
}
pub fn mailbox(id: i64) -> String {
    format!("F{id}")
}
pub fn thread(id: i64) -> String {
    format!("T{id}")
}
pub fn submission(id: i64) -> String {
    format!("S{id}")
}
pub fn blob(id: i64) -> String {
    format!("B{id}")
}
pub fn part_blob(email: i64, part: usize) -> String {
    format!("P{email}-{part}")
}

fn parse_prefixed(s: &str, p: char) -> Option<i64> {
    let rest = s.strip_prefix(p)?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 18 {
        return None;
    }
    rest.parse().ok()
}

pub fn parse_email(s: &str) -> Option<i64> {
    parse_prefixed(s, 'M')
}
pub fn parse_mailbox(s: &str) -> Option<i64> {
    parse_prefixed(s, 'F')
}
pub fn parse_thread(s: &str) -> Option<i64> {
    parse_prefixed(s, 'T')
}
pub fn parse_submission(s: &str) -> Option<i64> {
    parse_prefixed(s, 'S')
}

/// A blob id: a stored blob, or a part of an email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobRef {
    Stored(i64),
    Part { email: i64, part: usize },
}

pub fn parse_blob(s: &str) -> Option<BlobRef> {
    if let Some(id) = parse_prefixed(s, 'B') {
        return Some(BlobRef::Stored(id));
    }
    let rest = s.strip_prefix('P')?;
    let (e, p) = rest.split_once('-')?;
    let email = parse_prefixed(&format!("M{e}"), 'M')?;
    let part = if !p.is_empty() && p.len() < 9 && p.bytes().all(|b| b.is_ascii_digit()) {
        p.parse().ok()?
    } else {
        return None;
    };
    Some(BlobRef::Part { email, part })
}

/// The JMAP account id of a mailbox: its id where that is a valid JMAP id, else a hex form.
pub fn account(mailbox: &str) -> String {
    if !mailbox.is_empty() && mailbox.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        mailbox.to_string()
    } else {
        format!("x{}", hex::encode(mailbox))
    }
}

pub fn state(epoch: &str, modseq: i64) -> String {
    format!("{epoch}-{modseq}")
}

/// The modseq of a state string issued under `epoch`; None if it is from another epoch or
/// not one of ours.
pub fn parse_state(s: &str, epoch: &str) -> Option<i64> {
    let (e, m) = s.rsplit_once('-')?;
    if e != epoch || m.is_empty() || !m.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    m.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_foreign_forms() {
        for (s, want) in [
            ("M12", Some(12)),
            ("M", None),
            ("M-1", None),
            ("F12", None),
            ("M1x", None),
            ("M99999999999999999999", None),
        ] {
            assert_eq!(parse_email(s), want, "{s}");
        }
        assert_eq!(parse_blob("B4"), Some(BlobRef::Stored(4)));
        assert_eq!(parse_blob("P12-3"), Some(BlobRef::Part { email: 12, part: 3 }));
        assert_eq!(parse_blob("P12-"), None);
        assert_eq!(parse_blob("Q1"), None);
        assert_eq!(account("becker"), "becker");
        assert_eq!(account("bau.info"), "x6261752e696e666f");
    }

    #[test]
    fn states_are_tied_to_the_epoch() {
        let s = state("00ab", 42);
        assert_eq!(parse_state(&s, "00ab"), Some(42));
        assert_eq!(parse_state(&s, "ffff"), None);
        assert_eq!(parse_state("garbage", "00ab"), None);
        assert_eq!(parse_state("00ab-", "00ab"), None);
    }
}
