#!/usr/bin/env bash
# Benchmark: postbote's IMAP mirror against mbsync (isync), on the local stack's Dovecot.
#
#   bench/sync.sh [N] [BIG]     N messages of ~5 KB (default 10000); BIG for the RSS check (default 50000)
#
# One run, in this order, on the same Dovecot mailbox of N messages:
#   the wire's floor (`bench/imap_floor.rs`: one UID FETCH 1:* of everything over IMAPS, read
#   and thrown away) and postbote `sync --once` (release build) into an empty store,
#   alternately, ROUNDS times (default 3; min and median of each, and the load average);
#   postbote again with nothing new;
#   mbsync into an empty Maildir with fsync on, then again with nothing new;
#   mbsync with `FSync no`, the same two runs;
# then postbote alone on a mailbox of BIG messages, to show that its peak RSS does not grow
# with the mailbox. Prints one TSV line per run (wall seconds, peak RSS from /usr/bin/time -v)
# and the ratios. postbote's own "no-change poll" figure is the pass on an open connection,
# as it reports it ("in N ms"); the wall time of a no-change `sync --once` also includes the
# process start, TLS handshake and login. Not a test: nothing here fails on a slow figure.
# Needs: the stack up (scripts/stack up), mbsync, /usr/bin/time, cargo.
set -euo pipefail
shopt -s inherit_errexit

