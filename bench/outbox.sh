#!/usr/bin/env bash
# Benchmark: 1,000 queued messages through the local Postfix submission port (10587, STARTTLS,
# AUTH), postbote against msmtp, in one run.
#
#   postbote  1,000 messages are queued while the office-session gate is closed; the clock
#             starts at `postbote session login` and stops when all 1,000 are `sent` (one
#             connection carries up to outbox.max_messages_per_connection = 100 messages).
#             The Sent-folder copies are timed separately, from the last `sent` to the last
#             copy recorded: batched (MULTIAPPEND, as postbote does it) and, in a second
#             round with its own N messages and mailbox, one APPEND per message as before
#             (POSTBOTE_SENT_COPY_METHOD=one-by-one, kept only for this comparison). Peak RSS
#             is the batched round's daemon VmHWM.
#   msmtp     the same 1,000 messages, one `msmtp` process each (connect, STARTTLS, AUTH,
#             send, quit), sequentially, as a sendmail-style client does.
#
# Prints both times, the ratio, both Sent-copy times beside the drains and postbote's peak RSS. Needs the mail stack
# (scripts/stack up) and a release build (cargo build --release). Captured copies of the
# bench recipients are deleted afterwards.
#
# usage: bench/outbox.sh [N]        (N messages, default 1000)
set -euo pipefail

