// `metagrad meta-eval`: learned optimizers against section 5.5's baselines,
// each with its learning rate tuned on validation problems, all run on the
// same fresh test problems; writes results.md, results.csv and curves.svg
// and prints the verdict for the task's claim (optimizers.md 5.6) about the
// first learned optimizer (the others are rows to compare with). Every
// run (an optimizer on one problem) is a job of its own, spread over the
// cores and, under mpirun, the ranks; the results do not depend on either.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "interrupt.hpp"
#include "metagrad/metagrad.hpp"
#include "metagrad/optim/experiments/plot.hpp"
#include "metagrad/optim/experiments/suite_eval.hpp"
#include "metagrad/optim/learned/task_suite.hpp"

namespace mg::apps {
namespace {

namespace learned = optim::learned;

struct Options {
  std::string task = "quadratic", out = "meta-eval", data_dir, suite, budget = "quick", fashion_dir;
  int seeds = 3;
  bool no_progress = false;
  std::vector<std::string> weights;  // one learned optimizer each
  std::vector<std::string> suite_tasks;
  std::int64_t steps = 100, test_problems = 100, validation_problems = 20;
  std::uint64_t seed = 0;
  int threads = 0;
};

struct Row {
  std::string name, spec;
  std::vector<std::vector<double>> curves;  // [problem][step]
  double mean_at(std::int64_t step) const {
    double total = 0;
    for (const auto& c : curves) total += c[static_cast<std::size_t>(step)];
    return total / static_cast<double>(curves.size());
  }
  double std_at(std::int64_t step) const {
    const double mean = mean_at(step);
    double total = 0;
    for (const auto& c : curves)
      total += (c[static_cast<std::size_t>(step)] - mean) * (c[static_cast<std::size_t>(step)] - mean);
    return curves.size() > 1 ? std::sqrt(total / static_cast<double>(curves.size() - 1)) : 0.0;
  }
};

// The claim of section 5.6 for this task about the first learned
// optimizer, decided on the test means; the baselines are the rows after
// the `learned` learned optimizers.
std::string verdict(const std::string& task, const std::vector<Row>& rows, std::size_t learned, std::int64_t steps) {
  const Row& ours_row = rows.front();
  const auto best_baseline = [&](std::int64_t step) {
    double best = INFINITY;
    for (std::size_t i = learned; i < rows.size(); ++i) best = std::min(best, rows[i].mean_at(step));
    return best;
  };
  const std::int64_t at = std::min<std::int64_t>(100, steps);
  const double ours = ours_row.mean_at(at), theirs = best_baseline(at);
  if (task == "mlp-relu")
    return fmt::format(
        "verdict: {} (paper: the learned optimizer fails with ReLU; at step {} it has {:.4g}, the best baseline "
        "{:.4g})",
        ours > theirs ? "reproduced" : "not reproduced", at, ours, theirs);
  bool holds = ours < theirs;
  std::string detail =
      fmt::format("at step {} the learned optimizer has {:.4g}, the best tuned baseline {:.4g}", at, ours, theirs);
  if (steps >= 200) {
    holds = holds && ours_row.mean_at(200) < best_baseline(200);
    detail += fmt::format("; at step 200 {:.4g} against {:.4g}", ours_row.mean_at(200), best_baseline(200));
  }
  return fmt::format("verdict: {} (claim: the learned optimizer is below every tuned baseline; {})",
                     holds ? "reproduced" : "not reproduced", detail);
}

// Loss curves as text, every digit kept, and inf / nan too (JSON has neither).
std::string encode(const std::vector<std::vector<double>>& curves) {
  std::string text;
  for (const auto& curve : curves) {
    for (double v : curve) text += fmt::format("{} ", v);
    text += "\n";
  }
  return text;
}

std::vector<std::vector<double>> decode(const std::string& text) {
  std::vector<std::vector<double>> curves;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    curves.emplace_back();
    std::istringstream values(line);
    for (std::string value; values >> value;) curves.back().push_back(std::strtod(value.c_str(), nullptr));
  }
  return curves;
}

// Curves [begin, begin + count) of a spread's results (one encoded curve each).
std::vector<std::vector<double>> curves_in(const std::vector<std::string>& texts, std::int64_t begin,
                                           std::int64_t count) {
  std::vector<std::vector<double>> curves;
  for (std::int64_t i = begin; i < begin + count; ++i) curves.push_back(decode(texts[static_cast<std::size_t>(i)])[0]);
  return curves;
}

// Every run of the evaluation, each a job of its own spread over the ranks
// and each rank's cores: first the learned optimizers' test runs and every
// baseline's tuning runs (lr x validation problem), then the baselines'
// test runs at their tuned lr. Fills `rows` (learned first) and the tuning table.
void run_all(const Options& o, const learned::Task& task, const std::vector<learned::OptimizerFactory>& factories,
             std::vector<Row>& rows, std::string& tuning) {
  const auto baselines = learned::paper2_baselines();
  const std::vector<double>& grid = optim::log_lr_grid();
  const auto curve_of = [&](const learned::OptimizerFactory& make, learned::Split split, std::int64_t index) {
    return encode({learned::run_optimizer(*task.problem(split, static_cast<std::uint64_t>(index)), make, o.steps)});
  };
  const auto tuning_runs = static_cast<std::int64_t>(grid.size()) * o.validation_problems;
  const auto learned_runs = static_cast<std::int64_t>(factories.size()) * o.test_problems;
  const auto first = distributed::spread(
      static_cast<std::size_t>(learned_runs + static_cast<std::int64_t>(baselines.size()) * tuning_runs),
      [&](std::size_t job) {
        const auto i = static_cast<std::int64_t>(job);
        if (i < learned_runs)
          return curve_of(factories[static_cast<std::size_t>(i / o.test_problems)], learned::Split::Test,
                          i % o.test_problems);
        const std::int64_t run = (i - learned_runs) % tuning_runs, b = (i - learned_runs) / tuning_runs;
        const double lr = grid[static_cast<std::size_t>(run / o.validation_problems)];
        return curve_of(learned::spec_factory(baselines[static_cast<std::size_t>(b)].spec_template, lr),
                        learned::Split::Validation, run % o.validation_problems);
      });
  for (std::size_t l = 0; l < factories.size(); ++l)
    rows.push_back({factories.size() == 1 ? "learned" : std::filesystem::path(o.weights[l]).stem().string(),
                    o.weights[l], curves_in(first, static_cast<std::int64_t>(l) * o.test_problems, o.test_problems)});
  tuning = "| baseline | lr | validation loss at the last step |\n|---|---|---|\n";
  std::vector<double> tuned;
  for (std::size_t b = 0; b < baselines.size(); ++b) {
    std::map<double, double> score;  // the mean final validation loss of each lr
    for (std::size_t g = 0; g < grid.size(); ++g) {
      const std::int64_t begin = learned_runs + static_cast<std::int64_t>(b) * tuning_runs +
                                 static_cast<std::int64_t>(g) * o.validation_problems;
      double total = 0;
      for (const auto& curve : curves_in(first, begin, o.validation_problems)) total += curve.back();
      score[grid[g]] = total / static_cast<double>(o.validation_problems);
    }
    const auto search = optim::grid_search(grid, [&](double lr) { return score.at(lr); });
    tuned.push_back(search.best);
    tuning += fmt::format("| {} | {:g} | {:.5g} |\n", baselines[b].name, search.best, search.best_score);
  }
  const auto second =
      distributed::spread(baselines.size() * static_cast<std::size_t>(o.test_problems), [&](std::size_t job) {
        const std::size_t b = job / static_cast<std::size_t>(o.test_problems);
        return curve_of(learned::spec_factory(baselines[b].spec_template, tuned[b]), learned::Split::Test,
                        static_cast<std::int64_t>(job % static_cast<std::size_t>(o.test_problems)));
      });
  for (std::size_t b = 0; b < baselines.size(); ++b)
    rows.push_back({baselines[b].name, fmt::format(fmt::runtime(baselines[b].spec_template), tuned[b]),
                    curves_in(second, static_cast<std::int64_t>(b) * o.test_problems, o.test_problems)});
}

// results.md (printed too), results.csv and curves.svg.
void write_report(const Options& o, const std::vector<Row>& rows, const std::string& tuning) {
  std::vector<std::int64_t> report_steps;
  for (std::int64_t s : {1, 10, 25, 50, 100, 200, 500})
    if (s <= o.steps) report_steps.push_back(s);
  std::string table = fmt::format(
      "# meta-eval: {} on `{}`, {} test problems\n\nMean ± std of the loss over the test problems.\n\n| optimizer |",
      fmt::join(o.weights, ", "), o.task, o.test_problems);
  for (auto s : report_steps) table += fmt::format(" step {} |", s);
  table += "\n|---|";
  for (std::size_t i = 0; i < report_steps.size(); ++i) table += "---|";
  table += "\n";
  std::string csv = "optimizer,spec,step,mean_loss,std_loss\n";
  optim::experiments::Panel panel{"Mean loss on the test problems (" + o.task + ")", "step", "loss", {}, true};
  for (const auto& row : rows) {
    table += fmt::format("| `{}` |", row.spec);
    for (auto s : report_steps) table += fmt::format(" {:.4g} ± {:.2g} |", row.mean_at(s), row.std_at(s));
    table += "\n";
    optim::experiments::Series series{row.name, {}};
    for (std::int64_t s = 0; s <= o.steps; ++s) {
      csv += fmt::format("{},\"{}\",{},{:.9g},{:.9g}\n", row.name, row.spec, s, row.mean_at(s), row.std_at(s));
      series.points.emplace_back(static_cast<double>(s), row.mean_at(s));
    }
    panel.series.push_back(series);
  }
  const std::string decision = verdict(o.task, rows, o.weights.size(), o.steps);
  table += "\nBaselines' learning rates, tuned on " + std::to_string(o.validation_problems) +
           " validation problems over {1e-4, 3e-4, ..., 1, 3}:\n\n" + tuning + "\n" + decision + "\n";
  write_file_atomically(o.out + "/results.csv", csv);
  write_file_atomically(o.out + "/results.md", table);
  write_file_atomically(o.out + "/curves.svg", optim::experiments::svg_chart({panel}));
  std::fputs(table.c_str(), stdout);
}

// --suite: every task of the suite, the baselines tuned per task.
void run_suite(const Options& o) {
  optim::experiments::SuiteEvalOptions suite;
  suite.suite = o.suite;
  suite.budget = optim::experiments::parse_budget(o.budget);
  suite.learned = o.weights;
  suite.tasks = o.suite_tasks;
  suite.progress = !o.no_progress;
  suite.seeds = o.seeds;
  suite.out = o.out;
  suite.fashion_dir = o.fashion_dir;
  suite.cifar_dir = o.data_dir;
  std::string learned;
  for (const auto& w : o.weights) learned += " --learned " + w;
  suite.command = fmt::format("metagrad meta-eval --suite {}{} --budget {} --seeds {}{}{}{} --out {}", o.suite,
                              o.suite_tasks.empty() ? "" : fmt::format(" --tasks {}", fmt::join(o.suite_tasks, ",")),
                              o.budget, o.seeds, learned, o.data_dir.empty() ? "" : " --data-dir " + o.data_dir,
                              o.threads > 0 ? fmt::format(" --threads {}", o.threads) : "", o.out);
  try {
    std::string line;
    {
      InterruptScope interrupt;
      line = optim::experiments::evaluate_suite(suite, interrupt.requested());
    }
    if (distributed::is_main()) std::printf("%s\nreport: %s/report.md\n", line.c_str(), o.out.c_str());
  } catch (const Interrupted&) {
    std::fprintf(stderr, "interrupted: the finished runs are kept in %s/runs; run the same command to continue\n",
                 o.out.c_str());
    throw CLI::RuntimeError(130);
  }
}

void run(const Options& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  if (!o.suite.empty()) return run_suite(o);
  learned::TaskOptions task_options;
  task_options.data_dir = o.data_dir;
  task_options.seed = o.seed;
  auto task = learned::make_task(o.task, task_options);
  std::vector<learned::OptimizerFactory> factories;
  const auto probe = task->problem(learned::Split::Test, 0)->initial();
  for (const auto& weights : o.weights) {
    factories.push_back(learned::load_learned(weights, *task));
    factories.back()(probe);  // a bad file fails before any work
  }
  if (distributed::is_main()) std::filesystem::create_directories(o.out);
  std::fprintf(stderr,
               "%zu learned optimizer(s) on %lld test problems; %zu baselines tuned on %lld validation problems\n",
               factories.size(), static_cast<long long>(o.test_problems), learned::paper2_baselines().size(),
               static_cast<long long>(o.validation_problems));
  std::vector<Row> rows;
  std::string tuning;
  run_all(o, *task, factories, rows, tuning);
  if (distributed::is_main()) write_report(o, rows, tuning);  // rank 0 writes
}

}  // namespace

