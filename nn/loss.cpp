// Losses, composed from differentiable ops so that every order of
// derivative is available.
#include "core/check.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/nn/functional.hpp"

namespace mg::nn::functional {
namespace {

Tensor reduce(const Tensor& loss, Reduction reduction) {
  switch (reduction) {
    case Reduction::Mean:
      return mean(loss);
    case Reduction::Sum:
      return sum(loss);
    case Reduction::None:
      return loss;
  }
  return loss;
}

void check_classification(const Tensor& scores, const Tensor& labels, const char* op) {
  MG_CHECK(scores.defined() && scores.dim() == 2, "{}: expected (N, C) scores, got {}", op,
           scores.defined() ? to_string(scores.shape()) : "undefined");
  MG_CHECK(labels.defined() && labels.dtype() == DType::Int64 && labels.shape() == Shape{scores.size(0)},
           "{}: expected int64 labels of shape [{}], got {}", op, scores.size(0),
           labels.defined() ? to_string(labels.shape()) + " " + std::string(dtype_name(labels.dtype())) : "undefined");
  const Tensor low = min(labels), high = max(labels);
  MG_CHECK(labels.numel() == 0 || (low.item<std::int64_t>() >= 0 && high.item<std::int64_t>() < scores.size(1)),
           "{}: labels must lie in [0, {}), got values from {} to {}", op, scores.size(1), low.item<std::int64_t>(),
           high.item<std::int64_t>());
}

}  // namespace

Tensor nll_loss(const Tensor& log_probs, const Tensor& labels, Reduction reduction) {
  check_classification(log_probs, labels, "nll_loss");
  return reduce(-gather(log_probs, 1, labels.unsqueeze(1)).squeeze(1), reduction);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, Reduction reduction, double label_smoothing) {
  check_classification(logits, labels, "cross_entropy");
  MG_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, "cross_entropy: label_smoothing must be in [0, 1], got {}",
           label_smoothing);
  const Tensor log_probs = log_softmax(logits, 1);
  Tensor loss = -gather(log_probs, 1, labels.unsqueeze(1)).squeeze(1);
  if (label_smoothing > 0.0) {
    const double classes = static_cast<double>(logits.size(1));
    loss = loss * (1.0 - label_smoothing) - sum(log_probs, 1) * (label_smoothing / classes);
  }
  return reduce(loss, reduction);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  MG_CHECK(input.defined() && target.defined() && input.shape() == target.shape(),
           "mse_loss: input and target must have the same shape, got {} and {}",
           input.defined() ? to_string(input.shape()) : "undefined",
           target.defined() ? to_string(target.shape()) : "undefined");
  const Tensor diff = input - target;
  return reduce(diff * diff, reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets, Reduction reduction) {
  MG_CHECK(logits.defined() && targets.defined() && logits.shape() == targets.shape(),
           "binary_cross_entropy_with_logits: logits and targets must have the same shape, got {} and {}",
           logits.defined() ? to_string(logits.shape()) : "undefined",
           targets.defined() ? to_string(targets.shape()) : "undefined");
  // softplus(z) = log(1 + e^z) as a logsumexp of (0, z): stable, and its
  // derivative is exactly sigmoid(z) everywhere.
  const Tensor softplus = logsumexp(stack({zeros_like(logits), logits}, -1), -1);
  return reduce(softplus - logits * targets, reduction);
}

}  // namespace mg::nn::functional
