//! What a sync pass did, for `postbote sync --once`, the log and the wait that follows a pass,
//! and the progress bar of a long first sync. No I/O beyond drawing the bar on stderr.

use std::fmt;

use indicatif::ProgressBar;

/// What a pass did to one folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderReport {
    pub name: String,
    pub new: usize,
    pub flags: usize,
    pub expunged: usize,
    pub reset: bool,
    /// Messages the server listed but gave no body for (asked for again next pass).
    pub missing: usize,
}

impl FolderReport {
    pub(super) fn changed(&self) -> bool {
        self.new + self.flags + self.expunged + self.missing > 0 || self.reset
    }
}

/// What a pass did to a mailbox: printed by `postbote sync --once`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub folders: Vec<FolderReport>,
    pub destroyed: Vec<String>,
    pub elapsed_ms: u128,
}

impl Report {
    pub fn new_messages(&self) -> usize {
        self.folders.iter().map(|f| f.new).sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changed: Vec<&FolderReport> = self.folders.iter().filter(|r| r.changed()).collect();
        if changed.is_empty() && self.destroyed.is_empty() {
            write!(f, "nothing new ({} folders checked", self.folders.len())?;
        } else {
            let mut first = true;
            for r in changed {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{}:", r.name)?;
                if r.reset {
                    f.write_str(" UIDVALIDITY changed, fetched again,")?;
                }
                write!(f, " {} new", r.new)?;
                if r.flags > 0 {
                    write!(f, ", {} flags changed", r.flags)?;
                }
                if r.expunged > 0 {
                    write!(f, ", {} removed", r.expunged)?;
                }
                if r.missing > 0 {
                    write!(f, ", {} not delivered by the server (retried next time)", r.missing)?;
                }
            }
            for d in &self.destroyed {
                write!(f, "; {d}: gone on the server, removed")?;
            }
            write!(f, " ({} folders checked", self.folders.len())?;
        }
        write!(f, " in {} ms)", self.elapsed_ms)
    }
}

/// A progress bar only for long fetches.
pub(super) struct Progress {
    pub(super) enabled: bool,
    pub(super) bar: Option<ProgressBar>,
}

impl Progress {
    const MIN: usize = 500;

    pub(super) fn add(&mut self, n: usize, folder: &str) {
        if !self.enabled || (self.bar.is_none() && n < Self::MIN) {
            return;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_prefix(folder.to_string());
                bar.inc_length(n as u64);
            }
            None => {
                let b = ProgressBar::with_draw_target(Some(n as u64), indicatif::ProgressDrawTarget::stderr());
                if let Ok(style) =
                    indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} messages, {eta} left")
                {
                    b.set_style(style.progress_chars("=> "));
                }
                b.set_prefix(folder.to_string());
                self.bar = Some(b);
            }
        }
    }

    pub(super) fn inc(&self, n: usize) {
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
    }

    pub(super) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_says_what_changed() {
        let r = Report {
            folders: vec![
                FolderReport { name: "INBOX".into(), new: 3, flags: 1, ..Default::default() },
                FolderReport { name: "Sent".into(), ..Default::default() },
            ],
            destroyed: vec![],
            elapsed_ms: 12,
        };
        assert_eq!(r.to_string(), "INBOX: 3 new, 1 flags changed (2 folders checked in 12 ms)");
        let quiet = Report {
            folders: vec![FolderReport { name: "INBOX".into(), ..Default::default() }],
            destroyed: vec![],
            elapsed_ms: 4,
        };
        assert_eq!(quiet.to_string(), "nothing new (1 folders checked in 4 ms)");
    }
}
