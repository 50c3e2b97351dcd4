#!/bin/bash
# Runs one suite the way bench/README.md's figures were produced and keeps
# the console table and the JSON next to each other.
#
#   bench/run.sh BUILD_DIR SUITE TAG [extra benchmark flags...]
#   e.g. bench/run.sh build-bench render run1
#
# SUITE is render, dispatch, commit, trace, replay, kvm or latency; output goes to
# bench/results/SUITE_TAG.{txt,json}. dispatch sets its own repetitions
# (10, aggregates only) in the code; the others get 5 here.
set -euo pipefail
build=$1 suite=$2 tag=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/results"
# The console shows the aggregates; the JSON keeps every repetition too
# (growth.py --stat min reads them).
reps=(--benchmark_repetitions=5 --benchmark_display_aggregates_only=true)
[ "$suite" = dispatch ] && reps=()
"$build/bench/kvmrr_bench_$suite" "${reps[@]}" "$@" \
    --benchmark_out="$here/results/${suite}_$tag.json" --benchmark_out_format=json \
    | tee "$here/results/${suite}_$tag.txt"
