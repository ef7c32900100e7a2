#!/usr/bin/env python3
"""Delivers mail into the stack's Cyrus IMAP server by APPEND, as the mailbox's own user.

  cyrusimap.py deliver PORT ADDRESS FOLDER < message.eml
  cyrusimap.py import  PORT ADDRESS FOLDER MBOX

Used by `scripts/stack cyrus deliver|populate`. The password is read from the stack's user
file (dovecot/users/ADDRESS, "address:{PLAIN}password"), which the environment variable
USERS_DIR names. FOLDER is UTF-8 with "/" between levels; it is created (modified UTF-7 on
the wire) when missing. Bare LF line ends become CRLF: Cyrus refuses bare newlines in APPEND.
`import` sends the mbox's messages with MULTIAPPEND, 500 to one command (LITERAL+, so no
round trip per message). Exits 1 with the server's answer when a command fails.
"""
import base64, os, re, socket, sys


def mutf7(name):
    """RFC 3501 modified UTF-7."""
    out, run = [], []

    def flush():
        if run:
            b = base64.b64encode("".join(run).encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b.replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def crlf(raw):
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


class Imap:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.rfile = self.sock.makefile("rb")
        self.tag = 0
        greeting = self.rfile.readline()
        if not greeting.startswith(b"* OK"):
            sys.exit(f"cyrusimap: unexpected greeting {greeting!r}")

    def send(self, data):
        self.sock.sendall(data)

    def command(self, line, payload=b"", ok=True):
        """Sends `TAG line` (payload follows raw) and returns (status, text) of the tagged reply."""
        self.tag += 1
        tag = f"C{self.tag}".encode()
        self.send(tag + b" " + line + payload + b"\r\n")
        text = []
        while True:
            l = self.rfile.readline()
            if not l:
                sys.exit("cyrusimap: the server closed the connection")
            text.append(l)
            m = re.search(rb"\{(\d+)\}\r\n$", l)
            if m:
                text.append(self.rfile.read(int(m.group(1))))
            if l.startswith(tag + b" "):
                status = l.split(b" ", 2)[1]
                if ok and status != b"OK":
                    sys.exit(f"cyrusimap: {line[:60]!r} failed: {b''.join(text)[-500:]!r}")
                return status, b"".join(text)

    def login(self, address):
        users = os.environ.get("USERS_DIR") or sys.exit("cyrusimap: USERS_DIR is not set")
        line = open(os.path.join(users, address)).read().strip()
        pw = line.split("{PLAIN}", 1)[1]
        self.command(f"LOGIN {quote(address)} {quote(pw)}".encode())

    def ensure_folder(self, folder):
        if folder.upper() == "INBOX":
            return "INBOX"
        name = mutf7(folder)
        status, _ = self.command(f"CREATE {quote(name)}".encode(), ok=False)
        if status != b"OK":
            # already there is fine; anything else shows at APPEND
            pass
        self.command(f"SUBSCRIBE {quote(name)}".encode(), ok=False)
        return name

    def append(self, name, messages):
        parts = [f"APPEND {quote(name)}".encode()]
        payload = b""
        for i, raw in enumerate(messages):
            raw = crlf(raw)
            lit = b" () {%d+}\r\n" % len(raw) + raw
            if i == 0:
                parts.append(lit)
            else:
                payload += lit
        status, text = self.command(parts[0], parts[1] + payload)
        return text


def mbox_messages(path):
    data = open(path, "rb").read()
    chunks = re.split(rb"(?m)^From [^\n]*\n", data)
    for c in chunks:
        if c.strip():
            # mboxrd/mboxo quoting of ">From " lines is undone
            yield re.sub(rb"(?m)^>(>*From )", rb"\1", c)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    cmd, port, address, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    imap = Imap(port)
    imap.login(address)
    name = imap.ensure_folder(folder)
    if cmd == "deliver":
        imap.append(name, [sys.stdin.buffer.read()])
    elif cmd == "import":
        batch = []
        for raw in mbox_messages(sys.argv[5]):
            batch.append(raw)
            if len(batch) == 500:
                imap.append(name, batch)
                batch = []
        if batch:
            imap.append(name, batch)
    else:
        sys.exit(__doc__)
    imap.command(b"LOGOUT", ok=False)


if __name__ == "__main__":
    main()
