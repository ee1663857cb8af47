#!/usr/bin/env bash
# Builds everything with AddressSanitizer, LeakSanitizer and UBSan
# (-DMG_SANITIZE=ON, at -O1 so that the suite runs in minutes) into
# build-sanitize/ and runs every test suite there, the MPI ones included.
# Open MPI's own leaks at exit are suppressed by name
# (tests/sanitizers/lsan.supp); any report from our code fails the test.
# Not run here: the two fuzz tests (data.fuzz_readers, nn.fuzz_checkpoints).
# They build their target with clang's own ASan and UBSan against
# libmetagrad, and a libmetagrad instrumented by gcc's ASan is a second,
# incompatible ASan runtime in one process; scripts/test.sh runs them, with
# the code they aim at instrumented.
# CI runs this after the quick start (.ci/run); it installs what test.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh clang-14 libfuzzer-14-dev libclang-rt-14-dev libopenmpi-dev openmpi-bin
# Warnings are errors in scripts/test.sh's build of the same code; here the
# instrumentation misleads gcc's flow analysis (false maybe-uninitialized
# reports), so they stay warnings.
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DMG_SANITIZE=ON -DMG_MPI=ON -DMG_WERROR=OFF >/dev/null
cmake --build build-sanitize
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir build-sanitize --output-on-failure -j "$(nproc)" --exclude-regex 'fuzz' 
