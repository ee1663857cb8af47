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
// Inference: relu(conv2d(x, w, b) + residual) with the sum and the ReLU
// fused (oneDNN post-ops, or one pass after the convolution when that runs
// on the faster kernel without them); `residual` may be undefined and
// `relu` false. Records no graph: an input that requires a gradient is an
// error (use the ops one by one).
Tensor conv2d_inference(const Tensor& x, const Tensor& w, const Tensor& b, std::int64_t stride, std::int64_t padding,
                        const Tensor& residual, bool relu);

// The gradient of conv2d with respect to its input (a transposed convolution).
Tensor conv2d_backward_input(const Tensor& grad_output, const Tensor& w, const Shape& input_shape,
                             std::int64_t stride = 1, std::int64_t padding = 0, std::int64_t dilation = 1,
                             std::int64_t groups = 1);
// The gradient of conv2d with respect to its weight.
Tensor conv2d_backward_weight(const Tensor& x, const Tensor& grad_output, const Shape& weight_shape,
                              std::int64_t stride = 1, std::int64_t padding = 0, std::int64_t dilation = 1,
                              std::int64_t groups = 1);

}  // namespace mg

namespace mg {

// Pooling over square windows; stride < 1 means stride = kernel. Padding
// never wins a max and counts as zeros in an average (count_include_pad).
Tensor max_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride = -1, std::int64_t padding = 0);
// The values and, for each, h * W + w of the maximum within its (n, c) plane.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, std::int64_t kernel, std::int64_t stride = -1,
                                                  std::int64_t padding = 0);
// The gradient of max pooling: grad scattered to the indices of the maxima
// of max_pool2d_with_indices(x of input_shape, kernel, stride, padding).
Tensor max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Shape& input_shape,
                           std::int64_t kernel, std::int64_t stride = -1, std::int64_t padding = 0);
Tensor avg_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride = -1, std::int64_t padding = 0);
Tensor avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape, std::int64_t kernel,
                           std::int64_t stride = -1, std::int64_t padding = 0);
// Average pooling to a fixed output size (1, 1 is global average pooling).
Tensor adaptive_avg_pool2d(const Tensor& x, std::int64_t out_height, std::int64_t out_width);
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_output, const Shape& input_shape);

}  // namespace mg

namespace mg {

// Batch normalisation over dim 1 of an (N, C, ...) input. In training mode it
// normalises with the batch statistics and, when running_mean/running_var are
// defined, updates them in place (unbiased variance, as PyTorch does); in eval
// mode it uses the running statistics. weight and bias may be undefined.
//
// `then` continues the same op: relu(batch_norm(x) + residual), the residual
// when defined and the ReLU when asked. In training on channels-last (or
// 2-D) inputs the whole op is one pass forward and one backward.
struct BatchNormEpilogue {
  Tensor residual{};
  bool relu = false;
};
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5,
                  const BatchNormEpilogue& then = {});

// The elementwise part of an LSTM cell (gate blocks i, f, g, o, as
// torch.nn.LSTMCell) fused in one pass, feature-major (a column per
// sequence): gates (4H, n) ([W_ih W_hh] [x; h]), bias (4H, 1) (b_ih + b_hh)
// and the cell c (H, n) give [h'; c'] as one (2H, n) tensor. The activated
// gates are kept for backward; handed a gates tensor nothing else holds (a
// temporary, or std::move), the op keeps them in its memory instead of a
// new buffer of the same size.
Tensor lstm_cell(Tensor gates, const Tensor& bias, const Tensor& c);

}  // namespace mg
