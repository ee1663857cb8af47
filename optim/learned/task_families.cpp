// The task families: "mixed", the training distribution of issue 31.
#include <cmath>

#include "core/check.hpp"
#include "metagrad/core/linalg.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/data/fetch.hpp"
#include "metagrad/nn/functional.hpp"
#include "metagrad/optim/learned/task_family.hpp"
#include "optim/learned/image_problem.hpp"

namespace mg::optim::learned {
namespace {

namespace F = nn::functional;

using nn::Activation;

// The draws of one task: uniform numbers from a generator keyed by the
// family's seed and the task's index.
class Draws {
 public:
  Draws(std::uint64_t seed, std::uint64_t index) : generator_(splitmix64(splitmix64(seed) + index)) {}
  double uniform() { return rand({1}, generator_, DType::Float64).item<double>(); }
  double log_uniform(double low, double high) { return std::exp(std::log(low) + uniform() * std::log(high / low)); }
  std::int64_t log_uniform_int(std::int64_t low, std::int64_t high) {
    const auto x = static_cast<std::int64_t>(std::floor(log_uniform(static_cast<double>(low), high + 1.0)));
    return std::min(std::max(x, low), high);
  }
  std::uint64_t seed() { return splitmix64(static_cast<std::uint64_t>(uniform() * 9007199254740992.0)); }

 private:
  Generator generator_;
};

// Disjoint problem seeds per split.
std::uint64_t split_seed(std::uint64_t task_seed, Split split, std::uint64_t index) {
  return splitmix64(splitmix64(task_seed ^ (static_cast<std::uint64_t>(split) + 1)) + index);
}

// PyTorch's default for Linear and Conv2d: weights and biases
// U(-1/sqrt(fan in), 1/sqrt(fan in)).
Tensor default_init(const Shape& shape, std::int64_t fan_in, Generator& g, DType dtype) {
  const double bound = 1 / std::sqrt(static_cast<double>(fan_in));
  return rand(shape, g, dtype) * (2 * bound) - bound;
}

// Two blocks of [conv 3x3, `channels`, padding 1 -> batch norm (batch
// statistics, learnt scale and offset) or a bias -> relu -> max pool 2],
// then a linear classifier of 10 classes.
class FamilyCnnProblem : public ImageProblem {
 public:
  FamilyCnnProblem(std::uint64_t seed, std::int64_t channels, bool batch_norm, std::int64_t batch,
                   std::shared_ptr<const Images> images, ImagesLoader test_images, DType dtype)
      : ImageProblem(seed, std::move(images), std::move(test_images), dtype, batch),
        channels_(channels),
        batch_norm_(batch_norm) {}

  NamedParameters initial() const override {
    Generator g(seed_);
    NamedParameters params;
    std::int64_t in = 3;
    for (int l = 1; l <= 2; ++l) {
      const std::string n = std::to_string(l);
      params.emplace_back("conv" + n + ".weight", default_init({channels_, in, 3, 3}, in * 9, g, dtype_));
      if (batch_norm_) {
        params.emplace_back("bn" + n + ".weight", ones({channels_}, dtype_));
        params.emplace_back("bn" + n + ".bias", zeros({channels_}, dtype_));
      } else {
        params.emplace_back("conv" + n + ".bias", default_init({channels_}, in * 9, g, dtype_));
      }
      in = channels_;
    }
    params.emplace_back("fc.weight", default_init({10, channels_ * 64}, channels_ * 64, g, dtype_));
    params.emplace_back("fc.bias", default_init({10}, channels_ * 64, g, dtype_));
    return params;
  }

 private:
  Tensor logits(const std::vector<Tensor>& p, Tensor h) const override {
    std::size_t i = 0;
    for (int l = 0; l < 2; ++l) {
      if (batch_norm_) {
        h = F::conv2d(h, p[i], Tensor(), 1, 1);
        h = F::batch_norm(h, {.weight = p[i + 1], .bias = p[i + 2], .training = true});
        i += 3;
      } else {
        h = F::conv2d(h, p[i], p[i + 1], 1, 1);
        i += 2;
      }
      h = F::max_pool2d(relu(h), 2);
    }
    return F::linear(h.flatten(1), p[i], p[i + 1]);
  }

