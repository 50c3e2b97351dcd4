#!/usr/bin/env bash
# SeaBIOS's boot to "No bootable device", timed side by side: QEMU's TCG
# (the reference the pc board issue compares with) and `kvmrr record
# --board pc` on each accelerator asked for, in turns, ROUNDS times; prints
# each one's median wall time and its ratio to QEMU's.
#
#   bench/seabios_boot.sh BUILD_DIR [ROUNDS] [ACCEL...]     e.g. bench/seabios_boot.sh build 5 emu kvm qemu-kvm
#   (ACCEL "none": QEMU alone; "qemu-kvm": QEMU on KVM, timed the same way,
#   which tells how much of a KVM figure is the host's KVM rather than the VMM)
#
# QEMU cannot be told to stop at a line, so its run is timed until its
# debug console holds "No bootable device" (polled every 5 ms), then killed.
# kvmrr stops there by itself (--stop-at-output). Times on KVM are only
# meaningful on a real /dev/kvm, never in the nested-KVM VM.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [ROUNDS] [ACCEL...]}
rounds=${2:-5}
shift $(( $# >= 2 ? 2 : 1 ))
accels=("$@")
[ ${#accels[@]} -gt 0 ] || accels=(emu)
[ "${accels[0]}" = none ] && accels=()
bios=/usr/share/seabios/bios.bin
[ -f "$bios" ] || { echo "no $bios (apt-get install seabios)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "no qemu-system-x86_64 (apt-get install qemu-system-x86)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

now() { date +%s.%N; }

qemu_once() {
    rm -f "$tmp/q.log"
    local t0 t1 pid
    t0=$(now)
    qemu-system-x86_64 -accel "${1:-tcg}" -M pc -m 256 -nodefaults -display none -serial none -monitor none \
        -bios "$bios" -debugcon file:"$tmp/q.log" -global isa-debugcon.iobase=0x402 2>/dev/null &
    pid=$!
    until grep -q "No bootable device" "$tmp/q.log" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { echo "qemu ended before the line" >&2; exit 1; }
        sleep 0.005
    done
    t1=$(now)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$t1 - $t0" | bc -l
}

kvmrr_once() {
    local t0 t1
    t0=$(now)
    "$build/kvmrr" record --board pc --firmware "$bios" --accel "$1" --timeout 60000 \
        --stop-at-output "No bootable device" -o "$tmp/boot.trace" >/dev/null 2>"$tmp/err" ||
        { cat "$tmp/err" >&2; exit 1; }
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}

declare -A times
for _ in $(seq "$rounds"); do
    times[qemu]+=" $(qemu_once)"
    for a in ${accels[@]+"${accels[@]}"}; do
        if [ "$a" = qemu-kvm ]; then times[$a]+=" $(qemu_once kvm)"; else times[$a]+=" $(kvmrr_once "$a")"; fi
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
q=$(echo "${times[qemu]}" | median)
printf '%-28s median %.3f s  (%s )\n' "qemu-system-x86_64 -accel tcg" "$q" "${times[qemu]}"
for a in ${accels[@]+"${accels[@]}"}; do
    m=$(echo "${times[$a]}" | median)
    label="kvmrr record --accel $a"
    [ "$a" = qemu-kvm ] && label="qemu-system-x86_64 -accel kvm"
    printf '%-28s median %.3f s  (%s )  ratio to QEMU %.2f\n' "$label" "$m" "${times[$a]}" "$(echo "$m / $q" | bc -l)"
done
if [ -n "${times[kvm]:-}" ] && [ -n "${times[qemu-kvm]:-}" ]; then
    printf 'kvmrr on KVM against QEMU on KVM: ratio %.2f\n' \
        "$(echo "$(echo "${times[kvm]}" | median) / $(echo "${times[qemu-kvm]}" | median)" | bc -l)"
fi
