#!/usr/bin/env bash
# Builds a libFuzzer target from tests/fuzz (the code it aims at instrumented
# for coverage, the rest from libmetagrad) and fuzzes it for a few seconds
# from a small corpus of valid inputs. Exits 77 (skipped) without clang.
# Usage: run_fuzz.sh SOURCE_DIR BUILD_DIR readers|checkpoints [seconds]
set -euo pipefail
src=$1 build=$2 target=$3 seconds=${4:-20}
clang=$(command -v clang++-14 || command -v clang++ || true)
if [ -z "$clang" ] || [ ! -e /usr/lib/llvm-14/lib/libFuzzer.a ]; then
  echo "skipped: clang++ with libFuzzer (apt-get install clang-14 libfuzzer-14-dev) is not installed"
  exit 77
fi
work=$build/fuzz/$target
mkdir -p "$work/corpus"
case $target in
  readers) instrumented=("$src/data/readers.cpp") ;;
  checkpoints) instrumented=("$src/nn/serialize.cpp" "$src/nn/module.cpp") ;;
  *) echo "unknown fuzz target $target (readers or checkpoints)"; exit 2 ;;
esac
"$clang" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$src/include" -I"$src" "$src/tests/fuzz/${target}_fuzz.cpp" "${instrumented[@]}" \
  -L"$build/core" -Wl,-rpath,"$build/core" -lmetagrad -lfmt -lz -o "$work/fuzz"
export ASAN_OPTIONS=detect_leaks=0
case $target in
  readers)  # a valid IDX image file, a valid IDX label file, one CIFAR record
    printf '\x00\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04' > "$work/corpus/idx_images"
    printf '\x01\x00\x00\x08\x01\x00\x00\x00\x02\x03\x07' > "$work/corpus/idx_labels"
    { printf '\x02\x05'; head -c 3072 /dev/zero; } > "$work/corpus/cifar"
    { printf '\x03'; tail -c +2 "$work/corpus/idx_images" | gzip -c; } > "$work/corpus/idx_images_gz" ;;
  checkpoints)  # the harness writes valid files of each kind
    MG_FUZZ_SEEDS="$work/corpus" "$work/fuzz" -runs=0 > /dev/null 2>&1 ;;
esac
if ! "$work/fuzz" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
  -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" > "$work/fuzz.log" 2>&1; then
  grep -B5 -A40 -E "ERROR|runtime error|failed load" "$work/fuzz.log" | head -60
  echo "the fuzzer found a failure; the input is in $work/crash-*"
  exit 1
fi
tail -5 "$work/fuzz.log"
echo "fuzzing found no crash"
