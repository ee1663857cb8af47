// Joining and indexing ops. Their gradients pair up: index_select with
// index_add, gather with scatter_add, cat with narrow; each pair member is
// the other's backward, so the set is closed under differentiation.
#include <algorithm>

#include "core/dispatch.hpp"
#include "core/kernels/copy.hpp"
#include "core/kernels/elementwise.hpp"
#include "op.hpp"

namespace mg {
namespace {

// [outer, size of dim, inner] for a contiguous tensor.
struct DimSplit {
  std::int64_t outer = 1, size = 1, inner = 1;
};
DimSplit split_at(const Shape& shape, std::int64_t dim) {
  DimSplit s;
  for (std::int64_t d = 0; d < static_cast<std::int64_t>(shape.size()); ++d)
    (d < dim ? s.outer : d == dim ? s.size : s.inner) *= shape[d];
  return s;
}

// The indices as a contiguous int64 buffer, each checked against `bound`.
Tensor checked_index(const Tensor& index, std::int64_t bound, std::int64_t dim, const char* op) {
  MG_CHECK(index.defined(), "{}: the index is undefined", op);
  MG_CHECK(index.dtype() == DType::Int64, "{}: expected an int64 index, got {}", op, dtype_name(index.dtype()));
  Tensor flat = index.contiguous();
  const std::int64_t* p = flat.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < flat.numel(); ++i)
    MG_CHECK(p[i] >= 0 && p[i] < bound, "{}: index {} is out of range for dim {} of size {}", op, p[i], dim, bound);
  return flat;
}

Tensor vector_index(const Tensor& index, const char* op) {
  MG_CHECK(index.defined() && index.dim() <= 1, "{}: expected a 1-D index, got shape {}", op,
           index.defined() ? to_string(index.shape()) : "undefined");
  return index.reshape({-1});
}

// The offset in a contiguous tensor of `shape` of the element at the same
// coordinates as `flat` in `index_shape`, but at `position` along `dim`.
std::int64_t remapped_offset(std::int64_t flat, const Shape& index_shape, const Shape& shape, std::int64_t dim,
                             std::int64_t position) {
  std::int64_t offset = 0, stride = 1;
  for (std::int64_t d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d) {
    const std::int64_t coordinate = flat % index_shape[d];
    flat /= index_shape[d];
    offset += (d == dim ? position : coordinate) * stride;
    stride *= shape[d];
  }
  return offset;
}

// A contiguous copy of `t` in `dtype`, with no history.
Tensor contiguous_copy(const Tensor& t, DType dtype) {
  Tensor out = Tensor::empty(t.shape(), dtype);
  kernels::copy(*out.impl(), *t.impl());
  return out;
}

void check_index_shape(const Tensor& x, std::int64_t dim, const Tensor& index, const char* op) {
  MG_CHECK(index.dim() == x.dim(), "{}: index of shape {} must have as many dims as the tensor of shape {}", op,
           to_string(index.shape()), to_string(x.shape()));
  for (std::int64_t d = 0; d < x.dim(); ++d)
    MG_CHECK(d == dim || index.shape()[d] <= x.shape()[d],
             "{}: index of shape {} is larger than the tensor of shape {} in dim {}", op, to_string(index.shape()),
             to_string(x.shape()), d);
}

// Strides for cat's result: in the memory order of its largest input, so that
// channels-last activations (and any padding cat onto them) stay channels-last;
// row-major when that input is broadcast.
Shape layout_of_largest(const std::vector<Tensor>& tensors, const Shape& shape) {
  const Tensor& largest = *std::max_element(tensors.begin(), tensors.end(),
                                            [](const Tensor& a, const Tensor& b) { return a.numel() < b.numel(); });
  const auto& strides = largest.strides();
  if (std::find(strides.begin(), strides.end(), 0) != strides.end()) return contiguous_strides(shape);
  return dense_strides_in_order(shape, memory_order(*largest.impl()));
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  MG_CHECK(!tensors.empty(), "cat: expected at least one tensor");
  for (const auto& t : tensors) MG_CHECK(t.defined(), "cat: a tensor is undefined");
  const Tensor& first = tensors.front();
  dim = wrap_dim(dim, first.dim(), "cat");
  MG_CHECK(first.dim() > 0, "cat: zero-dimensional tensors cannot be concatenated; use stack");
  Shape shape = first.shape();
  DType dtype = first.dtype();
  shape[dim] = 0;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const Shape& s = tensors[k].shape();
    bool compatible = s.size() == shape.size();
    for (std::size_t d = 0; compatible && d < s.size(); ++d)
      compatible = static_cast<std::int64_t>(d) == dim || s[d] == first.shape()[d];
    MG_CHECK(compatible, "cat: tensor {} has shape {}, which does not match shape {} except in dim {}", k, to_string(s),
             to_string(first.shape()), dim);
    shape[dim] += s[dim];
    dtype = promote(dtype, tensors[k].dtype());
  }
  Tensor out = empty_with_strides(shape, layout_of_largest(tensors, shape), dtype);
  std::vector<std::int64_t> sizes;
  std::int64_t offset = 0;
  {
    NoGradGuard no_grad;
    for (const auto& t : tensors) {
      out.narrow(dim, offset, t.shape()[dim]).copy_(t);
      sizes.push_back(t.shape()[dim]);
      offset += sizes.back();
    }
  }
  return record("cat", tensors, out, [dim, sizes](const BackwardArgs& in) {
    Grads grads(sizes.size());
    std::int64_t start = 0;
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      if (in.needs(k)) grads[k] = in.grad.narrow(dim, start, sizes[k]);
      start += sizes[k];
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  MG_CHECK(!tensors.empty(), "stack: expected at least one tensor");
  for (std::size_t k = 0; k < tensors.size(); ++k)
    MG_CHECK(tensors[k].defined() && tensors[k].shape() == tensors[0].shape(),
             "stack: tensor {} has shape {}, expected {} like tensor 0", k,
             tensors[k].defined() ? to_string(tensors[k].shape()) : "undefined", to_string(tensors[0].shape()));
  dim = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (const auto& t : tensors) expanded.push_back(t.unsqueeze(dim));
  return cat(expanded, dim);
}

Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index) {
  MG_CHECK(x.defined(), "index_select: the tensor is undefined");
  dim = wrap_dim(dim, x.dim(), "index_select");
  const Tensor idx = vector_index(index, "index_select");
  const Shape& xs = x.shape();
  const std::int64_t bound = x.dim() == 0 ? 1 : xs[dim];
  const Tensor flat_index = checked_index(idx, bound, dim, "index_select");
  Shape shape = xs;
  if (x.dim() > 0) shape[dim] = idx.numel();
  const Tensor src = x.contiguous();
  Tensor out = Tensor::empty(shape, x.dtype());
  const DimSplit s = split_at(xs, dim);
  const std::int64_t* ip = flat_index.data_ptr<std::int64_t>();
  const std::int64_t n = idx.numel();
  MG_DISPATCH_ALL(x.dtype(), [&] {
    const scalar_t* in = src.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    for (std::int64_t a = 0; a < s.outer; ++a)
      for (std::int64_t k = 0; k < n; ++k)
        std::copy_n(in + (a * s.size + ip[k]) * s.inner, s.inner, o + (a * n + k) * s.inner);
  });
  const Shape input_shape = xs;
  return record("index_select", {x}, out, [input_shape, dim, flat_index](const BackwardArgs& in) {
    return Grads{index_add(zeros(input_shape, in.grad.dtype()), dim, flat_index, in.grad)};
  });
}

Tensor index_add(const Tensor& base, std::int64_t dim, const Tensor& index, const Tensor& src) {
  MG_CHECK(base.defined() && src.defined(), "index_add: an operand is undefined");
  dim = wrap_dim(dim, base.dim(), "index_add");
  const Tensor idx = vector_index(index, "index_add");
  const Tensor flat_index = checked_index(idx, base.dim() == 0 ? 1 : base.shape()[dim], dim, "index_add");
  Shape expected = base.shape();
  if (base.dim() > 0) expected[dim] = idx.numel();
  MG_CHECK(src.shape() == expected, "index_add: source of shape {} does not match the expected {}",
           to_string(src.shape()), to_string(expected));
  const DType dtype = promote(base.dtype(), src.dtype());
  Tensor out = contiguous_copy(base, dtype);
  const Tensor s_data = kernels::as_dtype(src, dtype).contiguous();
  const DimSplit s = split_at(base.shape(), dim);
  const std::int64_t* ip = flat_index.data_ptr<std::int64_t>();
  const std::int64_t n = idx.numel();
  MG_DISPATCH_ALL(dtype, [&] {
    const scalar_t* in = s_data.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    for (std::int64_t a = 0; a < s.outer; ++a)
      for (std::int64_t k = 0; k < n; ++k) {
        scalar_t* dst = o + (a * s.size + ip[k]) * s.inner;
        const scalar_t* from = in + (a * n + k) * s.inner;
        for (std::int64_t i = 0; i < s.inner; ++i) dst[i] += from[i];
      }
  });
  return record("index_add", {base, src}, out, [dim, flat_index](const BackwardArgs& in) {
    return Grads{in.grad, in.needs(1) ? index_select(in.grad, dim, flat_index) : Tensor()};
  });
}

Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index) {
  MG_CHECK(x.defined(), "gather: the tensor is undefined");
  dim = wrap_dim(dim, x.dim(), "gather");
  MG_CHECK(index.defined(), "gather: the index is undefined");
  check_index_shape(x, dim, index, "gather");
  const Tensor flat_index = checked_index(index, x.dim() == 0 ? 1 : x.shape()[dim], dim, "gather");
  const Tensor src = x.contiguous();
  Tensor out = Tensor::empty(index.shape(), x.dtype());
  const std::int64_t* ip = flat_index.data_ptr<std::int64_t>();
  MG_DISPATCH_ALL(x.dtype(), [&] {
    const scalar_t* in = src.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    for (std::int64_t j = 0; j < flat_index.numel(); ++j)
      o[j] = in[remapped_offset(j, index.shape(), x.shape(), dim, ip[j])];
  });
  const Shape input_shape = x.shape();
  return record("gather", {x}, out, [input_shape, dim, flat_index](const BackwardArgs& in) {
    return Grads{scatter_add(zeros(input_shape, in.grad.dtype()), dim, flat_index, in.grad)};
  });
}

