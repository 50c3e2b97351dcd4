#!/usr/bin/env bash
# SeaBIOS's memset loop (a byte store in five instructions) run by bare
# Unicorn 2.0.1 and by QEMU's TCG, side by side: how much of the emulator's
# SeaBIOS boot is Unicorn's own floor, with Unicorn's own stores to RAM and
# with the stores made by a write-protect hook (as kvmrr's emulator makes
# them without paging).
#
#   bench/unicorn_floor.sh BUILD_DIR [ROUNDS_OF_65536] [REPEATS]   e.g. bench/unicorn_floor.sh build 150 5
#
# Unicorn's times come from kvmrr_unicorn_floor (the loop alone, timed
# around uc_emu_start). QEMU's are its process's wall time for the same
# code as firmware, less that of a run with one round (its start-up), so
# both are the loop's own. Medians of REPEATS.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [ROUNDS_OF_65536] [REPEATS]}
rounds=${2:-150}
repeats=${3:-5}
prog=$build/bench/kvmrr_unicorn_floor
[ -x "$prog" ] || { echo "no $prog (build the bench targets)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "no qemu-system-x86_64 (apt-get install qemu-system-x86)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
qemu_once() {
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    qemu-system-x86_64 -accel tcg -M pc -m 16 -nodefaults -display none -serial none -monitor none \
        -bios "$1" -device isa-debug-exit,iobase=0xf4,iosize=1 || rc=$?
    t1=$(date +%s.%N)
    # isa-debug-exit ends QEMU with (0 << 1) | 1.
    [ "$rc" -eq 1 ] || { echo "qemu ended with $rc, not through the loop's exit" >&2; exit 1; }
    echo "$t1 - $t0" | bc -l
}

"$prog" 1 "$tmp/one.bin" >/dev/null
declare -A u
q=""
for _ in $(seq "$repeats"); do
    # Each line: the run's name, its seconds, "s", the rest.
    while IFS= read -r line; do
        u[$(sed -E 's/ +[0-9.]+ s .*//' <<<"$line")]+=" $(sed -E 's/.* ([0-9.]+) s .*/\1/' <<<"$line")"
    done < <("$prog" "$rounds" "$tmp/loop.bin")
    q+=" $(echo "$(qemu_once "$tmp/loop.bin") - $(qemu_once "$tmp/one.bin")" | bc -l)"
done
stores=$(( rounds * 65536 ))
qm=$(echo "$q" | median)
printf '%-33s %.3f s  %5.1f ns a store\n' "qemu-system-x86_64 -accel tcg" "$qm" "$(echo "$qm * 1000000000 / $stores" | bc -l)"
for name in "unicorn, no hooks" "unicorn, instruction hook" "unicorn, code+block+memory" "stores by hook" \
    "stores by hook+code+block+memory"; do
    m=$(echo "${u[$name]}" | median)
    printf '%-33s %.3f s  %5.1f ns a store  ratio to QEMU %.1f\n' "$name" "$m" "$(echo "$m * 1000000000 / $stores" | bc -l)" "$(echo "$m / $qm" | bc -l)"
done
