#!/usr/bin/env bash
# JMAP benchmark: a phone catching up after 500 new messages in a 10,000-message mailbox vs an
# IMAP client catching up from Dovecot, and 50 devices polling an empty Email/changes.
# Needs the local stack (scripts/stack up); loopback only; prints figures and ratios.
# usage: bench/jmap.sh   (POSTBOTE_STACK_DIR defaults to <repo>/.stack)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export POSTBOTE_STACK_DIR=${POSTBOTE_STACK_DIR:-$ROOT/.stack}
cd "$ROOT"
exec cargo run --quiet --release --example jmap_bench
