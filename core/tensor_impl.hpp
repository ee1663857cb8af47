#pragma once
// What a Tensor handle points to. Private to the library.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include "metagrad/core/dtype.hpp"
#include "metagrad/core/tensor.hpp"

namespace mg {
namespace autograd {
class Node;
}

// A block of memory from the caching allocator, shared by views.
class Storage {
 public:
  explicit Storage(std::size_t nbytes);
  // Memory someone else owns (another framework's tensor): `owner` keeps it
  // alive as long as this storage lives, and nothing is freed here.
  Storage(void* data, std::size_t nbytes, std::shared_ptr<void> owner);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  // Unique for the life of the process (addresses are reused, ids are not).
  std::uint64_t id() const { return id_; }
  // Bumped by every in-place write, so caches of derived data (reordered
  // weights) know when they are stale.
  std::uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_;
  std::size_t nbytes_;
  std::uint64_t id_;
  std::uint64_t version_ = 0;
  std::shared_ptr<void> owner_;  // set for borrowed memory
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;  // in elements
  std::int64_t numel = 0;
  DType dtype = DType::Float32;

  bool requires_grad = false;
  std::shared_ptr<autograd::Node> grad_fn;  // null for leaves
  Tensor grad;
  std::weak_ptr<autograd::Node> grad_accumulator;  // leaves only
  std::vector<std::pair<std::uint64_t, std::function<void(const Tensor&)>>> grad_accumulated_hooks;

  char* data() const {
    return static_cast<char*>(storage->data()) + offset * static_cast<std::int64_t>(element_size(dtype));
  }
};

Shape contiguous_strides(const Shape& shape);
// Strides of a 4-D (N, C, H, W) tensor stored NHWC.
Shape channels_last_strides(const Shape& shape);
// Dims ordered from the largest stride to the smallest (ties keep dim order).
std::vector<std::size_t> memory_order(const TensorImpl& t);
// Non-overlapping and dense: the elements fill exactly numel slots, in some
// order of dims (contiguous, channels-last, any permutation).
bool is_dense(const TensorImpl& t);
// Strides for a fresh dense tensor of `shape` whose dims lie in memory in
// `order` (outermost first, as memory_order gives it).
Shape dense_strides_in_order(const Shape& shape, const std::vector<std::size_t>& order);
// Strides for a fresh dense tensor of `like`'s shape that orders its dims in
// memory as `like` does (e.g. channels-last stays channels-last); row-major
// when `like` is not dense.
Shape dense_strides_like(const TensorImpl& like);
// A fresh tensor of `shape` laid out like the first of `candidates` that has
// that shape and a dense layout, else contiguous.
Tensor empty_in_layout_of(const Shape& shape, DType dtype, std::initializer_list<const Tensor*> candidates);
// A fresh tensor of `shape` with the dense strides `layout` (from
// dense_strides_like of a tensor of that shape).
Tensor empty_with_strides(const Shape& shape, const Shape& layout, DType dtype);
std::int64_t shape_numel(const Shape& shape);
// A new impl viewing `base`'s storage with the given geometry and no history.
std::shared_ptr<TensorImpl> make_view_impl(const TensorImpl& base, Shape shape, Shape strides, std::int64_t offset);
// Wraps an existing dimension index (negative counts from the end); throws
// mg::Error naming `op` when out of range.
std::int64_t wrap_dim(std::int64_t dim, std::int64_t ndim, const char* op);

}  // namespace mg
