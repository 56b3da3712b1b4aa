#!/usr/bin/env bash
# The long chaos soak (not part of CI): KPROD_SOAK_RECORDS idempotent records
# (default 2,000,000) through the fault proxy killing connections at random,
# consumed back and audited. Usage: scripts/soak.sh [records] [seed]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
[ -x "$build/tests/integration/kprod_integration_tests" ] || scripts/build.sh "$build" >/dev/null
export KPROD_SOAK_RECORDS=${1:-2000000}
export KPROD_SOAK_SEED=${2:-20261125}
exec "$build/tests/integration/kprod_integration_tests" --gtest_filter='ProducerSoak.*'
