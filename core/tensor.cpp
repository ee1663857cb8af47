#include "metagrad/core/tensor.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <sstream>

#include "check.hpp"
#include "dispatch.hpp"
#include "kernels/copy.hpp"
#include "metagrad/core/autograd/engine.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/ops.hpp"
#include "tensor_impl.hpp"

namespace mg {

std::size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Int64:
      return 8;
  }
  return 0;
}

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int64:
      return "int64";
  }
  return "?";
}

bool is_floating(DType dtype) { return dtype != DType::Int64; }

DType promote(DType a, DType b) {
  if (a == DType::Float64 || b == DType::Float64) return DType::Float64;
  if (a == DType::Float32 || b == DType::Float32) return DType::Float32;
  return DType::Int64;
}

std::string to_string(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    strides[d] = stride;
    stride *= shape[d];
  }
  return strides;
}

Shape channels_last_strides(const Shape& s) { return {s[1] * s[2] * s[3], 1, s[3] * s[1], s[1]}; }

// Dims ordered from the largest stride to the smallest (ties keep dim order).
std::vector<std::size_t> memory_order(const TensorImpl& t) {
  std::vector<std::size_t> order(t.shape.size());
  for (std::size_t d = 0; d < order.size(); ++d) order[d] = d;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return t.strides[a] > t.strides[b]; });
  return order;
}

// Non-overlapping and dense: the elements fill exactly numel slots.
bool is_dense(const TensorImpl& t) {
  std::int64_t expected = 1;
  const auto order = memory_order(t);
  for (std::size_t i = order.size(); i-- > 0;) {
    const std::size_t d = order[i];
    if (t.shape[d] == 1) continue;
    if (t.strides[d] != expected) return false;
    expected *= t.shape[d];
  }
  return true;
}

Shape dense_strides_in_order(const Shape& shape, const std::vector<std::size_t>& order) {
  Shape strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t i = order.size(); i-- > 0;) {
    strides[order[i]] = stride;
    stride *= shape[order[i]];
  }
  return strides;
}

Shape dense_strides_like(const TensorImpl& like) {
  if (!is_dense(like)) return contiguous_strides(like.shape);
  return dense_strides_in_order(like.shape, memory_order(like));
}

Tensor empty_in_layout_of(const Shape& shape, DType dtype, std::initializer_list<const Tensor*> candidates) {
  Tensor out = Tensor::empty(shape, dtype);
  for (const Tensor* c : candidates) {
    // A broadcast (expanded) operand has no layout to give; the next may.
    if (c->shape() != shape || c->is_contiguous() || !is_dense(*c->impl())) continue;
    out.impl()->strides = dense_strides_like(*c->impl());
    break;
  }
  return out;
}

Tensor empty_with_strides(const Shape& shape, const Shape& layout, DType dtype) {
  Tensor out = Tensor::empty(shape, dtype);
  out.impl()->strides = layout;
  return out;
}

std::int64_t shape_numel(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t s : shape) n *= s;
  return n;
}

std::int64_t wrap_dim(std::int64_t dim, std::int64_t ndim, const char* op) {
  const std::int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  MG_CHECK(dim >= lo && dim <= hi, "{}: dim {} is out of range for a tensor of {} dims (expected {}..{})", op, dim,
           ndim, lo, hi);
  return dim < 0 ? dim + std::max<std::int64_t>(ndim, 1) : dim;
}

std::shared_ptr<TensorImpl> make_view_impl(const TensorImpl& base, Shape shape, Shape strides, std::int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage;
  impl->offset = offset;
  impl->numel = shape_numel(shape);
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->dtype = base.dtype;
  return impl;
}

Tensor::Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

