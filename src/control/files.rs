//! The control endpoint's files: the token a TCP client presents (`control.token` in the data
//! directory) and the Unix socket, each readable or usable by the owner and, when the group
//! exists, by the group `postbote`, whatever the umask.
//!
//! Both appear under their final name only with their final mode: the token is written to a
//! temporary file that is renamed into place, and the socket is bound under a temporary name,
//! given its mode and group, then renamed. There is never a moment in which another user could
//! read the token or connect to the socket. This file never logs the token.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use crate::files::{GROUP, group_id};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("control token {path}: {source}")]
    Token { path: PathBuf, source: std::io::Error },
    #[error("control token {0} is not a token postbote wrote (64 hex digits): delete it and run `postbote init`")]
    Malformed(PathBuf),
    #[error("control endpoint: cannot listen on {path}: {source}")]
    Socket { path: PathBuf, source: std::io::Error },
}

/// Give `path` to the group `postbote` with `shared` mode when the group exists and this process
/// may hand files to it; otherwise make it `private`. Returns the mode set.
fn restrict(path: &Path, shared: u32, private: u32) -> std::io::Result<u32> {
    let mode = match group_id() {
        Some(gid) => match std::os::unix::fs::chown(path, None, Some(gid)) {
            Ok(()) => shared,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot give the file to the group {GROUP}; only the owner can use it");
                private
            }
        },
        None => private,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(mode)
}

fn well_formed(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The token in `path`, created (0640 with group `postbote`, else 0600) when missing; an
/// existing file gets that mode again, in case it was loosened.
pub fn ensure_token(path: &Path) -> Result<String, FileError> {
    let err = |source| FileError::Token { path: path.to_owned(), source };
    match std::fs::read_to_string(path) {
        Ok(t) => {
            let t = t.trim().to_string();
            if !well_formed(&t) {
                return Err(FileError::Malformed(path.to_owned()));
            }
            restrict(path, 0o640, 0o600).map_err(err)?;
            Ok(t)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let token = crate::outbox::random_hex(32);
            let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(err)?;
            f.write_all(format!("{token}\n").as_bytes()).and_then(|_| f.sync_all()).map_err(err)?;
            restrict(&tmp, 0o640, 0o600).map_err(err)?;
            // Another process (init beside a starting daemon) may have won the race: keep its token.
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&tmp);
                    Ok(token)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let _ = std::fs::remove_file(&tmp);
                    ensure_token(path)
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(err(e))
                }
            }
        }
        Err(e) => Err(err(e)),
    }
}

/// Bind the Unix socket at `path` with mode 0660 and group `postbote` (0600 without the group).
/// A stale socket there is replaced; any other file there is an error.
pub fn bind_socket(path: &Path) -> Result<tokio::net::UnixListener, FileError> {
    use std::os::unix::fs::FileTypeExt;
    let err = |source| FileError::Socket { path: path.to_owned(), source };
    if let Ok(m) = std::fs::symlink_metadata(path)
        && !m.file_type().is_socket()
    {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a file that is not a socket is there",
        )));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let listener = tokio::net::UnixListener::bind(&tmp).map_err(err)?;
    let placed = restrict(&tmp, 0o660, 0o600).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn expected(shared: u32, private: u32) -> u32 {
        if group_id().is_some() { shared } else { private }
    }

    #[test]
    fn token_is_made_once_owner_only_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data/control.token");
        let t = ensure_token(&p).unwrap();
        assert!(well_formed(&t));
        assert_eq!(mode(&p), expected(0o640, 0o600));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(ensure_token(&p).unwrap(), t, "an existing token is kept");
        assert_eq!(mode(&p), expected(0o640, 0o600), "a loosened mode is tightened again");
        std::fs::write(&p, "short\n").unwrap();
        assert!(matches!(ensure_token(&p), Err(FileError::Malformed(_))));
    }

    #[tokio::test]
    async fn socket_has_its_mode_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.sock");
        drop(bind_socket(&p).unwrap());
        // The socket file of the dropped listener is stale now; binding again replaces it.
        let _l = bind_socket(&p).unwrap();
        assert_eq!(mode(&p), expected(0o660, 0o600));
        let f = dir.path().join("plain");
        std::fs::write(&f, "x").unwrap();
        assert!(bind_socket(&f).is_err(), "a regular file is never replaced");
    }
}
