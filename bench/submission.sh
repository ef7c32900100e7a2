#!/usr/bin/env bash
# Benchmark: a phone submitting mail, postbote's submission server against Postfix's
# submission port on the stack (10587), the same client and the same messages, in one run.
#
#   one connection   N messages (default 200) over one STARTTLS + AUTH PLAIN connection, with
#                    Python's smtplib (msmtp and swaks send one message per connection). The
#                    clock runs from the first MAIL to the last 250: for postbote every 250
#                    means "committed in the outbox" (checked after the run: N rows, origin
#                    phone, held by the closed office-session gate); for Postfix, "in its queue".
#   msmtp            N/4 messages, one msmtp process each (connect, STARTTLS, AUTH, send,
#                    quit), as a sendmail-style client does; swaks sends one more to postbote
#                    as a check of a second client.
#
# Prints the times and the ratios postbote / Postfix (below 1.0: postbote is faster). Needs the
# mail stack (scripts/stack up) and a release build (cargo build --release), or POSTBOTE_BIN.
# Captured copies of this run's recipients are deleted afterwards.
#
# usage: bench/submission.sh [N]
set -euo pipefail

N=${1:-200}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/lib.sh"
S=${POSTBOTE_STACK_DIR:-$ROOT/.stack}
BIN=${POSTBOTE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/postbote}
CA=$S/certs/cert.pem
[ -x "$BIN" ] || { echo "bench: no release binary at $BIN (cargo build --release)" >&2; exit 1; }
[ -s "$CA" ] || { echo "bench: no mail stack at $S (scripts/stack up)" >&2; exit 1; }
command -v msmtp >/dev/null || { echo "bench: msmtp is not installed" >&2; exit 1; }
command -v swaks >/dev/null || { echo "bench: swaks is not installed" >&2; exit 1; }

