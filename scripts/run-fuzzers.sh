#!/usr/bin/env bash
# Builds every libFuzzer target with clang and runs each for a bounded time.
# Usage: scripts/run-fuzzers.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DKP_BUILD_FUZZ=ON \
  -DKP_BUILD_TOOLS=OFF -DKP_BUILD_BENCH=OFF -DKP_BUILD_EXAMPLES=OFF >/dev/null
targets=$(find tests/fuzz -name '*_fuzz.cc' -exec basename {} .cc \; | sort)
if [ -z "$targets" ]; then echo "no fuzz targets"; exit 0; fi
# shellcheck disable=SC2086
cmake --build build-fuzz -j "$(nproc)" --target $targets
# One fuzzer per core at a time (each is single-threaded): same seconds per
# target, half the wall time on the 2-core CI machine.
run_one() {
  local t=$1 corpus
  corpus=$(mktemp -d)
  if ./build-fuzz/tests/fuzz/"$t" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=0 "$corpus" \
      >"build-fuzz/$t.log" 2>&1; then
    echo "fuzz $t: ok ($(grep -c '^#' "build-fuzz/$t.log" || true) status lines, ${secs}s)" >"build-fuzz/$t.result"
  else
    { echo "fuzz $t: FAILED"; tail -40 "build-fuzz/$t.log"; } >"build-fuzz/$t.result"
  fi
  rm -rf "$corpus"
}
export -f run_one
export secs
rm -f build-fuzz/*.result
# shellcheck disable=SC2086
printf '%s\n' $targets | xargs -P "$(nproc)" -I{} bash -c 'run_one {}'
failed=0
for t in $targets; do
  cat "build-fuzz/$t.result"
  grep -q ': ok (' "build-fuzz/$t.result" || failed=1
done
exit $failed
