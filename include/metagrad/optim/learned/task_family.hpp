#pragma once
// Task families (google/learned_optimization's TaskFamily): a family
// samples tasks, each a model, its data, its batch size and its horizon,
// whose problems are those of an ordinary Task. Meta-training on a family
// draws every problem of a meta-batch from a different task, so that the
// learned optimizer meets a distribution of problems instead of one.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "metagrad/optim/learned/task.hpp"

namespace mg::optim::learned {

class TaskFamily {
 public:
  virtual ~TaskFamily() = default;
  virtual std::string name() const = 0;
  // Task `index`: a pure function of the index (and the family's options),
  // its horizon (steps, unroll) set.
  virtual std::unique_ptr<Task> task(std::uint64_t index) const = 0;
};

struct TaskFamilyOptions {
  std::string fashion_dir;  // Fashion-MNIST's IDX files; empty: Debian's dataset-fashion-mnist
  std::string cifar_dir;    // CIFAR-10's binary files; empty: the default data folder
  std::uint64_t seed = 0;   // shifts every task's draw
  DType dtype = DType::Float32;
  // Horizons are drawn log-uniformly in [min_steps, max_steps], in whole truncations of `unroll`.
  std::int64_t min_steps = 100, max_steps = 2000, unroll = 20;
};

// "mixed", the training family of issue 31: with probability 0.3 an MLP on
// Fashion-MNIST (1 or 2 hidden layers of 16-128 units, sigmoid, tanh or
// relu), 0.1 logistic regression on Fashion-MNIST, 0.25 a small CNN on
// CIFAR-10 (two 3x3 convolutions of 8-32 channels, with or without batch
// norm), 0.35 a rotated quadratic in 10-100 dimensions with condition
// number 1-1e4 (its loss 1 at the start); batch sizes 32-256, all
// log-uniform, and PyTorch's default initialisation.
std::unique_ptr<TaskFamily> make_task_family(const std::string& name, const TaskFamilyOptions& options = {});
std::vector<std::string> available_task_families();

}  // namespace mg::optim::learned
