#pragma once
// map1/map2/map3: apply a scalar function elementwise over broadcast operands
// into a fresh contiguous tensor. The function is a generic lambda so one
// definition serves every dtype; contiguous and scalar-broadcast runs get
// their own loops so the compiler can vectorise them. No autograd here.
#include <cstdint>

#include "core/dispatch.hpp"
#include "core/profiling.hpp"
#include "loop.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::kernels {

// `x` converted to `dtype` (no history), or `x` itself when it already is.
Tensor as_dtype(const Tensor& x, DType dtype);

// One run of n elements: p[0] the output, p[1...] the operands, s their
// strides in bytes. The output run is mostly dense; a strided one (adding
// into a column of a gradient sum, or runs of a short innermost dim swapped
// with the next, see make_loop) takes the general loop.
template <class T, class F>
void map1_run(char* const* p, const std::int64_t* s, std::int64_t n, const F& f) {
  auto* out = reinterpret_cast<T*>(p[0]);
  if (s[0] != sizeof(T)) {
    for (std::int64_t i = 0; i < n; ++i)
      *reinterpret_cast<T*>(p[0] + i * s[0]) = f(*reinterpret_cast<const T*>(p[1] + i * s[1]));
  } else if (s[1] == sizeof(T)) {
    const auto* a = reinterpret_cast<const T*>(p[1]);
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i]);
  } else {
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(*reinterpret_cast<const T*>(p[1] + i * s[1]));
  }
}

template <class F>
Tensor map1(const Tensor& x, DType dtype, const F& f) {
  const Tensor a = as_dtype(x, dtype);
  Tensor out = empty_in_layout_of(a.shape(), dtype, {&a});
  const profiler::Scope scope(profiler::Kind::Elementwise, 0, profiler::bytes_of(a, out));
  MG_DISPATCH_ALL(dtype, [&] {
    const auto loop = make_loop<2>(a.shape(), {out.impl()->data(), a.impl()->data()}, {out.strides(), a.strides()},
                                   {sizeof(scalar_t), sizeof(scalar_t)});
    run_loop(loop, [&f](char* const* p, const std::int64_t* s, std::int64_t n) { map1_run<scalar_t>(p, s, n, f); });
  });
  return out;
}

template <class T, class F>
void map2_run(char* const* p, const std::int64_t* s, std::int64_t n, const F& f) {
  auto* out = reinterpret_cast<T*>(p[0]);
  const auto* a = reinterpret_cast<const T*>(p[1]);
  const auto* b = reinterpret_cast<const T*>(p[2]);
  constexpr std::int64_t e = sizeof(T);
  if (s[0] != e) {
    for (std::int64_t i = 0; i < n; ++i)
      *reinterpret_cast<T*>(p[0] + i * s[0]) =
          f(*reinterpret_cast<const T*>(p[1] + i * s[1]), *reinterpret_cast<const T*>(p[2] + i * s[2]));
  } else if (s[1] == e && s[2] == e) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (s[1] == e && s[2] == 0) {
    const T bv = *b;
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], bv);
  } else if (s[1] == 0 && s[2] == e) {
    const T av = *a;
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(av, b[i]);
  } else {
    for (std::int64_t i = 0; i < n; ++i)
      out[i] = f(*reinterpret_cast<const T*>(p[1] + i * s[1]), *reinterpret_cast<const T*>(p[2] + i * s[2]));
  }
}

template <class F>
Tensor map2(const Tensor& x, const Tensor& y, DType dtype, const char* op, const F& f) {
  const Tensor a = as_dtype(x, dtype), b = as_dtype(y, dtype);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = empty_in_layout_of(shape, dtype, {&a, &b});
  const profiler::Scope scope(profiler::Kind::Elementwise, 0, profiler::bytes_of(a, b, out));
  MG_DISPATCH_ALL(dtype, [&] {
    constexpr std::int64_t e = sizeof(scalar_t);
    const auto loop = make_loop<3>(
        shape, {out.impl()->data(), a.impl()->data(), b.impl()->data()},
        {out.strides(), broadcast_strides(*a.impl(), shape), broadcast_strides(*b.impl(), shape)}, {e, e, e});
    run_loop(loop, [&f](char* const* p, const std::int64_t* s, std::int64_t n) { map2_run<scalar_t>(p, s, n, f); });
  });
  return out;
}

template <class F>
Tensor map3(const Tensor& x, const Tensor& y, const Tensor& z, DType dtype, const char* op, const F& f) {
  const Tensor a = as_dtype(x, dtype), b = as_dtype(y, dtype), c = as_dtype(z, dtype);
  const Shape shape = broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), op), c.shape(), op);
  Tensor out = empty_in_layout_of(shape, dtype, {&b, &c, &a});
  const profiler::Scope scope(profiler::Kind::Elementwise, 0, profiler::bytes_of(a, b, c, out));
  MG_DISPATCH_ALL(dtype, [&] {
    constexpr std::int64_t e = sizeof(scalar_t);
    const auto loop = make_loop<4>(shape, {out.impl()->data(), a.impl()->data(), b.impl()->data(), c.impl()->data()},
                                   {out.strides(), broadcast_strides(*a.impl(), shape),
                                    broadcast_strides(*b.impl(), shape), broadcast_strides(*c.impl(), shape)},
                                   {e, e, e, e});
    run_loop(loop, [&f](char* const* p, const std::int64_t* s, std::int64_t n) {
      auto* out_data = reinterpret_cast<scalar_t*>(p[0]);
      if (s[0] != e) {
        for (std::int64_t i = 0; i < n; ++i)
          *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = f(*reinterpret_cast<const scalar_t*>(p[1] + i * s[1]),
                                                            *reinterpret_cast<const scalar_t*>(p[2] + i * s[2]),
                                                            *reinterpret_cast<const scalar_t*>(p[3] + i * s[3]));
        return;
      }
      if (s[1] == e && s[2] == e && s[3] == e) {  // the common dense run, vectorised
        const auto* a_data = reinterpret_cast<const scalar_t*>(p[1]);
        const auto* b_data = reinterpret_cast<const scalar_t*>(p[2]);
        const auto* c_data = reinterpret_cast<const scalar_t*>(p[3]);
        for (std::int64_t i = 0; i < n; ++i) out_data[i] = f(a_data[i], b_data[i], c_data[i]);
        return;
      }
      for (std::int64_t i = 0; i < n; ++i)
        out_data[i] =
            f(*reinterpret_cast<const scalar_t*>(p[1] + i * s[1]), *reinterpret_cast<const scalar_t*>(p[2] + i * s[2]),
              *reinterpret_cast<const scalar_t*>(p[3] + i * s[3]));
    });
  });
  return out;
}

}  // namespace mg::kernels
