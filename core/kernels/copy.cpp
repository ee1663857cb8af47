#include "copy.hpp"

#include <cstring>

#include "core/check.hpp"
#include "core/dispatch.hpp"
#include "core/profiling.hpp"
#include "elementwise.hpp"
#include "loop.hpp"

namespace mg::kernels {

Shape broadcast_strides(const TensorImpl& t, const Shape& shape) {
  Shape strides(shape.size(), 0);
  const std::size_t lead = shape.size() - t.shape.size();
  for (std::size_t d = 0; d < t.shape.size(); ++d)
    if (t.shape[d] != 1) strides[lead + d] = t.strides[d];
  return strides;
}

void fill(TensorImpl& dst, double value) {
  MG_DISPATCH_ALL(dst.dtype, [&] {
    const auto v = static_cast<scalar_t>(value);
    const auto loop = make_loop<1>(dst.shape, {dst.data()}, {dst.strides}, {sizeof(scalar_t)});
    run_loop(loop, [v](char* const* p, const std::int64_t* s, std::int64_t n) {
      auto* out = reinterpret_cast<scalar_t*>(p[0]);
      if (s[0] == sizeof(scalar_t)) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = v;
      } else {
        for (std::int64_t i = 0; i < n; ++i) *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = v;
      }
    });
  });
}

namespace {
template <class To, class From>
void copy_typed(TensorImpl& dst, const TensorImpl& src) {
  const auto loop = make_loop<2>(dst.shape, {dst.data(), src.data()}, {dst.strides, broadcast_strides(src, dst.shape)},
                                 {sizeof(To), sizeof(From)});
  run_loop(loop, [](char* const* p, const std::int64_t* s, std::int64_t n) {
    if (s[0] == sizeof(To) && s[1] == sizeof(From)) {
      auto* out = reinterpret_cast<To*>(p[0]);
      const auto* in = reinterpret_cast<const From*>(p[1]);
      if constexpr (std::is_same_v<To, From>) {
        std::memcpy(out, in, static_cast<std::size_t>(n) * sizeof(To));
      } else {
        for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<To>(in[i]);
      }
    } else {
      for (std::int64_t i = 0; i < n; ++i)
        *reinterpret_cast<To*>(p[0] + i * s[0]) = static_cast<To>(*reinterpret_cast<const From*>(p[1] + i * s[1]));
    }
  });
}

template <class To>
void copy_into(TensorImpl& dst, const TensorImpl& src) {
  MG_DISPATCH_ALL(src.dtype, [&] { copy_typed<To, scalar_t>(dst, src); });
}
}  // namespace

void copy(TensorImpl& dst, const TensorImpl& src) {
  const profiler::Scope scope(profiler::Kind::Reorder, 0,
                              static_cast<double>(dst.numel * static_cast<std::int64_t>(element_size(dst.dtype)) +
                                                  src.numel * static_cast<std::int64_t>(element_size(src.dtype))));
  MG_DISPATCH_ALL(dst.dtype, [&] { copy_into<scalar_t>(dst, src); });
}

Tensor as_dtype(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype);
  copy(*out.impl(), *x.impl());
  return out;
}

void add_into(TensorImpl& dst, const TensorImpl& src) {
  MG_CHECK(dst.dtype == src.dtype, "add_into: dtypes differ ({} and {})", dtype_name(dst.dtype), dtype_name(src.dtype));
  const profiler::Scope scope(profiler::Kind::Elementwise, 0,
                              static_cast<double>(3 * dst.numel * static_cast<std::int64_t>(element_size(dst.dtype))));
  MG_DISPATCH_ALL(dst.dtype, [&] {
    constexpr std::int64_t e = sizeof(scalar_t);
    const auto loop = make_loop<3>(dst.shape, {dst.data(), dst.data(), src.data()},
                                   {dst.strides, dst.strides, broadcast_strides(src, dst.shape)}, {e, e, e});
    run_loop(loop, [](char* const* p, const std::int64_t* s, std::int64_t n) {
      map2_run<scalar_t>(p, s, n, [](auto x, auto y) { return x + y; });
    });
  });
}

}  // namespace mg::kernels
