#pragma once
// What every claim's protocol shares: the options, the store of finished
// runs, the report being written, and stored plain-training runs with lr
// tuning on validation problems.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <functional>
#include <memory>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "metagrad/optim/experiments/plot.hpp"
#include "metagrad/optim/experiments/reproduce.hpp"
#include "metagrad/optim/experiments/statistics.hpp"
#include "metagrad/optim/learned/evaluate.hpp"
#include "metagrad/optim/learned/meta.hpp"
#include "run_store.hpp"

namespace mg::optim::experiments {

// A finished plain-training run, as stored.
struct Training {
  std::vector<double> losses;                                  // mini-batch loss at each step's parameters
  std::vector<std::int64_t> evaluations;                       // gradient evaluations before each step
  std::vector<std::pair<std::int64_t, double>> test_accuracy;  // (step, accuracy) along the run
  double final_loss = 0;                                       // mean mini-batch loss over the last tenth of the steps
  double test_loss = 0, accuracy = 0;                          // at the end (NaN when the run diverged)
  bool diverged = false;
  nlohmann::json log;  // what the run's `log` callback recorded
};

// One plain-training run: optimizer `spec` on problem `index` of `split`.
struct TrainingRequest {
  explicit TrainingRequest(std::string task_name) : task(std::move(task_name)) {}
  std::string task;
  learned::Split split = learned::Split::Test;
  std::uint64_t index = 0;
  std::string spec;
  std::int64_t budget = 100;
  bool budget_in_evaluations = false;
  std::int64_t evaluate_every = 0;  // test accuracy along the run; 0: only at the end
  // A label for what the callbacks below do, part of the stored run's key.
  std::string variant;
  // Recorded every 10 steps into Training::log (null: nothing).
  std::function<nlohmann::json(std::int64_t step, const Optimizer&)> log;
  // Applied to the gradients after every backward pass (e.g. rounding).
  std::function<void(const std::vector<Tensor>& params)> after_backward;
};

class ClaimContext {
 public:
  ClaimContext(const ReproduceOptions& options, const std::string& claim, const std::atomic<bool>& stop);

  const ReproduceOptions& options;
  RunStore store;
  std::string report;                                        // Markdown body: protocol, tables, figures
  std::vector<std::pair<std::string, std::string>> figures;  // file name, SVG

  // The value for this run's budget: quick, full, or smoke (a few steps of
  // everything: tests of the reports' structure, numbers meaningless).
  template <class T>
  T by_budget(T quick, T full, T smoke) const {
    return options.budget == Budget::Quick ? quick : options.budget == Budget::Full ? full : smoke;
  }
  int seeds() const { return options.seeds; }
  // Where tasks come from when not from learned::make_task (a task suite's).
  std::function<std::unique_ptr<learned::Task>(const std::string& name)> task_maker;
  // Task `name` with its problems drawn from `seed` (TaskOptions::seed).
  learned::Task& task(const std::string& name, std::uint64_t seed = 0);

  Training train(const TrainingRequest& request);
  // Independent runs at once (spread over the ranks under mpirun).
  std::vector<Training> train_all(const std::vector<TrainingRequest>& requests);
  // The grid value of `spec_template`'s "{}" with the lowest mean final loss
  // over `problems` validation problems (budget as in `request`).
  GridSearch tune(TrainingRequest request, const std::string& spec_template, const std::vector<double>& grid,
                  int problems);
  // Training runs of `spec` on test problems 0..seeds-1.
  std::vector<Training> over_seeds(TrainingRequest request);
  // Meta-trains `learned` on `task` in this process alone, into
  // `options.out_dir`, resuming from the checkpoint there if there is one;
  // throws mg::Interrupted (the checkpoint kept) when a stop was requested.
  learned::MetaTrainResult meta_train(const learned::Task& task, learned::LearnedOptimizer& learned,
                                      const learned::MetaGradientEstimator& estimator,
                                      learned::MetaTrainOptions options);
  void figure(const std::string& file, const std::vector<Panel>& panels, const std::string& caption);

 private:
  static std::string key_of(const TrainingRequest& request);
  nlohmann::json compute(const TrainingRequest& request);

  std::mutex tasks_mutex_;
  std::map<std::pair<std::string, std::uint64_t>, std::unique_ptr<learned::Task>> tasks_;
};

// JSON has no NaN or infinity: non-finite numbers are stored as null and
// read back as NaN.
nlohmann::json json_number(double v);
std::vector<double> json_numbers(const nlohmann::json& values);
const char* split_name(learned::Split split);

std::string markdown_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
// Per-run values picked out of runs, summarized.
Stats stats_of(const std::vector<Training>& runs, const std::function<double(const Training&)>& value);
// The mean loss curve of runs against steps or gradient evaluations, thinned to about 200 points.
std::vector<std::pair<double, double>> loss_curve(const std::vector<Training>& runs, bool by_evaluations = false);

// The plain-training settings the claims on both tasks share (rllc,
// integrators): the mlp and cnn tasks of 5.4 with their step budgets.
struct TaskSetting {
  std::string task;
  std::int64_t steps;
};
std::vector<TaskSetting> mlp_and_cnn(const ClaimContext& c);
// A task's section heading and what its table's numbers are: spread over
// the test problems, the training loss, and `other_measures`.
std::string task_section(const ClaimContext& c, const std::string& task, const std::string& other_measures);

struct Verdict {
  std::string outcome;  // reproduced | not reproduced | inconclusive
  std::string numbers;  // what decides it
};

// Verdicts from comparisons that each exceed the spread or not: a claim
// that must hold in every comparison, and one that must hold in some
// (reproduced when some comparison is better and none worse; not reproduced
// when some is worse and none better).
std::string outcome_everywhere(const std::vector<Difference>& comparisons);
std::string outcome_somewhere(const std::vector<Difference>& comparisons);

// The claims' protocols (one file each).
Verdict reproduce_rllc(ClaimContext& context);
Verdict reproduce_integrators(ClaimContext& context);
Verdict reproduce_smes(ClaimContext& context);
Verdict reproduce_root_free(ClaimContext& context);
Verdict reproduce_l2l_quadratic(ClaimContext& context);
Verdict reproduce_l2l_mlp(ClaimContext& context);
Verdict reproduce_l2l_generalization(ClaimContext& context);
Verdict reproduce_l2l_cnn(ClaimContext& context);
Verdict reproduce_l2l_settings(ClaimContext& context);
Verdict reproduce_short_horizon(ClaimContext& context);

}  // namespace mg::optim::experiments
