#!/usr/bin/env bash
# Runs every kprod test: a -Werror build with all tests (unit + integration),
# then an ASan+UBSan build with the unit tests, then the generated-code sync
# check and a short bounded run of every fuzzer. Prints CTest's summaries and,
# last, one line with the totals.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

echo "== generated protocol code in sync with ../shared =="
scripts/check-generated.sh

echo "== -Werror build, all tests =="
scripts/build.sh build-ci -DKP_WERROR=ON
# Integration tests run real processes on a shared 2-core machine: a test
# that fails is run again (up to 3 times in all) before it counts as failed;
# the output keeps every failed attempt.
ctest --test-dir build-ci --output-on-failure -j "$jobs" --timeout 600 --repeat until-pass:3 | tee "$log_dir/all.log"

echo "== ASan+UBSan build, unit tests =="
scripts/build.sh build-asan -DKP_WERROR=ON -DKP_SANITIZE=ON -DKP_BUILD_BENCH=OFF -DKP_BUILD_EXAMPLES=OFF \
  -DKP_BUILD_INTEGRATION_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -L unit --timeout 600 | tee "$log_dir/asan.log"

echo "== fuzzers (bounded) =="
scripts/run-fuzzers.sh "${KP_FUZZ_SECONDS:-10}" | tee "$log_dir/fuzz.log"

# ctest exits non-zero on a failure (set -e stops above), so reaching here
# means everything passed; count what ran.
count() { grep -Eo 'tests failed out of [0-9]+' "$1" | grep -Eo '[0-9]+$' | tail -1; }
all=$(count "$log_dir/all.log"); asan=$(count "$log_dir/asan.log")
fuzz=$(grep -c ': ok (' "$log_dir/fuzz.log" || true)
echo "ctest (-Werror): ${all} tests; ctest (ASan+UBSan): ${asan} tests; fuzzers: ${fuzz}"
echo "total: $((all + asan + fuzz)) passed, 0 failed"
