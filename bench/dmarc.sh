#!/usr/bin/env bash
# Benchmark: read 1,000 DMARC aggregate report mails (the corpus of tests/data/dmarc/ in turn:
# zip, gzip and plain XML attachments) as the collector does, parse, classify and sum per day,
# then keep them in a fresh store; prints both times. Target: reading under 2 s.
# No mail stack needed.
# usage: bench/dmarc.sh [N]     (N mails, default 1000; POSTBOTE_BENCH_PROFILE=dev for a debug build)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PROFILE=${POSTBOTE_BENCH_PROFILE:-release}
exec cargo run --quiet --locked --profile "$PROFILE" --example dmarc_bench -- "${1:-1000}"
