#!/usr/bin/env bash
# Benchmark: postbote's IMAP server for phones against Dovecot, on the local stack.
#
#   bench/imapd.sh [N] [CONNS]     N messages of ~5 KB (default 10000); CONNS IDLE connections (default 100)
#
# One run, on one Dovecot mailbox of N messages, mirrored first by `postbote sync --once`
# (release build), then served by `postbote run` with [imap_server] on a free loopback port:
#   mbsync (FSync no) pulling the mailbox from postbote's IMAP, then from Dovecot's IMAPS,
#     alternately, ROUNDS times (default 3): min and median of each, and their ratio
#     (target <= 1.0);
#   CONNS concurrent imaplib connections in IDLE on postbote's INBOX: postbote's RSS before and
#     with them (VmRSS from /proc; target < 100 MB in total);
#   a message delivered to Dovecot (`scripts/stack deliver`) until EXISTS arrives on one of those
#     IDLE connections (the mirror follows Dovecot with IDLE; target < 1.5 s), 5 times.
# Prints one TSV line per run and the ratios. Not a test: nothing here fails on a slow figure.
# The stack must be up already (this script never starts or stops it).
# Needs: mbsync, python3, cargo.
set -euo pipefail
shopt -s inherit_errexit

N=${1:-10000}
CONNS=${2:-100}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/lib.sh"
STACK=${POSTBOTE_STACK_DIR:-$ROOT/.stack}
export POSTBOTE_STACK_DIR=$STACK
CA=$STACK/certs/cert.pem
W=$(mktemp -d "${TMPDIR:-/tmp}/postbote-bench-imapd.XXXXXX")
PB_PID=""
cleanup() {
  if [ -n "$PB_PID" ]; then kill "$PB_PID" 2>/dev/null || true; wait "$PB_PID" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT

command -v mbsync >/dev/null || { echo "bench: mbsync is missing (apt-get install isync)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: python3 is missing" >&2; exit 1; }
[ -f "$CA" ] || { echo "bench: no stack at $STACK (scripts/stack up)" >&2; exit 1; }

echo "bench: building postbote (release)" >&2
(cd "$ROOT" && cargo build --locked --release --quiet --bin postbote)
PB=${CARGO_TARGET_DIR:-$ROOT/target}/release/postbote

stamp=$(date +%s)
user=bench-imapd-$stamp@handwerk.test
"$ROOT/scripts/stack" add-user "$user" benchpw >&2
"$ROOT/scripts/stack" populate "$user" "$N" 5000 >&2
echo "bench: mailbox $user with $N messages" >&2

IMAP_PORT=$(free_port)
CONTROL_PORT=$(free_port)
mkdir -p "$W/pb"
printf 'benchpw\n' >"$W/pb/password"
cat >"$W/pb/postbote.toml" <<EOF
[agent]
data_dir = "$W/pb/data"
[imap]
host = "localhost"
port = 10993
tls = "implicit"
ca_file = "$CA"
[relay]
host = "localhost"
port = 10587
[control]
listen = "127.0.0.1:$CONTROL_PORT"
[jmap]
enabled = false
[phones]
max_connections_per_device = $((CONNS + 10))
[imap_server]
enabled = true
listen = "127.0.0.1:$IMAP_PORT"
[[mailbox]]
id = "bench"
name = "Bench"
addresses = ["bench@bau-firma.test"]
hosted_address = "$user"
login = "$user"
password_file = "$W/pb/password"
folders = ["INBOX"]
EOF

echo "bench: mirroring into postbote's store" >&2
"$PB" --config "$W/pb/postbote.toml" sync --once --quiet >&2
TOKEN=$("$PB" --config "$W/pb/postbote.toml" device add --mailbox bench --name bench --profile "$W/bench.mobileconfig" | sed -n '3p')
"$PB" --config "$W/pb/postbote.toml" run >"$W/pb/run.log" 2>&1 &
PB_PID=$!
for _ in $(seq 200); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $IMAP_PORT), 1)" 2>/dev/null && break
  sleep 0.1
done

mbsync_config() { # DIR HOST-LINES
  mkdir -p "$1/maildir"
  cat >"$1/mbsyncrc" <<EOF
FSync no

IMAPAccount a
$2

IMAPStore remote
Account a

MaildirStore local
Path $1/maildir/
Inbox $1/maildir/INBOX
SubFolders Verbatim

Channel c
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
EOF
}

