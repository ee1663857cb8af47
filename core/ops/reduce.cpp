// Reductions. Every kernel sees the input as [outer, reduced, inner]
// (contiguous), so one loop shape serves any set of dims. Float sums
// accumulate in double.
#include <algorithm>
#include <limits>
#include <vector>

#include "core/dispatch.hpp"
#include "core/parallel.hpp"
#include "core/profiling.hpp"
#include "op.hpp"

namespace mg {
namespace {

template <class T>
using Accumulator = std::conditional_t<std::is_floating_point_v<T>, double, T>;

// The input laid out as [outer, reduced, inner] with a contiguous buffer.
struct ReduceView {
  Tensor data;
  std::int64_t outer = 1, reduced = 1, inner = 1;
  Shape keepdim_shape;  // the result's shape with reduced dims kept as 1
  Shape out_strides;    // how a kernel writing [outer, inner] in order lays out keepdim_shape
};

std::vector<std::int64_t> normalize_dims(const std::vector<std::int64_t>& dims, std::int64_t ndim, const char* op) {
  std::vector<std::int64_t> out;
  if (dims.empty()) {
    for (std::int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (std::int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  MG_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), "{}: dim repeats in {}", op, to_string(dims));
  if (ndim == 0) out.clear();
  return out;
}

// When x is dense and the reduced dims are adjacent in its memory order
// (any contiguous or channels-last tensor reduced over a block of dims), the
// data is used in place; otherwise a permuted copy puts them last.
bool view_in_place(const Tensor& x, const std::vector<std::int64_t>& dims, ReduceView& view) {
  if (!is_dense(*x.impl())) return false;
  int phase = 0;  // 0: before the reduced block, 1: inside, 2: after
  for (std::size_t d : memory_order(*x.impl())) {
    const std::int64_t size = x.shape()[d];
    if (size == 1) continue;
    const bool reduced = std::binary_search(dims.begin(), dims.end(), static_cast<std::int64_t>(d));
    if (reduced && phase == 2) return false;
    if (reduced) phase = 1;
    if (!reduced && phase == 1) phase = 2;
    (phase == 0 ? view.outer : phase == 1 ? view.reduced : view.inner) *= size;
  }
  view.data = x;
  // The kept dims come out in x's memory order.
  view.out_strides = Shape(x.shape().size(), 1);
  std::int64_t stride = 1;
  const auto order = memory_order(*x.impl());
  for (std::size_t i = order.size(); i-- > 0;) {
    view.out_strides[order[i]] = stride;
    stride *= view.keepdim_shape[order[i]];
  }
  return true;
}

ReduceView reduce_view(const Tensor& x, const std::vector<std::int64_t>& dims) {
  NoGradGuard no_grad;
  ReduceView view;
  view.keepdim_shape = x.shape();
  for (std::int64_t d : dims) view.keepdim_shape[d] = 1;
  if (dims.empty() || view_in_place(x, dims, view)) {
    if (dims.empty()) {
      view.data = x.contiguous();
      view.reduced = x.numel();
      view.out_strides = contiguous_strides(view.keepdim_shape);
    }
    return view;
  }
  view = ReduceView{Tensor(), 1, 1, 1, view.keepdim_shape, contiguous_strides(view.keepdim_shape)};
  Shape order;
  for (std::int64_t d = 0; d < x.dim(); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) {
      order.push_back(d);
      view.outer *= x.shape()[d];
    }
  for (std::int64_t d : dims) {
    order.push_back(d);
    view.reduced *= x.shape()[d];
  }
  view.data = x.permute(order).contiguous();
  return view;
}

// Sum of n contiguous values. `omp simd` lets the compiler keep several
// partial sums in vector lanes; the order is fixed by the binary, not by
// the data or thread count.
template <class T>
Accumulator<T> sum_run(const T* in, std::int64_t n) {
  Accumulator<T> acc = 0;
#pragma omp simd reduction(+ : acc)
  for (std::int64_t r = 0; r < n; ++r) acc += in[r];
  return acc;
}

// Long rows are summed in chunks of this many values (in parallel when
// there are few rows), then the chunk sums in order: the same result for
// every thread count.
constexpr std::int64_t kSumChunk = 1 << 15;

// out[o] = sum over r of in[o, r]
template <class T>
void sum_rows(const T* in, T* out, std::int64_t outer, std::int64_t reduced) {
  using Acc = Accumulator<T>;
  const std::int64_t chunks = (reduced + kSumChunk - 1) / kSumChunk;
  if (chunks <= 1 || outer >= 8) {
    parallel_for(0, outer, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(reduced, 1)),
                 [&](std::int64_t lo, std::int64_t hi) {
                   for (std::int64_t o = lo; o < hi; ++o) {
                     const T* row = in + o * reduced;
                     Acc acc = 0;
                     for (std::int64_t c = 0; c < reduced; c += kSumChunk)
                       acc += sum_run(row + c, std::min(kSumChunk, reduced - c));
                     out[o] = static_cast<T>(acc);
                   }
                 });
    return;
  }
  std::vector<Acc> partial(static_cast<std::size_t>(outer * chunks));
  parallel_for(0, outer * chunks, grain_for(kSumChunk), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t task = lo; task < hi; ++task) {
      const std::int64_t o = task / chunks, c = task % chunks * kSumChunk;
      partial[static_cast<std::size_t>(task)] = sum_run(in + o * reduced + c, std::min(kSumChunk, reduced - c));
    }
  });
  for (std::int64_t o = 0; o < outer; ++o) {
    Acc acc = 0;
    for (std::int64_t c = 0; c < chunks; ++c) acc += partial[static_cast<std::size_t>(o * chunks + c)];
    out[o] = static_cast<T>(acc);
  }
}

