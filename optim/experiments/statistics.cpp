#include "metagrad/optim/experiments/statistics.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace mg::optim::experiments {

Stats summarize(const std::vector<double>& values) {
  Stats s;
  s.count = values.size();
  if (values.empty()) return s;
  for (double v : values) s.mean += v;
  s.mean /= static_cast<double>(values.size());
  for (double v : values) s.std += (v - s.mean) * (v - s.mean);
  s.std = values.size() > 1 ? std::sqrt(s.std / static_cast<double>(values.size() - 1)) : 0.0;
  return s;
}

std::string plus_minus(const Stats& s, int digits) { return fmt::format("{:.{}g} ± {:.2g}", s.mean, digits, s.std); }

Difference compare(const Stats& a, const Stats& b, bool higher_is_better) {
  if (!std::isfinite(a.mean) || !std::isfinite(b.mean)) {
    if (std::isfinite(a.mean) == std::isfinite(b.mean)) return Difference::WithinSpread;
    return std::isfinite(a.mean) ? Difference::Better : Difference::Worse;  // a diverged run loses
  }
  const double gain = higher_is_better ? a.mean - b.mean : b.mean - a.mean;
  if (std::abs(gain) <= a.std + b.std) return Difference::WithinSpread;
  return gain > 0 ? Difference::Better : Difference::Worse;
}

std::vector<std::pair<double, double>> mean_curve(const std::vector<std::vector<std::pair<double, double>>>& runs) {
  std::vector<std::pair<double, double>> out;
  if (runs.empty()) return out;
  std::size_t n = runs.front().size();
  for (const auto& r : runs) n = std::min(n, r.size());
  for (std::size_t i = 0; i < n; ++i) {
    double total = 0;
    for (const auto& r : runs) total += r[i].second;
    out.emplace_back(runs.front()[i].first, total / static_cast<double>(runs.size()));
  }
  return out;
}

}  // namespace mg::optim::experiments
