#pragma once
// The plain (no-graph) step of the per-parameter MLP optimizers, fast: the
// network runs over a tensor's coordinates in fixed blocks that stay in
// cache, spread over the threads, with the inputs every coordinate shares
// folded into the first layer's bias; sums over the coordinates are taken
// in fixed chunks added in order, so the bits do not depend on the thread
// count.
#include <array>
#include <cmath>  // before the redeclarations below
#include <cstdint>
#include <functional>
#include <vector>

#include "core/parallel.hpp"
#include "optim/learned/per_parameter_mlp.hpp"

// glibc's vector math (libmvec): exp and tanh declared SIMD-callable, so
// that GCC vectorises the loops over a block's coordinates that call them
// (20x faster than one call per coordinate here). Blocks start at multiples
// of kMlpBlock, so the vector/scalar split, and the bits, do not depend on
// the thread count. Other compilers call them one by one.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MG_SIMD_MATH __attribute__((simd("notinbranch")))
#else
#define MG_SIMD_MATH
#endif
extern "C" {
MG_SIMD_MATH float expf(float) noexcept;
MG_SIMD_MATH float tanhf(float) noexcept;
MG_SIMD_MATH double exp(double) noexcept;
MG_SIMD_MATH double tanh(double) noexcept;
}

namespace mg::optim::learned {

inline float simd_exp(float x) { return expf(x); }
inline double simd_exp(double x) { return ::exp(x); }
inline float simd_tanh(float x) { return tanhf(x); }
inline double simd_tanh(double x) { return ::tanh(x); }

// Coordinates per block of the network (its hidden layers fit in L2).
constexpr std::int64_t kMlpBlock = 512;

// `features(begin, count, x)` writes the coordinates' own inputs for rows
// [begin, begin + count) feature-major, x[f * count + k] for feature f of
// row begin + k (so that its loops run along the coordinates and
// vectorise); the remaining inputs,
// the same for every coordinate, are `shared`. `update(begin, count, out)`
// reads the network's outputs (count x outputs).
template <class E>
using BlockFeatures = std::function<void(std::int64_t begin, std::int64_t count, E* x)>;
template <class E>
using BlockUpdate = std::function<void(std::int64_t begin, std::int64_t count, const E* out)>;

template <class E>
void mlp_in_blocks(const MlpWeights& w, std::int64_t n, std::int64_t own, const std::vector<double>& shared,
                   const BlockFeatures<E>& features, const BlockUpdate<E>& update);

// The sums of `body(lo, hi, sums)` over fixed chunks of [0, n), run in
// parallel and added in chunk order.
template <std::size_t K, class Body>
std::array<double, K> chunked_sums(std::int64_t n, const Body& body) {
  constexpr std::int64_t kChunk = 16384;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<std::array<double, K>> partial(static_cast<std::size_t>(chunks));
  parallel_for(0, chunks, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t c = lo; c < hi; ++c) {
      auto& sums = partial[static_cast<std::size_t>(c)];
      sums.fill(0.0);
      body(c * kChunk, std::min(n, (c + 1) * kChunk), sums);
    }
  });
  std::array<double, K> total{};
  for (const auto& sums : partial)
    for (std::size_t k = 0; k < K; ++k) total[k] += sums[k];
  return total;
}

}  // namespace mg::optim::learned
