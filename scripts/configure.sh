#!/usr/bin/env bash
# Configures the build tree `build/` (Release, native code; -Werror under CI).
set -euo pipefail
cd "$(dirname "$0")/.."
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMG_WERROR=$werror "$@" >/dev/null