  std::int64_t channels_;
  bool batch_norm_;
};

// 0.5 (x - x*)^T A (x - x*) / f(x_0), A = Q diag(lambda) Q^T with lambda
// log-spaced from 1 to the condition number and Q a random rotation: the
// loss starts at 1 whatever the scale. The task fixes A and x*; a
// problem draws x_0.
class RotatedQuadratic : public Problem {
 public:
  RotatedQuadratic(Tensor a, Tensor optimum, std::uint64_t seed, DType dtype)
      : a_(std::move(a)), optimum_(std::move(optimum)) {
    Generator g(seed);
    x0_ = randn({optimum_.numel()}, g, dtype);
    const Tensor r = x0_ - optimum_;
    scale_ = 1 / (0.5 * sum(r * matmul(a_, r.reshape({-1, 1})).reshape({-1})).item<double>());
  }
  NamedParameters initial() const override { return {{"x", x0_.clone()}}; }
  Tensor loss(const std::vector<Tensor>& params, std::int64_t) const override {
    const Tensor r = params[0] - optimum_;
    return sum(r * matmul(a_, r.reshape({-1, 1})).reshape({-1})) * (0.5 * scale_);
  }

 private:
  Tensor a_, optimum_, x0_;
  double scale_ = 1;
};

// A task of the family: problem `index` of a split is made from a seed of
// its own.
using SeededMaker = std::function<std::unique_ptr<Problem>(std::uint64_t seed)>;
std::unique_ptr<Task> family_task(std::string name, std::uint64_t seed, Horizon horizon, SeededMaker make) {
  return make_task(std::move(name), horizon, [seed, make = std::move(make)](Split split, std::uint64_t index) {
    return make(split_seed(seed, split, index));
  });
}

class MixedFamily : public TaskFamily {
 public:
  explicit MixedFamily(TaskFamilyOptions options) : o_(std::move(options)) {
    MG_CHECK(o_.unroll >= 1 && o_.min_steps >= o_.unroll && o_.max_steps >= o_.min_steps,
             "task family mixed: need 1 <= unroll <= min_steps <= max_steps, not {}, {}, {}", o_.unroll, o_.min_steps,
             o_.max_steps);
  }
  std::string name() const override { return "mixed"; }

  std::unique_ptr<Task> task(std::uint64_t index) const override {
    Draws draws(o_.seed, index);
    const double kind = draws.uniform();
    const auto truncations = static_cast<std::int64_t>(
        std::round(draws.log_uniform(static_cast<double>(o_.min_steps), static_cast<double>(o_.max_steps)) /
                   static_cast<double>(o_.unroll)));
    const Horizon horizon{std::max<std::int64_t>(truncations, 1) * o_.unroll, o_.unroll};
    const std::int64_t batch = draws.log_uniform_int(32, 256);
    const std::uint64_t seed = draws.seed();
    if (kind < 0.3) {
      const std::int64_t layers = draws.uniform() < 0.5 ? 1 : 2;
      std::vector<std::int64_t> widths = {784};
      for (std::int64_t l = 0; l < layers; ++l) widths.push_back(draws.log_uniform_int(16, 128));
      widths.push_back(10);
      constexpr Activation kActivations[] = {Activation::Sigmoid, Activation::Tanh, Activation::Relu};
      const Activation activation = kActivations[std::min(static_cast<int>(draws.uniform() * 3), 2)];
      return mlp(fmt::format("mlp {} {}, batch {}", fmt::join(widths, "-"), to_string(activation), batch), seed, widths,
                 activation, batch, horizon);
    }
    if (kind < 0.4)
      return mlp(fmt::format("logistic regression, batch {}", batch), seed, {784, 10}, Activation::Relu, batch,
                 horizon);
    if (kind < 0.65) {
      const std::int64_t channels = draws.log_uniform_int(8, 32);
      const bool batch_norm = draws.uniform() < 0.5;
      return cnn(fmt::format("cnn {} channels{}, batch {}", channels, batch_norm ? " batch norm" : "", batch), seed,
                 channels, batch_norm, batch, horizon);
    }
    const std::int64_t dimension = draws.log_uniform_int(10, 100);
    const double condition = draws.log_uniform(1, 1e4);
    return quadratic(dimension, condition, seed, horizon);
  }

