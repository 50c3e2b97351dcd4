#!/usr/bin/env bash
# The full check: install what is missing, build and run every test twice,
# once as released (build/) and once under AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/), then fuzz the trace reader for a
# minute when clang is installed (build-fuzz/). .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMRR_WERROR=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKVMRR_SANITIZE=ON -DKVMRR_WERROR=ON
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

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
