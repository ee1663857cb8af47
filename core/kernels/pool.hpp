#pragma once
// Pooling kernels over 4-D tensors of any layout (loops run channel-innermost,
// which is the contiguous dim of channels-last activations).
#include <cstdint>

#include "core/tensor_impl.hpp"

namespace mg::kernels {

struct PoolGeometry {
  std::int64_t kernel, stride, padding;
};

// y = max over each window; indices (when not null) = h * W + w of the max within its plane.
void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor* indices, const PoolGeometry& g);
// gx = 0, then gx[n, c, indices] += g (the gradient of max pooling with geometry `geometry`).
void max_pool2d_scatter(const Tensor& g, const Tensor& indices, Tensor& gx, const PoolGeometry& geometry);
// out[n, c, i, j] = src[n, c, indices[n, c, i, j]] (the gradient of the scatter).
void max_pool2d_gather(const Tensor& src, const Tensor& indices, Tensor& out);
// Mean over each window, padding counted as zeros (PyTorch's count_include_pad).
void avg_pool2d_forward(const Tensor& x, Tensor& y, const PoolGeometry& g);
void avg_pool2d_backward(const Tensor& g, Tensor& gx, const PoolGeometry& geometry);
// Windows [floor(i * in / out), ceil((i + 1) * in / out)).
void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y);
void adaptive_avg_pool2d_backward(const Tensor& g, Tensor& gx);

}  // namespace mg::kernels