N=${1:-10000}
BIG=${2:-50000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/lib.sh"
STACK=${POSTBOTE_STACK_DIR:-$ROOT/.stack}
export POSTBOTE_STACK_DIR=$STACK
CA=$STACK/certs/cert.pem
W=$(mktemp -d "${TMPDIR:-/tmp}/postbote-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT

command -v mbsync >/dev/null || { echo "bench: mbsync is missing (apt-get install isync)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
"$ROOT/scripts/stack" up >&2

echo "bench: building postbote (release)" >&2
(cd "$ROOT" && cargo build --release --quiet --bin postbote --example imap_floor)
PB=${CARGO_TARGET_DIR:-$ROOT/target}/release/postbote
FLOOR=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/imap_floor

stamp=$(date +%s)
new_user() { # TAG COUNT -> prints the address
  local user=bench-$1-$stamp@handwerk.test
  "$ROOT/scripts/stack" add-user "$user" benchpw >&2
  "$ROOT/scripts/stack" populate "$user" "$2" 5000 >&2
  echo "$user"
}

pb_config() { # DIR USER
  mkdir -p "$1"
  printf 'benchpw\n' >"$1/password"
  cat >"$1/postbote.toml" <<EOF
[agent]
data_dir = "$1/data"
[imap]
host = "localhost"
port = 10993
tls = "implicit"
ca_file = "$CA"
[relay]
host = "localhost"
port = 10587
[[mailbox]]
id = "bench"
name = "Bench"
addresses = ["bench@bau-firma.test"]
hosted_address = "$2"
login = "$2"
password_file = "$1/password"
EOF
}

mbsync_config() { # DIR USER EXTRA
  mkdir -p "$1/maildir"
  cat >"$1/mbsyncrc" <<EOF
$3
IMAPAccount dovecot
Host localhost
Port 10993
User $2
Pass benchpw
SSLType IMAPS
CertificateFile $CA

IMAPStore remote
Account dovecot

MaildirStore local
Path $1/maildir/
Inbox $1/maildir/INBOX
SubFolders Verbatim

Channel dovecot
Far :remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
EOF
}

# measure NAME CMD... : runs CMD under /usr/bin/time -v; sets WALL (s) and RSS (KB), prints a TSV line
measure() {
  local name=$1
  shift
  sync
  /usr/bin/time -v -o "$W/time.txt" "$@" >"$W/out.txt" 2>"$W/err.txt" || {
    echo "bench: $name failed:" >&2
    tail -n 5 "$W/out.txt" "$W/err.txt" >&2
    exit 1
  }
  WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$W/time.txt")
  RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/time.txt")
  printf '%s\t%s\t%s\n' "$name" "$WALL" "$RSS"
}

user=$(new_user n "$N")
echo "bench: mailbox $user with $N messages" >&2
printf 'run\twall_s\tpeak_rss_kb\n'

# The floor and postbote's full sync, alternately, ROUNDS times: each floor run a fresh
# connection like postbote's, each postbote run into an empty store of its own. Alternating
# spreads the machine's other load over both; the figures are the min and median of each.
ROUNDS=${ROUNDS:-3}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
floors=() pbs=() pb_full_rss=0
for i in $(seq "$ROUNDS"); do
  measure "wire floor #$i" "$FLOOR" localhost 10993 "$CA" "$user" benchpw
  read -r f_msgs _ f_secs <"$W/out.txt"
  [ "$f_msgs" = "$N" ] || { echo "bench: the floor client saw $f_msgs messages, not $N" >&2; exit 1; }
  floors+=("$WALL")
  pb_config "$W/pb$i" "$user"
  measure "postbote full #$i" "$PB" --config "$W/pb$i/postbote.toml" sync --once --quiet
  pbs+=("$WALL")
  if [ "$RSS" -gt "$pb_full_rss" ]; then pb_full_rss=$RSS; fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
# min / median of the arguments
floor=$(stat_min "${floors[@]}") floor_med=$(stat_median "${floors[@]}")
pb_full=$(stat_min "${pbs[@]}") pb_med=$(stat_median "${pbs[@]}")
for k in $(seq 2 "$ROUNDS"); do rm -rf "$W/pb$k"; done

pb_pass_ms=""
for i in 1 2 3; do
  measure "postbote no-change #$i" "$PB" --config "$W/pb1/postbote.toml" sync --once --quiet
  pb_noop=$WALL
  pb_pass_ms="$pb_pass_ms $(sed -n 's/.* in \([0-9]*\) ms).*/\1/p' "$W/out.txt" | tail -1)"
done
pb_count=$(sqlite3 "$W/pb1/data/postbote.sqlite" 'SELECT COUNT(*) FROM message' 2>/dev/null || echo "?")

mbsync_config "$W/mb1" "$user" ""
measure "mbsync full (fsync)" mbsync -c "$W/mb1/mbsyncrc" -a -q
mb_full=$WALL mb_rss=$RSS
measure "mbsync no-change (fsync)" mbsync -c "$W/mb1/mbsyncrc" -a -q
mb_noop=$WALL

mbsync_config "$W/mb2" "$user" "FSync no"
measure "mbsync full (FSync no)" mbsync -c "$W/mb2/mbsyncrc" -a -q
mb2_full=$WALL
measure "mbsync no-change (FSync no)" mbsync -c "$W/mb2/mbsyncrc" -a -q
mb2_noop=$WALL
mb_count=$(find "$W/mb1/maildir/INBOX" -type f -path '*/cur/*' -o -type f -path '*/new/*' | wc -l)

big=$(new_user big "$BIG")
pb_config "$W/pb-big" "$big"
measure "postbote full, $BIG messages" "$PB" --config "$W/pb-big/postbote.toml" sync --once --quiet
pb_big=$WALL pb_big_rss=$RSS

echo
echo "messages: postbote stored $pb_count, mbsync stored $mb_count (of $N)"
echo "load average (1, 5, 15 min): $load_before before the alternating runs, $load_after after"
echo "wire floor ($ROUNDS runs): min ${floor}s, median ${floor_med}s; postbote full sync: min ${pb_full}s, median ${pb_med}s"
echo "full sync: postbote / floor = $(ratio "$pb_full" "$floor") (min / min), $(ratio "$pb_med" "$floor_med") (median / median) (target <= 2.0);" \
  "mbsync ${mb2_full}s (FSync no) / floor = $(ratio "$mb2_full" "$floor")"
echo "full sync: postbote ${pb_full}s / mbsync ${mb_full}s (fsync) = $(ratio "$pb_full" "$mb_full");" \
  "/ mbsync ${mb2_full}s (FSync no) = $(ratio "$pb_full" "$mb2_full")"
echo "no-change poll: postbote pass on an open connection (3 runs):${pb_pass_ms} ms (target < 50 ms);" \
  "whole process ${pb_noop}s vs mbsync ${mb_noop}s (fsync) = $(ratio "$pb_noop" "$mb_noop")," \
  "${mb2_noop}s (FSync no) = $(ratio "$pb_noop" "$mb2_noop")"
echo "peak RSS: postbote $((pb_full_rss / 1024)) MB at $N messages, $((pb_big_rss / 1024)) MB at $BIG (${pb_big}s);" \
  "mbsync $((mb_rss / 1024)) MB (target < 100 MB and flat)"
