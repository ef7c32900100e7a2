#!/usr/bin/env bash
# Benchmark: every console page rendered by the real router with 10,000 queued or sent messages
# and 50,000 mirrored ones in a fresh store (filled through the store's own functions, no mail
# stack needed): p50 / p99 / max over 200 requests per page, printed as a table. Target: p99
# under 50 ms. usage: bench/console.sh   (POSTBOTE_BENCH_PROFILE=dev for a debug build;
# CONSOLE_BENCH_QUEUED, CONSOLE_BENCH_MIRRORED, CONSOLE_BENCH_REQUESTS change the sizes)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PROFILE=${POSTBOTE_BENCH_PROFILE:-release}
exec cargo run --quiet --locked --profile "$PROFILE" --example console_bench
