#!/usr/bin/env bash
# The full check: install what is missing, build and run every test twice,
# once as released (build/) and once under AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/), the kvm-labelled ones on KVM
# (this machine's, or the nested-KVM VM's), then fuzz the trace reader for a
# minute when clang is installed (build-fuzz/). .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh

jobs=$(nproc)
summary=()

# Runs a build's whole CTest suite. The tests labelled `kvm` never skip
# here: KVMRR_REQUIRE_KVM turns their "no /dev/kvm" skip into a failure, and
# where this machine has no usable /dev/kvm they run in the nested-KVM VM of
# tools/in-kvm-vm.sh, after the rest have run here.
run_tests() {
  local build=$1 log
  log=$(mktemp)
  if [ -c /dev/kvm ] && (exec 9<>/dev/kvm) 2>/dev/null; then
    KVMRR_REQUIRE_KVM=1 ctest --test-dir "$build" --output-on-failure --timeout 600 -j"$jobs" | tee "$log"
    summary+=("$build: all tests passed, the kvm-labelled ones on this machine's /dev/kvm ($(grep -E '^ *kvm *=' "$log" | sed 's/^ *//'))")
  else
    ctest --test-dir "$build" --output-on-failure -LE kvm -j"$jobs"
    echo "check: $build: no usable /dev/kvm here; the kvm-labelled tests run in the nested-KVM VM" >&2
    # One vCPU and one test at a time in the VM: two KVM guests at once
    # under the nested VM's two TCG vCPUs once hung both tests for good
    # (2026-12-05; each passes alone in a second or two). A time-out per
    # test turns any such hang into a failure, never a CI run that stalls.
    KVMRR_REQUIRE_KVM=1 tools/in-kvm-vm.sh --cpus 1 ctest --test-dir "$build" -L kvm --no-tests=error \
      --output-on-failure --timeout 600 -j1 | tee "$log"
    summary+=("$build: kvm-labelled tests in the nested-KVM VM (tools/in-kvm-vm.sh): $(grep -E 'tests passed' "$log")")
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

# Fuzz the trace reader for a bounded time with clang's libFuzzer (under
# ASan and UBSan), starting from seed traces the seed writer makes. A third
# build, of the fuzz targets only. libFuzzer exits non-zero on a crash, a
# leak or a timeout, and leaves the input in build-fuzz/fuzz-artifacts/.
# The corpus it grows is kept in build-fuzz/fuzz-corpus/ for the next run.
if command -v clang >/dev/null 2>&1 && command -v clang++ >/dev/null 2>&1; then
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DKVMRR_FUZZ=ON -DKVMRR_BUILD_BENCH=OFF
  cmake --build build-fuzz -j"$jobs" --target trace_reader_fuzz trace_fuzz_seeds
  rm -rf build-fuzz/fuzz-seeds
  mkdir -p build-fuzz/fuzz-seeds build-fuzz/fuzz-corpus build-fuzz/fuzz-artifacts
  build-fuzz/record/trace_fuzz_seeds build-fuzz/fuzz-seeds
  build-fuzz/record/trace_reader_fuzz -max_total_time="${KVMRR_FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build-fuzz/fuzz-artifacts/ build-fuzz/fuzz-corpus build-fuzz/fuzz-seeds
else
  echo "check: fuzz step skipped: clang/clang++ not found (the trace reader fuzzer needs clang's libFuzzer)"
fi

printf 'check: %s\n' "${summary[@]}"

