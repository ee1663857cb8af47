#pragma once
// Loops over [M, C] rows (channels-last activations, or contiguous 2-D
// tensors, C the channel dim) with the channel count and a pass's options
// fixed at compile time where they can be.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/parallel.hpp"

namespace mg::kernels {

// Calls f with std::integral_constant<std::int64_t, C> for the channel counts
// convolutional networks use most, else with 0 (the count known at run time
// only). With the count fixed a row's loop unrolls and its per-channel sums
// and coefficients stay in registers: with a runtime count, a 16-channel row
// (one vector) cost 2.4 times as much per byte as a 32-channel one.
template <class F>
void with_channel_count(std::int64_t channels, const F& f) {
  switch (channels) {
    case 16:
      return f(std::integral_constant<std::int64_t, 16>{});
    case 32:
      return f(std::integral_constant<std::int64_t, 32>{});
    case 64:
      return f(std::integral_constant<std::int64_t, 64>{});
    default:
      return f(std::integral_constant<std::int64_t, 0>{});
  }
}

// Calls f with std::integral_constant<bool, a> and <bool, b>, so that each
// combination of a pass's options compiles into its own loop.
template <class F>
void with_flags(bool a, bool b, const F& f) {
  using Yes = std::true_type;
  using No = std::false_type;
  if (a) {
    b ? f(Yes{}, Yes{}) : f(Yes{}, No{});
  } else {
    b ? f(No{}, Yes{}) : f(No{}, No{});
  }
}

// f(i, c) for every element i = r * channels + c, rows split over threads.
template <std::int64_t kChannels, class F>
void for_each_element(std::int64_t m, std::int64_t channels, const F& f) {
  const std::int64_t fixed = kChannels > 0 ? kChannels : channels;
  parallel_for(0, m, std::max<std::int64_t>(1, kElementwiseGrain / channels), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t r = lo; r < hi; ++r)
      for (std::int64_t c = 0; c < fixed; ++c) f(r * fixed + c, static_cast<std::size_t>(c));
  });
}

}  // namespace mg::kernels
