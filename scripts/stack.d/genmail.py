#!/usr/bin/env python3
"""Write N synthetic messages of about SIZE bytes into one mbox file, for `doveadm import`.

  genmail.py FILE N [--size 5000] [--start 0] [--to ADDRESS]

Used by `scripts/stack populate` for bulk fills (10,000 messages import in about 2 s; LMTP or
IMAP APPEND take a minute or more). Deterministic: the same arguments give the same file,
except that Message-IDs carry a per-run token so repeated fills never share an ID.
"""
import argparse, email.utils, os, random, sys, time

WORDS = ("angebot rechnung termin baustelle fliesen bad heizung montage lieferung material "
         "auftrag kunde anfrage besichtigung estrich armatur dusche wanne leitung rohr "
         "abdichtung putz silikon vorwand spuelkasten waschtisch handtuchheizkoerper").split()


def line_pool(rnd):
    return [" ".join(rnd.choice(WORDS) for _ in range(9))[:76] + "\n" for _ in range(512)]


def message(i, size, rnd, to, token, pool):
    date = email.utils.formatdate(1700000000 + i * 60, localtime=False).replace("-0000", "+0000")
    hdr = (f"From: Absender {i % 50} <absender{i % 50}@kunde.test>\n"
           f"To: {to}\n"
           f"Subject: Testnachricht {i} {rnd.choice(WORDS)} {rnd.choice(WORDS)}\n"
           f"Date: {date}\n"
           f"Message-ID: <gen{i}.{token}@kunde.test>\n"
           f"MIME-Version: 1.0\n"
           f"Content-Type: text/plain; charset=us-ascii\n\n")
    # body lines come from a pool: generating 10,000 messages stays well under a second
    body, n = [], len(hdr)
    for line in rnd.choices(pool, k=max(1, (size - n) // 60 + 2)):
        if n >= size:
            break
        body.append(line)
        n += len(line)
    return hdr + "".join(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("n", type=int)
    ap.add_argument("--size", type=int, default=5000)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--to", default="Empfaenger <empfaenger@handwerk.test>")
    a = ap.parse_args()
    rnd = random.Random(42 + a.start)
    pool = line_pool(rnd)
    token = f"{os.getpid()}.{time.time_ns()}"
    t0 = time.time()
    with open(a.file, "w", encoding="ascii") as f:
        for i in range(a.start, a.start + a.n):
            when = time.asctime(time.gmtime(1700000000 + i * 60))
            # the generated text never has a line starting with "From ", so no >From quoting
            f.write(f"From absender@kunde.test {when}\n{message(i, a.size, rnd, a.to, token, pool)}\n")
    print(f"genmail: {a.n} messages in {time.time() - t0:.2f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
