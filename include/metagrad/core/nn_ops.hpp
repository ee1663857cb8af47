#pragma once
// The vendor-kernel ops of neural networks, each differentiable in its own
// right: convolution (with its two backward ops, a set closed under
// differentiation), pooling and batch normalisation. Activations are NCHW;
// float32 results come back channels-last, the layout oneDNN is fastest on.
#include <cstdint>
#include <utility>

#include "metagrad/core/tensor.hpp"

namespace mg {

// y = conv2d(x, w) + b. x: (N, C, H, W); w: (OC, C / groups, KH, KW); b: (OC) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), std::int64_t stride = 1,
              std::int64_t padding = 0, std::int64_t dilation = 1, std::int64_t groups = 1);
// The gradient of conv2d with respect to its input (a transposed convolution).
Tensor conv2d_backward_input(const Tensor& grad_output, const Tensor& w, const Shape& input_shape,
                             std::int64_t stride = 1, std::int64_t padding = 0, std::int64_t dilation = 1,
                             std::int64_t groups = 1);
// The gradient of conv2d with respect to its weight.
Tensor conv2d_backward_weight(const Tensor& x, const Tensor& grad_output, const Shape& weight_shape,
                              std::int64_t stride = 1, std::int64_t padding = 0, std::int64_t dilation = 1,
                              std::int64_t groups = 1);

}  // namespace mg
