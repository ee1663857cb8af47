#pragma once
// Strided iteration of N operands over one shape: the engine of every
// elementwise kernel. Operands broadcast with stride 0; dims that are laid
// out back to back in every operand are merged, so contiguous tensors become
// one flat run that the compiler vectorises.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "core/parallel.hpp"
#include "core/tensor_impl.hpp"
#include "metagrad/core/error.hpp"

namespace mg::kernels {

constexpr int kMaxLoopDims = 16;

template <std::size_t N>
struct Loop {
  int ndim = 0;
  std::array<std::int64_t, kMaxLoopDims> sizes{};
  std::array<std::array<std::int64_t, N>, kMaxLoopDims> strides{};  // bytes
  std::array<char*, N> base{};
  std::int64_t numel = 1;
};

// Strides (in elements) of `t` read as `shape`, with 0 for broadcast dims.
Shape broadcast_strides(const TensorImpl& t, const Shape& shape);

// A run of a few elements costs more to start than to copy (an RGB image
// made channels-last: runs of 3). When operand 0's innermost dim is that
// short and the next one out is longer and adjacent to it in operand 0's
// memory, the two swap: the runs grow, and operand 0 is still written
// within the same span of memory.
template <std::size_t N>
void innermost_run_longer(Loop<N>& loop) {
  constexpr std::int64_t kShortRun = 8;
  const int last = loop.ndim - 1;
  if (last < 1 || loop.sizes[last] >= kShortRun || loop.sizes[last - 1] <= loop.sizes[last]) return;
  if (loop.strides[last - 1][0] != loop.strides[last][0] * loop.sizes[last]) return;
  std::swap(loop.sizes[last - 1], loop.sizes[last]);
  std::swap(loop.strides[last - 1], loop.strides[last]);
}

// Operand k has data `base[k]` and element strides `strides[k]` over `shape`.
template <std::size_t N>
Loop<N> make_loop(const Shape& shape, const std::array<char*, N>& base, const std::array<Shape, N>& strides,
                  const std::array<std::int64_t, N>& esize) {
  if (shape.size() > static_cast<std::size_t>(kMaxLoopDims))
    throw Error("tensors of more than 16 dims are not supported, got " + std::to_string(shape.size()));
  Loop<N> loop;
  loop.base = base;
  // Walk dims in operand 0's memory order (outermost first), so the inner
  // run is its stride-1 dim even for permuted layouts such as channels-last.
  std::array<std::size_t, kMaxLoopDims> order{};
  for (std::size_t d = 0; d < shape.size(); ++d) order[d] = d;
  std::stable_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(shape.size()),
                   [&](std::size_t x, std::size_t y) { return strides[0][x] > strides[0][y]; });
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const std::size_t d = order[i];
    loop.numel *= shape[d];
    if (shape[d] == 1) continue;
    std::array<std::int64_t, N> s{};
    for (std::size_t k = 0; k < N; ++k) s[k] = strides[k][d] * esize[k];
    if (loop.ndim > 0) {
      // Merge with the previous (outer) dim when it steps exactly over this one.
      auto& prev = loop.strides[loop.ndim - 1];
      bool mergeable = true;
      for (std::size_t k = 0; k < N; ++k) mergeable &= prev[k] == s[k] * shape[d];
      if (mergeable) {
        loop.sizes[loop.ndim - 1] *= shape[d];
        prev = s;
        continue;
      }
    }
    loop.sizes[loop.ndim] = shape[d];
    loop.strides[loop.ndim] = s;
    ++loop.ndim;
  }
  innermost_run_longer(loop);
  return loop;
}

// Calls inner(ptrs, inner_strides, n) for runs along the innermost dim,
// splitting the element range over threads when it is large.
template <std::size_t N, class Inner>
void run_loop(const Loop<N>& loop, const Inner& inner, std::int64_t grain = kElementwiseGrain) {
  if (loop.numel == 0) return;
  if (loop.ndim == 0) {
    const std::array<std::int64_t, N> zero{};
    inner(loop.base.data(), zero.data(), std::int64_t{1});
    return;
  }
  const int last = loop.ndim - 1;
  const std::int64_t inner_size = loop.sizes[last];
  parallel_for(0, loop.numel, grain, [&](std::int64_t begin, std::int64_t end) {
    std::array<std::int64_t, kMaxLoopDims> index{};
    std::int64_t rest = begin;
    for (int d = last; d >= 0; --d) {
      index[d] = rest % loop.sizes[d];
      rest /= loop.sizes[d];
    }
    std::array<char*, N> ptrs = loop.base;
    for (int d = 0; d <= last; ++d)
      for (std::size_t k = 0; k < N; ++k) ptrs[k] += index[d] * loop.strides[d][k];
    // Step the pointers along with the index: short runs (a channel slice of
    // a channels-last tensor) would otherwise pay for every dim per run.
    std::int64_t position = begin;
    while (position < end) {
      const std::int64_t run = std::min(inner_size - index[last], end - position);
      inner(ptrs.data(), loop.strides[last].data(), run);
      position += run;
      index[last] += run;
      for (std::size_t k = 0; k < N; ++k) ptrs[k] += run * loop.strides[last][k];
      for (int d = last; d > 0 && index[d] == loop.sizes[d]; --d) {
        index[d] = 0;
        ++index[d - 1];
        for (std::size_t k = 0; k < N; ++k) ptrs[k] += loop.strides[d - 1][k] - loop.sizes[d] * loop.strides[d][k];
      }
    }
  });
}

}  // namespace mg::kernels
