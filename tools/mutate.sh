#!/bin/bash
# Mutation testing of the golden traces: one-line bugs a developer could
# make in the device models, the memory model's rendering and dispatch,
# and replay's comparison, each built and replayed against the golden
# traces (fixtures/traces/, both replays: replay/tests/golden_replay_test),
# reporting whether the traces kill it; the mutants they leave alive then
# go through the whole test suite (ctest -LE kvm). docs/MUTATION.md has the
# last run and says why each survivor lives.
#
#   tools/mutate.sh [BUILD_DIR]   run every mutant (BUILD_DIR: build-mutate)
#   tools/mutate.sh --list        print the mutants
#   tools/mutate.sh --check       check that every mutant's line is still in
#                                 the source exactly once (builds nothing)
#   tools/mutate.sh --only ID[,ID...] [BUILD_DIR]   run some of them
#
# A mutant is applied to the source tree itself (so that the build dir
# stays incremental) and the original file is put back after it, on any
# exit or signal as well. Exit 0 when the goals hold (golden traces kill at
# least 90 % of the mutants, the suite every one of them), 1 when not, 2 on
# trouble (a mutant whose line is gone or not unique, a build that fails).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)

# One mutant per block: id, file, the original line exactly as it stands
# (indentation included) and its replacement, and what bug it plays.
mutants() {
    cat <<'EOF'
id: uart-overrun
file: devices/uart16550.cc
from:     if (rx_fifo_.size() < kFifoSize) {
to:       if (rx_fifo_.size() <= kFifoSize) {
why: loopback RX FIFO takes a 17th byte before it overruns (off by one)

id: uart-iir-priority
file: devices/uart16550.cc
from:     if ((ier_ & kIerLineStatus) && overrun_) return fifo_bits | kIirLineStatus;
to:       if ((ier_ & kIerRxData) && overrun_) return fifo_bits | kIirLineStatus;
why: the line-status interrupt gated by the wrong IER bit (ERBFI for ELSI)

id: uart-lsr-clear
file: devices/uart16550.cc
from:     overrun_ = false;  // error bits clear when LSR is read
to:       // overrun_ = false;
why: LSR.OE never clears on a read of LSR

id: uart-ier-mask
file: devices/uart16550.cc
from:                 const auto ier = static_cast<uint8_t>(v & 0x0f);
to:                   const auto ier = static_cast<uint8_t>(v & 0xff);
why: IER keeps its 4 reserved bits

id: uart-mcr-mask
file: devices/uart16550.cc
from:         case kMcr: mcr_ = v & 0x1f; break;  // bits 5-7 do not exist on a 16550
to:           case kMcr: mcr_ = v & 0x0f; break;  // bits 5-7 do not exist on a 16550
why: MCR mask drops bit 4 (loopback can never be switched on)

id: uart-msr-loopback
file: devices/uart16550.cc
from:     return static_cast<uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) | ((mcr_ & 0x04) << 4) |
to:       return static_cast<uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) | ((mcr_ & 0x04) << 3) |
why: loopback wires OUT1 to DSR instead of RI (wrong bit)

id: uart-fcr-clear
file: devices/uart16550.cc
from:             if (enable != fifo_enabled_ || (v & kFcrClearRx)) rx_fifo_.clear();
to:               if (enable != fifo_enabled_) rx_fifo_.clear();
why: FCR bit 1 (clear RX FIFO) ignored

id: uart-dlm
file: devices/uart16550.cc
from:             if (dlab()) return dll_;
to:               if (dlab()) return dlm_;
why: port 0 with DLAB set reads the divisor's high byte

id: cmos-index-mask
file: devices/cmos_rtc.cc
from:         index_ = v & 0x7f;  // bit 7 masks NMIs, which this machine does not model
to:           index_ = v & 0x3f;  // bit 7 masks NMIs, which this machine does not model
why: CMOS index masked to 64 bytes instead of 128

id: cmos-weekday
file: devices/cmos_rtc.cc
from:         case kWeekday: return encode(weekday{day}.c_encoding() + 1);  // 1 = Sunday
to:           case kWeekday: return encode(weekday{day}.c_encoding());  // 1 = Sunday
why: weekday counted from 0 (Sunday = 0, not 1)

id: cmos-binary-bit
file: devices/cmos_rtc.cc
from:         if (b & kStatusBBinary) return static_cast<uint8_t>(v);
to:           if (b & kStatusB24Hour) return static_cast<uint8_t>(v);
why: binary mode taken from the 24-hour bit of status B

id: cmos-century
file: devices/cmos_rtc.cc
from:         case kDayOfMonth: case kMonth: case kYear: case kCentury: return true;
to:           case kDayOfMonth: case kMonth: case kYear: return true;
why: the century byte (0x32) treated as plain CMOS RAM

id: bank-bound
file: devices/bank_switch.cc
from:     if (bank >= bank_count_) {
to:       if (bank > bank_count_) {
why: bank one past the last accepted (off by one)

id: bank-errors
file: devices/bank_switch.cc
from:         ++errors_;
to:           errors_ = 1;
why: ERRORS set instead of counted

id: dma-count-max
file: devices/dma_disk.cc
from:     if (count_ == 0 || count_ > kMaxSectors) return kStatusError;
to:       if (count_ == 0 || count_ >= kMaxSectors) return kStatusError;
why: a 256-sector transfer refused (off by one)

id: dma-sector-overflow
file: devices/dma_disk.cc
from:     if (sector_ > (UINT64_MAX - len) / kSectorSize || addr_ > UINT64_MAX - len) return kStatusError;
to:       if (sector_ >= (UINT64_MAX - len) / kSectorSize || addr_ > UINT64_MAX - len) return kStatusError;
why: the largest sector whose bytes fit 64 bits refused (off by one)

id: dma-half-mask
file: devices/dma_disk.cc
from:         const uint64_t mask = size == 8 ? ~uint64_t{0} : uint64_t{0xffffffff} << shift;
to:           const uint64_t mask = size == 8 ? ~uint64_t{0} : uint64_t{0xffffffff};
why: a 4-byte write to a register's high half masks the low half

id: dma-reg-select
file: devices/dma_disk.cc
from:         uint64_t& reg = offset < kRegAddr ? sector_ : addr_;
to:           uint64_t& reg = offset <= kRegAddr ? sector_ : addr_;
why: a write at ADDR's first half goes to SECTOR (off by one)

id: dma-reg-end
file: devices/dma_disk.cc
from:     if (offset + size > kRegsEnd) return 0;
to:       if (offset + size >= kRegsEnd) return 0;
why: the last register (COMPLETED) reads as 0 (off by one)

id: dma-hit-self
file: devices/dma_disk.cc
from:     return st == AccessStatus::Ok && !hit_self_ ? kStatusOk : kStatusError;
to:       return st == AccessStatus::Ok ? kStatusOk : kStatusError;
why: DMA that reaches the disk's own registers reported as done

id: dma-bad-write
file: devices/dma_disk.cc
from:         if (st == AccessStatus::Ok) host_.disk_write(disk_offset, data);
to:           host_.disk_write(disk_offset, data);
why: a DMA write whose RAM read failed still writes the disk

id: entropy-count
file: devices/entropy.cc
from:         delivered_ += size;
to:           delivered_ += 1;
why: COUNT counts reads, not bytes

id: entropy-count-byte
file: devices/entropy.cc
from:     if (offset >= kCountOffset && offset < kCountOffset + 8) return static_cast<uint8_t>(delivered_ >> (8 * (offset - kCountOffset)));
to:       if (offset >= kCountOffset && offset < kCountOffset + 8) return static_cast<uint8_t>(delivered_ >> (offset - kCountOffset));
why: COUNT's bytes shifted by bits instead of bytes

id: fb-log-value
file: devices/framebuffer.cc
from:             if (v > 1) return;
to:               if (v > 2) return;
why: LOG = 2 accepted (as off)

id: fb-height
file: devices/framebuffer.cc
from:         case kRegHeight: height_ = v; break;
to:           case kRegHeight: width_ = v; break;
why: HEIGHT written into WIDTH (copy and paste)

id: shadow-mode-bound
file: devices/rom_shadow.cc
from:     if (mode > kModeRomdIo || mode == mode_) return;
to:       if (mode >= kModeRomdIo || mode == mode_) return;
why: mode 3 (romd-io) refused (off by one)

id: shadow-last-write
file: devices/rom_shadow.cc
from:     d_.last_write_ = d_.base_ + offset;
to:       d_.last_write_ = offset;
why: LAST_WRITE holds the offset, not the guest address

id: shadow-romd
file: devices/rom_shadow.cc
from:     if (mode_ == kModeRomd || mode_ == kModeRomdIo) flash_->set_romd(mode_ == kModeRomd);
to:       if (mode_ == kModeRomd || mode_ == kModeRomdIo) flash_->set_romd(mode_ == kModeRomdIo);
why: romd and romd-io swapped

id: debug-exit-read
file: devices/debug_exit.cc
from: uint64_t DebugExit::read(uint64_t, unsigned) { return 0xff; }
to:   uint64_t DebugExit::read(uint64_t, unsigned) { return 0; }
why: the debug-exit port reads 0 instead of all ones

id: pic-ocw3-read
file: devices/i8259.cc
from:     if (port == 0) return read_isr ? isr : irr;
to:       if (port == 0) return read_isr ? irr : isr;
why: OCW3's read-register select swapped (IRR for ISR)

id: pic-elcr-mask
file: devices/i8259.cc
from:             c.elcr = v & c.elcr_mask;
to:               c.elcr = v;
why: ELCR lets the edge-only IRQs (0, 1, 2, 8, 13) be made level-triggered

id: pit-mode2-count
file: devices/i8254.cc
from:             return static_cast<uint16_t>(p - (e - 1) % p);  // N .. 1, then reload
to:               return static_cast<uint16_t>(p - e % p);  // N .. 1, then reload
why: mode 2's counter one clock ahead (off by one)

id: pit-status-null
file: devices/i8254.cc
from:     c.status = static_cast<uint8_t>((c.out(t) ? 0x80 : 0) | (c.null_count(t) ? 0x40 : 0) | (c.rw_mode << 4) |
to:       c.status = static_cast<uint8_t>((c.out(t) ? 0x80 : 0) | (c.null_count(t) ? 0x20 : 0) | (c.rw_mode << 4) |
why: read-back status puts NULL COUNT in the wrong bit

id: fwcfg-big-endian
file: devices/fw_cfg.cc
from:     for (unsigned i = 0; i < bytes; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * (bytes - 1 - i)));
to:       for (unsigned i = 0; i < bytes; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * i));
why: the file directory's big-endian fields written little-endian

id: pam-nibble
file: devices/i440fx.cc
from:     return (i & 1 ? byte : byte >> 4) & kModeMask;
to:       return (i & 1 ? byte >> 4 : byte) & kModeMask;
why: PAM register nibbles swapped between a segment pair

id: pm-io-enable
file: devices/piix4_pm.cc
from:     const bool on = config()[kPmRegMisc] & 1;
to:       const bool on = config()[kPmRegMisc] & 2;
why: PM I/O enabled by the wrong bit of PMREGMISC

id: pm-en-width
file: devices/piix4_pm.cc
from:             if (offset == 2) return pm1_en_;
to:               if (offset == 2) return pm1_en_ & 0xff;
why: PM1 enable reads back only its low byte

id: i8042-a20-off
file: devices/i8042.cc
from:         case 0xdd: outport_ &= static_cast<uint8_t>(~kOutA20); break;
to:           case 0xdd: outport_ &= static_cast<uint8_t>(kOutA20); break;
why: command 0xdd (A20 off) clears every output-port bit but A20 (missing ~)

id: ioapic-readonly
file: devices/io_apic.cc
from:     e = (updated & ~kEntryReadOnly) | (e & kEntryReadOnly);
to:       e = updated;
why: a redirection entry's read-only bits (delivery status, remote IRR) writable

id: lapic-dfr
file: devices/local_apic.cc
from:         case kRegDfr: return (static_cast<uint32_t>(dfr_) << 28) | 0x0fffffff;
to:           case kRegDfr: return (static_cast<uint32_t>(dfr_) << 28) | 0x00ffffff;
why: DFR's reserved bits read back partly as 0 (wrong mask)

id: lapic-divide
file: devices/local_apic.cc
from:     return (v + 1) & 7;
to:       return v & 7;
why: the timer's divide configuration decoded one power of two off

id: core-low-bytes
file: core/address_space.cc
from: uint64_t low_bytes(uint64_t v, unsigned size) { return size == 8 ? v : v & ((uint64_t{1} << (8 * size)) - 1); }
to:   uint64_t low_bytes(uint64_t v, unsigned size) { return size == 8 ? v : v & ((uint64_t{1} << (8 * size - 8)) - 1); }
why: a device access's value masked to one byte fewer than its size (off by one)

id: core-rom-write
file: core/address_space.cc
from:         if (fr->readonly) {
to:           if (fr->readonly && fr->mr->kind() == MemoryRegion::Kind::Ram) {
why: read-only honoured for RAM only: writes land in the ROM

id: core-worse-status
file: core/address_space.cc
from: AccessStatus worse(AccessStatus a, AccessStatus b) { return static_cast<uint8_t>(a) >= static_cast<uint8_t>(b) ? a : b; }
to:   AccessStatus worse(AccessStatus a, AccessStatus b) { return static_cast<uint8_t>(a) <= static_cast<uint8_t>(b) ? a : b; }
why: an access partly unassigned reported as Ok (the better status wins)

id: core-unassigned-value
file: core/address_space.cc
from:         if (!is_write) std::memset(buf, 0xff, len);
to:           if (!is_write) std::memset(buf, 0x00, len);
why: unassigned memory reads as zeros instead of all ones

id: core-alias-offset
file: core/flat_view.cc
from:         const __int128 target_start = start - static_cast<__int128>(mr.alias_offset());
to:           const __int128 target_start = start + static_cast<__int128>(mr.alias_offset());
why: an alias's offset added instead of subtracted (wrong sign)

id: core-sweep-until
file: core/flat_view.cc
from:         const uint64_t until = next < order.size() ? std::min(heap.front().end, order[next].start) : heap.front().end;
to:           const uint64_t until = next < order.size() ? std::max(heap.front().end, order[next].start) : heap.front().end;
why: a range painted past the start of the next paint (min for max)

id: core-priority-tie
file: core/memory_region.cc
from:                                       [](int p, const MemoryRegion* c) { return p < c->cold_->priority; });
to:                                         [](int p, const MemoryRegion* c) { return p <= c->cold_->priority; });
why: among equal priorities the first added wins instead of the last

id: core-dirty-log-off
file: core/memory_region.cc
from:     set_dirty_log_mask(on ? (dirty_log_mask_ | client) : (dirty_log_mask_ & ~client));
to:       set_dirty_log_mask(on ? (dirty_log_mask_ | client) : (dirty_log_mask_ & client));
why: switching a dirty-log client off keeps only that client (missing ~)

id: replay-bulk
file: replay/event_compare.cc
from:            a.value == b.value && a.status == b.status && a.bulk == b.bulk;
to:              a.value == b.value && a.status == b.status;
why: string I/O's bulk data not compared

id: replay-value
file: replay/event_compare.cc
from:            a.value == b.value && a.status == b.status && a.bulk == b.bulk;
to:              a.status == b.status && a.bulk == b.bulk;
why: an access's value not compared (only its status and bulk data)

id: replay-exit-status
file: replay/device_replay.cc
from:         if (guest_exit && req.status != end.exit_status) {
to:           if (guest_exit && req.status != end.exit_status && req.status == 0) {
why: a non-zero exit status the devices heard not compared with the recorded one

id: replay-digest
file: replay/device_replay.cc
from:             if (dev->register_digest() != d.register_digest) {
to:               if (dev->register_digest() != d.register_digest && dev->model_version() != 1) {
why: end-of-run device digests compared only for later model versions
EOF
}

# The mutants as TAB-separated fields: id, file, from, to, why.
table() {
    mutants | awk '
        function flush() { if (id != "") print id "\t" file "\t" from "\t" to "\t" why; id = file = from = to = why = "" }
        /^id: /   { flush(); id = substr($0, 5); next }
        /^file: / { file = substr($0, 7); next }
        /^from: / { from = substr($0, 7); next }
        /^to:   / { to = substr($0, 7); next }
        /^why: /  { why = substr($0, 6); next }
        /^$/      { next }
        { print "mutate.sh: cannot parse the mutant list at: " $0 > "/dev/stderr"; exit 2 }
        END { flush() }'
}

# Each mutant's original line must be in its file exactly once, and differ
# from its replacement. One python process for the whole table (read on
# stdin as `table` prints it), so that --check stays cheap; with "apply ID"
# it also replaces that mutant's line.
mutant_tool() {
    python3 -c '
import sys
src, mode = sys.argv[1], sys.argv[2]
want = sys.argv[3] if mode == "apply" else None
rows = [l.rstrip("\n").split("\t") for l in sys.stdin if l.strip()]
bad, seen = 0, set()
def fail(msg):
    global bad
    bad = 1
    print("mutate.sh: " + msg, file=sys.stderr)
for row in rows:
    if len(row) != 5 or not all(row):
        fail("a mutant lacks an id, file, from, to or why: " + repr(row))
        continue
    mid, path, frm, to, why = row
    if mid in seen:
        fail("mutant id " + mid + " is used twice")
    seen.add(mid)
    if want is not None and mid != want:
        continue
    try:
        lines = open(src + "/" + path).read().split("\n")
    except OSError as e:
        fail("mutant " + mid + ": " + str(e))
        continue
    hits = [i for i, l in enumerate(lines) if l == frm]
    if len(hits) != 1 or frm == to:
        why_not = "is its replacement" if frm == to else "is there %d times, not once" % len(hits)
        fail("mutant %s no longer applies (update it in tools/mutate.sh): in %s the original line %s:\n    %s" % (mid, path, why_not, frm))
        continue
    if want is not None:
        lines[hits[0]] = to
        open(src + "/" + path, "w").write("\n".join(lines))
if want is not None and want not in seen:
    fail("no mutant " + want)
if bad:
    sys.exit(1)
if mode == "check":
    print("mutate.sh: all %d mutants apply (each original line is in the source exactly once)" % len(rows))
' "$src" "$@"
}

check() { table | mutant_tool check; }

case "${1:-}" in
    --list)
        table | awk -F'\t' '{ printf "%-22s %-28s %s\n", $1, $2, $5 }'
        exit 0
        ;;
    --check)
        check || exit 1
        exit 0
        ;;
    -h|--help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
esac

only=""
if [ "${1:-}" = "--only" ]; then
    if [ $# -lt 2 ]; then
        echo "usage: mutate.sh --only ID[,ID...] [BUILD_DIR]" >&2
        exit 2
    fi
    only=$2
    shift 2
fi
case "${1:-}" in
    -*) echo "mutate.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
build=${1:-$src/build-mutate}
check || exit 2

# Put back whatever file is mutated, however this script ends.
backup=$(mktemp)
mutated=""
restore() {
    if [ -n "$mutated" ]; then
        cp "$backup" "$src/$mutated"
        mutated=""
    fi
}
trap 'restore; rm -f "$backup"' EXIT
trap 'exit 130' INT TERM

if [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMRR_BUILD_BENCH=OFF >/dev/null
fi
golden_bin=$build/replay/tests/golden_replay_test
log=$build/mutate-logs
mkdir -p "$log"

build_targets() { cmake --build "$build" "$@" >"$log/build.txt" 2>&1; }

# The golden traces, both replays (golden_replay_test: every trace in
# fixtures/traces by device replay and by guest replay on the emulator, and
# the planted-model checks over them), in two shards, each stopping at its
# first failure. 0 when everything passed.
golden() {
    local name=$1 rc0=0 rc1=0
    GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=0 timeout 900 "$golden_bin" --gtest_fail_fast --gtest_brief=1 >"$log/$name.golden0.txt" 2>&1 &
    local p0=$!
    GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=1 timeout 900 "$golden_bin" --gtest_fail_fast --gtest_brief=1 >"$log/$name.golden1.txt" 2>&1 || rc1=$?
    wait "$p0" || rc0=$?
    [ "$rc0" -eq 0 ] && [ "$rc1" -eq 0 ]
}

with_mutant() {  # id file: applies mutant ID, keeping FILE to put back
    local file=$2
    cp "$src/$file" "$backup"
    mutated=$file
    table | mutant_tool apply "$1"
}

# The unmutated tree must pass, or nothing below means anything.
echo "mutate.sh: building $(basename "$golden_bin") in $build"
build_targets --target golden_replay_test || { cat "$log/build.txt" >&2; exit 2; }
if ! golden baseline; then
    echo "mutate.sh: the golden traces fail without any mutant (see $log/baseline.golden*.txt)" >&2
    exit 2
fi

declare -a ids files whys golden_result suite_result
total=0 killed=0
while IFS=$'\t' read -r id file from to why; do
    if [ -n "$only" ] && [[ ",$only," != *",$id,"* ]]; then continue; fi
    with_mutant "$id" "$file"
    start=$SECONDS
    if ! build_targets --target golden_replay_test; then
        restore
        echo "mutate.sh: mutant $id does not build (see $log/build.txt)" >&2
        cp "$log/build.txt" "$log/$id.build.txt"
        exit 2
    fi
    if golden "$id"; then r=SURVIVED; else r=KILLED; killed=$((killed + 1)); fi
    restore
    ids+=("$id") files+=("$file") whys+=("$why") golden_result+=("$r") suite_result+=("-")
    total=$((total + 1))
    printf 'mutate.sh: %-22s %-9s %3ds  %s\n' "$id" "$r" $((SECONDS - start)) "$why"
done < <(table)

# The golden survivors through the whole suite.
suite_killed=0 survivors=0
for i in "${!ids[@]}"; do
    [ "${golden_result[$i]}" = SURVIVED ] || continue
    survivors=$((survivors + 1))
    id=${ids[$i]}
    with_mutant "$id" "${files[$i]}"
    if ! build_targets; then
        restore
        echo "mutate.sh: mutant $id does not build with the whole suite (see $log/build.txt)" >&2
        exit 2
    fi
    if ctest --test-dir "$build" -LE kvm -j2 --timeout 900 >"$log/$id.suite.txt" 2>&1; then
        suite_result[$i]=SURVIVED
    else
        suite_result[$i]="KILLED by $(grep -E '^\s+[0-9]+ - ' "$log/$id.suite.txt" | sed -E 's/^\s+[0-9]+ - ([^ ]+).*/\1/' | paste -sd, -)"
        suite_killed=$((suite_killed + 1))
    fi
    restore
    echo "mutate.sh: $id through the whole suite: ${suite_result[$i]}"
done

echo
echo "| mutant | file | bug | golden traces | whole suite |"
echo "|---|---|---|---|---|"
for i in "${!ids[@]}"; do
    echo "| ${ids[$i]} | ${files[$i]} | ${whys[$i]} | ${golden_result[$i]} | ${suite_result[$i]} |"
done
echo
pct=0
[ "$total" -gt 0 ] && pct=$((100 * killed / total))
echo "killed-by-golden $killed/$total ($pct %), killed-by-suite $((killed + suite_killed))/$total (of the $survivors golden survivors: $suite_killed)"
[ "$total" -gt 0 ] && [ $((10 * killed)) -ge $((9 * total)) ] && [ "$suite_killed" -eq "$survivors" ]
