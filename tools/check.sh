#!/usr/bin/env bash
# The full check: install what is missing, build and run every test twice,
# once as released (build/) and once under AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/), the kvm-labelled ones on KVM
# (this machine's, or the nested-KVM VM's), then fuzz the trace reader and
# replay for a minute and a half when clang is installed (build-fuzz/,
# tools/fuzz-long.sh). .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh

jobs=$(nproc)
summary=()

# Whether this machine's /dev/kvm runs the fixture guests, tried on two of
# them: a CPU exception in real mode (exceptions.bin) and timer interrupts
# in protected mode (timer_irq_prot.bin). A KVM that cannot is no KVM for
# the tests: kvm-pvm (the KVM of a host that is itself a PVM guest) runs
# only 64-bit guest code natively, emulates real-mode and 32-bit code
# instruction by instruction in its kernel, and ends KVM_RUN with an
# emulation failure at a UD2 or an interrupt delivery there, as it does
# for QEMU. Sets kvm_why to what failed.
kvm_runs_fixtures() {
  local build=$1 fw
  kvm_why=""
  if ! [ -c /dev/kvm ] || ! (exec 9<>/dev/kvm) 2>/dev/null; then
    kvm_why="no usable /dev/kvm"
    return 1
  fi
  for fw in exceptions timer_irq_prot; do
    if ! "$build/kvmrr" run --board pc --firmware "$build/fixtures/firmware/$fw.bin" --accel kvm >/dev/null 2>"$build/kvm-probe.err"; then
      kvm_why="$fw.bin fails on /dev/kvm: $(tail -n 1 "$build/kvm-probe.err" | cut -c 1-240)..."
      return 1
    fi
  done
}

# Runs a build's whole CTest suite. The tests labelled `kvm` never skip
# here: KVMRR_REQUIRE_KVM turns their "no /dev/kvm" skip into a failure, and
# where this machine has no /dev/kvm that runs the fixture guests (above)
# they run in the nested-KVM VM of
# tools/in-kvm-vm.sh, after the rest have run here.
run_tests() {
  local build=$1 log skip=()
  # The accelerator differential test (tools/tests/accel_diff_test.cc)
  # runs kvmrr four times a guest; under the sanitizers in the nested VM
  # that is 70-106 s a guest, 38 minutes in all (2026-12-05), too much of
  # CI's 90. It runs in the release build's kvm step; the sanitizer build
  # runs the other kvm-labelled tests. So do the Linux boots (LinuxBoot,
  # tools/tests/linux_boot_test.cc): 62 s and 76 s in the release build's
  # step, 342 s and more than 210 s for the two under the sanitizers
  # there (2026-12-05), near the per-test limit below.
  [ "$build" = build-asan ] && skip=(-E 'accel_diff|LinuxBoot')
  log=$(mktemp)
  if kvm_runs_fixtures "$build"; then
    KVMRR_REQUIRE_KVM=1 ctest --test-dir "$build" ${skip[@]+"${skip[@]}"} --output-on-failure --timeout 600 -j"$jobs" | tee "$log"
    summary+=("$build: all tests passed, the kvm-labelled ones on this machine's /dev/kvm ($(grep -E '^ *kvm *=' "$log" | sed 's/^ *//'))")
  else
    ctest --test-dir "$build" --output-on-failure -LE kvm -j"$jobs"
    echo "check: $build: no /dev/kvm here that runs the fixture guests ($kvm_why); the kvm-labelled tests run in the nested-KVM VM" >&2
    # One vCPU and one test at a time in the VM: two KVM guests at once
    # under the nested VM's two TCG vCPUs once hung both tests for good
    # (2026-12-05; each passes alone in a second or two). A time-out per
    # test turns any such hang into a failure, never a CI run that stalls.
    KVMRR_REQUIRE_KVM=1 tools/in-kvm-vm.sh --force-vm --cpus 1 ctest --test-dir "$build" -L kvm ${skip[@]+"${skip[@]}"} --no-tests=error \
      --output-on-failure --timeout 600 -j1 | tee "$log"
    summary+=("$build: kvm-labelled tests in the nested-KVM VM (tools/in-kvm-vm.sh; $kvm_why): $(grep -E 'tests passed' "$log")")
  fi
  rm -f "$log"
}

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMRR_WERROR=ON
cmake --build build -j"$jobs"
run_tests build

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKVMRR_SANITIZE=ON -DKVMRR_WERROR=ON
cmake --build build-asan -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_tests build-asan
unset ASAN_OPTIONS UBSAN_OPTIONS

# Fuzz the trace reader, and replay and the dirty analysis over decoded
# traces, for a bounded time with clang's libFuzzer (under ASan and UBSan):
# tools/fuzz-long.sh, briefly (a third of the time the reader, the rest
# replay), stopping at the first bug. A third build, of the fuzz targets
# only (build-fuzz/). libFuzzer exits non-zero on a crash, a leak, a
# time-out or too much memory, and leaves the input in
# build-fuzz/fuzz-artifacts/. The corpora it grows stay in build-fuzz/ for
# the next run. docs/FUZZING.md has the long run.
if command -v clang >/dev/null 2>&1 && command -v clang++ >/dev/null 2>&1; then
  KVMRR_FUZZ_KEEP_GOING=0 tools/fuzz-long.sh "${KVMRR_FUZZ_SECONDS:-90}"
  summary+=("build-fuzz: trace_reader_fuzz and replay_fuzz for ${KVMRR_FUZZ_SECONDS:-90} s in all, no bug found")
else
  echo "check: fuzz step skipped: clang/clang++ not found (the fuzzers need clang's libFuzzer)"
fi

printf 'check: %s\n' "${summary[@]}"

