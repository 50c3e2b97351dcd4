#!/usr/bin/env bash
# Hostile guests: records firmware images of random bytes on the pc board
# on the emulator, COUNT of them (default 200), every other one with
# --ticks-between-exits (so that the run loop stops the guest between
# exits: pause events), and replays each trace through the device models
# and with its guest. A run that does not end with the recorder's summary
# (a crash, an abort, a hang past 30 s), a sanitizer report, or a replay
# that does not reproduce is a bug: its image is kept in fuzz-guests/ (or
# DIR) and the script exits 1 at the end. A guest replay that parts from
# the recording where the guest let the host's time-stamp counter show
# (unrecorded on the host clock; the report says so) is not one. The
# same check on fixed seeds, device replay only, is a test
# (tools/tests/random_guest_test.cc).
#
#   tools/fuzz-guests.sh [COUNT] [BUILD_DIR] [DIR]     e.g. tools/fuzz-guests.sh 1000 build-asan
set -uo pipefail
count=${1:-200}
build=${2:-build}
keep=${3:-fuzz-guests}
if ! [[ $count =~ ^[0-9]+$ ]] || [ "$count" -lt 1 ]; then
  echo "usage: tools/fuzz-guests.sh [COUNT] [BUILD_DIR] [DIR]" >&2
  exit 2
fi
kvmrr=$build/kvmrr
[ -x "$kvmrr" ] || { echo "no $kvmrr: build it first (cmake --build $build --target kvmrr)" >&2; exit 2; }
mkdir -p "$keep"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
found=0
for i in $(seq 1 "$count"); do
  head -c 65536 /dev/urandom > "$tmp/fw.bin"
  rm -f "$tmp/t.trace"
  ticks=()
  [ $((i % 2)) -eq 0 ] && ticks=(--ticks-between-exits)
  timeout 30 "$kvmrr" record --board pc --firmware "$tmp/fw.bin" --accel emu --timeout 1000 --max-exits 20000 \
    ${ticks[@]+"${ticks[@]}"} -o "$tmp/t.trace" > "$tmp/rec.out" 2>&1
  rc=$?
  why=""
  if ! grep -q "^kvmrr: recorded " "$tmp/rec.out"; then
    why="record ended without its summary (exit $rc)"
  elif grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$tmp/rec.out"; then
    why="sanitizer report while recording"
  elif ! timeout 60 "$kvmrr" replay "$tmp/t.trace" > "$tmp/rep.out" 2>&1 || ! grep -q "reproduced:" "$tmp/rep.out"; then
    why="device replay did not reproduce"
  elif ! timeout 60 "$kvmrr" replay --guest "$tmp/t.trace" > "$tmp/rep.out" 2>&1 && ! grep -q "time-stamp counter" "$tmp/rep.out"; then
    why="guest replay did not reproduce"
  elif grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$tmp/rep.out"; then
    why="sanitizer report while replaying"
  fi
  if [ -n "$why" ]; then
    found=$((found + 1))
    name=guest-$i${ticks[@]+-ticks}.bin  # -ticks: recorded with --ticks-between-exits
    cp "$tmp/fw.bin" "$keep/$name"
    echo "$name: $why"
    tail -n 3 "$tmp/rec.out"
  fi
done
echo "$count random guests, $found kept in $keep/"
[ "$found" -eq 0 ]
