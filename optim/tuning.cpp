#include "metagrad/optim/tuning.hpp"

#include <cmath>
#include <limits>

#include "../core/check.hpp"

namespace mg::optim {

GridSearch grid_search(const std::vector<double>& grid, const std::function<double(double)>& score) {
  MG_CHECK(!grid.empty(), "grid search: the grid is empty");
  GridSearch result;
  result.best_score = std::numeric_limits<double>::infinity();
  result.best = grid.front();
  for (double value : grid) {
    double s = score(value);
    if (!std::isfinite(s)) s = std::numeric_limits<double>::infinity();
    result.scores.emplace_back(value, s);
    if (s < result.best_score) {
      result.best_score = s;
      result.best = value;
    }
  }
  return result;
}

const std::vector<double>& log_lr_grid() {
  static const std::vector<double> grid = {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1, 3};
  return grid;
}

}  // namespace mg::optim
