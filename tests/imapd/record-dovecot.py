#!/usr/bin/env python3
"""Records Dovecot's FETCH answers for every .eml here into NAME.dovecot, one record per item:
a line '> ITEM', a line with the byte count, the untagged FETCH response bytes, a newline.
Runs Dovecot's imap binary in PREAUTH mode on a throw-away maildir (no daemon):
    tests/imapd/record-dovecot.py            (needs /usr/lib/dovecot/imap, run as root)
The unit tests in src/imapd/render/tests.rs compare postbote's answers with these."""
import os, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ITEMS = """BODYSTRUCTURE
BODY
ENVELOPE
RFC822.SIZE
RFC822.HEADER
BODY.PEEK[]
BODY.PEEK[HEADER]
BODY.PEEK[TEXT]
BODY.PEEK[1]
BODY.PEEK[1.MIME]
BODY.PEEK[1.TEXT]
BODY.PEEK[2]
BODY.PEEK[2.MIME]
BODY.PEEK[2.HEADER]
BODY.PEEK[2.TEXT]
BODY.PEEK[2.1]
BODY.PEEK[2.1.MIME]
BODY.PEEK[1.1]
BODY.PEEK[1.2.MIME]
BODY.PEEK[3]
BODY.PEEK[3.MIME]
BODY.PEEK[9]
BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]
BODY.PEEK[HEADER.FIELDS (Content-Type x-none)]
BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM DATE)]
BODY.PEEK[2.HEADER.FIELDS (SUBJECT)]
BODY.PEEK[]<0.100>
BODY.PEEK[TEXT]<10.20>
BODY.PEEK[]<5000.10>
BINARY.PEEK[1]
BINARY.SIZE[1]
BINARY.PEEK[2]
BINARY.SIZE[2]
BINARY.PEEK[1.1]
BINARY.SIZE[1.1]
BINARY.PEEK[3]
BINARY.SIZE[3]""".splitlines()

def main():
    emls = sorted(f for f in os.listdir(HERE) if f.endswith(".eml"))
    tmp = tempfile.mkdtemp(prefix="dovecot-record-")
    os.chmod(tmp, 0o755)
    md = os.path.join(tmp, "Maildir")
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, d))
    for i, f in enumerate(emls):
        shutil.copy(os.path.join(HERE, f), os.path.join(md, "cur", f"{1000 + i}.rec:2,"))
    conf = os.path.join(tmp, "dovecot.conf")
    with open(conf, "w") as c:
        c.write(f"base_dir = {tmp}/run\nstate_dir = {tmp}/state\nlog_path = {tmp}/log\n"
                f"mail_location = maildir:{md}\nprotocols = imap\nssl = no\n"
                "mail_uid = 65534\nmail_gid = 65534\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n")
    subprocess.run(["chown", "-R", "65534:65534", md], check=True)
    def ask(command):
        # One process per command: Dovecot pipelines, so tagged answers can come late.
        script = f"a SELECT INBOX\r\nq {command}\r\nz LOGOUT\r\n".encode()
        out = subprocess.run(["/usr/lib/dovecot/imap", "-c", conf], input=script,
                             env={"USER": "recorder", "HOME": tmp}, capture_output=True, check=True).stdout
        start = out.index(b"a OK")
        start = out.index(b"\r\n", start) + 2
        return out[start:out.index(b"\r\nq OK", start) + 2]
    order = []
    answers = {}
    for i, _ in enumerate(emls):
        for item in ITEMS:
            order.append((i, item))
            answers[len(order)] = ask(f"FETCH {i + 1} ({item})")
    for i, f in enumerate(emls):
        with open(os.path.join(HERE, f[:-4] + ".dovecot"), "wb") as o:
            for k, (j, item) in enumerate(order, 1):
                if j == i:
                    data = answers.get(k, b"")
                    o.write(b"> " + item.encode() + b"\n" + str(len(data)).encode() + b"\n" + data + b"\n")
    shutil.rmtree(tmp)

main()
