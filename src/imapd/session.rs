//! One IMAP connection from a phone: the states of RFC 3501 (not authenticated,
//! authenticated, selected, logout), the login, and the loop that waits on the client, the
//! store's changes, the idle timer, the device's revocation and the daemon's shutdown at once.
//!
//! Commands are handled one at a time, in order; each answer is written before the next command
//! is looked at. The mailbox commands live in `mailboxes.rs`, the selected-state reads in
//! `selected.rs` and the writes in `writes.rs`; all of them reach the store through
//! [`Session::blocking`], so no SQLite call runs on the async threads. The password or token a
//! client presents is never logged: imap-next keeps it as a `Secret`, and only the outcome of a
//! login is logged, with the device's id.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{Atom, Tag, Vec1};
use imap_codec::imap_types::response::{Capability, Code, CodeOther, CommandContinuationRequest, Data, Status};
use imap_next::server::Event;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::names::Names;
use super::view::View;
use super::wire::{Garbled, Ready, Wire, WireError};
use crate::app::App;
use crate::devices::{Connection, Login, Logins, Presented, Protocol, Refused};
use crate::store::Store;

/// What a listener shares with its sessions.
pub struct Shared {
    pub app: App,
    pub logins: Arc<Logins>,
    pub tls: Option<Arc<crate::devices::ServerTls>>,
}

/// The selected folder.
pub struct Selected {
    pub account: String,
    pub folder: i64,
    pub name: String,
    pub read_only: bool,
    pub uidvalidity: u32,
    pub view: View,
    /// The account's modseq when the view was last brought up to date: while it stands, there
    /// is no news to look for.
    pub seen_modseq: i64,
}

pub enum State {
    NotAuthenticated,
    Authenticated,
    Selected(Selected),
}

pub struct Session {
    pub shared: Arc<Shared>,
    pub wire: Wire,
    pub peer: SocketAddr,
    pub state: State,
    pub login: Option<Login>,
    pub names: Names,
    pub conn: Option<Connection>,
    pub condstore: bool,
    pub qresync: bool,
    /// A STARTTLS was accepted: the handshake follows the OK.
    pub starttls: bool,
    pub logout: bool,
    pub idling: Option<Tag<'static>>,
    /// An AUTHENTICATE waiting for the client's data.
    pub auth_tag: Option<Tag<'static>>,
    pub changes: broadcast::Receiver<crate::store::StateChange>,
}

pub fn ok(tag: &Tag<'static>, code: Option<Code<'static>>, text: &str) -> Status<'static> {
    Status::ok(Some(tag.clone()), code, text.to_string())
        .unwrap_or_else(|_| Status::ok(Some(tag.clone()), None, "done").expect("a valid text"))
}

pub fn no(tag: &Tag<'static>, code: Option<Code<'static>>, text: &str) -> Status<'static> {
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    Status::no(Some(tag.clone()), code, text)
        .unwrap_or_else(|_| Status::no(Some(tag.clone()), None, "failed").expect("a valid text"))
}

