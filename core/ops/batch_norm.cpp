// Batch normalisation. The training-mode op saves its batch statistics for a
// plain backward; when a graph of the gradient is asked for (create_graph)
// the rule recomputes them from the input with differentiable ops, so the
// second and higher derivatives see how they depend on it.
#include "batch_norm.hpp"

#include "metagrad/core/nn_ops.hpp"
#include "op.hpp"

namespace mg {
namespace {

// Every dim but the channel dim.
std::vector<std::int64_t> reduced_dims(const Tensor& x) {
  std::vector<std::int64_t> dims{0};
  for (std::int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

// A per-channel (C) tensor shaped to broadcast against x: (1, C, 1, ...).
Tensor per_channel(const Tensor& t, const Tensor& x) {
  Shape shape(static_cast<std::size_t>(x.dim()), 1);
  shape[1] = x.size(1);
  return t.reshape(shape);
}

void check_channel_tensor(const Tensor& t, const Tensor& x, const char* what) {
  if (!t.defined()) return;
  MG_CHECK(t.shape() == Shape{x.size(1)}, "batch_norm: {} of shape {} does not match the {} channels of input {}", what,
           to_string(t.shape()), x.size(1), to_string(x.shape()));
}

struct BatchStats {
  Tensor mean, invstd;  // (1, C, 1, ...)
  Tensor centered;      // x - mean, when batch_stats computed it
};

// Per-channel means over the batch: this process's rows, or every process's.
class ChannelMean {
 public:
  ChannelMean(const Tensor& x, const ProcessSums* over_processes)
      : dims_(reduced_dims(x)), over_processes_(over_processes), count_(static_cast<double>(x.numel() / x.size(1))) {
    if (over_processes_) {
      std::vector<double> count{count_};
      over_processes_->values(count);
      count_ = count[0];
    }
  }
  Tensor operator()(const Tensor& t) const {
    if (!over_processes_) return mg::mean(t, dims_, true);
    return over_processes_->tensor(sum(t, dims_, true)) / count_;
  }
  double count() const { return count_; }

 private:
  std::vector<std::int64_t> dims_;
  const ProcessSums* over_processes_;
  double count_;
};

BatchStats batch_stats(const Tensor& x, double eps, const ChannelMean& channel_mean) {
  const Tensor mean = channel_mean(x);
  const Tensor centered = x - mean;
  const Tensor var = channel_mean(centered * centered);
  return {mean, 1.0 / sqrt(var + eps), centered};
}

Tensor affine(const Tensor& normalized, const Tensor& weight, const Tensor& bias, const Tensor& x) {
  Tensor y = weight.defined() ? normalized * per_channel(weight, x) : normalized;
  return bias.defined() ? y + per_channel(bias, x) : y;
}

void update_running_stats(double count, const BatchStats& stats, Tensor running_mean, Tensor running_var,
                          double momentum, double eps) {
  NoGradGuard no_grad;
  if (running_mean.defined()) running_mean.copy_(running_mean * (1.0 - momentum) + stats.mean.reshape({-1}) * momentum);
  if (running_var.defined()) {
    const Tensor biased_var = pow(stats.invstd.reshape({-1}), -2.0) - eps;
    const Tensor unbiased = biased_var * (count / std::max(count - 1.0, 1.0));
    running_var.copy_(running_var * (1.0 - momentum) + unbiased * momentum);
  }
}

// relu(y + residual) of the normalisation's output y.
Tensor finish(Tensor y, const BatchNormEpilogue& then) {
  if (then.residual.defined()) y = y + then.residual;
  return then.relu ? relu(y) : y;
}

// The fused passes read the residual as rows laid out like x's: one in
// another layout (ResNet's zero-padded shortcut is NCHW) is copied into it.
BatchNormEpilogue laid_out_like(const BatchNormEpilogue& then, const Tensor& x) {
  if (!then.residual.defined() || then.residual.strides() == x.strides()) return then;
  return {x.dim() == 4 ? then.residual.channels_last() : then.residual.contiguous(), then.relu};
}

void check_arguments(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                     const Tensor& bias, const BatchNormEpilogue& then) {
  MG_CHECK(x.defined() && x.dim() >= 2 && is_floating(x.dtype()),
           "batch_norm: expected a floating (N, C, ...) input, got {}",
           x.defined() ? to_string(x.shape()) : "undefined");
  check_channel_tensor(running_mean, x, "running_mean");
  check_channel_tensor(running_var, x, "running_var");
  check_channel_tensor(weight, x, "weight");
  check_channel_tensor(bias, x, "bias");
  MG_CHECK(!then.residual.defined() || (then.residual.shape() == x.shape() && then.residual.dtype() == x.dtype()),
           "batch_norm: the residual must have the input's shape {} and dtype {}, got {} {}", to_string(x.shape()),
           dtype_name(x.dtype()), then.residual.defined() ? to_string(then.residual.shape()) : "",
           then.residual.defined() ? dtype_name(then.residual.dtype()) : "");
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps, const BatchNormEpilogue& then) {
  if (training) return batch_norm_training(x, running_mean, running_var, weight, bias, momentum, eps, nullptr, then);
  check_arguments(x, running_mean, running_var, weight, bias, then);
  MG_CHECK(running_mean.defined() && running_var.defined(), "batch_norm: eval mode needs running_mean and running_var");
  const bool graph = autograd::any_requires_grad(std::vector<Tensor>{x, weight, bias, then.residual}.data(), 4);
  if (!graph && kernels::batch_norm_fusable(x)) {  // inference: one fused pass
    const BatchNormEpilogue fused_then = laid_out_like(then, x);
    Tensor y = empty_like(x);
    const Tensor invstd = 1.0 / sqrt(running_var.detach().to(x.dtype()) + eps);
    kernels::batch_norm_normalize(x.detach(), running_mean.detach().to(x.dtype()), invstd, weight, bias, y, fused_then);
    return y;
  }
  const Tensor scale = 1.0 / sqrt(per_channel(running_var, x).detach() + eps);
  return finish(affine((x - per_channel(running_mean, x).detach()) * scale, weight, bias, x), then);
}

Tensor batch_norm_training(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                           const Tensor& bias, double momentum, double eps, const ProcessSums* over_processes,
                           const BatchNormEpilogue& epilogue) {
  check_arguments(x, running_mean, running_var, weight, bias, epilogue);
  const bool fused = kernels::batch_norm_fusable(x);
  const BatchNormEpilogue then = fused ? laid_out_like(epilogue, x) : epilogue;
  // The backward rule keeps its own copy.
  const auto sums = over_processes ? std::make_shared<const ProcessSums>(*over_processes) : nullptr;
  const ChannelMean channel_mean(x, sums.get());
  MG_CHECK(channel_mean.count() > 1, "batch_norm: training needs more than one value per channel, got input {}{}",
           to_string(x.shape()), sums ? " over all processes" : "");
  BatchStats stats;
  Tensor y;
  {
    NoGradGuard no_grad;
    if (fused) {
      Tensor mean, invstd;
      kernels::batch_norm_statistics(x.detach(), eps, mean, invstd, sums ? &sums->values : nullptr);
      y = empty_like(x);
      kernels::batch_norm_normalize(x.detach(), mean, invstd, weight, bias, y,
                                    {then.residual.defined() ? then.residual.detach() : Tensor(), then.relu});
      stats = {per_channel(mean, x), per_channel(invstd, x), Tensor()};
    } else {
      stats = batch_stats(x, eps, channel_mean);
      y = finish(affine(stats.centered * stats.invstd, weight, bias, x), then);
      stats.centered = Tensor();  // saved for backward: keep only per-channel values
    }
  }
  update_running_stats(channel_mean.count(), stats, running_mean, running_var, momentum, eps);
  const bool relu = then.relu;
  const auto rule = [x, weight, stats, eps, fused, sums, relu](const BackwardArgs& in) {
    const bool create_graph = autograd::GradMode::is_enabled();
    // The ReLU's output decides where the gradient passes; it has no gradient of its own.
    const Tensor relu_output = relu ? in.output().detach() : Tensor();
    if (!create_graph && fused) {
      // A gradient in another layout (summed from a branch that made it so)
      // costs one copy here; the unfused path below would cost six passes.
      const Tensor grad = kernels::batch_norm_fusable(in.grad) ? in.grad
                          : in.grad.dim() == 4                 ? in.grad.channels_last()
                                                               : in.grad.contiguous();
      Grads grads(4);
      if (in.needs(0)) grads[0] = empty_like(x);
      if (in.needs(1)) grads[1] = Tensor::empty({x.size(1)}, x.dtype());
      if (in.needs(2)) grads[2] = Tensor::empty({x.size(1)}, x.dtype());
      if (in.needs(3)) grads[3] = empty_like(x);
      kernels::batch_norm_backward(grad, x.detach(), stats.mean.reshape({-1}), stats.invstd.reshape({-1}),
                                   weight.defined() ? weight.detach() : Tensor(), grads[0], grads[1], grads[2],
                                   sums ? &sums->values : nullptr, relu_output, &grads[3]);
      return grads;
    }
    // With create_graph the statistics must be functions of x in the graph.
    // Each full-size product is formed once: in a double backward every op
    // here is differentiated again. Weight and bias get this process's part
    // of their gradient; x's accounts for every process's rows.
    const ChannelMean mean_over_batch(x, sums.get());
    const BatchStats s = create_graph ? batch_stats(x, eps, mean_over_batch) : stats;
    const auto dims = reduced_dims(x);
    const Tensor normalized = (s.centered.defined() ? s.centered : x - s.mean) * s.invstd;
    const Tensor g = relu ? in.grad * sign(relu_output) : in.grad;  // relu_output >= 0: its sign is the mask
    const Tensor g_normalized = in.needs(0) || in.needs(1) ? g * normalized : Tensor();
    Grads grads(4);
    if (in.needs(0)) {
      // scale * (g - mean(g) - normalized * mean(g * normalized)), with the
      // per-channel factors multiplied out: two full-size ops.
      const Tensor scale = weight.defined() ? s.invstd * per_channel(weight, x) : s.invstd;
      const Tensor shift = -(scale * mean_over_batch(g));
      grads[0] = fma(scale, g, fma(-(scale * mean_over_batch(g_normalized)), normalized, shift));
    }
    if (in.needs(1)) grads[1] = sum(g_normalized, dims);
    if (in.needs(2)) grads[2] = sum(g, dims);
    if (in.needs(3)) grads[3] = g;
    return grads;
  };
  return record("batch_norm", {x, weight, bias, then.residual}, y, rule, relu ? Save::Output : Save::Nothing);
}

}  // namespace mg
