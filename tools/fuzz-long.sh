#!/usr/bin/env bash
# Fuzzes the trace reader and replay: builds the fuzz targets with clang
# (build-fuzz/, every library instrumented: KVMRR_FUZZ), writes the seeds,
# then runs the two libFuzzer targets in turn for SECONDS in all (default
# 3600): trace_reader_fuzz a third of it, replay_fuzz the rest (it covers
# more code and runs fewer inputs a second). docs/FUZZING.md says what each
# covers and what the last long run found.
#
#   tools/fuzz-long.sh [SECONDS]                  an hour, outside CI
#   KVMRR_FUZZ_KEEP_GOING=0 tools/fuzz-long.sh 90 CI's short run (tools/check.sh)
#
# Each input may take 10 s and 2 GiB at most; more is a bug, as is a crash
# or a sanitizer report. By default the run goes on past a bug (libFuzzer's
# fork mode, one job at a time) and this script exits 1 at the end if any
# input was kept in build-fuzz/fuzz-artifacts/; with KVMRR_FUZZ_KEEP_GOING=0
# the first bug stops it with libFuzzer's non-zero exit. The corpora grow in
# build-fuzz/fuzz-corpus/ and build-fuzz/replay-fuzz-corpus/ from run to
# run; each target's output is in build-fuzz/fuzz-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-3600}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 2 ]; then
  echo "usage: tools/fuzz-long.sh [SECONDS]  (at least 2; default 3600)" >&2
  exit 2
fi
keep_going=${KVMRR_FUZZ_KEEP_GOING:-1}
b=build-fuzz

cmake -S . -B $b -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DKVMRR_FUZZ=ON -DKVMRR_BUILD_BENCH=OFF >/dev/null
cmake --build $b -j"$(nproc)" --target trace_reader_fuzz replay_fuzz trace_fuzz_seeds

rm -rf $b/fuzz-seeds $b/replay-fuzz-seeds
mkdir -p $b/fuzz-seeds $b/replay-fuzz-seeds $b/fuzz-corpus $b/replay-fuzz-corpus $b/fuzz-artifacts $b/fuzz-logs
$b/record/trace_fuzz_seeds $b/fuzz-seeds $b/replay-fuzz-seeds
cp fixtures/traces/*.trace $b/replay-fuzz-seeds/
for t in fixtures/traces/format3/*.trace; do cp "$t" $b/replay-fuzz-seeds/format3-"$(basename "$t")"; done

# Fuzzes with TARGET for SECONDS over CORPUS (grown) and SEEDS (read only).
fuzz() {
  local target=$1 secs=$2 corpus=$3 seeds=$4 name
  name=$(basename "$target")
  local opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=262144
              -artifact_prefix=$b/fuzz-artifacts/"$name"- -print_final_stats=1)
  if [ "$keep_going" != 0 ]; then
    opts+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  local log=$b/fuzz-logs/$name.log status=0
  echo "fuzz-long: $name for $secs s (log: $log)"
  "$target" "${opts[@]}" "$corpus" "$seeds" >"$log" 2>&1 || status=$?
  if [ "$status" != 0 ]; then
    tail -n 80 "$log"
    echo "fuzz-long: $name exited with $status" >&2
    return "$status"
  fi
  grep -E '^#[0-9]+' "$log" | tail -n 3 || true
  grep -E '^stat::|^INFO: (exiting|fuzzed)|^INFO: -fork|crash|leak|timeout|oom' "$log" | tail -n 20 || true
}

before=$(ls $b/fuzz-artifacts | wc -l)
fuzz $b/record/trace_reader_fuzz $((seconds / 3)) $b/fuzz-corpus $b/fuzz-seeds
fuzz $b/replay/tests/replay_fuzz $((seconds - seconds / 3)) $b/replay-fuzz-corpus $b/replay-fuzz-seeds
after=$(ls $b/fuzz-artifacts | wc -l)
if [ "$after" -gt "$before" ]; then
  echo "fuzz-long: $((after - before)) new input(s) in $b/fuzz-artifacts/: each is a bug to fix" >&2
  exit 1
fi
echo "fuzz-long: no crash, sanitizer report, time-out or memory limit in $seconds s"
