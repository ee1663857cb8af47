#!/usr/bin/env bash
# Builds everything and runs every test suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh clang-14 libfuzzer-14-dev libclang-rt-14-dev  # the fuzz test
scripts/configure.sh
cmake --build build
ctest --test-dir build --output-on-failure -j "$(nproc)"
