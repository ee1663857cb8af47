// Learned optimizers against per-task tuned baselines on a task suite
// (suite_eval.hpp), with the run store and the report machinery of the
// claims.
#include "metagrad/optim/experiments/suite_eval.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <utility>

#include "metagrad/core/distributed.hpp"
#include "metagrad/core/files.hpp"
#include "metagrad/optim/learned/task_suite.hpp"
#include "optim/experiments/claim.hpp"

namespace mg::optim::experiments {
namespace {

struct Baseline {
  std::string name, spec_template;
  std::vector<double> grid;  // where the search starts; widened until the best value is inside
};

const std::vector<Baseline>& baselines() {
  static const std::vector<Baseline> list = {
      {"adam", "adam(lr={})", {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2}},
      {"adamw", "adamw(lr={})", {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2}},
      {"nag", "sgd(lr={}, momentum=0.9, nesterov=true)", {1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1}}};
  return list;
}

// The neighbour of `lr` on the ladder 1, 3, 10, 30, ... (two points per decade).
double next_on_ladder(double lr, int direction) {
  const double decade = std::pow(10.0, std::floor(std::log10(lr) + 1e-9));
  const bool one = lr / decade < 2;
  if (direction < 0) return one ? 3 * decade / 10 : decade;
  return one ? 3 * decade : 10 * decade;
}

// The baseline's learning rate tuned on the task's validation problems,
// the grid widened (at most 6 times) while the best value is at its edge.
GridSearch tune_bracketed(ClaimContext& c, const TrainingRequest& request, const Baseline& baseline, int problems) {
  std::vector<double> grid = baseline.grid;
  for (int widened = 0;; ++widened) {
    GridSearch search = c.tune(request, baseline.spec_template, grid, problems);
    const bool low = search.best == grid.front(), high = search.best == grid.back();
    if (widened == 6 || !std::isfinite(search.best_score) || (!low && !high)) return search;
    if (low) {
      std::vector<double> wider = {next_on_ladder(grid.front(), -1)};
      wider.insert(wider.end(), grid.begin(), grid.end());
      grid = std::move(wider);
    }
    if (high) grid.push_back(next_on_ladder(grid.back(), +1));
  }
}

struct Row {
  std::string name, spec;
  std::vector<Training> runs;
};

double train_loss(const Training& t) { return t.diverged || !std::isfinite(t.final_loss) ? INFINITY : t.final_loss; }
double test_loss(const Training& t) { return t.diverged || !std::isfinite(t.test_loss) ? INFINITY : t.test_loss; }

// The first step at which the runs' mean loss, averaged over the last tenth
// of the horizon's steps before it (the window of the final training loss,
// so that like is compared with like), is at or below `target`; -1 if never.
double steps_to_reach(const std::vector<Training>& runs, double target, std::int64_t steps) {
  std::vector<double> mean(static_cast<std::size_t>(steps + 1), 0.0);
  for (const auto& run : runs)
    for (std::size_t t = 0; t < mean.size() && t < run.losses.size(); ++t)
      mean[t] += run.losses[t] / static_cast<double>(runs.size());
  const auto window = static_cast<std::size_t>(std::max<std::int64_t>(steps / 10, 1));
  double sum = 0;
  for (std::size_t t = 0; t < mean.size(); ++t) {
    sum += mean[t] - (t >= window ? mean[t - window] : 0.0);
    if (t + 1 >= window && sum / static_cast<double>(window) <= target) return std::max<double>(t, 1);
  }
  return -1;
}

struct Outcome {
  int won = 0, lost = 0, even = 0, diverged = 0;
  double log_speedup = 0;
  int speedups = 0;
};

// A learned optimizer's training loss against tuned Adam's: its verdict
// (wins, loses or even beyond the two spreads; diverged) and the steps Adam
// needs to reach it, added to the optimizer's outcome.
std::pair<std::string, std::string> score(const Stats& train, const Row& adam, std::int64_t steps, Outcome& outcome) {
  const Difference d = compare(train, stats_of(adam.runs, train_loss));
  (d == Difference::Better ? outcome.won : d == Difference::Worse ? outcome.lost : outcome.even) += 1;
  if (!std::isfinite(train.mean)) {
    ++outcome.diverged;
    return {"", "diverged"};
  }
  const std::string verdict = d == Difference::Better ? "wins" : d == Difference::Worse ? "loses" : "even";
  const double needed = steps_to_reach(adam.runs, train.mean, steps);
  // VeLO's measure: Adam's steps to the learned optimizer's loss over the
  // learned optimizer's; never reached within the horizon counts as 1x, a
  // lower bound.
  const double speedup = needed > 0 ? needed / static_cast<double>(steps) : 1.0;
  outcome.log_speedup += std::log(speedup);
  ++outcome.speedups;
  return {needed > 0 ? fmt::format("{:.0f} ({:.2f}x)", needed, speedup)
                     : fmt::format("not within {} (>1x, counted 1x)", steps),
          verdict};
}

std::string learned_name(const std::string& path) {
  const auto p = std::filesystem::path(path);
  return p.parent_path().filename().string() + "/" + p.filename().string();
}

// One task: tuning, test runs, its table and figure; adds to each learned
// optimizer's outcome.
void evaluate_task(ClaimContext& c, const SuiteEvalOptions& o, const learned::SuiteTask& task,
                   std::vector<Outcome>& outcomes) {
  const std::int64_t steps = c.by_budget<std::int64_t>(std::max<std::int64_t>(task.steps / 10, 20), task.steps, 3);
  TrainingRequest request(task.name);
  request.budget = steps;
  std::vector<Row> rows;
  std::string tuning;
  for (const auto& baseline : baselines()) {
    const GridSearch search = tune_bracketed(c, request, baseline, c.by_budget(1, 2, 1));
    request.spec = with_value(baseline.spec_template, search.best);
    rows.push_back({baseline.name, request.spec, c.over_seeds(request)});
    tuning += fmt::format("{}{} lr {:g} (grid {:g} to {:g})", tuning.empty() ? "" : "; ", baseline.name, search.best,
                          search.scores.front().first, search.scores.back().first);
  }
  const std::size_t learned_begin = rows.size();
  for (const auto& path : o.learned) {
    request.spec = learned::learned_spec(path, learned::lstm_settings("mlp"), steps);
    rows.push_back({learned_name(path), request.spec, c.over_seeds(request)});
  }
  const Row& adam = rows.front();
  std::vector<std::vector<std::string>> table;
  Panel panel{task.name, "step", "training loss (window mean)", {}, true};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    const Stats train = stats_of(row.runs, train_loss), test = stats_of(row.runs, test_loss);
    const auto [reach, verdict] = i >= learned_begin ? score(train, adam, steps, outcomes[i - learned_begin])
                                                     : std::pair<std::string, std::string>();
    table.push_back({"`" + row.spec + "`", plus_minus(train), plus_minus(test), reach, verdict});
    panel.series.push_back({row.name, loss_curve(row.runs)});
  }
  c.report += fmt::format("\n### {}\n\n{}; {} steps. Tuned: {}.\n\n", task.name, task.description, steps, tuning);
  c.report += markdown_table({"optimizer", "training loss at the horizon", "test loss",
                              "steps tuned Adam needs to reach it (speed-up)", "against tuned Adam"},
                             table);
  c.figure(task.name + ".svg", {panel}, fmt::format("{}: mean training loss over {} seeds", task.name, c.seeds()));
}

}  // namespace

