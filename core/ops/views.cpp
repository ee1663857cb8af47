// View ops share their input's storage; copies (contiguous, clone, to) do
// not. All are differentiable. The gradient of expand is the identity here:
// the engine sums it back to the input's shape.
#include <numeric>

#include "core/kernels/copy.hpp"
#include "op.hpp"

namespace mg {
namespace {

const TensorImpl& impl_of(const Tensor& t, const char* op) {
  MG_CHECK(t.defined(), "{}: the tensor is undefined", op);
  return *t.impl();
}

Tensor view_of(const TensorImpl& base, Shape shape, Shape strides, std::int64_t offset) {
  return Tensor(make_view_impl(base, std::move(shape), std::move(strides), offset));
}

// Resolves one -1 entry and checks the element count.
Shape infer_shape(const Shape& requested, std::int64_t numel, const Shape& from, const char* op) {
  Shape shape = requested;
  std::int64_t known = 1;
  int infer = -1;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      MG_CHECK(infer < 0, "{}: only one dimension can be -1 in {}", op, to_string(requested));
      infer = static_cast<int>(d);
    } else {
      MG_CHECK(shape[d] >= 0, "{}: invalid size {} in {}", op, shape[d], to_string(requested));
      known *= shape[d];
    }
  }
  if (infer >= 0) {
    MG_CHECK(known != 0 && numel % known == 0, "{}: shape {} is invalid for a tensor of shape {} ({} elements)", op,
             to_string(requested), to_string(from), numel);
    shape[infer] = numel / known;
  }
  MG_CHECK(shape_numel(shape) == numel, "{}: shape {} is invalid for a tensor of shape {} ({} elements)", op,
           to_string(requested), to_string(from), numel);
  return shape;
}

// Writes `grad` into the slice of a zero tensor of `input_shape` laid out as
// `input_layout` (the gradient of slice); its own gradient slices again.
Tensor slice_backward(const Tensor& grad, const Shape& input_shape, const Shape& input_layout, std::int64_t dim,
                      std::int64_t start, std::int64_t end, std::int64_t step) {
  Tensor out = empty_with_strides(input_shape, input_layout, grad.dtype());
  out.zero_();
  {
    NoGradGuard no_grad;
    out.slice(dim, start, end, step).copy_(grad);
  }
  return record("slice_backward", {grad}, out, [dim, start, end, step](const BackwardArgs& in) {
    return Grads{in.grad.slice(dim, start, end, step)};
  });
}

}  // namespace

Tensor Tensor::view(const Shape& requested) const {
  const auto& self = impl_of(*this, "view");
  const Shape shape = infer_shape(requested, self.numel, self.shape, "view");
  MG_CHECK(is_contiguous(), "view: a tensor of shape {} with strides {} is not contiguous; use reshape()",
           mg::to_string(self.shape), mg::to_string(self.strides));
  const Shape input_shape = self.shape;
  Tensor out = view_of(self, shape, contiguous_strides(shape), self.offset);
  return record("view", {*this}, out,
                [input_shape](const BackwardArgs& in) { return Grads{in.grad.reshape(input_shape)}; });
}

Tensor Tensor::reshape(const Shape& shape) const {
  impl_of(*this, "reshape");
  if (is_contiguous()) return view(shape);
  infer_shape(shape, numel(), this->shape(), "reshape");
  return contiguous().view(shape);
}

Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  const std::int64_t n = dim();
  if (n == 0) return reshape({1});
  const std::int64_t s = wrap_dim(start_dim, n, "flatten"), e = wrap_dim(end_dim, n, "flatten");
  MG_CHECK(s <= e, "flatten: start_dim {} comes after end_dim {}", start_dim, end_dim);
  Shape shape(this->shape().begin(), this->shape().begin() + s);
  shape.push_back(
      std::accumulate(this->shape().begin() + s, this->shape().begin() + e + 1, std::int64_t{1}, std::multiplies<>()));
  shape.insert(shape.end(), this->shape().begin() + e + 1, this->shape().end());
  return reshape(shape);
}

