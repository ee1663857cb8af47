#include "metagrad/nn/layers.hpp"

#include <cmath>
#include <tuple>
#include <vector>

#include "core/check.hpp"
#include "core/tensor_impl.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/distributed.hpp"
#include "metagrad/core/nn_ops.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/nn/functional.hpp"
#include "metagrad/nn/init.hpp"

namespace mg::nn {

namespace F = functional;

namespace {
// PyTorch's default for Linear and Conv2d: kaiming_uniform(a = sqrt(5)) for
// the weight, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias.
void default_init(Tensor& weight, Tensor& bias, Generator& generator) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, generator);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(init::fan_in(weight)));
    init::uniform_(bias, -bound, bound, generator);
  }
}

void check_positive(std::int64_t value, const char* what, const char* layer) {
  MG_CHECK(value >= 1, "{}: {} must be positive, got {}", layer, what, value);
}
}  // namespace

Linear::Linear(const LinearOptions& options, Generator& generator) {
  check_positive(options.in_features(), "in_features", "Linear");
  check_positive(options.out_features(), "out_features", "Linear");
  weight = Tensor::empty({options.out_features(), options.in_features()});
  if (options.bias()) bias = Tensor::empty({options.out_features()});
  default_init(weight, bias, generator);
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
}

Tensor Linear::forward(const Tensor& x) { return F::linear(x, weight, bias); }

Conv2d::Conv2d(const Conv2dOptions& options, Generator& generator)
    : stride(options.stride()), padding(options.padding()), dilation(options.dilation()), groups(options.groups()) {
  const std::int64_t in_channels = options.in_channels(), out_channels = options.out_channels();
  check_positive(in_channels, "in_channels", "Conv2d");
  check_positive(out_channels, "out_channels", "Conv2d");
  check_positive(options.kernel(), "kernel", "Conv2d");
  check_positive(groups, "groups", "Conv2d");
  MG_CHECK(in_channels % groups == 0 && out_channels % groups == 0,
           "Conv2d: {} input and {} output channels must both divide into {} groups", in_channels, out_channels,
           groups);
  weight = Tensor::empty({out_channels, in_channels / groups, options.kernel(), options.kernel()});
  if (options.bias()) bias = Tensor::empty({out_channels});
  default_init(weight, bias, generator);
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
}

Tensor Conv2d::forward(const Tensor& x) { return F::conv2d(x, weight, bias, stride, padding, dilation, groups); }

BatchNorm2d::BatchNorm2d(const BatchNorm2dOptions& options) : eps(options.eps()), momentum(options.momentum()) {
  const std::int64_t channels = options.channels();
  check_positive(channels, "channels", "BatchNorm2d");
  weight = ones({channels});
  bias = zeros({channels});
  running_mean = zeros({channels});
  running_var = ones({channels});
  num_batches_tracked = zeros({}, DType::Int64);
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
  register_buffer("running_mean", &running_mean);
  register_buffer("running_var", &running_var);
  register_buffer("num_batches_tracked", &num_batches_tracked);
}

BatchNorm2d::BatchNorm2d(std::int64_t channels) : BatchNorm2d(BatchNorm2dOptions(channels)) {}

Tensor BatchNorm2d::forward(const Tensor& x) { return forward(x, {}); }

Tensor BatchNorm2d::forward(const Tensor& x, const BatchNormEpilogue& then) {
  MG_CHECK(x.defined() && x.dim() == 4, "BatchNorm2d: expected a 4-D (N, C, H, W) input, got {}",
           x.defined() ? to_string(x.shape()) : "undefined");
  if (is_training()) {
    NoGradGuard no_grad;
    num_batches_tracked.copy_(num_batches_tracked + 1.0);
  }
  if (synchronized && is_training())
    return distributed::synchronized_batch_norm(x, running_mean, running_var, weight, bias, momentum, eps, then);
  return F::batch_norm(x, running_mean, running_var, weight, bias, is_training(), momentum, eps, then);
}

// Batch norm folded into the convolution before it. Kept with the storage
// and version of every tensor it was made from, and made again when one
// changes, so that repeated inference reuses the same weights (and the
// convolution its reordered copy of them).
using Source = std::tuple<std::uint64_t, std::int64_t, std::uint64_t>;  // storage id, offset, version

