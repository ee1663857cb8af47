// The tasks of optimizers.md section 5.4.
#include <functional>
#include <map>
#include <mutex>

#include "core/check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/data/dataset.hpp"
#include "metagrad/data/fetch.hpp"
#include "metagrad/nn/functional.hpp"
#include "metagrad/optim/learned/task.hpp"
#include "optim/learned/image_problem.hpp"

namespace mg::optim::learned {
namespace {

namespace F = nn::functional;

// Disjoint seeds for the problems of each split.
std::uint64_t problem_seed(const TaskOptions& options, Split split, std::uint64_t index) {
  return splitmix64(splitmix64(splitmix64(options.seed) ^ static_cast<std::uint64_t>(split)) + index);
}

// ||W theta - y||^2 for 128 problems at once, W 10x10 and y 10-d with iid
// N(0, 1) (or U[0, 1)) entries; the loss is the mean over the problems.
class QuadraticProblem : public Problem {
 public:
  QuadraticProblem(std::uint64_t seed, const TaskOptions& options) {
    Generator g(seed);
    const auto draw = [&](const Shape& shape) {
      return options.sampling == Sampling::Uniform ? rand(shape, g, options.dtype) : randn(shape, g, options.dtype);
    };
    w_ = draw({kProblems, 10, 10});
    y_ = draw({kProblems, 10, 1});
    theta0_ = randn({kProblems, 10, 1}, g, options.dtype) * 0.01;
  }
  NamedParameters initial() const override { return {{"theta", theta0_.clone()}}; }
  Tensor loss(const std::vector<Tensor>& params, std::int64_t) const override {
    const Tensor r = matmul(w_, params[0]) - y_;
    return sum(r * r) / static_cast<double>(kProblems);
  }

 private:
  static constexpr std::int64_t kProblems = 128;
  Tensor w_, y_, theta0_;
};

class QuadraticTask : public Task {
 public:
  explicit QuadraticTask(TaskOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "quadratic"; }
  std::unique_ptr<Problem> problem(Split split, std::uint64_t index) const override {
    return std::make_unique<QuadraticProblem>(problem_seed(options_, split, index), options_);
  }

 private:
  TaskOptions options_;
};

class MlpTask : public Task {
 public:
  MlpTask(std::string name, std::vector<std::int64_t> hidden, nn::Activation activation, TaskOptions options)
      : name_(std::move(name)), activation_(activation), options_(std::move(options)) {
    widths_ = {784};
    widths_.insert(widths_.end(), hidden.begin(), hidden.end());
    widths_.push_back(10);
  }
  std::string name() const override { return name_; }
  std::unique_ptr<Problem> problem(Split split, std::uint64_t index) const override {
    const std::string kind = name_ == "mlp-synthetic" ? "synthetic" : "fashion-mnist";
    const std::string dir = kind == "synthetic" ? std::string() : data::locate_dataset(kind, options_.data_dir);
    const DType dtype = options_.dtype;
    // Weights and biases N(0, 0.01^2) (section 5.4).
    const auto init = [](const Shape& shape, std::int64_t, Generator& g, DType d) { return randn(shape, g, d) * 0.01; };
    return std::make_unique<MlpProblem>(
        problem_seed(options_, split, index), widths_, activation_, init, 128, load_images(kind, dir, dtype),
        [kind, dir, dtype] { return load_images(kind, dir, dtype, false); }, dtype);
  }

 private:
  std::string name_;
  nn::Activation activation_;
  std::vector<std::int64_t> widths_;
  TaskOptions options_;
};

// The CIFAR-10 images of the classes below `classes` (cifar5, cifar2).
std::shared_ptr<const Images> restrict_classes(std::shared_ptr<const Images> all, std::int64_t classes) {
  if (classes >= 10) return all;
  std::vector<std::int64_t> keep;
  const auto labels = all->labels.to_vector<std::int64_t>();
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < classes) keep.push_back(static_cast<std::int64_t>(i));
  const Tensor index = Tensor::from_vector(keep, {static_cast<std::int64_t>(keep.size())});
  auto images = std::make_shared<Images>();
  images->inputs = index_select(all->inputs, 0, index);
  images->labels = index_select(all->labels, 0, index);
  return images;
}

// 3 x [conv 5x5, 16 channels, SAME -> batch norm (batch statistics, offset
// only) -> ReLU -> max pool 2], then Linear 256 -> 32 -> batch norm -> ReLU
// -> Linear 10; every parameter N(0, 0.01^2).
class CnnProblem : public ImageProblem {
 public:
  CnnProblem(std::uint64_t seed, std::int64_t classes, std::shared_ptr<const Images> images, ImagesLoader test_images,
             DType dtype)
      : ImageProblem(seed, std::move(images), std::move(test_images), dtype), classes_(classes) {}