Tensor scatter_add(const Tensor& base, std::int64_t dim, const Tensor& index, const Tensor& src) {
  MG_CHECK(base.defined() && src.defined() && index.defined(), "scatter_add: an operand is undefined");
  dim = wrap_dim(dim, base.dim(), "scatter_add");
  check_index_shape(base, dim, index, "scatter_add");
  MG_CHECK(src.shape() == index.shape(), "scatter_add: source of shape {} must match the index shape {}",
           to_string(src.shape()), to_string(index.shape()));
  const Tensor flat_index = checked_index(index, base.dim() == 0 ? 1 : base.shape()[dim], dim, "scatter_add");
  const DType dtype = promote(base.dtype(), src.dtype());
  Tensor out = contiguous_copy(base, dtype);
  const Tensor s_data = kernels::as_dtype(src, dtype).contiguous();
  const std::int64_t* ip = flat_index.data_ptr<std::int64_t>();
  MG_DISPATCH_ALL(dtype, [&] {
    const scalar_t* in = s_data.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    for (std::int64_t j = 0; j < flat_index.numel(); ++j)
      o[remapped_offset(j, index.shape(), base.shape(), dim, ip[j])] += in[j];
  });
  return record("scatter_add", {base, src}, out, [dim, flat_index](const BackwardArgs& in) {
    return Grads{in.grad, in.needs(1) ? gather(in.grad, dim, flat_index) : Tensor()};
  });
}

}  // namespace mg
