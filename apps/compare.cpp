// `metagrad compare`: several optimizers x seeds on one task; writes
// results.md (mean +- std), results.csv (every epoch of every run) and
// curves.svg (training loss and test accuracy against steps). Under mpirun
// the independent runs are spread over the ranks.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.hpp"
#include "metagrad/core/distributed.hpp"
#include "metagrad/core/error.hpp"
#include "metagrad/core/files.hpp"
#include "metagrad/core/threading.hpp"
#include "metagrad/optim/experiments/plot.hpp"
#include "metagrad/optim/experiments/statistics.hpp"
#include "metagrad/optim/tuning.hpp"
#include "training.hpp"

namespace mg::apps {
namespace {

using namespace optim::experiments;

struct Options {
  TrainConfig base;
  std::vector<std::string> optimizers;
  int seeds = 3;
  std::string out = "compare-results";
  std::vector<double> lr_grid = optim::log_lr_grid();
};

// Tuning runs use a seed of their own, apart from the compared ones.
std::uint64_t tuning_seed(const Options& o) { return o.base.seed + 1000003; }

// Trains every configuration, each run alone on one process: under mpirun
// the runs are spread over the ranks, each rank's concurrently on its cores
// (the thread count set once, in run_comparison), and every rank gets every
// result.
std::vector<TrainResult> train_all(const std::vector<TrainConfig>& configs, const std::string& what) {
  const bool one_at_a_time = distributed::world_size() == 1 && (configs.size() == 1 || get_num_threads() == 1);
  const auto results = distributed::spread(configs.size(), [&](std::size_t i) {
    TrainConfig c = configs[i];
    c.data_parallel = false;
    c.threads = 0;                             // the run's share of the cores
    c.progress = c.progress && one_at_a_time;  // one live bar per terminal
    std::fprintf(stderr, "%s %s, seed %llu\n", what.c_str(), c.optimizer.c_str(),
                 static_cast<unsigned long long>(c.seed));
    const std::atomic<bool> never{false};
    return to_json(train(c, never));
  });
  std::vector<TrainResult> parsed;
  for (const auto& text : results) parsed.push_back(train_result_from_json(text));
  return parsed;
}

// Each spec with "{}" for its lr gets the grid value whose training run (on
// a seed none of the compared runs use) ends with the lowest training loss.
std::vector<std::string> tuned_specs(const Options& o, std::string& tuning_table) {
  std::vector<TrainConfig> runs;
  for (const auto& spec : o.optimizers)
    if (spec.find("{}") != std::string::npos)
      for (double lr : o.lr_grid) {
        TrainConfig c = o.base;
        c.optimizer = optim::with_value(spec, lr);
        c.seed = tuning_seed(o);
        runs.push_back(c);
      }
  const std::vector<TrainResult> results = train_all(runs, "tuning");
  std::vector<std::string> specs;
  std::size_t next = 0;
  for (const auto& spec : o.optimizers) {
    if (spec.find("{}") == std::string::npos) {
      specs.push_back(spec);
      continue;
    }
    std::map<double, double> final_loss;
    for (double lr : o.lr_grid) final_loss[lr] = results[next++].epochs.back().train_loss;
    const optim::GridSearch search = optim::grid_search(o.lr_grid, [&](double lr) { return final_loss.at(lr); });
    tuning_table += fmt::format("| `{}` | {:g} | {:.4f} |\n", spec, search.best, search.best_score);
    specs.push_back(optim::with_value(spec, search.best));
  }
  return specs;
}

void run_comparison(const Options& o) {
  if (o.optimizers.empty()) throw Error("compare: give at least one --optimizer SPEC");
  if (o.base.threads > 0) set_num_threads(o.base.threads);
  const std::string csv_path = o.out + "/results.csv";
  if (distributed::is_main()) {  // a folder we cannot write fails now, not after the runs
    std::filesystem::create_directories(o.out);
    if (!std::ofstream(csv_path)) throw Error("compare: cannot write " + csv_path);
  }
  std::string tuning_table;
  const std::vector<std::string> specs = tuned_specs(o, tuning_table);
  std::vector<TrainConfig> runs;
  for (const auto& spec : specs)
    for (int seed = 0; seed < o.seeds; ++seed) {
      TrainConfig c = o.base;
      c.optimizer = spec;
      c.seed = o.base.seed + static_cast<std::uint64_t>(seed);
      runs.push_back(c);
    }
  const std::vector<TrainResult> results = train_all(runs, "training");
  if (!distributed::is_main()) return;  // rank 0 writes the results

  std::string csv =
      "optimizer,seed,epoch,step,gradient_evaluations,train_loss,train_accuracy,test_loss,test_accuracy,lr,wall_s\n";
  const bool by_evaluations = o.base.budget == "evals";
  std::string table = fmt::format(
      "# {} on {}, {} seeds, {}\n\n| optimizer | test accuracy (%) | test loss | train loss | steps | gradient "
      "evaluations | time (s) |\n|---|---|---|---|---|---|---|\n",
      o.base.model, o.base.dataset, o.seeds,
      by_evaluations
          ? fmt::format("equal gradient evaluations (those of {} epochs of one-evaluation steps)", o.base.epochs)
          : fmt::format("{} epochs", o.base.epochs));
  const std::string x_axis = by_evaluations ? "gradient evaluations" : "step";
  Panel loss{"Training loss", x_axis, "loss (mean of 10 steps)", {}};
  Panel accuracy{"Test accuracy", x_axis, "accuracy (%)", {}};
  std::size_t next = 0;
  for (const auto& spec : specs) {
    std::vector<double> accuracy_end, loss_end, train_end, seconds, steps, evaluations;
    std::vector<std::vector<std::pair<double, double>>> loss_runs, accuracy_runs;
    for (int seed = 0; seed < o.seeds; ++seed) {
      const TrainConfig& c = runs[next];
      const TrainResult& r = results[next++];
      for (const auto& e : r.epochs)
        csv +=
            fmt::format("\"{}\",{},{},{},{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.3f}\n", spec, c.seed, e.epoch, e.step,
                        e.evaluations, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy, e.lr, e.wall_s);
      const auto& last = r.epochs.back();
      accuracy_end.push_back(100 * last.test_accuracy);
      loss_end.push_back(last.test_loss);
      train_end.push_back(last.train_loss);
      seconds.push_back(last.wall_s);
      steps.push_back(static_cast<double>(last.step));
      evaluations.push_back(static_cast<double>(last.evaluations));
      const auto x = [&](std::int64_t step, std::int64_t evaluations_so_far) {
        return static_cast<double>(by_evaluations ? evaluations_so_far : step);
      };
      std::vector<std::pair<double, double>> curve, acc;
      for (const auto& point : r.loss_curve) curve.emplace_back(x(point.step, point.evaluations), point.loss);
      for (const auto& e : r.epochs) acc.emplace_back(x(e.step, e.evaluations), 100 * e.test_accuracy);
      loss_runs.push_back(curve);
      accuracy_runs.push_back(acc);
    }
    const Stats a = summarize(accuracy_end), l = summarize(loss_end), t = summarize(train_end), s = summarize(seconds);
    table += fmt::format("| `{}` | {:.2f} ± {:.2f} | {:.4f} ± {:.4f} | {:.4f} ± {:.4f} | {:.0f} | {:.0f} | {:.1f} |\n",
                         spec, a.mean, a.std, l.mean, l.std, t.mean, t.std, summarize(steps).mean,
                         summarize(evaluations).mean, s.mean);
    loss.series.push_back({spec, mean_curve(loss_runs)});
    accuracy.series.push_back({spec, mean_curve(accuracy_runs)});
  }
  table +=
      fmt::format("\nMean ± standard deviation over seeds {}..{} of the final epoch; time is wall-clock per run.\n",
                  o.base.seed, o.base.seed + static_cast<std::uint64_t>(o.seeds) - 1);
  if (!tuning_table.empty())
    table += fmt::format(
        "\nLearning rates chosen from {{{}}} by the final training loss of one run on seed {} (apart from the compared "
        "seeds):\n\n| spec | lr | training loss |\n|---|---|---|\n{}",
        fmt::join(o.lr_grid, ", "), tuning_seed(o), tuning_table);
  write_file_atomically(csv_path, csv);
  write_file_atomically(o.out + "/results.md", table);
  write_file_atomically(o.out + "/curves.svg", svg_chart({loss, accuracy}));
  std::fputs(table.c_str(), stdout);
  std::printf("\nwrote %s/results.md, results.csv and curves.svg\n", o.out.c_str());
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("compare", "Compare optimizers over several seeds on one task");
  cmd->add_option("--optimizer", o->optimizers,
                  "Optimizer spec (repeat for each optimizer); write {} for the lr to tune it on --lr-grid")
      ->required();
  cmd->add_option("--seeds", o->seeds, "Runs per optimizer")->check(CLI::Range(1, 1000));
  cmd->add_option("--out", o->out, "Folder for results.md, results.csv and curves.svg");
  cmd->add_option("--lr-grid", o->lr_grid,
                  "Learning rates tried for a spec with {} in place of its lr (default: 1e-4, 3e-4, ..., 1, 3)")
      ->delimiter(',');
  add_training_options(*cmd, o->base);
  cmd->callback([o] { run_comparison(*o); });
}

}  // namespace mg::apps
