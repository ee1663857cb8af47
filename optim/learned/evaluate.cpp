#include "metagrad/optim/learned/evaluate.hpp"

#include <cmath>
#include <map>

#include "core/check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/concurrent.hpp"
#include "metagrad/optim/registry.hpp"

namespace mg::optim::learned {

TrainingRun train_problem(const Problem& problem, const OptimizerFactory& make, const TrainingOptions& options) {
  NamedParameters params = problem.initial();
  for (auto& [name, t] : params) t.requires_grad_();
  auto optimizer = make(params);
  std::vector<Tensor> theta;
  for (const auto& [name, t] : params) theta.push_back(t);
  TrainingRun run;
  std::int64_t evaluations = 0;
  for (std::int64_t step = 0;; ++step) {
    if (options.stop && options.stop->load()) throw Interrupted("training stopped at step " + std::to_string(step));
    // The first evaluation of a step records its loss; multi-stage
    // optimizers evaluate the same step (same mini-batch) again.
    Tensor loss;
    const auto forward_backward = [&] {
      optimizer->zero_grad();
      Tensor stage_loss = problem.loss(theta, step);
      if (!loss.defined()) loss = stage_loss;
      stage_loss.backward();
      if (options.after_backward) options.after_backward(theta);
      return stage_loss;
    };
    const std::int64_t spent_before = evaluations;
    const bool spent = options.budget_in_evaluations ? evaluations >= options.budget : step >= options.budget;
    if (spent) {
      NoGradGuard no_grad;
      loss = problem.loss(theta, step);
    } else if (optimizer->requires_closure()) {
      const std::int64_t before = optimizer->gradient_evaluations();
      optimizer->step(forward_backward);
      evaluations += optimizer->gradient_evaluations() - before;
    } else {
      forward_backward();
      ++evaluations;
    }
    run.losses.push_back(loss.item<double>());
    run.evaluations.push_back(spent_before);
    if (!std::isfinite(run.losses.back())) {
      run.diverged = true;
      break;
    }
    if (options.evaluate_every > 0 && step % options.evaluate_every == 0)
      if (auto evaluation = problem.evaluate(theta)) run.test_curve.emplace_back(step, *evaluation);
    if (spent) break;
    if (!optimizer->requires_closure()) optimizer->step();
    if (options.observe) options.observe(step + 1, *optimizer);
  }
  if (!run.diverged) run.test = problem.evaluate(theta);
  return run;
}

std::vector<double> run_optimizer(const Problem& problem, const OptimizerFactory& make, std::int64_t steps) {
  TrainingOptions options;
  options.budget = steps;
  std::vector<double> losses = train_problem(problem, make, options).losses;
  losses.resize(static_cast<std::size_t>(steps + 1), losses.back());
  return losses;
}

std::vector<std::vector<double>> loss_curves(const Task& task, const OptimizerFactory& make, Split split,
                                             std::int64_t count, std::int64_t steps) {
  return map_concurrently<std::vector<double>>(count, [&](std::int64_t i) {
    return run_optimizer(*task.problem(split, static_cast<std::uint64_t>(i)), make, steps);
  });
}

OptimizerFactory spec_factory(const std::string& spec_template, double lr) {
  const std::size_t at = spec_template.find("{}");
  MG_CHECK(at != std::string::npos, "'{}' has no {{}} where the learning rate goes", spec_template);
  const std::string spec = spec_template.substr(0, at) + fmt::format("{:.17g}", lr) + spec_template.substr(at + 2);
  return [spec](const NamedParameters& params) { return make(spec, params); };
}

GridSearch tune_lr(const Task& task, const std::string& spec_template, std::int64_t problems, std::int64_t steps,
                   const std::vector<double>& grid) {
  MG_CHECK(problems >= 1, "tune_lr: at least one validation problem, not {}", problems);
  // Every (lr, problem) run at once, so that a short grid still fills the cores.
  const auto n = static_cast<std::int64_t>(grid.size());
  const auto finals = map_concurrently<double>(n * problems, [&](std::int64_t i) {
    const auto problem = task.problem(Split::Validation, static_cast<std::uint64_t>(i % problems));
    return run_optimizer(*problem, spec_factory(spec_template, grid[static_cast<std::size_t>(i / problems)]), steps)
        .back();
  });
  std::map<double, double> score;
  for (std::int64_t g = 0; g < n; ++g) {
    double total = 0;
    for (std::int64_t i = 0; i < problems; ++i) total += finals[static_cast<std::size_t>(g * problems + i)];
    score[grid[static_cast<std::size_t>(g)]] = total / static_cast<double>(problems);
  }
  return grid_search(grid, [&](double lr) { return score.at(lr); });
}

const std::vector<Baseline>& paper2_baselines() {
  static const std::vector<Baseline> baselines = {{"sgd", "sgd(lr={})"},
                                                  {"nag", "sgd(lr={}, momentum=0.9, nesterov=true)"},
                                                  {"rmsprop", "rmsprop(lr={})"},
                                                  {"adam", "adam(lr={})"}};
  return baselines;
}

}  // namespace mg::optim::learned
