#pragma once
// The standard layers. Each initialises its parameters as PyTorch does by
// default, drawing from the given generator (the global one when omitted).
//
// Layers with several settings also take an options struct with named,
// chainable setters, as libtorch does, so a call site says what each number is:
//   Conv2d conv(Conv2dOptions(3, 32, 3).padding(1).bias(false), generator);
#include <cstdint>
#include <memory>

#include "metagrad/core/generator.hpp"
#include "metagrad/core/nn_ops.hpp"
#include "metagrad/nn/module.hpp"

namespace mg::nn {

struct LinearOptions {
  LinearOptions(std::int64_t in_features, std::int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  LinearOptions& bias(bool value) {
    bias_ = value;
    return *this;
  }
  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }
  bool bias() const { return bias_; }

 private:
  std::int64_t in_features_, out_features_;
  bool bias_ = true;
};

// y = x W^T + b; weight (out, in), bias (out).
class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& options, Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  Tensor weight, bias;
};

struct Conv2dOptions {
  Conv2dOptions(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_(kernel) {}
  Conv2dOptions& stride(std::int64_t value) {
    stride_ = value;
    return *this;
  }
  Conv2dOptions& padding(std::int64_t value) {
    padding_ = value;
    return *this;
  }
  Conv2dOptions& dilation(std::int64_t value) {
    dilation_ = value;
    return *this;
  }
  Conv2dOptions& groups(std::int64_t value) {
    groups_ = value;
    return *this;
  }
  Conv2dOptions& bias(bool value) {
    bias_ = value;
    return *this;
  }
  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return out_channels_; }
  std::int64_t kernel() const { return kernel_; }
  std::int64_t stride() const { return stride_; }
  std::int64_t padding() const { return padding_; }
  std::int64_t dilation() const { return dilation_; }
  std::int64_t groups() const { return groups_; }
  bool bias() const { return bias_; }

 private:
  std::int64_t in_channels_, out_channels_, kernel_;
  std::int64_t stride_ = 1, padding_ = 0, dilation_ = 1, groups_ = 1;
  bool bias_ = true;
};

// weight (out, in / groups, k, k), bias (out).
class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& options, Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  Tensor weight, bias;
  std::int64_t stride, padding, dilation, groups;
};

struct BatchNorm2dOptions {
  explicit BatchNorm2dOptions(std::int64_t channels) : channels_(channels) {}
  BatchNorm2dOptions& eps(double value) {
    eps_ = value;
    return *this;
  }
  // The weight of the newest batch in the running statistics.
  BatchNorm2dOptions& momentum(double value) {
    momentum_ = value;
    return *this;
  }
  std::int64_t channels() const { return channels_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }

 private:
  std::int64_t channels_;
  double eps_ = 1e-5, momentum_ = 0.1;
};

// Parameters weight (1s) and bias (0s); buffers running_mean, running_var and
// num_batches_tracked (int64), as in PyTorch.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(const BatchNorm2dOptions& options);
  explicit BatchNorm2d(std::int64_t channels);  // eps 1e-5, momentum 0.1
  Tensor forward(const Tensor& x) override;
  // relu(batch_norm(x) + residual), as one op (see mg::batch_norm).
  Tensor forward(const Tensor& x, const BatchNormEpilogue& then);
  std::string type_name() const override { return "BatchNorm2d"; }
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double eps, momentum;
  // In training, normalise with the statistics of every MPI rank's batch
  // together (distributed::synchronized_batch_norm), as one process
  // holding the whole batch would.
  bool synchronized = false;

 private:
  friend Tensor conv_bn(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, bool relu, const Tensor& residual);
  struct Folded;
  // conv's weights with this batch norm folded in (eval mode), reused while their sources are unchanged.
  const Folded& fold_into(const Conv2d& conv);
  std::shared_ptr<Folded> folded_;
};

// conv, then batch norm, then + residual (when defined) and ReLU (when
// asked). In inference with no gradient wanted: one convolution, with the
// batch norm folded into its weights and bias and the sum and ReLU done in
// the same pass; otherwise the convolution, then the batch norm with the
// sum and ReLU in its own pass.
Tensor conv_bn(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, bool relu, const Tensor& residual = Tensor());

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sigmoid"; }
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Tanh"; }
};

// Square windows; a stride below 1 (the default) means stride = kernel.
struct Pool2dOptions {
  explicit Pool2dOptions(std::int64_t kernel) : kernel_(kernel) {}
  Pool2dOptions& stride(std::int64_t value) {
    stride_ = value;
    return *this;
  }
  Pool2dOptions& padding(std::int64_t value) {
    padding_ = value;
    return *this;
  }
  std::int64_t kernel() const { return kernel_; }
  std::int64_t stride() const { return stride_; }
  std::int64_t padding() const { return padding_; }

 private:
  std::int64_t kernel_, stride_ = -1, padding_ = 0;
};
using MaxPool2dOptions = Pool2dOptions;
using AvgPool2dOptions = Pool2dOptions;

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const MaxPool2dOptions& options);
  explicit MaxPool2d(std::int64_t kernel, std::int64_t stride = -1, std::int64_t padding = 0);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MaxPool2d"; }
  std::int64_t kernel, stride, padding;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const AvgPool2dOptions& options);
  explicit AvgPool2d(std::int64_t kernel, std::int64_t stride = -1, std::int64_t padding = 0);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AvgPool2d"; }
  std::int64_t kernel, stride, padding;
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(std::int64_t out_height, std::int64_t out_width);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::int64_t out_height, out_width;
};

// Flattens dims start_dim..end_dim into one.
class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Flatten"; }
  std::int64_t start_dim, end_dim;
};

// Its own generator, seeded at construction, makes the masks reproducible;
// save generator()'s state with a checkpoint to resume exactly.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, std::uint64_t seed = 0);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Dropout"; }
  Generator& generator() { return generator_; }
  double p;

 private:
  Generator generator_;
};

// Applies its children in order; they are named "0", "1", ...
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
  std::size_t size() const { return modules_.size(); }
  Module& operator[](std::size_t i) { return *modules_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace mg::nn
