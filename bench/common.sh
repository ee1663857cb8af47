# Sourced by the bench/run_*.sh scripts: installs what the comparison needs,
# builds the given targets, and finds the libraries that make PyTorch "tuned"
# (PERFORMANCE.md): tcmalloc and the OpenMP OpenBLAS, to LD_PRELOAD.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-deps.sh python3-torch python3-numpy libgoogle-perftools4
scripts/configure.sh
cmake --build build --target "$@"
tuned_pytorch_preload="$(ls /usr/lib/*/libtcmalloc.so.4 | head -1) $(ls /usr/lib/*/openblas-openmp/libopenblas.so.0 | head -1)"
