#pragma once
// The functional API of nn: stateless forms of every layer and the losses.
//   namespace F = mg::nn::functional;
#include <cstdint>

#include "metagrad/core/generator.hpp"
#include "metagrad/core/nn_ops.hpp"
#include "metagrad/core/tensor.hpp"

namespace mg::nn::functional {

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), std::int64_t stride = 1,
              std::int64_t padding = 0, std::int64_t dilation = 1, std::int64_t groups = 1);
Tensor max_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride = -1, std::int64_t padding = 0);
Tensor avg_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride = -1, std::int64_t padding = 0);
Tensor adaptive_avg_pool2d(const Tensor& x, std::int64_t out_height, std::int64_t out_width);
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5,
                  const BatchNormEpilogue& then = {});
// The same with its options by name:
//   F::batch_norm(x, {.weight = gamma, .bias = beta, .training = true, .then = {.relu = true}})
struct BatchNormOptions {
  Tensor running_mean{}, running_var{}, weight{}, bias{};  // each may be undefined
  bool training = true;
  double momentum = 0.1, eps = 1e-5;
  BatchNormEpilogue then{};
};
Tensor batch_norm(const Tensor& x, const BatchNormOptions& options);
// y = x w^T + b, with w of shape (out, in); b may be undefined.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
// Zeroes each element with probability p and scales the rest by 1 / (1 - p)
// in training; the identity otherwise.
Tensor dropout(const Tensor& x, double p, bool training, Generator& generator);

enum class Reduction { Mean, Sum, None };

// logits (N, C) and int64 labels (N): -log softmax(logits)[label], with
// optional label smoothing (the target puts label_smoothing / C on every class).
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, Reduction reduction = Reduction::Mean,
                     double label_smoothing = 0.0);
// log_probs (N, C) and int64 labels (N): -log_probs[label].
Tensor nll_loss(const Tensor& log_probs, const Tensor& labels, Reduction reduction = Reduction::Mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// Numerically stable -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))].
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        Reduction reduction = Reduction::Mean);

}  // namespace mg::nn::functional