# measure NAME CMD... : wall seconds of CMD into WALL; prints a TSV line
measure() {
  local name=$1
  shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$W/out.txt" 2>&1 || { echo "bench: $name failed:" >&2; tail -n 5 "$W/out.txt" >&2; exit 1; }
  t1=$(date +%s.%N)
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  printf '%s\t%s\n' "$name" "$WALL"
}

printf 'run\twall_s\n'
ours=() theirs=()
# Each pull goes into a new directory, and nothing is deleted between pulls: creating files
# right after 10,000 were deleted costs ext4 extra work (its recently-deleted inode check),
# which would fall on whichever pull came next. The order alternates between rounds.
pull_ours() {
  mbsync_config "$W/mb-ours-$1" "Host 127.0.0.1
Port $IMAP_PORT
User bench
Pass $TOKEN
SSLType None
AuthMechs PLAIN"
  measure "mbsync from postbote #$1" mbsync -c "$W/mb-ours-$1/mbsyncrc" -a -q
  ours+=("$WALL")
}
pull_dovecot() {
  mbsync_config "$W/mb-dovecot-$1" "Host localhost
Port 10993
User $user
Pass benchpw
SSLType IMAPS
CertificateFile $CA"
  measure "mbsync from Dovecot #$1" mbsync -c "$W/mb-dovecot-$1/mbsyncrc" -a -q
  theirs+=("$WALL")
}
for i in $(seq "$ROUNDS"); do
  if [ $((i % 2)) = 1 ]; then pull_ours "$i"; pull_dovecot "$i"; else pull_dovecot "$i"; pull_ours "$i"; fi
done
got_ours=$(find "$W/mb-ours-$ROUNDS/maildir/INBOX" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)
got_theirs=$(find "$W/mb-dovecot-$ROUNDS/maildir/INBOX" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$PB_PID/status"; }
rss_before=$(rss_kb)
cat >"$W/idle.py" <<'EOF'
import imaplib, subprocess, sys, time
port, token, conns, user, stack, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
def rss():
    for l in open('/proc/%s/status' % pid):
        if l.startswith('VmRSS'):
            return int(l.split()[1])
ms = []
for i in range(conns):
    M = imaplib.IMAP4('127.0.0.1', port, timeout=60)
    M.login('bench', token)
    M.select('INBOX')
    tag = M._new_tag()
    M.send(tag + b' IDLE\r\n')
    assert M.readline().startswith(b'+')
    ms.append(M)
time.sleep(1)
print('rss_with', rss())
sys.stdout.flush()
lat = []
for n in range(5):
    msg = ('From: k@kunde.test\r\nTo: bench@bau-firma.test\r\nSubject: idle %d\r\nMessage-ID: <idle%d.%d@kunde.test>\r\n\r\nx\r\n' % (n, n, time.time())).encode()
    t0 = time.time()
    subprocess.run([sys.argv[7], 'deliver', user, 'INBOX'], input=msg, check=True, stdout=subprocess.DEVNULL)
    while True:
        line = ms[0].readline()
        if line.rstrip().endswith(b'EXISTS'):
            break
    lat.append(time.time() - t0)
print('latency', ' '.join('%.3f' % x for x in lat))
for M in ms:
    M.send(b'DONE\r\n')
EOF
python3 "$W/idle.py" "$IMAP_PORT" "$TOKEN" "$CONNS" "$user" "$STACK" "$PB_PID" "$ROOT/scripts/stack" >"$W/idle.txt"
rss_with=$(sed -n 's/^rss_with //p' "$W/idle.txt")
latencies=$(sed -n 's/^latency //p' "$W/idle.txt")
lat_min=$(stat_min $latencies) lat_med=$(stat_median $latencies)

o_min=$(stat_min "${ours[@]}") o_med=$(stat_median "${ours[@]}")
t_min=$(stat_min "${theirs[@]}") t_med=$(stat_median "${theirs[@]}")
echo
echo "messages: mbsync got $got_ours from postbote, $got_theirs from Dovecot (of $N)"
echo "mbsync pull ($ROUNDS runs): postbote min ${o_min}s median ${o_med}s; Dovecot min ${t_min}s median ${t_med}s;" \
  "postbote / Dovecot = $(ratio "$o_min" "$t_min") (min), $(ratio "$o_med" "$t_med") (median) (target <= 1.0)"
echo "RSS: postbote $((rss_before / 1024)) MB before, $((rss_with / 1024)) MB with $CONNS IDLE connections (target < 100 MB)"
echo "delivery on Dovecot -> EXISTS on an IDLE connection to postbote (5 runs): $latencies s;" \
  "min ${lat_min}s, median ${lat_med}s (target < 1.5 s)"