TAG=subbench$$x$(date +%s)
W=$(mktemp -d /tmp/postbote-submission-bench.XXXXXX)
DAEMON=
cleanup() {
  if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
    kill -TERM "$DAEMON"
    wait "$DAEMON" 2>/dev/null || true
  fi
  grep -l "^rcpt_to=.*-$TAG@kunde.test$" "$S"/postfix/captured/*.env 2>/dev/null | while read -r env; do
    rm -f "$env" "${env%.env}.eml"
  done
  rm -f "$S/dovecot/users/$TAG@bau-firma.test" "$S/dovecot/users/$TAG.bau-firma@handwerk.test"
  rm -rf "$W"
}
trap cleanup EXIT

# The company address is also the Postfix SASL login; the hosted user is the mirrored mailbox.
printf '%s:{PLAIN}%s\n' "$TAG@bau-firma.test" "$TAG-smtp" >"$S/dovecot/users/$TAG@bau-firma.test"
printf '%s:{PLAIN}%s\n' "$TAG.bau-firma@handwerk.test" "$TAG-imap" >"$S/dovecot/users/$TAG.bau-firma@handwerk.test"
chmod 644 "$S/dovecot/users/$TAG@bau-firma.test" "$S/dovecot/users/$TAG.bau-firma@handwerk.test"
printf '%s\n' "$TAG-smtp" >"$W/smtp.pw"
printf '%s\n' "$TAG-imap" >"$W/imap.pw"
CONTROL=$(free_port)
SUB=$(free_port)
cat >"$W/postbote.toml" <<EOF
[agent]
data_dir = "$W/data"
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
[control]
listen = "127.0.0.1:$CONTROL"
[jmap]
enabled = false
[phones]
host = "localhost"
tls_cert = "$S/certs/cert.pem"
tls_key = "$S/certs/key.pem"
[submission]
enabled = true
listen = "127.0.0.1:$SUB"
[[mailbox]]
id = "bench"
name = "Bench"
addresses = ["$TAG@bau-firma.test"]
hosted_address = "$TAG.bau-firma@handwerk.test"
password_file = "$W/imap.pw"
transport = "direct"
[mailbox.smtp]
login = "$TAG@bau-firma.test"
password_file = "$W/smtp.pw"
EOF
DB=$W/data/postbote.sqlite
"$BIN" --config "$W/postbote.toml" init >/dev/null
TOKEN=$("$BIN" --config "$W/postbote.toml" device add --mailbox bench --name "Bench phone" --profile "$W/bench.mobileconfig" | sed -n '/^token/{n;p}')
[ -n "$TOKEN" ] || { echo "bench: no device token" >&2; exit 1; }
"$BIN" --config "$W/postbote.toml" run 2>"$W/daemon.log" &
DAEMON=$!
for ((i = 0; i < 500; i++)); do
  (exec 3<>"/dev/tcp/127.0.0.1/$SUB") 2>/dev/null && break
  sleep 0.02
done

# One connection, N messages: prints the seconds from the first MAIL to the last 250.
cat >"$W/one.py" <<'EOF'
import smtplib, ssl, sys, time
port, user, pw, sender, kind, n, tag, ca = sys.argv[1:9]
body = ("Sehr geehrte Damen und Herren, anbei das Angebot fuer die Badsanierung. " * 3 + "\r\n") * 9
s = smtplib.SMTP("localhost", int(port), timeout=60)
s.starttls(context=ssl.create_default_context(cafile=ca))
s.login(user, pw)
t0 = time.monotonic()
for i in range(int(n)):
    to = f"{kind}{i}-{tag}@kunde.test"
    msg = f"From: Bench <{sender}>\r\nTo: <{to}>\r\nSubject: bench {kind} {i}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    s.sendmail(sender, [to], msg.encode())
print(f"{time.monotonic() - t0:.3f}")
s.quit()
EOF

FROM=$TAG@bau-firma.test
echo "bench: $N messages over one connection to postbote ..." >&2
T_PB=$(python3 "$W/one.py" "$SUB" bench "$TOKEN" "$FROM" pb "$N" "$TAG" "$CA")
COMMITTED=$(sqlite3 "$DB" "SELECT COUNT(*) FROM outbox_message WHERE origin = 'phone' AND status = 'queued'")
[ "$COMMITTED" = "$N" ] || { echo "bench: only $COMMITTED of $N in the outbox" >&2; exit 1; }
echo "bench: $N messages over one connection to Postfix (10587) ..." >&2
T_PF=$(python3 "$W/one.py" 10587 "$FROM" "$TAG-smtp" "$FROM" pf "$N" "$TAG" "$CA")

# msmtp: one process (and connection) per message.
M=$((N / 4))
msmtprc() { # PORT USER PASSWORDFILE
  cat <<EOF
account default
host localhost
port $1
tls on
tls_starttls on
tls_trust_file $CA
auth plain
user $2
passwordeval cat $3
from $FROM
EOF
}
printf '%s\n' "$TOKEN" >"$W/token"
msmtprc "$SUB" bench "$W/token" >"$W/msmtprc.pb"
msmtprc 10587 "$FROM" "$W/smtp.pw" >"$W/msmtprc.pf"
chmod 600 "$W"/msmtprc.* "$W/token"
msmtp_round() { # RC KIND
  local t0 t1 i
  t0=$(date +%s.%N)
  for ((i = 0; i < M; i++)); do
    printf 'From: Bench <%s>\r\nTo: <%s%s-%s@kunde.test>\r\nSubject: msmtp %s\r\n\r\nHallo\r\n' "$FROM" "$2" "$i" "$TAG" "$i" |
      msmtp -C "$1" "$2$i-$TAG@kunde.test"
  done
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
echo "bench: $M msmtp processes to postbote, then to Postfix ..." >&2
M_PB=$(msmtp_round "$W/msmtprc.pb" mpb)
M_PF=$(msmtp_round "$W/msmtprc.pf" mpf)
COMMITTED=$(sqlite3 "$DB" "SELECT COUNT(*) FROM outbox_message WHERE origin = 'phone' AND status = 'queued'")
[ "$COMMITTED" = "$((N + M))" ] || { echo "bench: only $COMMITTED of $((N + M)) in the outbox" >&2; exit 1; }

# A second client, once: swaks with AUTH LOGIN over STARTTLS.
swaks --server localhost --port "$SUB" --tls --tls-verify --tls-ca-path "$CA" --auth LOGIN \
  --auth-user bench --auth-password "$TOKEN" --auth-hide-password --from "$FROM" --to "swaks-$TAG@kunde.test" \
  --header "Subject: swaks check" --body "Hallo" >"$W/swaks.log" 2>&1 ||
  { echo "bench: swaks failed:" >&2; cat "$W/swaks.log" >&2; exit 1; }
grep -q "250 2.0.0 Queued as" "$W/swaks.log" || { echo "bench: swaks got no 250" >&2; exit 1; }

RSS=$(awk '/VmHWM/ {print $2}' "/proc/$DAEMON/status")
printf '\nsubmission benchmark (%s messages, one connection; %s msmtp processes)\n' "$N" "$M"
printf '  one connection  postbote %8.3f s   Postfix %8.3f s   ratio postbote/Postfix %.2f\n' \
  "$T_PB" "$T_PF" "$(echo "$T_PB / $T_PF" | bc -l)"
printf '  per message     postbote %8.3f s   Postfix %8.3f s   ratio postbote/Postfix %.2f\n' \
  "$M_PB" "$M_PF" "$(echo "$M_PB / $M_PF" | bc -l)"
printf '  postbote: %s messages committed in the outbox, swaks check passed, peak RSS %s kB\n' "$((N + M + 1))" "$RSS"