N=${1:-1000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/lib.sh"
S=${POSTBOTE_STACK_DIR:-$ROOT/.stack}
BIN=${POSTBOTE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/postbote}
CA=$S/certs/cert.pem
[ -x "$BIN" ] || { echo "bench: no release binary at $BIN (cargo build --release)" >&2; exit 1; }
[ -s "$CA" ] || { echo "bench: no mail stack at $S (scripts/stack up)" >&2; exit 1; }
command -v msmtp >/dev/null || { echo "bench: msmtp is not installed" >&2; exit 1; }

TAG=bench$$x$(date +%s)
W=$(mktemp -d /tmp/postbote-outbox-bench.XXXXXX)
cleanup() {
  # A round's daemon runs in a subshell: its pid file tells which process to stop.
  DAEMON=$(cat "$W/daemon.pid" 2>/dev/null || true)
  if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then kill -TERM "$DAEMON"; fi
  # Only this run's captured copies (their recipients carry the tag).
  grep -l "^rcpt_to=.*-$TAG@kunde.test$" "$S"/postfix/captured/*.env 2>/dev/null | while read -r env; do
    rm -f "$env" "${env%.env}.eml"
  done
  rm -f "$S/dovecot/users/$TAG@bau-firma.test" "$S/dovecot/users/$TAG.bau-firma@handwerk.test" \
    "$S/dovecot/users/$TAG-old.bau-firma@handwerk.test"
  rm -rf "$W"
}
trap cleanup EXIT

# Users: the SMTP login (company address) and the hosted IMAP mailbox (for the Sent copies).
printf '%s:{PLAIN}%s\n' "$TAG@bau-firma.test" "$TAG-smtp" >"$S/dovecot/users/$TAG@bau-firma.test"
printf '%s:{PLAIN}%s\n' "$TAG.bau-firma@handwerk.test" "$TAG-imap" >"$S/dovecot/users/$TAG.bau-firma@handwerk.test"
printf '%s:{PLAIN}%s\n' "$TAG-old.bau-firma@handwerk.test" "$TAG-imap" >"$S/dovecot/users/$TAG-old.bau-firma@handwerk.test"
chmod 644 "$S/dovecot/users/$TAG@bau-firma.test" "$S/dovecot/users/$TAG.bau-firma@handwerk.test" \
  "$S/dovecot/users/$TAG-old.bau-firma@handwerk.test"
printf '%s\n' "$TAG-smtp" >"$W/smtp.pw"
printf '%s\n' "$TAG-imap" >"$W/imap.pw"
config() { # ROUND HOSTED_LOCAL CONTROL_PORT
  mkdir -p "$W/$1"
  cat >"$W/$1/postbote.toml" <<EOF
[agent]
data_dir = "$W/$1/data"
[imap]
host = "localhost"
port = 10143
tls = "starttls"
ca_file = "$CA"
[direct]
host = "localhost"
port = 10587
tls = "starttls"
ca_file = "$CA"
send_while = "session"
[outbox]
# A transient failure of the shared stack (454 after a Dovecot restart) costs 1 s, not 1 min.
retry_schedule = ["1s"]
[control]
listen = "127.0.0.1:$3"
[jmap]
enabled = false
[[mailbox]]
id = "bench"
name = "Bench"
addresses = ["$TAG@bau-firma.test"]
hosted_address = "$2.bau-firma@handwerk.test"
password_file = "$W/imap.pw"
transport = "direct"
[mailbox.smtp]
login = "$TAG@bau-firma.test"
password_file = "$W/smtp.pw"
EOF
}

cat >"$W/msmtprc" <<EOF
account bench
host localhost
port 10587
tls on
tls_starttls on
tls_trust_file $CA
auth on
user $TAG@bau-firma.test
passwordeval cat $W/smtp.pw
from $TAG@bau-firma.test
logfile $W/msmtp.log
account default : bench
EOF
chmod 600 "$W/msmtprc"

# One message body, about 2 KB of text, the same for both.
BODY=$(python3 -c 'print(("Sehr geehrte Damen und Herren, anbei das Angebot fuer die Badsanierung. " * 3 + "\n") * 9)')
msg() { # KIND I
  printf 'From: Bench <%s@bau-firma.test>\r\nTo: <%s%s-%s@kunde.test>\r\nSubject: bench %s %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n' \
    "$TAG" "$1" "$2" "$TAG" "$1" "$2" "$BODY"
}

now() { date +%s.%N; }

# One round: queue N messages with the gate closed, start the daemon, log in, time the drain
# and then the Sent copies. Prints "drain_s copies_s peak_rss_kb hwm_kb".
round() { # ROUND KIND HOSTED_LOCAL METHOD
  local cfg="$W/$1/postbote.toml" db="$W/$1/data/postbote.sqlite" port daemon t0 t1 t2 peak_rss=0 rss sent copies other hwm queued
  port=$(free_port)
  config "$1" "$3" "$port"
  echo "bench: $1: queueing $N messages for postbote (gate closed) ..." >&2
  "$BIN" --config "$cfg" init >/dev/null
  # Queueing is not timed: one `postbote send --raw` per message, as the office program would.
  for ((i = 0; i < N; i++)); do
    msg "$2" "$i" | "$BIN" --config "$cfg" send --mailbox bench --raw >/dev/null 2>&1
  done
  queued=$(sqlite3 "$db" "SELECT COUNT(*) FROM outbox_message WHERE status = 'queued'")
  [ "$queued" = "$N" ] || { echo "bench: only $queued of $N queued" >&2; exit 1; }

  POSTBOTE_SENT_COPY_METHOD=$4 "$BIN" --config "$cfg" run 2>"$W/$1/daemon.log" &
  daemon=$!
  echo "$daemon" >"$W/daemon.pid"
  for ((i = 0; i < 500; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.02
  done

  echo "bench: $1: postbote drains, then saves the Sent copies ($4) ..." >&2
  t0=$(now)
  "$BIN" --config "$cfg" session login bench --ttl 1h >/dev/null 2>&1
  while :; do
    sent=$(sqlite3 "$db" "SELECT COUNT(*) FROM outbox_message WHERE status = 'sent'")
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon/status")
    [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
    [ "$sent" = "$N" ] && break
    other=$(sqlite3 "$db" "SELECT COUNT(*) FROM outbox_message WHERE status NOT IN ('queued','sending','sent','deferred')")
    [ "$other" = 0 ] || { echo "bench: $other messages failed; see $W/$1/daemon.log" >&2; sqlite3 "$db" "SELECT status, last_error FROM outbox_message WHERE status NOT IN ('queued','sending','sent','deferred') LIMIT 3" >&2; exit 1; }
    sleep 0.05
  done
  t1=$(now)
  while :; do
    copies=$(sqlite3 "$db" "SELECT COUNT(*) FROM outbox_message WHERE sent_copy_done = 1")
    [ "$copies" = "$N" ] && break
    sleep 0.05
  done
  t2=$(now)
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$daemon/status")
  kill -TERM "$daemon"
  wait "$daemon" 2>/dev/null || true
  rm -f "$W/daemon.pid"
  python3 -c 'import sys; a = list(map(float, sys.argv[1:4])); print(f"{a[1] - a[0]:.3f} {a[2] - a[1]:.3f}", sys.argv[4], sys.argv[5])' \
    "$t0" "$t1" "$t2" "$peak_rss" "$hwm"
}

# Both rounds in this one run: batched Sent copies as postbote makes them, and one APPEND
# per message as it did before.
read -r pb_drain pb_copy peak_rss hwm < <(round new pb "$TAG" auto)
read -r po_drain po_copy _ _ < <(round old po "$TAG-old" one-by-one)

echo "bench: msmtp sends, one process per message ..." >&2
for ((i = 0; i < N; i++)); do msg ms "$i" >"$W/ms$i.eml"; done
# A shared stack sees transient failures (Dovecot's SASL restarted by another test): a
# failed msmtp is tried again, as a queue would, and counted.
ms_retries=0
t3=$(now)
for ((i = 0; i < N; i++)); do
  for ((try = 1; ; try++)); do
    msmtp -C "$W/msmtprc" -f "$TAG@bau-firma.test" "ms$i-$TAG@kunde.test" <"$W/ms$i.eml" 2>>"$W/msmtp.err" && break
    ms_retries=$((ms_retries + 1))
    [ "$try" -ge 20 ] && { echo "bench: msmtp failed 20 times for message $i:" >&2; tail -n 3 "$W/msmtp.err" >&2; exit 1; }
    sleep 0.2
  done
done
t4=$(now)

# Both must really have arrived: count the captured copies.
arrived() { grep -l "^rcpt_to=$1[0-9]*-$TAG@kunde.test$" "$S"/postfix/captured/*.env 2>/dev/null | wc -l; }
for ((i = 0; i < 400; i++)); do
  [ "$(arrived pb)" -ge "$N" ] && [ "$(arrived po)" -ge "$N" ] && [ "$(arrived ms)" -ge "$N" ] && break
  sleep 0.05
done

python3 - "$N" "$pb_drain" "$pb_copy" "$po_drain" "$po_copy" "$t3" "$t4" "$peak_rss" "$hwm" "$(arrived pb)" "$(arrived ms)" "$ms_retries" <<'PY'
import sys
n = int(sys.argv[1])
pbt, copy, old_drain, old_copy, t3, t4 = map(float, sys.argv[2:8])
peak_sampled, hwm, pb, ms, retries = int(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10]), int(sys.argv[11]), int(sys.argv[12])
mst = t4 - t3
print(f"messages:                 {n} (captured by Postfix: postbote {pb}, msmtp {ms})")
print(f"postbote drain:           {pbt:7.2f} s  ({n / pbt:7.1f} msg/s), then Sent copies +{copy:.2f} s (batched: MULTIAPPEND)")
print(f"  same run, copies as before: drain {old_drain:.2f} s, then Sent copies +{old_copy:.2f} s (one APPEND per message)")
print(f"  Sent copies now take   {copy / old_copy:7.3f} of the time before ({old_copy / copy:.1f}x faster)")
print(f"msmtp, one process each:  {mst:7.2f} s  ({n / mst:7.1f} msg/s, {retries} failed runs repeated)")
print(f"ratio (msmtp / postbote): {mst / pbt:7.1f}x")
print(f"postbote peak RSS:        {hwm / 1024:7.1f} MiB (VmHWM; highest sample while draining {peak_sampled / 1024:.1f} MiB)")
PY