// out[o, i] = sum over r of in[o, r, i]
template <class T>
void sum_kernel(const T* in, T* out, std::int64_t outer, std::int64_t reduced, std::int64_t inner) {
  using Acc = Accumulator<T>;
  if (inner == 1) {
    sum_rows(in, out, outer, reduced);
    return;
  }
  constexpr std::int64_t kBlock = 256;  // inner columns accumulated together
  const std::int64_t blocks = (inner + kBlock - 1) / kBlock;
  const std::int64_t grain =
      std::max<std::int64_t>(1, kElementwiseGrain / (kBlock * std::max<std::int64_t>(reduced, 1)));
  parallel_for(0, outer * blocks, grain, [&](std::int64_t lo, std::int64_t hi) {
    Acc acc[kBlock];
    for (std::int64_t task = lo; task < hi; ++task) {
      const std::int64_t o = task / blocks, i0 = task % blocks * kBlock;
      const std::int64_t width = std::min(kBlock, inner - i0);
      std::fill(acc, acc + width, Acc(0));
      for (std::int64_t r = 0; r < reduced; ++r) {
        const T* row = in + (o * reduced + r) * inner + i0;
        for (std::int64_t i = 0; i < width; ++i) acc[i] += row[i];
      }
      for (std::int64_t i = 0; i < width; ++i) out[o * inner + i0 + i] = static_cast<T>(acc[i]);
    }
  });
}

// The result tensor, in its final shape, laid out so that a kernel writing
// [outer, inner] in order fills it.
Tensor allocate_result(const ReduceView& view, const std::vector<std::int64_t>& dims, bool keepdim, DType dtype) {
  Tensor out = Tensor::empty(view.keepdim_shape, dtype);
  out.impl()->strides = view.out_strides;
  if (keepdim) return out;
  Shape shape, strides;
  for (std::size_t d = 0; d < view.keepdim_shape.size(); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), static_cast<std::int64_t>(d))) {
      shape.push_back(view.keepdim_shape[d]);
      strides.push_back(view.out_strides[d]);
    }
  return Tensor(make_view_impl(*out.impl(), shape, strides, 0));
}

// Extreme value (max or min) and its index along one dim. NaN wins, as in PyTorch.
template <class T, bool kMax>
void extreme_kernel(const T* in, T* values, std::int64_t* indices, std::int64_t outer, std::int64_t reduced,
                    std::int64_t inner) {
  parallel_for(0, outer * inner, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(reduced, 1)),
               [&](std::int64_t lo, std::int64_t hi) {
                 for (std::int64_t task = lo; task < hi; ++task) {
                   const std::int64_t o = task / inner, i = task % inner;
                   const T* column = in + o * reduced * inner + i;
                   T best = column[0];
                   std::int64_t best_index = 0;
                   for (std::int64_t r = 1; r < reduced && best == best; ++r) {
                     const T v = column[r * inner];
                     if (v != v || (kMax ? v > best : v < best)) {
                       best = v;
                       best_index = r;
                     }
                   }
                   if (values) values[task] = best;
                   if (indices) indices[task] = best_index;
                 }
               });
}

// Values and indices of the max (or min) along `dim`.
template <bool kMax>
std::pair<Tensor, Tensor> extreme(const Tensor& x, std::int64_t dim, bool keepdim, const char* op) {
  MG_CHECK(x.defined(), "{}: the tensor is undefined", op);
  const std::vector<std::int64_t> dims = normalize_dims({dim}, x.dim(), op);
  const ReduceView view = reduce_view(x, dims);
  MG_CHECK(view.reduced > 0, "{}: cannot reduce over an empty dim of shape {}", op, to_string(x.shape()));
  Tensor values = allocate_result(view, dims, keepdim, x.dtype());
  Tensor indices = allocate_result(view, dims, keepdim, DType::Int64);
  MG_DISPATCH_ALL(x.dtype(), [&] {
    extreme_kernel<scalar_t, kMax>(view.data.data_ptr<scalar_t>(), values.data_ptr<scalar_t>(),
                                   indices.data_ptr<std::int64_t>(), view.outer, view.reduced, view.inner);
  });
  return {values, indices};
}

