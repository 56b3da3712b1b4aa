#!/usr/bin/env bash
# Runs every kprod test: a -Werror build with all tests (unit + integration),
# then an ASan+UBSan build with the unit tests, then the generated-code sync
# check and a short bounded run of every fuzzer. Prints CTest's summaries.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== generated protocol code in sync with ../shared =="
scripts/check-generated.sh

echo "== -Werror build, all tests =="
scripts/build.sh build-ci -DKP_WERROR=ON
ctest --test-dir build-ci --output-on-failure -j "$jobs" --timeout 600

echo "== ASan+UBSan build, unit tests =="
scripts/build.sh build-asan -DKP_WERROR=ON -DKP_SANITIZE=ON -DKP_BUILD_BENCH=OFF -DKP_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -L unit --timeout 600

echo "== fuzzers (bounded) =="
scripts/run-fuzzers.sh "${KP_FUZZ_SECONDS:-10}"
