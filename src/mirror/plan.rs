//! What to do with one folder, decided without I/O.
//!
//! Given what the store remembers about a folder (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ from the
//! last sync) and what the server says now (STATUS or SELECT), [`plan`] says which steps a
//! sync pass runs, in this order: forget the folder (UIDVALIDITY changed), bring flags and
//! expunges up to date, fetch new messages, look for expunges by UID diff. Flags come before
//! new messages so that the HIGHESTMODSEQ each new-message batch records is never ahead of
//! flag changes not yet applied: a crash anywhere resumes exactly.
//! This module does no I/O and knows no types of the IMAP crate (only `imap::Numbers`, plain
//! numbers); it is table-tested.

/// What the store remembers about a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stored {
    pub uidvalidity: Option<u32>,
    pub uidnext: Option<u32>,
    pub highestmodseq: Option<u64>,
}

/// What the server says about a folder now (STATUS or EXAMINE).
pub type Server = crate::imap::Numbers;

/// The extensions of the session that matter to planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    pub condstore: bool,
    /// QRESYNC was enabled on the session (`ENABLE QRESYNC` answered).
    pub qresync: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flags {
    /// Nothing changed since the stored HIGHESTMODSEQ.
    Unchanged,
    /// `UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE modseq [VANISHED])`.
    ChangedSince { modseq: u64, vanished: bool },
    /// `UID FETCH 1:* (UID FLAGS)`: every message's flags (no CONDSTORE, or no usable modseq).
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expunges {
    /// Nothing can have been expunged.
    None,
    /// The CHANGEDSINCE fetch reports them as VANISHED (QRESYNC).
    Vanished,
    /// The full flag fetch lists every UID the server has: what we hold and it lacks is gone.
    FromFullFetch,
    /// After the new messages are in: if the server's message count differs from ours,
    /// `UID SEARCH ALL` and drop what we hold that the server lacks.
    DiffIfCountDiffers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// UIDVALIDITY changed: every UID we hold is void (`store.folders().reset`), fetch all.
    pub reset: bool,
    pub flags: Flags,
    /// Fetch messages with UIDs from this one up.
    pub new_from: Option<u32>,
    pub expunges: Expunges,
}

impl Plan {
    pub const NOTHING: Plan = Plan { reset: false, flags: Flags::Unchanged, new_from: None, expunges: Expunges::None };

    /// Nothing to fetch or compare (the folder state may still need recording).
    pub fn is_nothing(&self) -> bool {
        *self == Plan::NOTHING
    }
}

pub fn plan(stored: Stored, server: Server, caps: Caps) -> Plan {
    if stored.uidvalidity != Some(server.uidvalidity) {
        // Never synced, or the server renumbered the folder: start from scratch. Flags come
        // with the messages; there is nothing of ours to compare.
        return Plan {
            reset: stored.uidvalidity.is_some(),
            flags: Flags::Unchanged,
            new_from: (server.exists > 0).then_some(1),
            expunges: Expunges::None,
        };
    }
    let new_from = match (stored.uidnext, server.uidnext) {
        (None, _) => Some(1),
        (Some(ours), Some(theirs)) if theirs > ours => Some(ours),
        (Some(_), Some(_)) => None,
        // A server that does not say UIDNEXT: look every time.
        (Some(ours), None) => Some(ours),
    };
    let (flags, expunges) = match (caps.condstore, stored.highestmodseq, server.highestmodseq) {
        (true, Some(ours), Some(theirs)) if theirs == ours => (Flags::Unchanged, Expunges::None),
        (true, Some(ours), Some(theirs)) if theirs > ours => (
            Flags::ChangedSince { modseq: ours, vanished: caps.qresync },
            if caps.qresync { Expunges::Vanished } else { Expunges::DiffIfCountDiffers },
        ),
        // No CONDSTORE, a folder that has no modseqs (NOMODSEQ), nothing remembered, or a
        // server whose counter went backwards: compare everything.
        _ => (Flags::Full, Expunges::FromFullFetch),
    };
    Plan { reset: false, flags, new_from, expunges }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONDSTORE: Caps = Caps { condstore: true, qresync: false };
    const QRESYNC: Caps = Caps { condstore: true, qresync: true };
    const PLAIN: Caps = Caps { condstore: false, qresync: false };

    fn stored(v: u32, next: u32, ms: Option<u64>) -> Stored {
        Stored { uidvalidity: Some(v), uidnext: Some(next), highestmodseq: ms }
    }
    fn server(v: u32, next: u32, ms: Option<u64>, exists: u32) -> Server {
        Server { uidvalidity: v, uidnext: Some(next), highestmodseq: ms, exists }
    }

    #[test]
    fn plans() {
        use Expunges as E;
        use Flags as F;
        let p = |reset, flags, new_from, expunges| Plan { reset, flags, new_from, expunges };
        let cases: &[(&str, Stored, Server, Caps, Plan)] = &[
            ("first sync of an empty folder", Stored::default(), server(9, 1, Some(1), 0), QRESYNC, Plan::NOTHING),
            (
                "first sync",
                Stored::default(),
                server(9, 501, Some(700), 500),
                QRESYNC,
                p(false, F::Unchanged, Some(1), E::None),
            ),
            (
                "nothing new (QRESYNC)",
                stored(9, 501, Some(700)),
                server(9, 501, Some(700), 500),
                QRESYNC,
                Plan::NOTHING,
            ),
            (
                "nothing new (CONDSTORE)",
                stored(9, 501, Some(700)),
                server(9, 501, Some(700), 500),
                CONDSTORE,
                Plan::NOTHING,
            ),
            (
                "new mail only: uidnext and modseq moved",
                stored(9, 501, Some(700)),
                server(9, 503, Some(702), 502),
                QRESYNC,
                p(false, F::ChangedSince { modseq: 700, vanished: true }, Some(501), E::Vanished),
            ),
            (
                "a flag changed",
                stored(9, 501, Some(700)),
                server(9, 501, Some(701), 500),
                QRESYNC,
                p(false, F::ChangedSince { modseq: 700, vanished: true }, None, E::Vanished),
            ),
            (
                "a flag changed, CONDSTORE without QRESYNC",
                stored(9, 501, Some(700)),
                server(9, 501, Some(701), 499),
                CONDSTORE,
                p(false, F::ChangedSince { modseq: 700, vanished: false }, None, E::DiffIfCountDiffers),
            ),
            (
                "no CONDSTORE: always a full comparison",
                stored(9, 501, None),
                server(9, 501, None, 500),
                PLAIN,
                p(false, F::Full, None, E::FromFullFetch),
            ),
            (
                "no CONDSTORE, new mail",
                stored(9, 501, None),
                server(9, 510, None, 509),
                PLAIN,
                p(false, F::Full, Some(501), E::FromFullFetch),
            ),
            (
                "CONDSTORE appeared after a sync without it",
                stored(9, 501, None),
                server(9, 501, Some(5), 500),
                CONDSTORE,
                p(false, F::Full, None, E::FromFullFetch),
            ),
            (
                "modseq went backwards",
                stored(9, 501, Some(700)),
                server(9, 501, Some(3), 500),
                QRESYNC,
                p(false, F::Full, None, E::FromFullFetch),
            ),
            (
                "UIDVALIDITY changed",
                stored(9, 501, Some(700)),
                server(10, 40, Some(50), 39),
                QRESYNC,
                p(true, F::Unchanged, Some(1), E::None),
            ),
            (
                "UIDVALIDITY changed, folder now empty",
                stored(9, 501, Some(700)),
                server(10, 1, Some(1), 0),
                QRESYNC,
                p(true, F::Unchanged, None, E::None),
            ),
            (
                "interrupted initial sync resumes at the recorded UIDNEXT",
                stored(9, 1201, Some(3000)),
                server(9, 3001, Some(3000), 3000),
                QRESYNC,
                p(false, F::Unchanged, Some(1201), E::None),
            ),
            (
                "no UIDNEXT from the server: look anyway",
                stored(9, 501, Some(700)),
                Server { uidvalidity: 9, uidnext: None, highestmodseq: Some(700), exists: 500 },
                QRESYNC,
                p(false, F::Unchanged, Some(501), E::None),
            ),
            (
                "UIDNEXT never recorded",
                Stored { uidvalidity: Some(9), uidnext: None, highestmodseq: None },
                server(9, 5, Some(7), 4),
                QRESYNC,
                p(false, F::Full, Some(1), E::FromFullFetch),
            ),
        ];
        for (name, st, sv, caps, want) in cases {
            assert_eq!(plan(*st, *sv, *caps), *want, "{name}");
        }
    }
}