void add_meta_eval_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("meta-eval", "Evaluate learned optimizers against tuned baselines");
  cmd->add_option("--task", o->task, task_help())->check(CLI::IsMember(optim::learned::available_tasks()));
  cmd->add_option("--learned", o->weights,
                  "meta-train's optimizer.json (lstm, mlp_lopt or general weights, or learned hyperparameters); "
                  "repeat to compare several, the verdict is about the first")
      ->required();
  cmd->add_option("--steps", o->steps, "Optimizee steps")->check(CLI::Range(1, 1000000));
  cmd->add_option("--test-problems", o->test_problems, "Fresh test problems")->check(CLI::Range(1, 100000));
  cmd->add_option("--validation-problems", o->validation_problems, "Problems the baselines' lr is tuned on")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", o->seed, "Seed of the problems (as given to meta-train)");
  cmd->add_option("--threads", o->threads, "Threads (default: all cores)")->check(CLI::Range(1, 1024));
  cmd->add_option("--data-dir", o->data_dir, "Folder of the task's dataset (--suite: CIFAR-10's binary files)");
  cmd->add_option("--out", o->out, "Folder for results.md, results.csv and curves.svg (--suite: report.md)");
  cmd->add_option("--suite", o->suite,
                  "Evaluate on every task of a suite instead of one task, against adam, adamw and nag tuned per task")
      ->check(CLI::IsMember(optim::learned::available_suites()))
      ->excludes("--task")
      ->excludes("--steps")  // a suite's tasks have their own horizons and problems
      ->excludes("--test-problems")
      ->excludes("--validation-problems")
      ->excludes("--seed");
  cmd->add_option("--tasks", o->suite_tasks, "--suite: only these of its tasks (comma-separated)")
      ->delimiter(',')
      ->needs("--suite");
  cmd->add_flag("--no-progress", o->no_progress, "--suite: no line per finished run on stderr");
  cmd->add_option("--budget", o->budget, "--suite: smoke, quick (a tenth of each horizon) or full");
  cmd->add_option("--seeds", o->seeds, "--suite: test problems per optimizer and task")->check(CLI::Range(1, 1000));
  cmd->add_option("--fashion-mnist-dir", o->fashion_dir, "--suite: Fashion-MNIST's IDX files (default: Debian's)");
  cmd->callback([o] { run(*o); });
}

}  // namespace mg::apps
