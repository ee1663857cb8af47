#pragma once
// What the image tasks share (mlp, cnn and the task families' models): a
// dataset as tensors, mini-batches drawn from it by (seed, step), and a
// classifier problem whose subclasses give the network.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "metagrad/core/generator.hpp"
#include "metagrad/nn/activation.hpp"
#include "metagrad/nn/functional.hpp"
#include "metagrad/nn/module.hpp"
#include "metagrad/optim/learned/task.hpp"
#include "optim/learned/module_network.hpp"

namespace mg::optim::learned {

// A dataset held as one (N, features) float tensor /255 and its labels.
struct Images {
  Tensor inputs, labels;
};

// The training split (mini-batches) or the test split (evaluation) of
// "fashion-mnist", "cifar10" or "synthetic" (4096 random N(0, 1) images:
// benchmarks and tests without a dataset); loaded once per process.
std::shared_ptr<const Images> load_images(const std::string& kind, const std::string& dir, DType dtype,
                                          bool train = true);
using ImagesLoader = std::function<std::shared_ptr<const Images>()>;

// The seed of a problem's validation batches, apart from its training ones.
std::uint64_t validation_stream(std::uint64_t seed);

// A mini-batch's generator: a function of the problem and the step.
Generator batch_generator(std::uint64_t seed, std::int64_t step);
// A mini-batch drawn uniformly with replacement.
std::pair<Tensor, Tensor> sample_batch(const Images& images, std::uint64_t seed, std::int64_t step,
                                       std::int64_t batch_size = 128);

// Loss and accuracy over a whole image set, in chunks; `logits` maps a chunk
// of inputs to class scores.
Evaluation evaluate_on(const Images& images, const std::function<Tensor(const Tensor&)>& logits);

// A classifier trained on mini-batches of `batch_size` drawn from its
// training images and evaluated on the test images; subclasses give the
// parameters and the network (`logits`).
class ImageProblem : public Problem {
 public:
  ImageProblem(std::uint64_t seed, std::shared_ptr<const Images> images, ImagesLoader test_images, DType dtype,
               std::int64_t batch_size = 128)
      : seed_(seed),
        dtype_(dtype),
        batch_size_(batch_size),
        images_(std::move(images)),
        test_images_(std::move(test_images)) {}

  Tensor loss(const std::vector<Tensor>& params, std::int64_t step) const override {
    const auto [inputs, labels] = sample_batch(*images_, seed_, step, batch_size_);
    return nn::functional::cross_entropy(logits(params, inputs), labels);
  }

  std::optional<Evaluation> evaluate(const std::vector<Tensor>& params) const override {
    return evaluate_on(*test_images_(), [&](const Tensor& inputs) { return logits(params, inputs); });
  }

  // A batch of the test images, drawn by (seed, step) from a stream of its own.
  Tensor validation_loss(const std::vector<Tensor>& params, std::int64_t step) const override {
    const auto [inputs, labels] = sample_batch(*test_images_(), validation_stream(seed_), step, batch_size_);
    return nn::functional::cross_entropy(logits(params, inputs), labels);
  }

 protected:
  virtual Tensor logits(const std::vector<Tensor>& params, Tensor inputs) const = 0;

  std::uint64_t seed_;
  DType dtype_;
  std::int64_t batch_size_;

 private:
  std::shared_ptr<const Images> images_;
  ImagesLoader test_images_;
};

// PyTorch's default for Linear and Conv2d: weights and biases
// U(-1/sqrt(fan in), 1/sqrt(fan in)).
Tensor default_init(const Shape& shape, std::int64_t fan_in, Generator& g, DType dtype);

// Fully connected layers of `widths` (input first) with `activation`
// between them; each layer's weight and then its bias drawn by `init`
// (shape, fan in, generator, dtype) from the problem's seed.
class MlpProblem : public ImageProblem {
 public:
  using Init = std::function<Tensor(const Shape& shape, std::int64_t fan_in, Generator& generator, DType dtype)>;
  MlpProblem(std::uint64_t seed, std::vector<std::int64_t> widths, nn::Activation activation, Init init,
             std::int64_t batch_size, std::shared_ptr<const Images> images, ImagesLoader test_images, DType dtype)
      : ImageProblem(seed, std::move(images), std::move(test_images), dtype, batch_size),
        widths_(std::move(widths)),
        activation_(activation),
        init_(std::move(init)) {}

  NamedParameters initial() const override;

 private:
  Tensor logits(const std::vector<Tensor>& params, Tensor inputs) const override;

  std::vector<std::int64_t> widths_;
  nn::Activation activation_;
  Init init_;
};

// Two blocks of [conv 3x3, `channels`, padding 1 -> batch norm (batch
// statistics, learnt scale and offset) or a bias -> relu -> max pool 2],
// then a linear classifier of 10 classes; PyTorch's default initialisation.
class SmallCnnProblem : public ImageProblem {
 public:
  struct Layout {
    std::int64_t in_channels, side;  // of the images: 3 and 32 for CIFAR-10, 1 and 28 for Fashion-MNIST
    std::int64_t channels;
    bool batch_norm;
  };
  SmallCnnProblem(std::uint64_t seed, Layout layout, std::int64_t batch, std::shared_ptr<const Images> images,
                  ImagesLoader test_images, DType dtype)
      : ImageProblem(seed, std::move(images), std::move(test_images), dtype, batch), layout_(layout) {}

  NamedParameters initial() const override;

 private:
  Tensor logits(const std::vector<Tensor>& params, Tensor inputs) const override;

  Layout layout_;
};

// ResNet-20 (nn::ResNet20, He initialisation) on 32x32 colour images,
// called with the problem's parameters in place of the model's; batch norm
// uses batch statistics throughout.
class ResNetProblem : public ImageProblem {
 public:
  ResNetProblem(std::uint64_t seed, std::int64_t batch, std::shared_ptr<const Images> images, ImagesLoader test_images,
                DType dtype);

  NamedParameters initial() const override;

 private:
  Tensor logits(const std::vector<Tensor>& params, Tensor inputs) const override;

  ModuleNetwork network_;
};

}  // namespace mg::optim::learned
