#pragma once
// Summaries of repeated runs (seeds, test problems) and the rule every
// reproduction verdict uses: a difference counts only when it exceeds the
// spread of the two runs it compares.
#include <string>
#include <utility>
#include <vector>

namespace mg::optim::experiments {

struct Stats {
  double mean = 0, std = 0;  // std: the sample standard deviation (n - 1); 0 for one value
  std::size_t count = 0;
};

Stats summarize(const std::vector<double>& values);

// "0.1234 ± 0.0056" with `digits` significant digits.
std::string plus_minus(const Stats& s, int digits = 4);

enum class Difference { Better, Worse, WithinSpread };

// Whether `a` is better than `b` (lower is better unless `higher_is_better`)
// by more than a.std + b.std.
Difference compare(const Stats& a, const Stats& b, bool higher_is_better = false);

// The mean over runs of curves sampled at the same x positions (the shortest
// run's length).
std::vector<std::pair<double, double>> mean_curve(const std::vector<std::vector<std::pair<double, double>>>& runs);

}  // namespace mg::optim::experiments
