#pragma once
// Tasks for meta-training and evaluating optimizers (optimizers.md section
// 5.4): a task yields problems, each a starting point and a loss per
// step (its mini-batch), from seeds that keep training, validation and test
// problems disjoint. Every problem is a pure function of its seed, so runs
// repeat exactly. A task knows no optimizer.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "metagrad/optim/optimizer.hpp"

namespace mg::optim::learned {

// Loss and accuracy on a task's held-out test images.
struct Evaluation {
  double loss, accuracy;
};

class Problem {
 public:
  virtual ~Problem() = default;
  // Fresh leaf tensors (not requiring grad) of theta_0.
  virtual NamedParameters initial() const = 0;
  // The loss at optimizer step `step` (0, 1, ...) for these parameter values,
  // in the order of initial(); it builds a graph through them.
  virtual Tensor loss(const std::vector<Tensor>& params, std::int64_t step) const = 0;
  // The parameters' loss and accuracy on the dataset's test split (plain
  // training runs report it); nullopt for tasks without one (quadratic).
  virtual std::optional<Evaluation> evaluate(const std::vector<Tensor>&) const { return std::nullopt; }
  // The loss at `step` on a batch of held-out data (the validation
  // meta-objective, MetaObjective::ValidationBatches); problems without
  // held-out data (quadratics) give their training loss.
  virtual Tensor validation_loss(const std::vector<Tensor>& params, std::int64_t step) const {
    return loss(params, step);
  }
};

enum class Split { Train, Validation, Test };

// A run's length: `steps` optimizee steps, in truncations of `unroll` when
// meta-training cuts it.
struct Horizon {
  std::int64_t steps = 100, unroll = 20;
  std::int64_t truncations() const { return steps / unroll; }
};

// The quadratic task's W and y: N(0, 1) or U[0, 1) entries.
enum class Sampling { Gaussian, Uniform };

struct TaskOptions {
  std::string data_dir;                    // empty: the task's default (Fashion-MNIST: Debian's package)
  std::uint64_t seed = 0;                  // shifts every split's seeds
  DType dtype = DType::Float32;            // of the optimizee
  Sampling sampling = Sampling::Gaussian;  // quadratic only
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  // Problem `index` of a split.
  virtual std::unique_ptr<Problem> problem(Split split, std::uint64_t index) const = 0;
  // The horizon of its problems: optimizee steps, and the truncations
  // meta-training cuts them into.
  std::int64_t steps = 100, unroll = 20;
  Horizon horizon() const { return {steps, unroll}; }
};

// A task from a function: `problem(split, index)` makes its problems, over
// `horizon` (task families' tasks in a few lines).
using ProblemMaker = std::function<std::unique_ptr<Problem>(Split split, std::uint64_t index)>;
std::unique_ptr<Task> make_task(std::string name, Horizon horizon, ProblemMaker problem);

// quadratic, mlp, mlp-relu, mlp-40, mlp-2layer, mlp-synthetic (the mlp on
// 4096 random images: benchmarks and machines without Fashion-MNIST), and
// cnn, cnn-cifar5, cnn-cifar2 (CIFAR-10 from options.data_dir, all classes or
// the first 5 or 2; two nets, "conv" and "fc").
std::unique_ptr<Task> make_task(const std::string& name, const TaskOptions& options = {});
std::vector<std::string> available_tasks();

}  // namespace mg::optim::learned
