#pragma once
// parallel_for over an index range on the shared OpenMP pool. Small ranges
// (below `grain` items) and calls from inside a parallel region run inline.
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace mg {

// Elementwise loops cost ~1 ns per element; below this a thread wake-up costs more.
constexpr std::int64_t kElementwiseGrain = 32768;

// The grain (items per thread) of a loop whose items each cost `work`
// elements: each thread gets about kElementwiseGrain elements or more, so a
// small loop runs on one thread however many there are.
inline std::int64_t grain_for(std::int64_t work) {
  return std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(work, 1));
}

template <class F>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, const F& body) {
  const std::int64_t n = end - begin;
  if (n <= 0) return;
  const int max_threads = omp_get_max_threads();
  if (n <= grain || max_threads == 1 || omp_in_parallel()) {
    body(begin, end);
    return;
  }
  const std::int64_t threads = std::min<std::int64_t>(max_threads, (n + grain - 1) / grain);
  // Large chunks start at multiples of kChunkAlign items, so a vectorised
  // loop splits into vector body and scalar remainder at the same elements
  // for any thread count (vector and scalar math may differ in the last
  // ulp). Small ranges (a few coarse tasks) are split evenly.
  constexpr std::int64_t kChunkAlign = 64;
  std::int64_t chunk = (n + threads - 1) / threads;
  if (chunk >= 16 * kChunkAlign) chunk = (chunk + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
#pragma omp parallel num_threads(static_cast <int>(threads))
  {
    const std::int64_t t = omp_get_thread_num();
    const std::int64_t lo = begin + t * chunk;
    const std::int64_t hi = std::min(end, lo + chunk);
    if (lo < hi) body(lo, hi);
  }
}

}  // namespace mg
