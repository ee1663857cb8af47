#pragma once
// mg::Tensor: a handle to a strided view of shared storage that may carry an
// autograd history. Copying a Tensor copies the handle, not the data.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "metagrad/core/dtype.hpp"

namespace mg {

struct TensorImpl;
class Generator;
namespace autograd {
class Node;
}

class Tensor {
 public:
  Tensor() = default;  // undefined: "no tensor" (e.g. no bias)
  explicit Tensor(std::shared_ptr<TensorImpl> impl);

  static Tensor from_vector(const std::vector<float>& values, Shape shape);
  static Tensor from_vector(const std::vector<double>& values, Shape shape);
  static Tensor from_vector(const std::vector<std::int64_t>& values, Shape shape);
  // A fresh contiguous tensor whose contents are unspecified.
  static Tensor empty(Shape shape, DType dtype = DType::Float32);
  // A contiguous tensor over memory that another library owns (no copy):
  // writes through it, in-place optimizer steps included, land in that
  // memory. `owner` is held until the last view of the tensor is gone; it
  // must not be null (pass a no-op holder when the caller outlives the tensor).
  static Tensor from_blob(void* data, Shape shape, DType dtype, std::shared_ptr<void> owner);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  std::int64_t size(std::int64_t dim) const;  // negative dims count from the end
  std::int64_t numel() const;
  std::int64_t dim() const;
  DType dtype() const;
  bool is_contiguous() const;
  std::string to_string() const;  // shape, dtype and (for small tensors) values

  // Contiguous row-major copy, converted to T.
  template <class T = float>
  std::vector<T> to_vector() const;
  // The value of a one-element tensor; throws for any other.
  template <class T = float>
  T item() const;

  // autograd
  Tensor& requires_grad_(bool requires_grad = true);
  bool requires_grad() const;
  bool is_leaf() const;
  Tensor grad() const;  // undefined until a backward pass reaches this leaf
  void set_grad(const Tensor& grad);
  Tensor detach() const;  // same data, no history
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  // Calls `hook(leaf)` each time a backward pass has finished accumulating
  // into this leaf's grad(), so data-parallel training can send a gradient
  // while the pass goes on. Returns an id for remove_grad_accumulated_hook.
  std::uint64_t add_grad_accumulated_hook(std::function<void(const Tensor&)> hook);
  void remove_grad_accumulated_hook(std::uint64_t id);
  // Accumulates d(this)/d(leaf) into every leaf's grad(). A non-scalar tensor
  // needs grad_output of its own shape.
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false, bool create_graph = false) const;

  // views (share storage; differentiable)
  Tensor reshape(const Shape& shape) const;  // a view when strides allow, else a copy
  Tensor view(const Shape& shape) const;     // a view or an error
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  Tensor t() const;  // transpose of a 2-D tensor
  Tensor permute(const Shape& dims) const;
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor select(std::int64_t dim, std::int64_t index) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor squeeze() const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor contiguous() const;  // itself when already contiguous
  // A 4-D (N, C, H, W) tensor stored channels-last (NHWC in memory), the
  // layout oneDNN convolutions run fastest on; itself when already so.
  Tensor channels_last() const;
  bool is_channels_last() const;

  // copies and conversions (differentiable)
  Tensor clone() const;
  Tensor to(DType dtype) const;

  // In-place updates of the data. They record no history: use them on
  // leaves and buffers (optimizer steps, initialisation), not inside a graph.
  Tensor& fill_(double value);
  Tensor& zero_();
  Tensor& copy_(const Tensor& source);  // source broadcasts to this shape

  // Raw access for kernels and interop; T must match dtype().
  template <class T>
  T* data_ptr() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  // True when both handles view the same storage.
  bool shares_storage_with(const Tensor& other) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// factories
Tensor zeros(const Shape& shape, DType dtype = DType::Float32);
Tensor ones(const Shape& shape, DType dtype = DType::Float32);
Tensor full(const Shape& shape, double value, DType dtype = DType::Float32);
Tensor scalar_tensor(double value, DType dtype = DType::Float32);  // 0-dim
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::Float32);
Tensor arange(std::int64_t end, DType dtype = DType::Int64);
Tensor rand(const Shape& shape, Generator& generator, DType dtype = DType::Float32);
Tensor rand(const Shape& shape, DType dtype = DType::Float32);  // global generator
Tensor randn(const Shape& shape, Generator& generator, DType dtype = DType::Float32);
Tensor randn(const Shape& shape, DType dtype = DType::Float32);
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor rand_like(const Tensor& t, Generator& generator);
Tensor randn_like(const Tensor& t, Generator& generator);

std::string to_string(const Shape& shape);

}  // namespace mg
