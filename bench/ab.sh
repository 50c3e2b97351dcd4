#!/bin/bash
# Side-by-side runs of two or more builds of one suite: the binaries take
# turns, ROUNDS times, pinned to CPU ${CPU:-0}, and each benchmark's
# fastest and median real time per binary are printed. Used for every
# before/after comparison in bench/README.md (copy the "before" binary
# aside before rebuilding).
#
#   CPU=N bench/ab.sh FILTER ROUNDS BINARY...
#   e.g. CPU=0 bench/ab.sh 'Render52Scratch/(10000|100000)$' 4 /tmp/render_before build-bench/bench/kvmrr_bench_render
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: CPU=N $0 FILTER ROUNDS BINARY..." >&2; exit 2; }
filter=$1 rounds=$2
shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$rounds"); do
    for b in "$@"; do
        taskset -c "${CPU:-0}" "$b" --benchmark_filter="$filter" --benchmark_min_time=0.2 2>/dev/null |
            grep -E '^BM' | grep -v 'BigO\|RMS' | awk -v b="$b" '{print b, $1, $2, $3}' >>"$out"
    done
done
sort -k1,1 -k2,2 -k3,3g "$out" | awk '
    { k = $1 " " $2; v[k] = v[k] " " $3; u[k] = $4 }
    END {
        for (k in v) {
            n = split(v[k], a, " ")
            printf "%-60s fastest %10.4g  median %10.4g %s  (%s )\n", k, a[1], a[int((n + 1) / 2)], u[k], v[k]
        }
    }' | sort
