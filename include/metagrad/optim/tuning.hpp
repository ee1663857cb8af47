#pragma once
// Hyperparameter search shared by `compare`, `meta-eval` and `reproduce`:
// a grid (e.g. the learning rates of optimizers.md 5.5) scored by any
// function, lower is better; a run that diverged scores +inf.
#include <functional>
#include <utility>
#include <vector>

namespace mg::optim {

struct GridSearch {
  double best = 0, best_score = 0;
  std::vector<std::pair<double, double>> scores;  // (value, score), in grid order
};

GridSearch grid_search(const std::vector<double>& grid, const std::function<double(double)>& score);

// {1e-4, 3e-4, 1e-3, ..., 1, 3}: paper 2's baseline learning rates.
const std::vector<double>& log_lr_grid();

}  // namespace mg::optim
