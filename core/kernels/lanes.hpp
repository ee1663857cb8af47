#pragma once
// Fixed-width vectors in GCC's vector extension. The compiler maps them to
// whatever vector instructions the build targets (AVX-512, AVX2, SSE), for
// loops whose plain form it compiles badly: per-channel sums it unrolled
// into scalar code, a running maximum it kept behind masked stores that the
// next load had to wait for.
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

namespace mg::kernels {

template <class T, int N>
struct Lanes;
#define MG_LANES(T, N)                                          \
  template <>                                                   \
  struct Lanes<T, N> {                                          \
    typedef T type __attribute__((vector_size(N * sizeof(T)))); \
  };
MG_LANES(float, 8)
MG_LANES(double, 8)
MG_LANES(float, 16)
MG_LANES(double, 16)
MG_LANES(std::int32_t, 16)
MG_LANES(std::int64_t, 16)
#undef MG_LANES

// N values of T in one vector.
template <class T, int N>
using LanesOf = typename Lanes<T, N>::type;

// `value` in every lane of V (or V's value, when V is a scalar).
template <class V, class T>
V splat(T value) {
  if constexpr (std::is_arithmetic_v<V>) {
    return static_cast<V>(value);
  } else {
    return V{} + static_cast<std::remove_cvref_t<decltype(std::declval<V>()[0])>>(value);
  }
}

template <int N, class T>
LanesOf<T, N> load_lanes(const T* p) {
  LanesOf<T, N> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class T, class V>
void store_lanes(T* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace mg::kernels
