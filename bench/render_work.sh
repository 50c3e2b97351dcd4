#!/bin/bash
# The render's work against region count, independent of the machine's
# memory: instructions per render and, from callgrind's cache model (an
# 8 MiB last-level cache unless LL=size,assoc,line is given), last-level
# misses per render. bench/README.md §1 ("Growth") reads wall time
# against these.
#
#   [ROOT_BITS=52] bench/render_work.sh BUILD_DIR [SIZES...]   # default 1000 10000 100000 1000000
#
# For each size it runs kvmrr_render_once (the render suite's tree, kept
# scratch) under callgrind twice, with 1 and with 3 renders, counting only
# inside render_tree(), and halves the difference: what one render in a
# series costs, without the first render's growth of its arrays.
# 1,000,000 regions take about five minutes.
set -euo pipefail
build=$1
shift
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(1000 10000 100000 1000000)
ll=${LL:-8388608,16,64}
once="$build/bench/kvmrr_render_once"
[ -x "$once" ] || { echo "render_work: $once not built" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "render_work: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints "Ir DLmr DLmw" for one run (callgrind's summary line; events are
# Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw with --cache-sim=yes).
totals() {
    valgrind --tool=callgrind --cache-sim=yes --LL="$ll" --toggle-collect='render_tree*' \
        --callgrind-out-file="$tmp/out" "$once" "$1" "$2" "${ROOT_BITS:-52}" scratch >/dev/null 2>"$tmp/log" ||
        { cat "$tmp/log" >&2; exit 1; }
    awk '/^summary:/ {print $2, $9, $10}' "$tmp/out"
}

echo "| regions | instructions / render | ratio to the size before | n log n allows | LL misses / render (LL=$ll) |"
echo "|---:|---:|---:|---:|---:|"
prev_n="" prev_ir=""
for n in "${sizes[@]}"; do
    read -r ir1 mr1 mw1 < <(totals "$n" 1)
    read -r ir3 mr3 mw3 < <(totals "$n" 3)
    ir=$(( (ir3 - ir1) / 2 ))
    ll_misses=$(( (mr3 + mw3 - mr1 - mw1) / 2 ))
    if [ -n "$prev_n" ]; then
        ratio=$(awk -v a="$ir" -v b="$prev_ir" 'BEGIN {printf "%.1f", a / b}')
        bound=$(awk -v n="$n" -v p="$prev_n" 'BEGIN {printf "%.1f", n * log(n) / (p * log(p))}')
    else
        ratio="" bound=""
    fi
    echo "| $n | $ir | $ratio | $bound | $ll_misses |"
    prev_n=$n prev_ir=$ir
done
