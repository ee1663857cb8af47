#pragma once
// The model zoo of the demos and benchmarks.
#include <cstdint>
#include <string>
#include <vector>

#include "metagrad/core/generator.hpp"
#include "metagrad/nn/activation.hpp"
#include "metagrad/nn/layers.hpp"

namespace mg::nn {

// Fully connected layers fc1, fc2, ... of the given widths (input first),
// with `activation` between them. The 784-20-10 sigmoid net of "Learning to
// learn by gradient descent by gradient descent" is
// MLP({784, 20, 10}, Activation::Sigmoid).
class MLP : public Module {
 public:
  explicit MLP(const std::vector<std::int64_t>& widths, Activation activation = Activation::Relu,
               Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;  // x (N, ...) is flattened to (N, widths[0])
  std::string type_name() const override { return "MLP"; }

 private:
  std::vector<std::shared_ptr<Linear>> layers_;
  Activation activation_;
};

// The small CIFAR CNN: four 3x3 convolutions (C->32, 32->32, pool, 32->64,
// 64->64, pool), each followed by batch norm and ReLU, global average pooling
// and a linear classifier.
class SmallCnn : public Module {
 public:
  explicit SmallCnn(std::int64_t in_channels = 3, std::int64_t classes = 10,
                    Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "SmallCnn"; }

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_, conv3_, conv4_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_, bn3_, bn4_;
  std::shared_ptr<Linear> fc_;
};

// ResNet-20 for CIFAR (He et al. 2016, option A shortcuts: subsample and
// zero-pad channels), 0.27M parameters.
class ResNet20 : public Module {
 public:
  explicit ResNet20(std::int64_t in_channels = 3, std::int64_t classes = 10,
                    Generator& generator = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ResNet20"; }

 private:
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<BatchNorm2d> bn1_;
  std::shared_ptr<Sequential> layer1_, layer2_, layer3_;
  std::shared_ptr<Linear> fc_;
};

}  // namespace mg::nn