/// The answer to a command the store could not carry out: `NO [SERVERBUG]` with the error,
/// never an OK with less in it.
pub fn server_bug(tag: &Tag<'static>, e: &impl std::fmt::Display) -> Status<'static> {
    no(tag, Some(code("SERVERBUG")), &e.to_string())
}

pub fn bad(tag: &Tag<'static>, text: &str) -> Status<'static> {
    Status::bad(Some(tag.clone()), None, text.to_string())
        .unwrap_or_else(|_| Status::bad(Some(tag.clone()), None, "bad").expect("a valid text"))
}

pub fn code(word: &str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(word.as_bytes().to_vec()))
}

impl Session {
    pub fn new(shared: Arc<Shared>, wire: Wire, peer: SocketAddr) -> Session {
        let changes = shared.app.store.subscribe();
        Session {
            shared,
            wire,
            peer,
            state: State::NotAuthenticated,
            login: None,
            names: Names { own: String::new(), shared: Vec::new() },
            conn: None,
            condstore: false,
            qresync: false,
            starttls: false,
            logout: false,
            idling: None,
            auth_tag: None,
            changes,
        }
    }

    pub fn store(&self) -> &Store {
        &self.shared.app.store
    }

    /// Run `f` on the store on a blocking thread.
    pub async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> crate::store::Result<R> + Send + 'static,
    ) -> crate::store::Result<R> {
        let store = self.store().clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .unwrap_or_else(|e| Err(crate::store::StoreError::Other(format!("a store task failed: {e}"))))
    }

    /// Whether a login may happen on this connection now (TLS, or loopback).
    fn may_login(&self) -> bool {
        self.wire.tls || self.peer.ip().is_loopback()
    }

    pub fn capabilities(&self) -> Vec1<Capability<'static>> {
        let cfg = &self.shared.app.config;
        let mut caps = vec![Capability::Imap4Rev1];
        let atom = |s: &str| Capability::from(Atom::try_from(s.to_string()).expect("a capability atom"));
        // Not IMAP4rev2: its ESEARCH answers and LIST-EXTENDED are not served (the codec
        // parses neither SEARCH RETURN nor LIST's selection options).
        if let State::NotAuthenticated = self.state {
            if !self.wire.tls && self.shared.tls.is_some() {
                caps.push(Capability::StartTls);
            }
            if self.may_login() {
                caps.push(Capability::Auth(AuthMechanism::Plain));
                caps.push(Capability::SaslIr);
            } else {
                caps.push(Capability::LoginDisabled);
            }
        }
        // The same list before and after login: some clients (Python's imaplib) ask only once.
        for c in [
            Capability::Idle,
            Capability::UidPlus,
            Capability::Move,
            Capability::Enable,
            Capability::CondStore,
            Capability::QResync,
            Capability::Namespace,
            Capability::Unselect,
        ] {
            caps.push(c);
        }
        caps.push(atom("SPECIAL-USE"));
        caps.push(atom(&format!("APPENDLIMIT={}", cfg.imap_server.append_limit)));
        caps.push(Capability::LiteralMinus);
        caps.push(Capability::Id);
        Vec1::try_from(caps).expect("not empty")
    }

    /// Run the session until LOGOUT, the client leaves, the timeout, revocation or shutdown.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let idle = self.shared.app.config.imap_server.idle_timeout;
        let mut deadline = Instant::now() + idle;
        match self.drive(&shutdown, idle, &mut deadline).await {
            Ok(()) | Err(WireError::Closed) => {}
            Err(WireError::TooMuchBeforeLogin) => {
                tracing::info!(peer = %self.peer, "imapd: a client sent too much before logging in");
                let _ = self.bye("too much before login").await;
            }
            Err(e) => tracing::debug!(peer = %self.peer, error = %e, "imapd: connection failed"),
        }
    }

    async fn drive(
        &mut self,
        shutdown: &CancellationToken,
        idle: Duration,
        deadline: &mut Instant,
    ) -> Result<(), WireError> {
        loop {
            while let Some(ready) = self.wire.ready() {
                *deadline = Instant::now() + idle;
                match ready {
                    Ready::Event(e) => self.event(*e).await?,
                    Ready::Garbled(Garbled::Malformed(tag)) => {
                        let status = match tag.and_then(|t| Tag::try_from(t).ok()) {
                            Some(t) => bad(&t, "command not understood"),
                            None => Status::bad(None, None, "command not understood").expect("a valid text"),
                        };
                        self.wire.server.enqueue_status(status);
                    }
                    Ready::Garbled(Garbled::TooLong) => {}
                    Ready::Garbled(Garbled::CommandTooLong) => {
                        self.bye("command too long").await?;
                        return Ok(());
                    }
                }
                self.wire.flush().await?;
                if self.starttls {
                    self.starttls = false;
                    let Some(tls) = self.shared.tls.clone() else { return Ok(()) };
                    // The handshake has its own timeout, and a shutdown does not wait for it.
                    tokio::select! {
                        r = self.wire.start_tls(tls.acceptor()) => r?,
                        _ = shutdown.cancelled() => return Ok(()),
                    }
                }
                if self.logout {
                    return Ok(());
                }
            }
            self.wire.flush().await?;
            let ended = async {
                match &self.conn {
                    Some(c) => c.ended().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.wire.read_more() => r?,
                _ = shutdown.cancelled() => {
                    self.bye("postbote is shutting down").await?;
                    return Ok(());
                }
                _ = ended => {
                    self.bye("this device was revoked").await?;
                    return Ok(());
                }
                _ = tokio::time::sleep_until((*deadline).into()) => {
                    self.bye("idle for too long").await?;
                    return Ok(());
                }
                change = self.changes.recv(), if self.idling.is_some() => {
                    match change {
                        Ok(c) if self.selected_account().is_none_or(|a| a != c.account) => {}
                        _ => {
                            self.changes = self.changes.resubscribe();
                            self.tell_updates(true).await;
                        }
                    }
                }
            }
        }
    }

    fn selected_account(&self) -> Option<&str> {
        match &self.state {
            State::Selected(s) => Some(&s.account),
            _ => None,
        }
    }

    pub async fn bye(&mut self, text: &str) -> Result<(), WireError> {
        if let Ok(s) = Status::bye(None, text.to_string()) {
            self.wire.server.enqueue_status(s);
        }
        self.wire.flush().await
    }

    async fn event(&mut self, event: Event) -> Result<(), WireError> {
        match event {
            Event::CommandReceived { command } => self.command(command).await,
            Event::CommandAuthenticateReceived { command_authenticate: a } => {
                if !matches!(self.state, State::NotAuthenticated) {
                    let _ = self.wire.server.authenticate_finish(bad(&a.tag, "already logged in"));
                } else if !self.may_login() {
                    let _ = self.wire.server.authenticate_finish(no(
                        &a.tag,
                        Some(code("PRIVACYREQUIRED")),
                        "use STARTTLS first",
                    ));
                } else if a.mechanism != AuthMechanism::Plain {
                    let _ = self.wire.server.authenticate_finish(no(&a.tag, None, "only AUTHENTICATE PLAIN"));
                } else if let Some(ir) = a.initial_response {
                    let status = self.plain(&a.tag, ir.declassify()).await;
                    let _ = self.wire.server.authenticate_finish(status);
                } else {
                    self.auth_tag = Some(a.tag);
                    let _ = self.wire.server.authenticate_continue(CommandContinuationRequest::base64(Vec::new()));
                }
                Ok(())
            }
            Event::AuthenticateDataReceived { authenticate_data } => {
                let Some(tag) = self.auth_tag.take() else { return Ok(()) };
                let status = match authenticate_data {
                    AuthenticateData::Continue(data) => self.plain(&tag, data.declassify()).await,
                    AuthenticateData::Cancel => bad(&tag, "AUTHENTICATE cancelled"),
                };
                let _ = self.wire.server.authenticate_finish(status);
                Ok(())
            }
            Event::IdleCommandReceived { tag } => {
                if !matches!(self.state, State::Selected(_) | State::Authenticated) {
                    let _ = self.wire.server.idle_reject(no(&tag, None, "log in first"));
                    return Ok(());
                }
                let _ = self
                    .wire
                    .server
                    .idle_accept(CommandContinuationRequest::basic(None, "idling").expect("a valid text"));
                self.idling = Some(tag);
                self.changes = self.changes.resubscribe();
                self.tell_updates(true).await;
                Ok(())
            }
            Event::IdleDoneReceived => {
                if let Some(tag) = self.idling.take() {
                    self.tell_updates(true).await;
                    self.wire.server.enqueue_status(ok(&tag, None, "IDLE done"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// AUTHENTICATE PLAIN's message: authzid NUL authcid NUL password.
    async fn plain(&mut self, tag: &Tag<'static>, data: &[u8]) -> Status<'static> {
        let mut parts = data.split(|b| *b == 0);
        let (_authz, user, pass) = (parts.next(), parts.next(), parts.next());
        match (user, pass) {
            (Some(u), Some(p)) => {
                let (u, p) = (String::from_utf8_lossy(u).into_owned(), String::from_utf8_lossy(p).into_owned());
                self.log_in(tag, &u, &p).await
            }
            _ => bad(tag, "malformed PLAIN message"),
        }
    }

    /// Check a user name and device token; on success the session is authenticated.
    pub async fn log_in(&mut self, tag: &Tag<'static>, user: &str, token: &str) -> Status<'static> {
        let shared = self.shared.clone();
        let (user, token) = (user.to_string(), token.to_string());
        let ip = self.peer.ip();
        let checked = tokio::task::spawn_blocking(move || {
            let p = Presented { ip, user: Some(&user), token: &token, protocol: Protocol::Imap };
            shared.logins.check(&shared.app.store, &shared.app.config, p, Instant::now())
        })
        .await
        .unwrap_or_else(|e| Err(Refused::Store(e.to_string())));
        let login = match checked {
            Ok(l) => l,
            Err(Refused::Wrong) => {
                tracing::info!(peer = %self.peer, "imapd: a login was refused");
                return no(tag, Some(code("AUTHENTICATIONFAILED")), "wrong user name or token");
            }
            Err(r @ Refused::TooMany { retry_after }) => {
                tracing::info!(peer = %self.peer, "imapd: a login was refused, too many failures");
                // Guesses past the limit never run at full speed (a valid token never gets here).
                tokio::time::sleep(r.delay()).await;
                let text = format!("too many failed logins, try again in {} s", retry_after.as_secs().max(1));
                return no(tag, Some(code("UNAVAILABLE")), &text);
            }
            Err(Refused::Store(e)) => {
                tracing::warn!(error = %e, "imapd: cannot check a login");
                return no(tag, Some(code("UNAVAILABLE")), "the store cannot be read, try again");
            }
        };
        let conn = match self.shared.app.live.open(login.device, Protocol::Imap).await {
            Ok(c) => c,
            Err(e) => return no(tag, Some(code("LIMIT")), &e.to_string()),
        };
        tracing::info!(device = login.device, peer = %self.peer, "imapd: a device logged in");
        self.names = Names {
            own: login.mailbox.clone(),
            shared: login.mailboxes.iter().filter(|g| !g.personal).map(|g| g.mailbox.clone()).collect(),
        };
        self.conn = Some(conn);
        self.login = Some(login);
        self.wire.before_login = None;
        self.state = State::Authenticated;
        ok(tag, Some(Code::Capability(self.capabilities())), "logged in")
    }

    async fn command(&mut self, command: Command<'static>) -> Result<(), WireError> {
        let Command { tag, body } = command;
        let authed = !matches!(self.state, State::NotAuthenticated);
        let status = match body {
            CommandBody::Capability => {
                self.wire.server.enqueue_data(Data::Capability(self.capabilities()));
                ok(&tag, None, "CAPABILITY done")
            }
            CommandBody::Noop | CommandBody::Check => {
                self.tell_updates(true).await;
                ok(&tag, None, "done")
            }
            CommandBody::Logout => {
                self.logout = true;
                if let Ok(s) = Status::bye(None, "logging out") {
                    self.wire.server.enqueue_status(s);
                }
                ok(&tag, None, "LOGOUT done")
            }
            CommandBody::Id { .. } => {
                let params = vec![(
                    imap_codec::imap_types::core::IString::try_from("name").expect("a string"),
                    imap_codec::imap_types::core::NString::try_from("postbote").expect("a string"),
                )];
                self.wire.server.enqueue_data(Data::Id { parameters: Some(params) });
                ok(&tag, None, "ID done")
            }
            CommandBody::StartTLS => {
                if self.wire.tls || self.shared.tls.is_none() || authed {
                    bad(&tag, "STARTTLS is not available here")
                } else {
                    self.starttls = true;
                    ok(&tag, None, "begin TLS now")
                }
            }
            CommandBody::Login { username, password } => {
                if authed {
                    bad(&tag, "already logged in")
                } else if !self.may_login() {
                    no(&tag, Some(code("PRIVACYREQUIRED")), "use STARTTLS first")
                } else {
                    let user = String::from_utf8_lossy(username.as_ref()).into_owned();
                    let pass = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
                    self.log_in(&tag, &user, &pass).await
                }
            }
            _ if !authed => bad(&tag, "log in first"),
            body => self.authed_command(&tag, body).await,
        };
        self.wire.server.enqueue_status(status);
        Ok(())
    }
}

impl Session {
    /// The store changed: tell the selected folder's news (EXPUNGE only when `may_expunge`).
    pub async fn tell_updates(&mut self, may_expunge: bool) {
        if let Err(e) = self.updates(may_expunge).await {
            tracing::warn!(error = %e, "imapd: cannot read the selected folder");
        }
    }
}
