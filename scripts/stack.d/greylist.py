#!/usr/bin/env python3
"""Greylisting policy service for postbote's test Postfix (stdlib only).

Postfix asks it (check_policy_service inet:127.0.0.1:10040, only for recipients whose local
part starts with "greylist", see rcpt_access.regexp) at RCPT time. Greylisting is by recipient
address alone: the first attempt for a recipient gets 450; later attempts are accepted once at
least MIN_DELAY seconds have passed since the first. Any other recipient gets DUNNO.
State survives restarts: one "first-seen-epoch<TAB>recipient" line per recipient in --state.

  greylist.py --port 10040 --state STATE_FILE --pidfile PIDFILE
"""
import argparse, os, socketserver, threading, time

MIN_DELAY = 1.0


class Greylist:
    def __init__(self, path):
        self.path, self.lock, self.first_seen = path, threading.Lock(), {}
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    when, _, rcpt = line.rstrip("\n").partition("\t")
                    if rcpt:
                        self.first_seen.setdefault(rcpt, float(when))

    def action(self, recipient):
        rcpt = recipient.strip().lower()
        if not rcpt.startswith("greylist"):
            return "DUNNO"
        now = time.time()
        with self.lock:
            first = self.first_seen.get(rcpt)
            if first is None:
                self.first_seen[rcpt] = now
                with open(self.path, "a") as f:
                    f.write(f"{now:.6f}\t{rcpt}\n")
                return "450 4.7.1 Greylisted (test): please try again later"
        if now - first >= MIN_DELAY:
            return "DUNNO"
        return "450 4.7.1 Greylisted (test): retried too soon, please try again later"


class Handler(socketserver.StreamRequestHandler):
    # Postfix keeps the connection open and sends one request (name=value lines, then an
    # empty line) after another; each gets "action=...", then an empty line.
    def handle(self):
        attrs = {}
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line:
                name, _, value = line.partition("=")
                attrs[name] = value
                continue
            act = self.server.greylist.action(attrs.get("recipient", ""))
            self.wfile.write(f"action={act}\n\n".encode())
            self.wfile.flush()
            attrs = {}


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=10040)
    ap.add_argument("--state", required=True)
    ap.add_argument("--pidfile", required=True)
    a = ap.parse_args()
    srv = Server((a.host, a.port), Handler)
    srv.greylist = Greylist(a.state)
    tmp = a.pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(tmp, a.pidfile)
    print(f"greylist policy service on {a.host}:{a.port}, state {a.state}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
