-- Who opened, renewed and ended office sessions, and which requests the control endpoint
-- refused. An office session opens the gate of every `send_while = "session"` transport, so a
-- person must be able to see afterwards who held it open and from where (`postbote status`).
-- Append-only from the program's side; the store keeps the newest rows and drops older ones
-- (a local user who floods the endpoint with refused requests must not fill the disk).
-- IF NOT EXISTS: applying it again to a store whose version was wound back loses nothing.
CREATE TABLE IF NOT EXISTS control_audit (
  id           INTEGER PRIMARY KEY,
  at           INTEGER NOT NULL,                -- unix seconds
  action       TEXT NOT NULL CHECK (action IN ('login', 'heartbeat', 'logout', 'refused')),
  session_id   TEXT,                            -- none for a refused request
  user         TEXT,                            -- the session's user; none for a refused request
  how          TEXT NOT NULL,                   -- "tcp 127.0.0.1:53211", "unix uid 1000", "cli uid 1000"
  lease_until  INTEGER,                         -- the lease end the action left behind
  detail       TEXT                             -- why a request was refused; never a token
);
