#!/usr/bin/env bash
# Runs each fuzz target for a bounded time (default 60 s each): bash fuzz/run.sh [SECONDS] [TARGET...]
# Needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz). Findings land in
# fuzz/artifacts/<target>/. The corpus in fuzz/corpus/<target>/ (committed, minimized)
# grows as it runs; before committing new entries, `cargo +nightly fuzz cmin <target>`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(json cbor sigv4)
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${secs}s"
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=1024 -max_len=65536
done