// The gradient of a max/min along `dim` goes to the selected index.
Tensor extreme_along(const Tensor& x, std::int64_t dim, bool keepdim, bool is_max) {
  const auto result = is_max ? extreme<true>(x, dim, keepdim, "max") : extreme<false>(x, dim, keepdim, "min");
  const Tensor& values = result.first;
  const Tensor indices = result.second;
  const std::int64_t d = x.dim() == 0 ? 0 : wrap_dim(dim, x.dim(), "max");
  const Shape input_shape = x.shape();
  const bool scalar_input = x.dim() == 0;
  return record(is_max ? "max" : "min", {x}, values, [=](const BackwardArgs& in) {
    if (scalar_input) return Grads{in.grad};
    const Tensor grad = keepdim ? in.grad : in.grad.unsqueeze(d);
    const Tensor index = keepdim ? indices : indices.unsqueeze(d);
    return Grads{scatter_add(zeros(input_shape, in.grad.dtype()), d, index, grad)};
  });
}

// The gradient of a full max/min is shared evenly by the elements that attain it.
Tensor extreme_all(const Tensor& x, bool is_max) {
  MG_CHECK(x.defined() && x.numel() > 0, "{}: expected a non-empty tensor", is_max ? "max" : "min");
  Tensor value;
  {
    NoGradGuard no_grad;
    value = extreme_along(x.reshape({-1}), 0, false, is_max);
  }
  return record(
      is_max ? "max" : "min", {x}, value,
      [x](const BackwardArgs& in) {
        const Tensor& v = in.output();
        const Tensor mask = v.item<double>() != v.item<double>() ? ne(x, x) : eq(x, v.detach());
        return Grads{mask * (in.grad / sum(mask))};
      },
      autograd::Save::Output);
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims_in, bool keepdim) {
  MG_CHECK(x.defined(), "sum: the tensor is undefined");
  const std::vector<std::int64_t> dims = normalize_dims(dims_in, x.dim(), "sum");
  const ReduceView view = reduce_view(x, dims);
  Tensor out = allocate_result(view, dims, keepdim, x.dtype());
  const profiler::Scope scope(profiler::Kind::Elementwise, 0, profiler::bytes_of(view.data, out));
  MG_DISPATCH_ALL(x.dtype(), [&] {
    sum_kernel<scalar_t>(view.data.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), view.outer, view.reduced,
                         view.inner);
  });
  const Shape input_shape = x.shape();
  const Shape keepdim_shape = view.keepdim_shape;
  return record("sum", {x}, out, [input_shape, keepdim_shape](const BackwardArgs& in) {
    return Grads{in.grad.reshape(keepdim_shape).expand(input_shape)};
  });
}

Tensor sum(const Tensor& x) { return sum(x, std::vector<std::int64_t>{}, false); }
Tensor sum(const Tensor& x, std::int64_t dim, bool keepdim) { return sum(x, std::vector<std::int64_t>{dim}, keepdim); }

Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims_in, bool keepdim) {
  MG_CHECK(x.defined(), "mean: the tensor is undefined");
  MG_CHECK(is_floating(x.dtype()), "mean: expected a floating tensor, got {}", dtype_name(x.dtype()));
  std::int64_t count = 1;
  for (std::int64_t d : normalize_dims(dims_in, x.dim(), "mean")) count *= x.shape()[d];
  return sum(x, dims_in, keepdim) / static_cast<double>(count);
}

Tensor mean(const Tensor& x) { return mean(x, std::vector<std::int64_t>{}, false); }
Tensor mean(const Tensor& x, std::int64_t dim, bool keepdim) {
  return mean(x, std::vector<std::int64_t>{dim}, keepdim);
}

Tensor max(const Tensor& x) { return extreme_all(x, true); }
Tensor min(const Tensor& x) { return extreme_all(x, false); }
Tensor max(const Tensor& x, std::int64_t dim, bool keepdim) { return extreme_along(x, dim, keepdim, true); }
Tensor min(const Tensor& x, std::int64_t dim, bool keepdim) { return extreme_along(x, dim, keepdim, false); }

Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim) {
  return extreme<true>(x, dim, keepdim, "argmax").second;
}
Tensor argmin(const Tensor& x, std::int64_t dim, bool keepdim) {
  return extreme<false>(x, dim, keepdim, "argmin").second;
}
Tensor argmax(const Tensor& x) {
  MG_CHECK(x.defined(), "argmax: the tensor is undefined");
  return argmax(x.reshape({-1}), 0, false);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  MG_CHECK(x.defined(), "sum_to: the tensor is undefined");
  if (x.shape() == shape) return x;
  MG_CHECK(broadcast_shapes(shape, x.shape(), "sum_to") == x.shape(), "sum_to: shape {} does not broadcast to {}",
           to_string(shape), to_string(x.shape()));
  const std::size_t lead = x.shape().size() - shape.size();
  std::vector<std::int64_t> dims;
  for (std::size_t d = 0; d < x.shape().size(); ++d)
    if (d < lead || (shape[d - lead] == 1 && x.shape()[d] != 1)) dims.push_back(static_cast<std::int64_t>(d));
  if (dims.empty()) return x.reshape(shape);
  return sum(x, dims, true).reshape(shape);
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    MG_CHECK(da == db || da == 1 || db == 1, "{}: shapes {} and {} do not broadcast (dim {}: {} vs {})", op,
             to_string(a), to_string(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace mg
