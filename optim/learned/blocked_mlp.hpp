#pragma once
// The plain (no-graph) step of the per-parameter MLP optimizers, fast: the
// network runs over a tensor's coordinates in fixed blocks that stay in
// cache, spread over the threads, with the inputs every coordinate shares
// folded into the first layer's bias; sums over the coordinates are taken
// in fixed chunks added in order, so the bits do not depend on the thread
// count.
#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/parallel.hpp"
#include "optim/learned/per_parameter_mlp.hpp"

namespace mg::optim::learned {

// Coordinates per block of the network (its hidden layers fit in L2).
constexpr std::int64_t kMlpBlock = 512;

// `features(begin, count, x)` writes the coordinates' own inputs (count x
// own, row-major) for rows [begin, begin + count); the remaining inputs,
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
