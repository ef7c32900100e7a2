//! The change log: per-type states and the coalesced log that JMAP `/changes` answers from.
//!
//! Rows are written only by [`Tx::log`](super::Tx::log), in the transaction of the change
//! itself; this file reads them, pages them on modseq boundaries (so a page never reports an
//! object created after it was updated) and purges what is older than the retention, raising
//! the low mark so that older states get `cannotCalculateChanges`. Reached as
//! `store.changes()`.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, params};

use super::{ObjType, Result, Store, now};

/// The account's epoch and, per type, (modseq, low_modseq). Types never touched are absent.
#[derive(Debug, Clone, Default)]
pub struct AccountStates {
    pub epoch: String,
    pub types: HashMap<ObjType, (i64, i64)>,
}

impl AccountStates {
    pub fn modseq(&self, ty: ObjType) -> i64 {
        self.types.get(&ty).map_or(0, |s| s.0)
    }
    pub fn low(&self, ty: ObjType) -> i64 {
        self.types.get(&ty).map_or(0, |s| s.1)
    }
}

/// What changed for one type between two modseqs, coalesced per object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub created: Vec<i64>,
    pub updated: Vec<i64>,
    pub destroyed: Vec<i64>,
    /// The modseq the answer brings the client to.
    pub new_modseq: i64,
    pub has_more: bool,
    /// Every update in the range was a counts-only update (Mailbox).
    pub counts_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangesError {
    /// `since` is older than the retained log.
    TooOld,
    /// One transaction alone changed more objects than `max` allows.
    TooMany,
}

/// The change log, reached as `store.changes()`.
#[derive(Clone, Copy)]
pub struct ChangeLog<'a>(&'a Store);

impl Store {
    /// The change log and the per-type states.
    pub fn changes(&self) -> ChangeLog<'_> {
        ChangeLog(self)
    }
}

impl ChangeLog<'_> {
    pub fn states(&self, account: &str) -> Result<Option<AccountStates>> {
        self.0.read(|c| account_states(c, account))
    }

    /// Changes of `ty` after `since`, at most `max` distinct objects, ending at a modseq
    /// boundary so that paging can never report an object created after it was updated.
    pub fn since(
        &self,
        account: &str,
        ty: ObjType,
        since: i64,
        max: usize,
    ) -> Result<std::result::Result<Changes, ChangesError>> {
        self.0.read(|c| {
            let (current, low): (i64, i64) = c
                .query_row("SELECT modseq, low_modseq FROM type_state WHERE account = ?1 AND type = ?2", params![account, ty as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?
                .unwrap_or((0, 0));
            if since < low || since > current {
                return Ok(Err(ChangesError::TooOld));
            }
            if since == current {
                return Ok(Ok(Changes { new_modseq: since, counts_only: true, ..Default::default() }));
            }
            let mut s = c.prepare_cached(
                "SELECT modseq, object_id, op FROM change_log WHERE account = ?1 AND type = ?2 AND modseq > ?3 AND modseq <= ?4
                 ORDER BY modseq, object_id",
            )?;
            let mut rows = s.query(params![account, ty as i64, since, current])?;
            // Per object: (created, destroyed, any non-counts update); in first-seen order.
            let mut objs: Vec<i64> = Vec::new();
            let mut state: HashMap<i64, (bool, bool, bool)> = HashMap::new();
            let mut group: Vec<(i64, i64)> = Vec::new();
            let mut group_modseq = None;
            let mut end = since;
            let mut truncated = false;
            let flush = |group: &mut Vec<(i64, i64)>, objs: &mut Vec<i64>, state: &mut HashMap<i64, (bool, bool, bool)>| -> bool {
                let new: HashSet<i64> = group.iter().map(|g| g.0).filter(|o| !state.contains_key(o)).collect();
                if objs.len() + new.len() > max {
                    return false;
                }
                for (obj, op) in group.drain(..) {
                    let e = state.entry(obj).or_insert_with(|| {
                        objs.push(obj);
                        (false, false, false)
                    });
                    match op {
                        0 => e.0 = true,
                        2 => e.1 = true,
                        1 => e.2 = true,
                        _ => {}
                    }
                }
                true
            };
            while let Some(r) = rows.next()? {
                let (m, obj, op): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
                if group_modseq != Some(m) {
                    if let Some(gm) = group_modseq {
                        if !flush(&mut group, &mut objs, &mut state) {
                            truncated = true;
                            break;
                        }
                        end = gm;
                    }
                    group_modseq = Some(m);
                }
                group.push((obj, op));
            }
            if !truncated && let Some(gm) = group_modseq {
                if flush(&mut group, &mut objs, &mut state) {
                    end = gm;
                } else {
                    truncated = true;
                }
            }
            if truncated && end == since {
                return Ok(Err(ChangesError::TooMany));
            }
            // Nothing beyond the last change-log row: the answer reaches the current state
            // (a type can be touched without per-object rows, e.g. EmailDelivery).
            let new_modseq = if truncated { end } else { current };
            let mut out = Changes { new_modseq, has_more: truncated, counts_only: true, ..Default::default() };
            for obj in objs {
                let (created, destroyed, real_update) = state[&obj];
                match (created, destroyed) {
                    (true, true) => {}
                    (true, false) => out.created.push(obj),
                    (false, true) => out.destroyed.push(obj),
                    (false, false) => {
                        if real_update {
                            out.counts_only = false;
                        }
                        out.updated.push(obj)
                    }
                }
            }
            Ok(Ok(out))
        })
    }

    /// Delete change-log rows older than `keep_secs` (each account and type keeps at least
    /// what is younger) and raise `low_modseq` so that older states get
    /// `cannotCalculateChanges`. Also forgets upload ownership older than a day.
    pub fn purge(&self, keep_secs: i64) -> Result<usize> {
        let cutoff = now() - keep_secs;
        self.0.write(|t| {
            let groups: Vec<(String, i64, i64)> = {
                let mut s = t.tx.prepare(
                    "SELECT account, type, MAX(modseq) FROM change_log WHERE at < ?1 GROUP BY account, type",
                )?;
                s.query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
            };
            let mut n = 0;
            for (account, ty, max_old) in groups {
                n += t.tx.execute(
                    "DELETE FROM change_log WHERE account = ?1 AND type = ?2 AND modseq <= ?3",
                    params![account, ty, max_old],
                )?;
                t.tx.execute(
                    "UPDATE type_state SET low_modseq = MAX(low_modseq, ?3) WHERE account = ?1 AND type = ?2",
                    params![account, ty, max_old],
                )?;
            }
            t.tx.execute("DELETE FROM blob_upload WHERE created_at < ?1", [now() - 86_400])?;
            Ok(n)
        })
    }
}

fn account_states(c: &rusqlite::Connection, account: &str) -> Result<Option<AccountStates>> {
    let Some(epoch) = c.query_row("SELECT epoch FROM account WHERE id = ?1", [account], |r| r.get(0)).optional()?
    else {
        return Ok(None);
    };
    let mut s = c.prepare_cached("SELECT type, modseq, low_modseq FROM type_state WHERE account = ?1")?;
    let mut types = HashMap::new();
    for row in s.query_map([account], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))? {
        let (ty, m, low) = row?;
        if let Some(ty) = ObjType::from_i64(ty) {
            types.insert(ty, (m, low));
        }
    }
    Ok(Some(AccountStates { epoch, types }))
}
