#!/usr/bin/env bash
# Installs the Debian packages metagrad needs that this machine lacks.
# Usage: scripts/install-deps.sh [extra packages...]
set -euo pipefail

# ocl-icd-opencl-dev: oneDNN's CMake config requires OpenCL's headers, which
# libdnnl-dev only recommends. make: the default generator of an outside
# CMake project (the package test, a user's own project).
packages=(g++ cmake ninja-build make ccache pkg-config
          libdnnl-dev ocl-icd-opencl-dev libopenblas-openmp-dev libspdlog-dev libcli11-dev zlib1g-dev
          libcurl4-openssl-dev libarchive-dev
          doctest-dev nlohmann-json3-dev "$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