struct BatchNorm2d::Folded {
  std::vector<Source> sources;
  double eps;
  Tensor weight, bias;
};

namespace {

std::vector<Source> sources_of(std::initializer_list<const Tensor*> tensors) {
  std::vector<Source> sources;
  for (const Tensor* t : tensors) {
    if (!t->defined()) {
      sources.emplace_back(0, 0, 0);
      continue;
    }
    const auto& impl = *t->impl();
    sources.emplace_back(impl.storage->id(), impl.offset, impl.storage->version());
  }
  return sources;
}

}  // namespace

const BatchNorm2d::Folded& BatchNorm2d::fold_into(const Conv2d& conv) {
  auto sources = sources_of({&conv.weight, &conv.bias, &weight, &bias, &running_mean, &running_var});
  if (folded_ && folded_->sources == sources && folded_->eps == eps) return *folded_;
  const Tensor scale = weight / sqrt(running_var + eps);
  auto folded = std::make_shared<Folded>();
  folded->sources = std::move(sources);
  folded->eps = eps;
  folded->weight = conv.weight * scale.reshape({-1, 1, 1, 1});
  folded->bias = bias - running_mean * scale;
  if (conv.bias.defined()) folded->bias = folded->bias + conv.bias * scale;
  folded_ = std::move(folded);
  return *folded_;
}

Tensor conv_bn(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, bool relu, const Tensor& residual) {
  const bool fold = !bn.is_training() && !autograd::GradMode::is_enabled() && !x.requires_grad() &&
                    (!residual.defined() || !residual.requires_grad()) && conv.dilation == 1 && conv.groups == 1;
  if (!fold) return bn.forward(conv.forward(x), {residual, relu});
  const auto& folded = bn.fold_into(conv);
  return conv2d_inference(x, folded.weight, folded.bias, conv.stride, conv.padding, residual, relu);
}

Tensor ReLU::forward(const Tensor& x) { return F::relu(x); }
Tensor Sigmoid::forward(const Tensor& x) { return F::sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return F::tanh(x); }

MaxPool2d::MaxPool2d(const MaxPool2dOptions& options)
    : kernel(options.kernel()), stride(options.stride()), padding(options.padding()) {}
MaxPool2d::MaxPool2d(std::int64_t kernel_, std::int64_t stride_, std::int64_t padding_)
    : MaxPool2d(MaxPool2dOptions(kernel_).stride(stride_).padding(padding_)) {}
Tensor MaxPool2d::forward(const Tensor& x) { return F::max_pool2d(x, kernel, stride, padding); }

AvgPool2d::AvgPool2d(const AvgPool2dOptions& options)
    : kernel(options.kernel()), stride(options.stride()), padding(options.padding()) {}
AvgPool2d::AvgPool2d(std::int64_t kernel_, std::int64_t stride_, std::int64_t padding_)
    : AvgPool2d(AvgPool2dOptions(kernel_).stride(stride_).padding(padding_)) {}
Tensor AvgPool2d::forward(const Tensor& x) { return F::avg_pool2d(x, kernel, stride, padding); }

AdaptiveAvgPool2d::AdaptiveAvgPool2d(std::int64_t out_height_, std::int64_t out_width_)
    : out_height(out_height_), out_width(out_width_) {}
Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return F::adaptive_avg_pool2d(x, out_height, out_width); }

Flatten::Flatten(std::int64_t start_dim_, std::int64_t end_dim_) : start_dim(start_dim_), end_dim(end_dim_) {}
Tensor Flatten::forward(const Tensor& x) { return x.flatten(start_dim, end_dim); }

Dropout::Dropout(double p_, std::uint64_t seed) : p(p_), generator_(seed) {
  MG_CHECK(p >= 0.0 && p < 1.0, "Dropout: probability must be in [0, 1), got {}", p);
}
Tensor Dropout::forward(const Tensor& x) { return F::dropout(x, p, is_training(), generator_); }

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) push_back(std::move(m));
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor out = x;
  for (auto& m : modules_) out = m->forward(out);
  return out;
}

}  // namespace mg::nn
