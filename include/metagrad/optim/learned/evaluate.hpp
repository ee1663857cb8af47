#pragma once
// Running optimizers on a task's problems: loss curves, and baselines whose
// learning rate is tuned on validation problems (optimizers.md section 5.5).
// Every optimizer sees the same problems and mini-batches.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "metagrad/optim/learned/task.hpp"
#include "metagrad/optim/optimizer.hpp"
#include "metagrad/optim/tuning.hpp"

namespace mg::optim::learned {

using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(const NamedParameters&)>;

// Plain training of one problem: step() until the budget is spent, steps or
// gradient evaluations (multi-stage optimizers such as heun and rk4 spend
// several a step; their closure re-evaluates the same step's mini-batch).
struct TrainingOptions {
  std::int64_t budget = 100;
  bool budget_in_evaluations = false;
  // Called after every step with the step count so far (e.g. to log an
  // optimizer's state).
  std::function<void(std::int64_t step, const Optimizer&)> observe;
  // Applied to the parameters' gradients after every backward pass (e.g.
  // rounding them to a lower precision).
  std::function<void(const std::vector<Tensor>& params)> after_backward;
  std::int64_t evaluate_every = 0;          // steps between test evaluations along the run; 0: at the end only
  const std::atomic<bool>* stop = nullptr;  // checked between steps: throws mg::Interrupted
};

struct TrainingRun {
  // losses[t]: the mini-batch loss at step t's parameters, t = 0..steps (the
  // last one is not followed by a step); evaluations[t]: gradient evaluations
  // spent before it.
  std::vector<double> losses;
  std::vector<std::int64_t> evaluations;
  bool diverged = false;           // a non-finite loss ended the run
  std::optional<Evaluation> test;  // at the final parameters; nullopt when diverged or the task has no test split
  std::vector<std::pair<std::int64_t, Evaluation>> test_curve;  // (step, evaluation) every evaluate_every steps
};

TrainingRun train_problem(const Problem& problem, const OptimizerFactory& make, const TrainingOptions& options);

// The losses of `steps` plain step() calls on a problem: losses[t] is the
// loss at step t's parameters (t = 0..steps); a run that diverges keeps its
// last (non-finite) value.
std::vector<double> run_optimizer(const Problem& problem, const OptimizerFactory& make, std::int64_t steps);

// losses[i][t] for problems 0..count-1 of a split, run concurrently
// (run_concurrently): `make` is called from several threads.
std::vector<std::vector<double>> loss_curves(const Task& task, const OptimizerFactory& make, Split split,
                                             std::int64_t count, std::int64_t steps);

// A registry spec with "{}" where the learning rate goes, e.g. "adam(lr={})".
OptimizerFactory spec_factory(const std::string& spec_template, double lr);

// The grid value of `spec_template`'s lr with the lowest mean loss at step
// `steps` over `problems` validation problems; every (lr, problem) run
// concurrently, with the results of running them one by one.
GridSearch tune_lr(const Task& task, const std::string& spec_template, std::int64_t problems, std::int64_t steps,
                   const std::vector<double>& grid = log_lr_grid());

// Section 5.5's baselines: sgd, nag (sgd momentum 0.9 nesterov), rmsprop, adam.
struct Baseline {
  std::string name, spec_template;
};
const std::vector<Baseline>& paper2_baselines();

}  // namespace mg::optim::learned
