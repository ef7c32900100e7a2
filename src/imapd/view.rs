//! A session's view of its selected folder: message sequence numbers, pure bookkeeping.
//!
//! The view is the list of UIDs the client knows, in sequence-number order, each with the
//! MODSEQ last reported. [`View::update`] compares it with the folder's live rows and says
//! what to tell the client: EXPUNGE (each with the sequence number valid at the moment it is
//! sent, so highest first) or, under QRESYNC, VANISHED; EXISTS for new messages; FETCH FLAGS
//! for rows whose MODSEQ moved. When expunges may not be sent (RFC 3501 section 7.4.1: not
//! during FETCH, STORE or SEARCH), a message gone from the folder stays in the view, and its
//! number keeps meaning it, until a later update may tell.

/// One message the client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub uid: u32,
    pub modseq: u64,
    /// Gone from the folder, not yet told.
    pub gone: bool,
}

#[derive(Debug, Default, Clone)]
pub struct View {
    pub rows: Vec<Known>,
}

/// What to tell the client, in this order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Update {
    /// Sequence numbers for EXPUNGE, in sending order (each valid when sent).
    pub expunged: Vec<u32>,
    /// The UIDs of the same messages (for VANISHED).
    pub vanished: Vec<u32>,
    /// The new message count, when it changed.
    pub exists: Option<u32>,
    /// (sequence number, UID) whose flags changed.
    pub changed: Vec<(u32, u32)>,
}

impl View {
    pub fn new(live: &[(u32, u64)]) -> View {
        View { rows: live.iter().map(|&(uid, modseq)| Known { uid, modseq, gone: false }).collect() }
    }

    pub fn len(&self) -> u32 {
        self.rows.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The UID of sequence number `seq`.
    pub fn uid(&self, seq: u32) -> Option<u32> {
        self.rows.get((seq as usize).checked_sub(1)?).map(|k| k.uid)
    }

    /// The sequence number of `uid`.
    pub fn seq(&self, uid: u32) -> Option<u32> {
        self.rows.binary_search_by_key(&uid, |k| k.uid).ok().map(|i| i as u32 + 1)
    }

    pub fn last_uid(&self) -> u32 {
        self.rows.last().map_or(0, |k| k.uid)
    }

    /// Bring the view to `live` (the folder's rows by UID: uid, modseq). Without
    /// `may_expunge`, rows gone stay (marked) and keep their numbers.
    pub fn update(&mut self, live: &[(u32, u64)], may_expunge: bool) -> Update {
        let mut up = Update::default();
        let mut li = 0;
        for k in self.rows.iter_mut() {
            while li < live.len() && live[li].0 < k.uid {
                li += 1;
            }
            match live.get(li) {
                Some(&(uid, modseq)) if uid == k.uid => {
                    if modseq > k.modseq {
                        k.modseq = modseq;
                        up.changed.push((0, uid));
                    }
                }
                _ => k.gone = true,
            }
        }
        if may_expunge {
            for i in (0..self.rows.len()).rev() {
                if self.rows[i].gone {
                    up.expunged.push(i as u32 + 1);
                    up.vanished.push(self.rows[i].uid);
                }
            }
            self.rows.retain(|k| !k.gone);
            up.vanished.reverse();
        }
        let top = self.last_uid();
        let mut added = false;
        for &(uid, modseq) in live {
            if uid > top {
                self.rows.push(Known { uid, modseq, gone: false });
                added = true;
            }
        }
        if added {
            up.exists = Some(self.len());
        }
        let changed = std::mem::take(&mut up.changed);
        up.changed = changed.into_iter().filter_map(|(_, uid)| self.seq(uid).map(|s| (s, uid))).collect();
        up
    }

    /// The MODSEQ of `uid` the client has been told of.
    pub fn known(&self, uid: u32) -> Option<u64> {
        self.seq(uid).map(|s| self.rows[s as usize - 1].modseq)
    }

    /// Note that the client was told `uid`'s state at `modseq` (after a FETCH or STORE).
    pub fn told(&mut self, uid: u32, modseq: u64) {
        if let Some(s) = self.seq(uid) {
            let k = &mut self.rows[s as usize - 1];
            k.modseq = k.modseq.max(modseq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the EXPUNGE responses on a copy of the client's list.
    fn client_after(mut client: Vec<u32>, up: &Update, live: &[(u32, u64)]) -> Vec<u32> {
        for s in &up.expunged {
            client.remove(*s as usize - 1);
        }
        if let Some(n) = up.exists {
            let top = client.last().copied().unwrap_or(0);
            for &(uid, _) in live {
                if uid > top && (client.len() as u32) < n {
                    client.push(uid);
                }
            }
        }
        client
    }

    #[test]
    fn interleaved_expunges_keep_numbers_until_they_may_be_told() {
        let mut v = View::new(&[(1, 1), (2, 1), (3, 1), (5, 1), (8, 1)]);
        // Another session expunged 2 and 5 while this one runs a FETCH: no EXPUNGE, same numbers.
        let live = [(1, 1), (3, 1), (8, 2), (9, 3)];
        let up = v.update(&live, false);
        assert!(up.expunged.is_empty());
        assert_eq!(up.exists, Some(6), "new mail may be announced at any time");
        assert_eq!(up.changed, vec![(5, 8)]);
        assert_eq!((v.uid(2), v.uid(4), v.seq(9)), (Some(2), Some(5), Some(6)));
        // At the next NOOP: highest first, each number valid when sent.
        let client: Vec<u32> = v.rows.iter().map(|k| k.uid).collect();
        let up = v.update(&live, true);
        assert_eq!(up.expunged, vec![4, 2]);
        assert_eq!(up.vanished, vec![2, 5]);
        assert_eq!(client_after(client, &up, &live), vec![1, 3, 8, 9]);
        assert_eq!(v.rows.iter().map(|k| k.uid).collect::<Vec<_>>(), vec![1, 3, 8, 9]);
        assert_eq!(v.seq(8), Some(3));
        // Nothing new: nothing to say.
        assert_eq!(v.update(&live, true), Update::default());
    }

    #[test]
    fn every_interleaving_ends_where_the_folder_is() {
        // Deterministic walk: expunge one, add one, change one, sometimes while barred.
        let mut live: Vec<(u32, u64)> = (1..=20).map(|u| (u, 1)).collect();
        let mut v = View::new(&live);
        let mut client: Vec<u32> = live.iter().map(|l| l.0).collect();
        let mut next = 21;
        for round in 0..60u32 {
            let i = (round as usize * 7) % live.len().max(1);
            if round % 3 != 2 && !live.is_empty() {
                live.remove(i);
            }
            if round % 2 == 0 {
                live.push((next, round as u64 + 2));
                next += 1;
            }
            if let Some(l) = live.get_mut(round as usize % 5) {
                l.1 = round as u64 + 2;
            }
            let up = v.update(&live, round % 4 != 1);
            client = client_after(client, &up, &live);
            assert_eq!(client, v.rows.iter().map(|k| k.uid).collect::<Vec<_>>(), "round {round}");
        }
        v.update(&live, true);
        assert_eq!(v.rows.iter().map(|k| k.uid).collect::<Vec<_>>(), live.iter().map(|l| l.0).collect::<Vec<_>>());
    }
}
