#include "metagrad/nn/models.hpp"

#include "core/check.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/nn/functional.hpp"
#include "metagrad/nn/init.hpp"

namespace mg::nn {

namespace F = functional;

MLP::MLP(const std::vector<std::int64_t>& widths, Activation activation, Generator& generator)
    : activation_(activation) {
  MG_CHECK(widths.size() >= 2, "MLP: expected at least an input and an output width, got {}", widths.size());
  for (std::size_t i = 0; i + 1 < widths.size(); ++i)
    layers_.push_back(register_module("fc" + std::to_string(i + 1),
                                      std::make_shared<Linear>(LinearOptions(widths[i], widths[i + 1]), generator)));
}

Tensor MLP::forward(const Tensor& x) {
  Tensor h = x.dim() > 2 ? x.flatten(1) : x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    h = layers_[i]->forward(h);
    if (i + 1 == layers_.size()) break;
    h = activate(activation_, h);
  }
  return h;
}

SmallCnn::SmallCnn(std::int64_t in_channels, std::int64_t classes, Generator& generator) {
  const std::int64_t widths[] = {in_channels, 32, 32, 64, 64};
  std::shared_ptr<Conv2d>* convs[] = {&conv1_, &conv2_, &conv3_, &conv4_};
  std::shared_ptr<BatchNorm2d>* norms[] = {&bn1_, &bn2_, &bn3_, &bn4_};
  for (int i = 0; i < 4; ++i) {
    *convs[i] = register_module(
        "conv" + std::to_string(i + 1),
        std::make_shared<Conv2d>(Conv2dOptions(widths[i], widths[i + 1], 3).padding(1).bias(false), generator));
    *norms[i] = register_module("bn" + std::to_string(i + 1), std::make_shared<BatchNorm2d>(widths[i + 1]));
  }
  fc_ = register_module("fc", std::make_shared<Linear>(LinearOptions(64, classes), generator));
}

Tensor SmallCnn::forward(const Tensor& x) {
  Tensor h = conv_bn(*conv1_, *bn1_, x, true);
  h = F::max_pool2d(conv_bn(*conv2_, *bn2_, h, true), 2);
  h = conv_bn(*conv3_, *bn3_, h, true);
  h = F::max_pool2d(conv_bn(*conv4_, *bn4_, h, true), 2);
  return fc_->forward(F::adaptive_avg_pool2d(h, 1, 1).flatten(1));
}

namespace {

// conv-bn-relu-conv-bn plus the shortcut, then relu.
class BasicBlock : public Module {
 public:
  BasicBlock(std::int64_t in, std::int64_t out, std::int64_t stride, Generator& generator)
      : in_(in), out_(out), stride_(stride) {
    conv1_ = register_module(
        "conv1", std::make_shared<Conv2d>(Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false), generator));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(out));
    conv2_ = register_module("conv2",
                             std::make_shared<Conv2d>(Conv2dOptions(out, out, 3).padding(1).bias(false), generator));
    bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(out));
  }

  Tensor forward(const Tensor& x) override {
    const Tensor h = conv_bn(*conv1_, *bn1_, x, true);
    return conv_bn(*conv2_, *bn2_, h, true, shortcut(x));
  }

  std::string type_name() const override { return "BasicBlock"; }

 private:
  // Option A: take every stride-th pixel and pad the new channels with zeros.
  Tensor shortcut(const Tensor& x) const {
    if (stride_ == 1 && in_ == out_) return x;
    const Tensor sub = x.slice(2, 0, x.size(2), stride_).slice(3, 0, x.size(3), stride_);
    const std::int64_t pad = (out_ - in_) / 2;
    const Tensor zero = zeros({x.size(0), pad, sub.size(2), sub.size(3)}, x.dtype());
    return cat({zero, sub, zero}, 1);
  }

  std::int64_t in_, out_, stride_;
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_;
};

std::shared_ptr<Sequential> stage(std::int64_t in, std::int64_t out, std::int64_t stride, Generator& generator) {
  auto blocks = std::make_shared<Sequential>();
  for (int i = 0; i < 3; ++i)
    blocks->push_back(std::make_shared<BasicBlock>(i == 0 ? in : out, out, i == 0 ? stride : 1, generator));
  return blocks;
}

}  // namespace

ResNet20::ResNet20(std::int64_t in_channels, std::int64_t classes, Generator& generator) {
  conv1_ = register_module(
      "conv1", std::make_shared<Conv2d>(Conv2dOptions(in_channels, 16, 3).padding(1).bias(false), generator));
  bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(16));
  layer1_ = register_module("layer1", stage(16, 16, 1, generator));
  layer2_ = register_module("layer2", stage(16, 32, 2, generator));
  layer3_ = register_module("layer3", stage(32, 64, 2, generator));
  fc_ = register_module("fc", std::make_shared<Linear>(LinearOptions(64, classes), generator));
  // He initialisation for every convolution and the classifier, as in the paper.
  apply([&generator](Module& m) {
    if (auto* conv = dynamic_cast<Conv2d*>(&m))
      init::kaiming_normal_(conv->weight, 0.0, init::FanMode::FanIn, generator);
    if (auto* linear = dynamic_cast<Linear*>(&m))
      init::kaiming_normal_(linear->weight, 0.0, init::FanMode::FanIn, generator);
  });
}

Tensor ResNet20::forward(const Tensor& x) {
  Tensor h = conv_bn(*conv1_, *bn1_, x, true);
  h = layer3_->forward(layer2_->forward(layer1_->forward(h)));
  return fc_->forward(F::adaptive_avg_pool2d(h, 1, 1).flatten(1));
}

}  // namespace mg::nn
