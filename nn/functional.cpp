#include "metagrad/nn/functional.hpp"

#include "core/check.hpp"
#include "metagrad/core/nn_ops.hpp"
#include "metagrad/core/ops.hpp"

namespace mg::nn::functional {

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, std::int64_t stride, std::int64_t padding,
              std::int64_t dilation, std::int64_t groups) {
  return mg::conv2d(x, w, b, stride, padding, dilation, groups);
}

Tensor max_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  return mg::max_pool2d(x, kernel, stride, padding);
}

Tensor avg_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  return mg::avg_pool2d(x, kernel, stride, padding);
}

Tensor adaptive_avg_pool2d(const Tensor& x, std::int64_t out_height, std::int64_t out_width) {
  return mg::adaptive_avg_pool2d(x, out_height, out_width);
}

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps, const BatchNormEpilogue& then) {
  return mg::batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, then);
}

Tensor batch_norm(const Tensor& x, const BatchNormOptions& o) {
  return mg::batch_norm(x, o.running_mean, o.running_var, o.weight, o.bias, o.training, o.momentum, o.eps, o.then);
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  MG_CHECK(x.defined() && w.defined() && w.dim() == 2 && x.dim() >= 1,
           "linear: expected an input (..., in) and a weight (out, in)");
  MG_CHECK(x.size(-1) == w.size(1), "linear: input of shape {} has {} features but weight of shape {} expects {}",
           to_string(x.shape()), x.size(-1), to_string(w.shape()), w.size(1));
  const Tensor y = matmul(x, w.t());
  return b.defined() ? y + b : y;
}

Tensor relu(const Tensor& x) { return mg::relu(x); }
Tensor sigmoid(const Tensor& x) { return mg::sigmoid(x); }
Tensor tanh(const Tensor& x) { return mg::tanh(x); }

Tensor dropout(const Tensor& x, double p, bool training, Generator& generator) {
  MG_CHECK(p >= 0.0 && p < 1.0, "dropout: probability must be in [0, 1), got {}", p);
  if (!training || p == 0.0) return x;
  const Tensor keep = lt(rand(x.shape(), generator, x.dtype()), scalar_tensor(1.0 - p, x.dtype()));
  return x * (keep * (1.0 / (1.0 - p)));
}

}  // namespace mg::nn::functional
