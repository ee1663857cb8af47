// The task families: "mixed", the training distribution of issue 31.
#include <cmath>

#include "core/check.hpp"
#include "metagrad/core/linalg.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/data/fetch.hpp"
#include "metagrad/nn/functional.hpp"
#include "metagrad/optim/learned/task_family.hpp"
#include "optim/learned/image_problem.hpp"
#include "optim/learned/seeded_task.hpp"

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
    return seeded_task(std::move(name), seed, horizon, [=](std::uint64_t problem_seed) {
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
    return seeded_task(std::move(name), seed, horizon, [=](std::uint64_t problem_seed) {
      std::string dir;
      try {
        dir = data::locate_dataset("cifar10", given);
      } catch (const Error& e) {
        throw Error(fmt::format("task family mixed: its CNN tasks read CIFAR-10: {}", e.what()));
      }
      return std::make_unique<SmallCnnProblem>(
          problem_seed, SmallCnnProblem::Layout{3, 32, channels, batch_norm}, batch, load_images("cifar10", dir, dtype),
          [dir, dtype] { return load_images("cifar10", dir, dtype, false); }, dtype);
    });
  }

  std::unique_ptr<Task> quadratic(std::int64_t dimension, double condition, std::uint64_t seed, Horizon horizon) const {
    return rotated_quadratic_task(fmt::format("quadratic {} dimensions, condition {:.3g}", dimension, condition),
                                  dimension, condition, seed, horizon, o_.dtype);
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
