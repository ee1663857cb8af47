#include "metagrad/optim/learned/evaluate.hpp"

#include <cmath>

#include "../../core/check.hpp"
#include "metagrad/optim/registry.hpp"

namespace mg::optim::learned {

std::vector<double> run_optimizer(const Problem& problem, const OptimizerFactory& make, std::int64_t steps) {
  NamedParameters params = problem.initial();
  for (auto& [name, t] : params) t.requires_grad_();
  auto optimizer = make(params);
  std::vector<Tensor> theta;
  for (const auto& [name, t] : params) theta.push_back(t);
  std::vector<double> losses;
  for (std::int64_t t = 0; t <= steps; ++t) {
    optimizer->zero_grad();
    const Tensor loss = problem.loss(theta, t);
    losses.push_back(loss.item<double>());
    if (t == steps || !std::isfinite(losses.back())) break;
    loss.backward();
    optimizer->step();
  }
  losses.resize(static_cast<std::size_t>(steps + 1), losses.back());
  return losses;
}

std::vector<std::vector<double>> loss_curves(const Task& task, const OptimizerFactory& make, Split split,
                                             std::int64_t count, std::int64_t steps) {
  std::vector<std::vector<double>> curves;
  for (std::int64_t i = 0; i < count; ++i)
    curves.push_back(run_optimizer(*task.problem(split, static_cast<std::uint64_t>(i)), make, steps));
  return curves;
}

OptimizerFactory spec_factory(const std::string& spec_template, double lr) {
  const std::size_t at = spec_template.find("{}");
  MG_CHECK(at != std::string::npos, "'{}' has no {{}} where the learning rate goes", spec_template);
  const std::string spec = spec_template.substr(0, at) + fmt::format("{:.17g}", lr) + spec_template.substr(at + 2);
  return [spec](const NamedParameters& params) { return make(spec, params); };
}

GridSearch tune_lr(const Task& task, const std::string& spec_template, std::int64_t problems, std::int64_t steps,
                   const std::vector<double>& grid) {
  return grid_search(grid, [&](double lr) {
    double total = 0;
    for (const auto& curve : loss_curves(task, spec_factory(spec_template, lr), Split::Validation, problems, steps))
      total += curve.back();
    return total / static_cast<double>(problems);
  });
}

const std::vector<Baseline>& paper2_baselines() {
  static const std::vector<Baseline> baselines = {{"sgd", "sgd(lr={})"},
                                                  {"nag", "sgd(lr={}, momentum=0.9, nesterov=true)"},
                                                  {"rmsprop", "rmsprop(lr={})"},
                                                  {"adam", "adam(lr={})"}};
  return baselines;
}

}  // namespace mg::optim::learned