  NamedParameters initial() const override {
    Generator g(seed_);
    NamedParameters params;
    const auto add = [&](const std::string& name, const Shape& shape) {
      params.emplace_back(name, randn(shape, g, dtype_) * 0.01);
    };
    std::int64_t channels = 3;
    for (int l = 1; l <= 3; ++l) {
      const std::string n = std::to_string(l);
      add("conv" + n + ".weight", {16, channels, 5, 5});
      add("conv" + n + ".bias", {16});
      add("bn" + n + ".bias", {16});
      channels = 16;
    }
    add("fc1.weight", {32, 16 * 4 * 4});
    add("fc1.bias", {32});
    add("bn4.bias", {32});
    add("fc2.weight", {classes_, 32});
    add("fc2.bias", {classes_});
    return params;
  }

 private:
  // Batch norm uses batch statistics in evaluation too (the task keeps no
  // running ones), over chunks of 500 test images.
  Tensor logits(const std::vector<Tensor>& p, Tensor h) const override {
    for (std::size_t l = 0; l < 3; ++l) {
      h = F::conv2d(h, p[3 * l], p[3 * l + 1], 1, 2);
      h = F::max_pool2d(batch_norm_relu(h, p[3 * l + 2]), 2);
    }
    h = F::linear(h.flatten(1), p[9], p[10]);
    return F::linear(batch_norm_relu(h, p[11]), p[12], p[13]);
  }

  // relu(batch_norm(h)) in one op: a pass less forward and backward.
  static Tensor batch_norm_relu(const Tensor& h, const Tensor& offset) {
    return F::batch_norm(h, {.bias = offset, .training = true, .then = {.relu = true}});
  }

  std::int64_t classes_;
};

class CnnTask : public Task {
 public:
  CnnTask(std::string name, std::int64_t classes, TaskOptions options)
      : name_(std::move(name)), classes_(classes), options_(std::move(options)) {
    try {
      options_.data_dir = data::locate_dataset("cifar10", options_.data_dir);
    } catch (const Error& e) {
      throw Error(fmt::format("task {}: {}", name_, e.what()));
    }
  }
  std::string name() const override { return name_; }
  std::unique_ptr<Problem> problem(Split split, std::uint64_t index) const override {
    const auto load = [dir = options_.data_dir, dtype = options_.dtype, classes = classes_](bool train) {
      return restrict_classes(load_images("cifar10", dir, dtype, train), classes);
    };
    return std::make_unique<CnnProblem>(
        problem_seed(options_, split, index), classes_, load(true), [load] { return load(false); }, options_.dtype);
  }

 private:
  std::string name_;
  std::int64_t classes_;
  TaskOptions options_;
};

}  // namespace

namespace {

class FunctionTask : public Task {
 public:
  FunctionTask(std::string name, Horizon horizon, ProblemMaker problem)
      : name_(std::move(name)), problem_(std::move(problem)) {
    steps = horizon.steps;
    unroll = horizon.unroll;
  }
  std::string name() const override { return name_; }
  std::unique_ptr<Problem> problem(Split split, std::uint64_t index) const override { return problem_(split, index); }

 private:
  std::string name_;
  ProblemMaker problem_;
};

}  // namespace

std::unique_ptr<Task> make_task(std::string name, Horizon horizon, ProblemMaker problem) {
  return std::make_unique<FunctionTask>(std::move(name), horizon, std::move(problem));
}

std::vector<std::string> available_tasks() {
  return {"quadratic", "mlp", "mlp-relu", "mlp-40", "mlp-2layer", "mlp-synthetic", "cnn", "cnn-cifar5", "cnn-cifar2"};
}

std::unique_ptr<Task> make_task(const std::string& name, const TaskOptions& options) {
  if (name == "quadratic") return std::make_unique<QuadraticTask>(options);
  if (name == "mlp")
    return std::make_unique<MlpTask>(name, std::vector<std::int64_t>{20}, nn::Activation::Sigmoid, options);
  if (name == "cnn") return std::make_unique<CnnTask>(name, 10, options);
  if (name == "cnn-cifar5") return std::make_unique<CnnTask>(name, 5, options);
  if (name == "cnn-cifar2") return std::make_unique<CnnTask>(name, 2, options);
  if (name == "mlp-synthetic")  // the mlp on random data (benchmarks, machines without Fashion-MNIST)
    return std::make_unique<MlpTask>(name, std::vector<std::int64_t>{20}, nn::Activation::Sigmoid, options);
  if (name == "mlp-relu")
    return std::make_unique<MlpTask>(name, std::vector<std::int64_t>{20}, nn::Activation::Relu, options);
  if (name == "mlp-40")
    return std::make_unique<MlpTask>(name, std::vector<std::int64_t>{40}, nn::Activation::Sigmoid, options);
  if (name == "mlp-2layer")
    return std::make_unique<MlpTask>(name, std::vector<std::int64_t>{20, 20}, nn::Activation::Sigmoid, options);
  std::string names;
  for (const auto& n : available_tasks()) names += (names.empty() ? "" : ", ") + n;
  throw Error(fmt::format("unknown task '{}'; available: {}", name, names));
}

}  // namespace mg::optim::learned