Tensor Tensor::permute(const Shape& dims) const {
  const auto& self = impl_of(*this, "permute");
  const std::int64_t n = dim();
  MG_CHECK(static_cast<std::int64_t>(dims.size()) == n, "permute: {} dims given for a tensor of shape {}", dims.size(),
           mg::to_string(self.shape));
  Shape shape(n), strides(n), inverse(n, -1);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t d = wrap_dim(dims[i], n, "permute");
    MG_CHECK(inverse[d] < 0, "permute: dim {} repeats in {}", d, mg::to_string(dims));
    inverse[d] = i;
    shape[i] = self.shape[d];
    strides[i] = self.strides[d];
  }
  Tensor out = view_of(self, shape, strides, self.offset);
  return record("permute", {*this}, out, [inverse](const BackwardArgs& in) { return Grads{in.grad.permute(inverse)}; });
}

Tensor Tensor::transpose(std::int64_t dim0, std::int64_t dim1) const {
  const std::int64_t n = dim();
  Shape order(n);
  std::iota(order.begin(), order.end(), 0);
  if (n > 0) std::swap(order[wrap_dim(dim0, n, "transpose")], order[wrap_dim(dim1, n, "transpose")]);
  return permute(order);
}

Tensor Tensor::t() const {
  MG_CHECK(dim() == 2, "t: expected a 2-D tensor, got shape {}", mg::to_string(shape()));
  return transpose(0, 1);
}

