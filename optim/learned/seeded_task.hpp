#pragma once
// Tasks whose problems are made from one seed each (the task families' and
// the held-out suite's): the split and index pick the seed.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "metagrad/optim/learned/task.hpp"

namespace mg::optim::learned {

// Disjoint problem seeds per split.
std::uint64_t split_seed(std::uint64_t task_seed, Split split, std::uint64_t index);

using SeededMaker = std::function<std::unique_ptr<Problem>(std::uint64_t seed)>;
std::unique_ptr<Task> seeded_task(std::string name, std::uint64_t seed, Horizon horizon, SeededMaker make);

// 0.5 (x - x*)^T A (x - x*) / f(x_0), A = Q diag(lambda) Q^T with lambda
// log-spaced from 1 to `condition` and Q a random rotation, so the loss
// starts at 1 whatever the scale. The task (its seed) fixes A and x*; a
// problem draws x_0.
std::unique_ptr<Task> rotated_quadratic_task(std::string name, std::int64_t dimension, double condition,
                                             std::uint64_t seed, Horizon horizon, DType dtype);

}  // namespace mg::optim::learned