std::string evaluate_suite(const SuiteEvalOptions& o, const std::atomic<bool>& stop) {
  MG_CHECK(!o.out.empty(), "meta-eval --suite {}: give the report's folder (--out DIR)", o.suite);
  MG_CHECK(o.seeds >= 1, "--seeds must be at least 1, not {}", o.seeds);
  std::vector<learned::SuiteTask> tasks;
  for (const auto& task : learned::suite_tasks(o.suite))
    if (o.tasks.empty() || std::find(o.tasks.begin(), o.tasks.end(), task.name) != o.tasks.end()) tasks.push_back(task);
  for (const auto& name : o.tasks)
    MG_CHECK(std::any_of(tasks.begin(), tasks.end(), [&](const auto& t) { return t.name == name; }),
             "suite {} has no task '{}'", o.suite, name);
  for (const auto& path : o.learned) learned::learned_spec(path, learned::lstm_settings("mlp"));  // fail early
  ReproduceOptions options;
  options.budget = o.budget;
  options.seeds = o.seeds;
  options.out = o.out;
  options.progress = o.progress;
  options.command = o.command;
  std::filesystem::create_directories(o.out);
  ClaimContext c(options, "suite " + o.suite, stop);
  const learned::SuiteOptions suite_options{o.fashion_dir, o.cifar_dir, o.text_dir};
  c.task_maker = [&](const std::string& name) { return learned::make_suite_task(o.suite, name, suite_options); };
  c.report += fmt::format(
      "Every learned optimizer runs untuned. The baselines' learning rate is tuned per task on {} validation "
      "problem(s) at the task's horizon (the lowest mean training loss over the last tenth of the steps), on a grid "
      "of two points per decade widened until the best value is inside it. Each optimizer then runs on the same {} "
      "test problems (seeds). The training loss at the horizon is the mean mini-batch loss over the last tenth "
      "of the steps; a learned optimizer wins or loses a task when its mean is better or worse than tuned Adam's "
      "by more than the sum of the two standard deviations. The steps tuned Adam needs are read off its mean loss "
      "curve, averaged like the final loss over the last tenth of the steps before each step.\n",
      c.by_budget(1, 2, 1), o.seeds);
  std::vector<Outcome> outcomes(o.learned.size());
  for (const auto& task : tasks) evaluate_task(c, o, task, outcomes);
  std::string summary, line;
  std::vector<std::vector<std::string>> rows;
  for (std::size_t l = 0; l < o.learned.size(); ++l) {
    const Outcome& r = outcomes[l];
    const double geomean = r.speedups > 0 ? std::exp(r.log_speedup / r.speedups) : 0.0;
    rows.push_back({learned_name(o.learned[l]), std::to_string(r.won), std::to_string(r.even), std::to_string(r.lost),
                    std::to_string(r.diverged), fmt::format("{:.2f}x", geomean)});
    line += fmt::format(
        "{}{}: wins {} of {} tasks against tuned Adam ({} even, {} lost, {} diverged; geometric mean "
        "speed-up {:.2f}x)",
        line.empty() ? "" : "; ", learned_name(o.learned[l]), r.won, tasks.size(), r.even, r.lost, r.diverged, geomean);
  }
  summary =
      "\n## Summary\n\n" +
      markdown_table({"learned optimizer", "wins", "even", "losses", "diverged", "geometric mean speed-up"}, rows);
  if (!distributed::is_main()) return line;
  for (const auto& [file, svg] : c.figures) write_file_atomically(o.out + "/" + file, svg);
  write_file_atomically(
      o.out + "/report.md",
      fmt::format("# Suite `{}`: learned optimizers against per-task tuned baselines\n\n{}\n{}\n"
                  "## Command\n\n```\n{}\n```\n\nRuns: {}, computed in {:.1f} minutes in all.\n\n{}\n",
                  o.suite, summary, c.report, o.command, c.store.runs(), c.store.run_seconds() / 60, line));
  return line;
}

}  // namespace mg::optim::experiments
