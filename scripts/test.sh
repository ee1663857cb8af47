#!/usr/bin/env bash
# Builds everything and runs every test suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
# clang and libFuzzer: the fuzz tests; Open MPI: the tests on two ranks;
# Fashion-MNIST: the held-out suite's tasks; Python, PyTorch and pybind11: the
# Python module and its tests.
scripts/install-deps.sh clang-14 libfuzzer-14-dev libclang-rt-14-dev libopenmpi-dev openmpi-bin dataset-fashion-mnist \
  python3-dev pybind11-dev python3-torch python3-numpy
scripts/configure.sh -DMG_MPI=ON
cmake --build build
ctest --test-dir build --output-on-failure -j "$(nproc)"
