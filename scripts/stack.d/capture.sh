#!/bin/sh
# Postfix pipe(8) runs this (as nobody) for every recipient outside handwerk.test:
#   capture.sh QUEUE_ID SENDER RECIPIENT SASL_USERNAME    (the message as queued on stdin)
# It writes @STACK@/postfix/captured/<time>.<queueid>.<pid>.eml (the message) and .env
# (the envelope: queue_id=, mail_from=, rcpt_to=, sasl_username= lines), both through a
# temporary name; the .env appears last, so a reader that sees it finds the whole .eml.
# Scripted outcomes after queueing, by recipient local part:
#   bounce*  permanent failure (exit 67 EX_NOUSER): Postfix sends a DSN to the sender
#   defer*   temporary failure (exit 75 EX_TEMPFAIL): the message stays queued and is retried
dir=@STACK@/postfix/captured
case "$3" in
  [Bb][Oo][Uu][Nn][Cc][Ee]*) echo "5.1.1 mailbox unavailable (scripted test bounce)"; exit 67 ;;
  [Dd][Ee][Ff][Ee][Rr]*)     echo "4.4.1 remote not answering (scripted test deferral)"; exit 75 ;;
esac
base="$dir/$(date +%s.%N).$1.$$"
cat > "$base.eml.tmp" || exit 75
printf 'queue_id=%s\nmail_from=%s\nrcpt_to=%s\nsasl_username=%s\n' "$1" "$2" "$3" "$4" > "$base.env.tmp" || exit 75
mv "$base.eml.tmp" "$base.eml" || exit 75
mv "$base.env.tmp" "$base.env" || exit 75
exit 0
