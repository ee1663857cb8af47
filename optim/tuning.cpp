#include "metagrad/optim/tuning.hpp"

#include <cmath>
#include <limits>

#include "core/check.hpp"
#include "metagrad/core/concurrent.hpp"

namespace mg::optim {

GridSearch grid_search(const std::vector<double>& grid, const std::function<double(double)>& score) {
  MG_CHECK(!grid.empty(), "grid search: the grid is empty");
  const auto scores = map_concurrently<double>(
      static_cast<std::int64_t>(grid.size()), [&](std::int64_t i) { return score(grid[static_cast<std::size_t>(i)]); });
  GridSearch result;
  result.best_score = std::numeric_limits<double>::infinity();
  result.best = grid.front();
  for (std::size_t i = 0; i < grid.size(); ++i) {
    const double value = grid[i];
    double s = scores[i];
    if (!std::isfinite(s)) s = std::numeric_limits<double>::infinity();
    result.scores.emplace_back(value, s);
    if (s < result.best_score) {
      result.best_score = s;
      result.best = value;
    }
  }
  return result;
}

std::vector<std::vector<double>> random_points(const std::vector<SearchRange>& ranges, int trials, std::uint64_t seed) {
  MG_CHECK(trials >= 1, "random search: trials must be at least 1, not {}", trials);
  std::uint64_t state = seed;
  const auto uniform = [&state] {  // splitmix64 -> [0, 1): the same points on every platform
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  };
  std::vector<std::vector<double>> points;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> point;
    for (const auto& r : ranges) {
      MG_CHECK(r.low <= r.high && (!r.log_scale || r.low > 0), "random search: bad range [{}, {}]", r.low, r.high);
      const double u = uniform();
      point.push_back(r.log_scale ? std::exp(std::log(r.low) + u * (std::log(r.high) - std::log(r.low)))
                                  : r.low + u * (r.high - r.low));
    }
    points.push_back(point);
  }
  return points;
}

RandomSearch random_search(const std::vector<SearchRange>& ranges, int trials, std::uint64_t seed,
                           const std::function<double(const std::vector<double>&)>& score) {
  const auto points = random_points(ranges, trials, seed);
  const auto scores = map_concurrently<double>(static_cast<std::int64_t>(points.size()), [&](std::int64_t i) {
    return score(points[static_cast<std::size_t>(i)]);
  });
  RandomSearch result;
  result.best_score = std::numeric_limits<double>::infinity();
  for (std::size_t t = 0; t < points.size(); ++t) {
    double s = scores[t];
    if (!std::isfinite(s)) s = std::numeric_limits<double>::infinity();
    result.trials.emplace_back(points[t], s);
    if (s < result.best_score || result.best.empty()) {
      result.best_score = s;
      result.best = points[t];
    }
  }
  return result;
}

std::string with_value(const std::string& spec_template, double value) {
  const std::size_t at = spec_template.find("{}");
  MG_CHECK(at != std::string::npos, "'{}' has no {{}} for the value", spec_template);
  return spec_template.substr(0, at) + fmt::format("{:g}", value) + spec_template.substr(at + 2);
}

const std::vector<double>& log_lr_grid() {
  static const std::vector<double> grid = {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1, 3};
  return grid;
}

}  // namespace mg::optim
