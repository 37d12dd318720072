#!/usr/bin/env bash
# The long, coverage-guided fuzzing runs (libFuzzer through cargo fuzz, stable Rust,
# `--sanitizer none`): each target (or those named) for RUNS executions (default 10 million),
# growing fuzz/corpus/<target>/, then minimizing it. See docs/fuzzing.md.
#
#   fuzz/run.sh                      # every target, 10 M executions each
#   RUNS=1000000 fuzz/run.sh idx     # one target, 1 M executions
#   RSS_LIMIT_MB=200 fuzz/run.sh npz # libFuzzer's bound on the process (default 1024 MB)
#
# Needs `cargo install cargo-fuzz`. Runs under `nice`: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")"
runs="${RUNS:-10000000}"
rss_limit="${RSS_LIMIT_MB:-1024}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(idx idx_gzip digit_png model_ron pickle npz)
mkdir -p logs
for target in "${targets[@]}"; do
  nice -n 15 cargo fuzz build -s none -O "$target"
  # -rss_limit_mb: libFuzzer's own bound on the process; the targets' allocator aborts above
  # 512 MiB allocated at once. -timeout: a single input taking 10 s is a hang.
  nice -n 15 cargo fuzz run -s none -O "$target" -- \
    -runs="$runs" -max_len=4096 -rss_limit_mb="$rss_limit" -timeout=10 -print_final_stats=1 \
    2>&1 | tee "logs/$target.log" | grep -E '^#[0-9]+ +(pulse|DONE)|stat::|SUMMARY|ERROR|panicked' || true
  # Keep only the inputs that add coverage.
  nice -n 15 cargo fuzz cmin -s none -O "$target" 2>&1 | tail -1
done
