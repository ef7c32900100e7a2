//! postbote's own files are private: the data directory and every directory under it are
//! 0700, every file postbote makes is 0600, whatever the umask. The store holds all mail, so a
//! mode that lets another local user read it gives that user every mailbox.
//!
//! This module makes directories and files with those modes ([`create_dir`],
//! [`private_options`], [`ensure_file`]), finds what is readable by others under a data
//! directory ([`check`]) and tightens it ([`repair`]). It never loosens a mode, never follows a
//! symbolic link out of the data directory, never touches a socket (the control socket's mode
//! is the control endpoint's business) and never logs: callers say what was repaired.

use std::fs::OpenOptions;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of postbote's directories.
pub const DIR_MODE: u32 = 0o700;
/// The mode of postbote's files.
pub const FILE_MODE: u32 = 0o600;

/// Create `dir` and any missing parents with mode 0700. Existing directories are left as
/// they are ([`repair`] tightens those).
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// `OpenOptions` that create a missing file with mode 0600.
pub fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

/// Create `path` empty with mode 0600 when it does not exist; an existing file is left alone.
/// SQLite gives a database's `-wal` and `-shm` files the database file's mode, so the store
/// makes its file this way before SQLite opens it.
pub fn ensure_file(path: &Path) -> std::io::Result<()> {
    match private_options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A directory or file under the data directory that others can read or write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loose {
    pub path: PathBuf,
    /// The permission bits it has (e.g. 0o644).
    pub mode: u32,
    /// The mode it should have: 0o700 for a directory, 0o600 for a file.
    pub want: u32,
}

impl std::fmt::Display for Loose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is mode {:04o}, should be {:04o}", self.path.display(), self.mode, self.want)
    }
}

/// Everything under `data_dir` (itself included) whose mode gives the group or others any
/// access. A missing data directory has nothing loose. Symbolic links and sockets are skipped.
pub fn check(data_dir: &Path) -> std::io::Result<Vec<Loose>> {
    let mut out = Vec::new();
    match std::fs::symlink_metadata(data_dir) {
        Ok(_) => walk(data_dir, group_id(), &mut out)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(out)
}

fn walk(path: &Path, office_group: Option<u32>, out: &mut Vec<Loose>) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let mode = meta.permissions().mode() & 0o7777;
    let want = if meta.is_dir() {
        DIR_MODE
    } else if meta.is_file() {
        FILE_MODE
    } else {
        return Ok(());
    };
    // The group `postbote` (the office program's) may pass through the data directory and read
    // the control token (see `control::files`); nothing else is ever open to a group, and
    // nothing to others. A repair keeps that much for the group `postbote` and no more.
    let group_may = if office_group != Some(std::os::unix::fs::MetadataExt::gid(&meta)) {
        0
    } else if meta.is_dir() {
        0o010
    } else if path.file_name().is_some_and(|n| n == "control.token") {
        0o040
    } else {
        0
    };
    let want = want | (mode & group_may);
    if mode & 0o077 & !group_may != 0 {
        out.push(Loose { path: path.to_owned(), mode, want });
    }
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            match walk(&p, office_group, out) {
                // A file SQLite removed (a -wal at close) between listing and looking is no problem.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                r => r?,
            }
        }
    }
    Ok(())
}

/// Set everything [`check`] finds to 0700 (directories) or 0600 (files), keeping what the
/// group `postbote` may have, and return what was
/// changed, so the caller can say so.
pub fn repair(data_dir: &Path) -> std::io::Result<Vec<Loose>> {
    let loose = check(data_dir)?;
    let mut done = Vec::with_capacity(loose.len());
    for l in loose {
        match std::fs::set_permissions(&l.path, std::fs::Permissions::from_mode(l.want)) {
            Ok(()) => done.push(l),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(std::io::Error::new(e.kind(), format!("cannot chmod {}: {e}", l.path.display()))),
        }
    }
    Ok(done)
}

/// The group the office program's user joins to use the control endpoint.
pub const GROUP: &str = "postbote";

/// The id of the group `postbote`, if this system has one.
pub fn group_id() -> Option<u32> {
    let name = std::ffi::CString::new(GROUP).ok()?;
    // SAFETY: getgrnam_r writes only into `grp` and `buf`, which live for the whole call and
    // whose sizes are passed; `result` is either null or points at `grp`.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrnam_r(name.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut result);
        (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_modes_are_found_and_tightened_and_private_ones_are_left() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        create_dir(&data.join("transcripts")).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_file(&data.join("postbote.sqlite")).unwrap();
        std::fs::write(data.join("transcripts/a.log"), "x").unwrap();
        std::fs::set_permissions(data.join("transcripts/a.log"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            std::fs::metadata(data.join("postbote.sqlite")).unwrap().permissions().mode() & 0o777,
            FILE_MODE,
            "a new file is 0600 whatever the umask"
        );
        let found = check(&data).unwrap();
        let paths: Vec<_> = found.iter().map(|l| (l.path.strip_prefix(&data).unwrap().to_owned(), l.mode)).collect();
        assert_eq!(paths, vec![(PathBuf::new(), 0o755), (PathBuf::from("transcripts/a.log"), 0o644)]);
        assert_eq!(repair(&data).unwrap(), found);
        assert!(check(&data).unwrap().is_empty());
        assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, DIR_MODE);
        assert!(check(&dir.path().join("missing")).unwrap().is_empty());
    }
}