 private:
  std::unique_ptr<Task> mlp(std::string name, std::uint64_t seed, std::vector<std::int64_t> widths,
                            Activation activation, std::int64_t batch, Horizon horizon) const {
    const std::string given = o_.fashion_dir;  // located when a problem is made: naming a task reads nothing
    const DType dtype = o_.dtype;
    return family_task(std::move(name), seed, horizon, [=](std::uint64_t problem_seed) {
      const std::string dir = data::locate_dataset("fashion-mnist", given);
      return std::make_unique<MlpProblem>(
          problem_seed, widths, activation, default_init, batch, load_images("fashion-mnist", dir, dtype),
          [dir, dtype] { return load_images("fashion-mnist", dir, dtype, false); }, dtype);
    });
  }

  std::unique_ptr<Task> cnn(std::string name, std::uint64_t seed, std::int64_t channels, bool batch_norm,
                            std::int64_t batch, Horizon horizon) const {
    const std::string given = o_.cifar_dir;
    const DType dtype = o_.dtype;
    return family_task(std::move(name), seed, horizon, [=](std::uint64_t problem_seed) {
      std::string dir;
      try {
        dir = data::locate_dataset("cifar10", given);
      } catch (const Error& e) {
        throw Error(fmt::format("task family mixed: its CNN tasks read CIFAR-10: {}", e.what()));
      }
      return std::make_unique<FamilyCnnProblem>(
          problem_seed, channels, batch_norm, batch, load_images("cifar10", dir, dtype),
          [dir, dtype] { return load_images("cifar10", dir, dtype, false); }, dtype);
    });
  }

  std::unique_ptr<Task> quadratic(std::int64_t dimension, double condition, std::uint64_t seed, Horizon horizon) const {
    Generator g(seed);
    const Tensor gaussian = randn({dimension, dimension}, g, DType::Float64);
    const Tensor rotation = eigh(gaussian + gaussian.t()).vectors;
    std::vector<double> spectrum(static_cast<std::size_t>(dimension));
    for (std::int64_t i = 0; i < dimension; ++i)
      spectrum[static_cast<std::size_t>(i)] =
          std::pow(condition, dimension > 1 ? static_cast<double>(i) / static_cast<double>(dimension - 1) : 0.0);
    const Tensor a = matmul(rotation * Tensor::from_vector(spectrum, {1, dimension}), rotation.t()).to(o_.dtype);
    const Tensor optimum = randn({dimension}, g, o_.dtype);
    const DType dtype = o_.dtype;
    return family_task(fmt::format("quadratic {} dimensions, condition {:.3g}", dimension, condition), seed, horizon,
                       [=](std::uint64_t problem_seed) {
                         return std::make_unique<RotatedQuadratic>(a, optimum, problem_seed, dtype);
                       });
  }

  TaskFamilyOptions o_;
};

}  // namespace

std::vector<std::string> available_task_families() { return {"mixed"}; }

std::unique_ptr<TaskFamily> make_task_family(const std::string& name, const TaskFamilyOptions& options) {
  if (name == "mixed") return std::make_unique<MixedFamily>(options);
  throw Error(fmt::format("unknown task family '{}'; available: mixed", name));
}

}  // namespace mg::optim::learned
