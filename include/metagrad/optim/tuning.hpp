#pragma once
// Hyperparameter search shared by `compare`, `meta-eval` and `reproduce`:
// a grid (e.g. the learning rates of optimizers.md 5.5) scored by any
// function, lower is better; a run that diverged scores +inf.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace mg::optim {

struct GridSearch {
  double best = 0, best_score = 0;
  std::vector<std::pair<double, double>> scores;  // (value, score), in grid order
};

// The grid's scores are computed concurrently (run_concurrently, with the
// results of computing them one by one): `score` is called from several
// threads at once, so it must not share mutable state between calls (each a
// training run of its own is the intended use) nor call MPI collectives.
GridSearch grid_search(const std::vector<double>& grid, const std::function<double(double)>& score);

// A hyperparameter's search range: log-uniform (positive scales such as
// learning rates) or uniform (momenta).
struct SearchRange {
  double low, high;
  bool log_scale = true;
};

struct RandomSearch {
  std::vector<double> best;  // one value per range
  double best_score = 0;
  std::vector<std::pair<std::vector<double>, double>> trials;  // (values, score), in draw order
};

// `trials` points drawn from `ranges` by a generator seeded with `seed`: the
// same seed draws the same points, on every platform.
std::vector<std::vector<double>> random_points(const std::vector<SearchRange>& ranges, int trials, std::uint64_t seed);

// The points of random_points scored like grid_search, concurrently
// (optimizers.md 8.5: the paper's random search over log-uniform ranges).
RandomSearch random_search(const std::vector<SearchRange>& ranges, int trials, std::uint64_t seed,
                           const std::function<double(const std::vector<double>&)>& score);

// A spec template with "{}" where a searched value goes (e.g. "adam(lr={})"),
// with `value` written there ("%g").
std::string with_value(const std::string& spec_template, double value);

// {1e-4, 3e-4, 1e-3, ..., 1, 3}: paper 2's baseline learning rates.
const std::vector<double>& log_lr_grid();

}  // namespace mg::optim
