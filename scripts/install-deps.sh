#!/usr/bin/env bash
# Installs every Debian package kprod's build, tests, tools and benchmarks use.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends \
  build-essential g++ cmake ninja-build pkg-config git python3 \
  clang libclang-rt-14-dev \
  libgtest-dev libgmock-dev libbenchmark-dev \
  libasio-dev libssl-dev zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev \
  nlohmann-json3-dev libcli11-dev \
  librdkafka-dev kcat python3-kafka python3-snappy python3-lz4 python3-zstandard \
  python3-matplotlib