Tensor Tensor::empty(Shape shape, DType dtype) {
  for (std::int64_t s : shape) MG_CHECK(s >= 0, "empty: negative size in shape {}", mg::to_string(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->numel = shape_numel(shape);
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(static_cast<std::size_t>(impl->numel) * element_size(dtype));
  impl->strides = contiguous_strides(shape);
  impl->shape = std::move(shape);
  return Tensor(std::move(impl));
}

Tensor Tensor::from_blob(void* data, Shape shape, DType dtype, std::shared_ptr<void> owner) {
  for (std::int64_t s : shape) MG_CHECK(s >= 0, "from_blob: negative size in shape {}", mg::to_string(shape));
  MG_CHECK(owner != nullptr, "from_blob: the memory at {} needs an owner that keeps it alive", data);
  auto impl = std::make_shared<TensorImpl>();
  impl->numel = shape_numel(shape);
  MG_CHECK(data != nullptr || impl->numel == 0, "from_blob: null data for shape {}", mg::to_string(shape));
  impl->dtype = dtype;
  impl->storage =
      std::make_shared<Storage>(data, static_cast<std::size_t>(impl->numel) * element_size(dtype), std::move(owner));
  impl->strides = contiguous_strides(shape);
  impl->shape = std::move(shape);
  return Tensor(std::move(impl));
}

namespace {
template <class T>
Tensor tensor_from_vector(const std::vector<T>& values, Shape shape) {
  const std::int64_t n = shape_numel(shape);
  MG_CHECK(n == static_cast<std::int64_t>(values.size()), "from_vector: {} values do not fill shape {} ({} elements)",
           values.size(), mg::to_string(shape), n);
  Tensor t = Tensor::empty(std::move(shape), dtype_of<T>());
  if (n > 0) std::memcpy(t.data_ptr<T>(), values.data(), values.size() * sizeof(T));
  return t;
}

const TensorImpl& checked(const TensorImpl* impl, const char* what) {
  MG_CHECK(impl != nullptr, "{}: the tensor is undefined", what);
  return *impl;
}
}  // namespace

Tensor Tensor::from_vector(const std::vector<float>& v, Shape s) { return tensor_from_vector(v, std::move(s)); }
Tensor Tensor::from_vector(const std::vector<double>& v, Shape s) { return tensor_from_vector(v, std::move(s)); }
Tensor Tensor::from_vector(const std::vector<std::int64_t>& v, Shape s) { return tensor_from_vector(v, std::move(s)); }

const Shape& Tensor::shape() const { return checked(impl_.get(), "shape").shape; }
const Shape& Tensor::strides() const { return checked(impl_.get(), "strides").strides; }
std::int64_t Tensor::numel() const { return checked(impl_.get(), "numel").numel; }
std::int64_t Tensor::dim() const { return static_cast<std::int64_t>(shape().size()); }
DType Tensor::dtype() const { return checked(impl_.get(), "dtype").dtype; }
std::int64_t Tensor::size(std::int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  const auto& impl = checked(impl_.get(), "is_contiguous");
  std::int64_t expected = 1;
  for (std::size_t d = impl.shape.size(); d-- > 0;) {
    if (impl.shape[d] == 1) continue;
    if (impl.strides[d] != expected) return false;
    expected *= impl.shape[d];
  }
  return true;
}

template <class T>
T* Tensor::data_ptr() const {
  const auto& impl = checked(impl_.get(), "data_ptr");
  MG_CHECK(impl.dtype == dtype_of<T>(), "data_ptr: the tensor is {}, not {}", dtype_name(impl.dtype),
           dtype_name(dtype_of<T>()));
  return reinterpret_cast<T*>(impl.data());
}
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;
template std::int64_t* Tensor::data_ptr<std::int64_t>() const;

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = detach().to(dtype_of<T>()).contiguous();
  const T* p = c.data_ptr<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;

template <class T>
T Tensor::item() const {
  MG_CHECK(numel() == 1, "item: expected a tensor with one element, got shape {}", mg::to_string(shape()));
  T value{};
  MG_DISPATCH_ALL(dtype(), [&] { value = static_cast<T>(*reinterpret_cast<const scalar_t*>(impl_->data())); });
  return value;
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template std::int64_t Tensor::item<std::int64_t>() const;

std::string Tensor::to_string() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream out;
  out << "Tensor(shape=" << mg::to_string(shape()) << ", dtype=" << dtype_name(dtype());
  if (numel() <= 16) {
    out << ", values=[";
    const auto values = to_vector<double>();
    for (std::size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
    out << "]";
  }
  if (requires_grad()) out << ", requires_grad";
  out << ")";
  return out.str();
}

bool Tensor::shares_storage_with(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage == other.impl_->storage;
}

// autograd ------------------------------------------------------------------

Tensor& Tensor::requires_grad_(bool requires_grad) {
  auto& impl = const_cast<TensorImpl&>(checked(impl_.get(), "requires_grad_"));
  MG_CHECK(impl.grad_fn == nullptr || requires_grad,
           "requires_grad_: cannot turn off requires_grad on a non-leaf tensor; use detach()");
  MG_CHECK(!requires_grad || is_floating(impl.dtype),
           "requires_grad_: only floating tensors can require gradients, got {}", dtype_name(impl.dtype));
  impl.requires_grad = requires_grad;
  return *this;
}

bool Tensor::requires_grad() const { return defined() && impl_->requires_grad; }
bool Tensor::is_leaf() const { return checked(impl_.get(), "is_leaf").grad_fn == nullptr; }
Tensor Tensor::grad() const { return checked(impl_.get(), "grad").grad; }

void Tensor::set_grad(const Tensor& grad) {
  checked(impl_.get(), "set_grad");
  MG_CHECK(!grad.defined() || (grad.shape() == shape() && grad.dtype() == dtype()),
           "set_grad: gradient of shape {} ({}) for a tensor of shape {} ({})",
           grad.defined() ? mg::to_string(grad.shape()) : "", grad.defined() ? dtype_name(grad.dtype()) : "",
           mg::to_string(shape()), dtype_name(dtype()));
  impl_->grad = grad;
}

std::uint64_t Tensor::add_grad_accumulated_hook(std::function<void(const Tensor&)> hook) {
  checked(impl_.get(), "add_grad_accumulated_hook");
  TensorImpl& impl = *impl_;
  MG_CHECK(impl.requires_grad && !impl.grad_fn, "add_grad_accumulated_hook: only a leaf that requires grad has one");
  static std::atomic<std::uint64_t> next_id{1};
  const std::uint64_t id = next_id++;
  impl.grad_accumulated_hooks.emplace_back(id, std::move(hook));
  return id;
}

void Tensor::remove_grad_accumulated_hook(std::uint64_t id) {
  checked(impl_.get(), "remove_grad_accumulated_hook");
  std::erase_if(impl_->grad_accumulated_hooks, [id](const auto& entry) { return entry.first == id; });
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const { return checked(impl_.get(), "grad_fn").grad_fn; }

Tensor Tensor::detach() const {
  const auto& impl = checked(impl_.get(), "detach");
  return Tensor(make_view_impl(impl, impl.shape, impl.strides, impl.offset));
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, grad_output.defined() ? std::vector<Tensor>{grad_output} : std::vector<Tensor>{},
                     retain_graph, create_graph);
}

// in-place data updates ---------------------------------------------------------

namespace {
// An in-place write records no history, so under grad mode it would make the
// gradients of a tensor that requires grad silently wrong.
void check_in_place(const TensorImpl* impl, const char* op) {
  const auto& self = checked(impl, op);
  MG_CHECK(!(self.requires_grad && autograd::GradMode::is_enabled()),
           "{}: in-place update of a tensor that requires grad (shape {}); do it inside mg::NoGradGuard", op,
           mg::to_string(self.shape));
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_in_place(impl_.get(), "fill_");
  kernels::fill(*impl_, value);
  impl_->storage->bump_version();
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0.0); }

Tensor& Tensor::copy_(const Tensor& source) {
  check_in_place(impl_.get(), "copy_");
  checked(source.impl(), "copy_ (source)");
  MG_CHECK(broadcast_shapes(source.shape(), shape(), "copy_") == shape(),
           "copy_: source of shape {} does not broadcast to the destination's shape {}", mg::to_string(source.shape()),
           mg::to_string(shape()));
  kernels::copy(*impl_, *source.impl());
  impl_->storage->bump_version();
  return *this;
}

// factories -----------------------------------------------------------------

Tensor full(const Shape& shape, double value, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  t.fill_(value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype) { return full(shape, 0.0, dtype); }
Tensor ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }
Tensor scalar_tensor(double value, DType dtype) { return full({}, value, dtype); }
Tensor empty_like(const Tensor& t) { return empty_in_layout_of(t.shape(), t.dtype(), {&t}); }
Tensor full_like(const Tensor& t, double value) {
  Tensor out = empty_like(t);
  out.fill_(value);
  return out;
}
Tensor zeros_like(const Tensor& t) { return full_like(t, 0.0); }
Tensor ones_like(const Tensor& t) { return full_like(t, 1.0); }

Tensor arange(double start, double end, double step, DType dtype) {
  MG_CHECK(step != 0, "arange: step must be non-zero");
  const double span = (end - start) / step;
  const auto n = static_cast<std::int64_t>(span > 0 ? std::ceil(span) : 0);
  Tensor t = Tensor::empty({n}, dtype);
  MG_DISPATCH_ALL(dtype, [&] {
    auto* p = t.data_ptr<scalar_t>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<scalar_t>(start + static_cast<double>(i) * step);
  });
  return t;
}

Tensor arange(std::int64_t end, DType dtype) { return arange(0.0, static_cast<double>(end), 1.0, dtype); }

}  // namespace mg