Tensor Tensor::slice(std::int64_t d, std::int64_t start, std::int64_t end, std::int64_t step) const {
  const auto& self = impl_of(*this, "slice");
  d = wrap_dim(d, dim(), "slice");
  MG_CHECK(step > 0, "slice: step must be positive, got {}", step);
  const std::int64_t size = self.shape[d];
  auto clip = [size](std::int64_t i) { return std::clamp(i < 0 ? i + size : i, std::int64_t{0}, size); };
  start = clip(start);
  end = std::max(clip(end), start);
  Shape shape = self.shape, strides = self.strides;
  shape[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  const Shape input_shape = self.shape, input_layout = dense_strides_like(self);
  Tensor out = view_of(self, shape, strides, self.offset + start * self.strides[d]);
  out = record("slice", {*this}, out, [input_shape, input_layout, d, start, end, step](const BackwardArgs& in) {
    return Grads{slice_backward(in.grad, input_shape, input_layout, d, start, end, step)};
  });
  if (const auto& node = out.impl()->grad_fn) node->slice = autograd::Node::Slice{d, start, end, step, input_layout};
  return out;
}

Tensor Tensor::narrow(std::int64_t d, std::int64_t start, std::int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  const std::int64_t size = shape()[d];
  if (start < 0) start += size;
  MG_CHECK(start >= 0 && length >= 0 && start + length <= size,
           "narrow: [{}, {}) is out of range for dim {} of size {}", start, start + length, d, size);
  return slice(d, start, start + length);
}

Tensor Tensor::select(std::int64_t d, std::int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  const std::int64_t size = shape()[d];
  MG_CHECK(index >= -size && index < size, "select: index {} is out of range for dim {} of size {}", index, d, size);
  if (index < 0) index += size;
  return slice(d, index, index + 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& requested) const {
  const auto& self = impl_of(*this, "expand");
  MG_CHECK(requested.size() >= self.shape.size(), "expand: cannot expand shape {} to fewer dims {}",
           mg::to_string(self.shape), mg::to_string(requested));
  const std::size_t lead = requested.size() - self.shape.size();
  Shape shape(requested.size()), strides(requested.size(), 0);
  for (std::size_t d = 0; d < requested.size(); ++d) {
    if (d < lead) {
      MG_CHECK(requested[d] >= 0, "expand: new leading dim {} must be sized, got {}", d, requested[d]);
      shape[d] = requested[d];
      continue;
    }
    const std::int64_t from = self.shape[d - lead];
    const std::int64_t to = requested[d] == -1 ? from : requested[d];
    MG_CHECK(from == to || from == 1, "expand: shape {} cannot be expanded to {} (dim {}: {} vs {})",
             mg::to_string(self.shape), mg::to_string(requested), d, from, to);
    shape[d] = to;
    strides[d] = from == to ? self.strides[d - lead] : 0;
  }
  Tensor out = view_of(self, shape, strides, self.offset);
  return record("expand", {*this}, out, [](const BackwardArgs& in) { return Grads{in.grad}; });
}

Tensor Tensor::squeeze(std::int64_t d) const {
  const auto& self = impl_of(*this, "squeeze");
  if (dim() == 0) return reshape({});
  d = wrap_dim(d, dim(), "squeeze");
  if (self.shape[d] != 1) return *this;
  Shape shape = self.shape, strides = self.strides;
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  const Shape input_shape = self.shape;
  Tensor out = view_of(self, shape, strides, self.offset);
  return record("squeeze", {*this}, out,
                [input_shape](const BackwardArgs& in) { return Grads{in.grad.reshape(input_shape)}; });
}

Tensor Tensor::squeeze() const {
  Tensor out = *this;
  for (std::int64_t d = dim(); d-- > 0;)
    if (shape()[d] == 1) out = out.squeeze(d);
  return out;
}

Tensor Tensor::unsqueeze(std::int64_t d) const {
  const auto& self = impl_of(*this, "unsqueeze");
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape shape = self.shape, strides = self.strides;
  const std::int64_t stride = d < dim() ? self.shape[d] * self.strides[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  const Shape input_shape = self.shape;
  Tensor out = view_of(self, shape, strides, self.offset);
  return record("unsqueeze", {*this}, out,
                [input_shape](const BackwardArgs& in) { return Grads{in.grad.reshape(input_shape)}; });
}

namespace {
Tensor copy_into(const Tensor& source, Tensor out, const char* op) {
  kernels::copy(*out.impl(), *source.impl());
  return record(op, {source}, out, [](const BackwardArgs& in) { return Grads{in.grad}; });
}
}  // namespace

Tensor Tensor::contiguous() const {
  const auto& self = impl_of(*this, "contiguous");
  return is_contiguous() ? *this : copy_into(*this, Tensor::empty(self.shape, self.dtype), "contiguous");
}

bool Tensor::is_channels_last() const {
  const auto& self = impl_of(*this, "is_channels_last");
  if (self.shape.size() != 4) return false;
  const Shape expected = channels_last_strides(self.shape);
  for (std::size_t d = 0; d < 4; ++d)
    if (self.shape[d] != 1 && self.strides[d] != expected[d]) return false;
  return true;
}

Tensor Tensor::channels_last() const {
  const auto& self = impl_of(*this, "channels_last");
  MG_CHECK(self.shape.size() == 4, "channels_last: expected a 4-D (N, C, H, W) tensor, got shape {}",
           mg::to_string(self.shape));
  if (is_channels_last()) return *this;
  Tensor out = Tensor::empty(self.shape, self.dtype);
  out.impl()->strides = channels_last_strides(self.shape);
  return copy_into(*this, out, "channels_last");
}

Tensor Tensor::clone() const {
  impl_of(*this, "clone");
  return copy_into(*this, empty_like(*this), "clone");
}

Tensor Tensor::to(DType dtype) const {
  const auto& self = impl_of(*this, "to");
  if (self.dtype == dtype) return *this;
  Tensor out = Tensor::empty(self.shape, dtype);
  kernels::copy(*out.impl(), self);
  if (!is_floating(dtype)) return out;  // integers carry no gradient
  return record("to", {*this}, out, [](const BackwardArgs& in) { return Grads{in.grad}; });
}

Tensor reshape(const Tensor& x, const Shape& shape) { return x.reshape(shape); }
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) { return x.transpose(dim0, dim1); }
Tensor permute(const Tensor& x, const Shape& dims) { return x.permute(dims); }
Tensor expand(const Tensor& x, const Shape& shape) { return x.expand(shape); }

}  // namespace mg
