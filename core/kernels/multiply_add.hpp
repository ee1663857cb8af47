#pragma once
// a * b + c rounded once where the CPU has FMA. torch's CPU kernels for
// add(alpha=), addcmul and lerp round this way on such CPUs
// (tests/optim/fixtures/probe_torch_rounding.py shows it), so the
// optimizers (optim/rule.hpp) and mg::fma use it to match torch bit for bit.
// The build never fuses on its own (-ffp-contract=off); without FMA
// (portable builds) it rounds twice, like torch's own non-FMA kernels.
#include <cmath>
#include <type_traits>

namespace mg::kernels {

template <class T>
requires std::is_arithmetic_v<T>
[[gnu::always_inline]] inline T multiply_add(T a, T b, T c) {
#ifdef __FMA__
  if constexpr (std::is_floating_point_v<T>) return std::fma(a, b, c);
#endif
  return a * b + c;
}

}  // namespace mg::kernels
