#include "metagrad/optim/experiments/reproduce.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "claim.hpp"
#include "metagrad/core/concurrent.hpp"
#include "metagrad/core/distributed.hpp"
#include "metagrad/core/files.hpp"
#include "metagrad/core/threading.hpp"
#include "metagrad/data/dataset.hpp"
#include "metagrad/data/fetch.hpp"
#include "metagrad/optim/registry.hpp"
#include "optim/learned/json_file.hpp"

namespace mg::optim::experiments {
namespace {

struct Claim {
  ClaimInfo info;
  std::function<Verdict(ClaimContext&)> run;
};

const std::vector<Claim>& registry() {
  static const std::vector<Claim> all = {
      {{"rllc", "paper 1 (RLLC, section 4)",
        "Some RLLC variants (memory units with a retrospectively corrected learning law) beat SGD, momentum SGD and "
        "Adam by modest margins on fully connected and convolutional nets.",
        true},
       reproduce_rllc},
      {{"l2l-quadratic", "paper 2 (learned LSTM optimizer, section 5)",
        "On random 10-dimensional quadratics, the LSTM optimizer meta-trained by gradient descent is clearly below "
        "every tuned hand-designed baseline (sgd, nag, rmsprop, adam) over 100 steps.",
        false, true},
       reproduce_l2l_quadratic},
      {{"l2l-mlp", "paper 2 (learned LSTM optimizer, section 5)",
        "On the 784-20-10 sigmoid MLP, the LSTM optimizer beats every tuned baseline by a clear margin at step 100, "
        "and keeps its lead when run for 200 steps.",
        false, true},
       reproduce_l2l_mlp},
      {{"l2l-generalization", "paper 2 (learned LSTM optimizer, section 5)",
        "The LSTM optimizer trained on the sigmoid MLP is still best with 40 hidden units or 2 hidden layers, and "
        "fails (the baselines win) with ReLU activations.",
        false, true},
       reproduce_l2l_generalization},
      {{"l2l-cnn", "paper 2 (learned LSTM optimizer, section 5)",
        "On CIFAR-10 with two nets (convolutions, fully connected), the LSTM optimizer learns faster than the tuned "
        "baselines.",
        true, true},
       reproduce_l2l_cnn},
      {{"l2l-settings", "paper 2 (which of the authors' code's settings decides, section 5.7)",
        "Of the settings in which the authors' code differs from the paper's text (p = 5, output scale 0.01, the "
        "code's initialisation, Adam at 1e-3 as the meta-optimizer), one switched alone into the paper protocol makes "
        "the LSTM leave the do-nothing plateau on the mlp task and stay off it, on every seed.",
        false},
       reproduce_l2l_settings},
      {{"integrators", "paper 3 (numerical integrators, section 6)",
        "Higher-order integrators of the gradient flow (ab2, ab3, heun, rk4) improve on SGD, which is forward Euler.",
        true},
       reproduce_integrators},
      {{"smes", "paper 4 (SMES, section 7)",
        "The second-moment exponent balances SGD (exponent 0) and Adam (0.5): an intermediate exponent trains and "
        "generalises at least as well as either end.",
        true},
       reproduce_smes},
      {{"root-free", "paper 5 (root-free methods, section 8)",
        "Root-free RF-RMSProp closes the generalisation gap to SGD on CNNs (at least AdamW's test accuracy, close to "
        "SGD's); its batch factor and s_0 = 1 make it easy to tune; IF-Shampoo trains stably in low precision where "
        "Shampoo's roots are fragile.",
        true},
       reproduce_root_free},
      {{"short-horizon", "Wu et al. 2018 (short-horizon bias, section 10.3)",
        "Meta-gradients over short truncations favour learning rates that are too small for the whole run: sgd's lr "
        "learned by truncated backprop on quadratics is below the lr that minimises the whole-run loss, while PES, "
        "unbiased over whole runs, learns an lr within its spread of it.",
        false},
       reproduce_short_horizon},
  };
  return all;
}

Training from_json(const nlohmann::json& j) {
  Training t;
  t.losses = json_numbers(j.at("losses"));
  t.evaluations = j.at("evaluations").get<std::vector<std::int64_t>>();
  for (const auto& point : j.at("test_accuracy")) t.test_accuracy.emplace_back(point[0], point[1]);
  t.final_loss = j.at("final_loss").is_null() ? NAN : j.at("final_loss").get<double>();
  t.test_loss = j.at("test_loss").is_null() ? NAN : j.at("test_loss").get<double>();
  t.accuracy = j.at("accuracy").is_null() ? NAN : j.at("accuracy").get<double>();
  t.diverged = j.at("diverged");
  t.log = j.at("log");
  return t;
}

nlohmann::json to_json(const learned::TrainingRun& run, const nlohmann::json& log) {
  const std::size_t n = run.losses.size(), tail = std::max<std::size_t>(n / 10, 1);
  double final_loss = 0;
  for (std::size_t i = n - tail; i < n; ++i) final_loss += run.losses[i] / static_cast<double>(tail);
  nlohmann::json losses = nlohmann::json::array(), curve = nlohmann::json::array();
  for (double v : run.losses) losses.push_back(json_number(v));
  for (const auto& [step, evaluation] : run.test_curve) curve.push_back({step, evaluation.accuracy});
  return {{"losses", losses},
          {"evaluations", run.evaluations},
          {"test_accuracy", curve},
          {"final_loss", json_number(run.diverged ? NAN : final_loss)},
          {"test_loss", json_number(run.test ? run.test->loss : NAN)},
          {"accuracy", json_number(run.test ? run.test->accuracy : NAN)},
          {"diverged", run.diverged},
          {"log", log}};
}

}  // namespace

Protocol parse_protocol(const std::string& name) {
  if (name == "paper") return Protocol::Paper;
  if (name == "code") return Protocol::Code;
  throw Error("--protocol must be paper or code, not '" + name + "'");
}

const char* to_string(Protocol protocol) { return protocol == Protocol::Paper ? "paper" : "code"; }

Budget parse_budget(const std::string& name) {
  if (name == "smoke") return Budget::Smoke;
  if (name == "quick") return Budget::Quick;
  if (name == "full") return Budget::Full;
  throw Error("--budget must be quick, full or smoke, not '" + name + "'");
}

const char* to_string(Budget budget) {
  return budget == Budget::Smoke ? "smoke" : budget == Budget::Quick ? "quick" : "full";
}

const char* split_name(learned::Split split) {
  switch (split) {
    case learned::Split::Train:
      return "train";
    case learned::Split::Validation:
      return "validation";
    case learned::Split::Test:
      break;
  }
  return "test";
}

nlohmann::json json_number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::vector<double> json_numbers(const nlohmann::json& values) {
  std::vector<double> out;
  for (const auto& v : values) out.push_back(v.is_null() ? NAN : v.get<double>());
  return out;
}

ClaimContext::ClaimContext(const ReproduceOptions& o, const std::string& claim, const std::atomic<bool>& stop)
    : options(o), store(o.out, claim, o.progress, stop) {}

learned::Task& ClaimContext::task(const std::string& name, std::uint64_t seed) {
  const std::lock_guard<std::mutex> lock(tasks_mutex_);  // concurrent runs ask for tasks too
  auto& slot = tasks_[{name, seed}];
  if (!slot && task_maker) slot = task_maker(name);
  if (!slot) {
    learned::TaskOptions task_options;
    task_options.data_dir = name.rfind("cnn", 0) == 0 ? options.cifar_dir : options.fashion_dir;
    task_options.seed = seed;
    slot = learned::make_task(name, task_options);
  }
  return *slot;
}

std::string ClaimContext::key_of(const TrainingRequest& r) {
  return fmt::format("{} {} {} {}: {} {}{}{}", r.task, split_name(r.split), r.index, r.spec, r.budget,
                     r.budget_in_evaluations ? "evaluations" : "steps",
                     r.evaluate_every > 0 ? fmt::format(" eval/{}", r.evaluate_every) : "",
                     r.variant.empty() ? "" : " " + r.variant);
}

nlohmann::json ClaimContext::compute(const TrainingRequest& r) {
  learned::TrainingOptions o;
  o.budget = r.budget;
  o.budget_in_evaluations = r.budget_in_evaluations;
  o.evaluate_every = r.evaluate_every;
  o.after_backward = r.after_backward;
  o.stop = &store.stop();
  nlohmann::json log = nlohmann::json::array();
  if (r.log)
    o.observe = [&](std::int64_t step, const Optimizer& optimizer) {
      if (step % 10 == 0) log.push_back({{"step", step}, {"value", r.log(step, optimizer)}});
    };
  const std::string spec = r.spec;
  const auto run = learned::train_problem(
      *task(r.task).problem(r.split, r.index), [&](const NamedParameters& params) { return make(spec, params); }, o);
  return to_json(run, log);
}

Training ClaimContext::train(const TrainingRequest& r) {
  return from_json(store.run(key_of(r), [&] { return compute(r); }));
}

std::vector<Training> ClaimContext::train_all(const std::vector<TrainingRequest>& requests) {
  std::vector<std::string> keys;
  for (const auto& r : requests) keys.push_back(key_of(r));
  std::vector<Training> runs;
  for (const auto& result : store.run_all(keys, [&](std::size_t i) { return compute(requests[i]); }))
    runs.push_back(from_json(result));
  return runs;
}

GridSearch ClaimContext::tune(TrainingRequest request, const std::string& spec_template,
                              const std::vector<double>& grid, int problems) {
  request.split = learned::Split::Validation;
  std::vector<TrainingRequest> requests;
  for (double value : grid)
    for (int i = 0; i < problems; ++i) {
      request.spec = with_value(spec_template, value);
      request.index = static_cast<std::uint64_t>(i);
      requests.push_back(request);
    }
  const std::vector<Training> runs = train_all(requests);
  return grid_search(grid, [&](double value) {
    const auto g = static_cast<std::size_t>(std::find(grid.begin(), grid.end(), value) - grid.begin());
    double total = 0;
    for (int i = 0; i < problems; ++i)
      total += runs[g * static_cast<std::size_t>(problems) + static_cast<std::size_t>(i)].final_loss;
    return total / problems;
  });
}

std::vector<Training> ClaimContext::over_seeds(TrainingRequest request) {
  std::vector<TrainingRequest> requests;
  request.split = learned::Split::Test;
  for (int seed = 0; seed < seeds(); ++seed) {
    request.index = static_cast<std::uint64_t>(seed);
    requests.push_back(request);
  }
  return train_all(requests);
}

learned::MetaTrainResult ClaimContext::meta_train(const learned::Task& task, learned::LearnedOptimizer& learned,
                                                  const learned::MetaGradientEstimator& estimator,
                                                  learned::MetaTrainOptions o) {
  o.resume = std::filesystem::exists(o.out_dir + "/meta-checkpoint.mgt");
  // One progress line only where nothing else writes progress at once.
  o.progress = options.progress && distributed::world_size() == 1 && !in_concurrent_run();
  o.data_parallel = false;
  const auto result = learned::meta_train(task, learned, estimator, o, store.stop());
  if (result.interrupted)
    throw Interrupted(
        fmt::format("meta-training stopped at epoch {} (checkpoint in {})", result.epochs_done, o.out_dir));
  return result;
}

std::string task_section(const ClaimContext& c, const std::string& task, const std::string& other_measures) {
  return fmt::format(
      "## {}\n\nMean ± std over {} test problems; loss: mean mini-batch training loss over the last tenth of the "
      "run; {}.\n\n",
      task, c.seeds(), other_measures);
}

void ClaimContext::figure(const std::string& file, const std::vector<Panel>& panels, const std::string& caption) {
  figures.emplace_back(file, svg_chart(panels));
  report += fmt::format("\n![{}]({})\n\n*{}*\n\n", caption, file, caption);
}

std::vector<TaskSetting> mlp_and_cnn(const ClaimContext& c) {
  return {{"mlp", c.by_budget<std::int64_t>(1000, 5000, 20)}, {"cnn", c.by_budget<std::int64_t>(200, 2000, 4)}};
}

std::string markdown_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string out = "|";
  for (const auto& h : header) out += " " + h + " |";
  out += "\n|";
  for (std::size_t i = 0; i < header.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& row : rows) {
    out += "|";
    for (const auto& cell : row) out += " " + cell + " |";
    out += "\n";
  }
  return out;
}

Stats stats_of(const std::vector<Training>& runs, const std::function<double(const Training&)>& value) {
  std::vector<double> values;
  for (const auto& r : runs) values.push_back(value(r));
  return summarize(values);
}

std::vector<std::pair<double, double>> loss_curve(const std::vector<Training>& runs, bool by_evaluations) {
  std::vector<std::vector<std::pair<double, double>>> curves;
  for (const auto& r : runs) {
    std::vector<std::pair<double, double>> curve;
    const std::size_t stride = std::max<std::size_t>(r.losses.size() / 200, 1);
    for (std::size_t i = 0; i < r.losses.size(); i += stride) {
      // a window mean: single mini-batch losses are too noisy to read
      double total = 0;
      std::size_t count = 0;
      for (std::size_t j = i; j < std::min(i + stride, r.losses.size()); ++j, ++count) total += r.losses[j];
      curve.emplace_back(static_cast<double>(by_evaluations ? r.evaluations[i] : static_cast<std::int64_t>(i)),
                         total / static_cast<double>(count));
    }
    curves.push_back(curve);
  }
  return mean_curve(curves);
}

std::string outcome_everywhere(const std::vector<Difference>& comparisons) {
  const auto count = [&](Difference d) { return std::count(comparisons.begin(), comparisons.end(), d); };
  return count(Difference::Better) == static_cast<std::ptrdiff_t>(comparisons.size()) ? "reproduced"
         : count(Difference::Worse) > 0                                               ? "not reproduced"
                                                                                      : "inconclusive";
}

std::string outcome_somewhere(const std::vector<Difference>& comparisons) {
  const auto better = std::count(comparisons.begin(), comparisons.end(), Difference::Better);
  const auto worse = std::count(comparisons.begin(), comparisons.end(), Difference::Worse);
  return better > 0 && worse == 0 ? "reproduced" : worse > 0 && better == 0 ? "not reproduced" : "inconclusive";
}

const std::vector<ClaimInfo>& claims() {
  static const std::vector<ClaimInfo> infos = [] {
    std::vector<ClaimInfo> out;
    for (const auto& c : registry()) out.push_back(c.info);
    return out;
  }();
  return infos;
}

std::string reproduce(const std::string& name, const ReproduceOptions& given, const std::atomic<bool>& stop) {
  ReproduceOptions options = given;
  const Claim* claim = nullptr;
  std::string names;
  for (const auto& c : registry()) {
    if (c.info.name == name) claim = &c;
    names += (names.empty() ? "" : ", ") + c.info.name;
  }
  MG_CHECK(claim, "unknown claim '{}'; the claims are: {}", name, names);
  MG_CHECK(options.seeds >= 1, "--seeds must be at least 1, not {}", options.seeds);
  MG_CHECK(options.protocol == Protocol::Paper || claim->info.has_code_protocol,
           "--protocol code applies to the l2l claims (paper 2), not to {}", name);
  MG_CHECK(!options.out.empty(), "reproduce {}: give the report's folder (--out DIR)", name);
  if (claim->info.needs_cifar) {
    try {
      options.cifar_dir = data::locate_dataset("cifar10", options.cifar_dir);
    } catch (const Error& e) {
      throw Error(fmt::format("claim {} trains on CIFAR-10: {}", name, e.what()));
    }
    data::cifar10(options.cifar_dir, false);  // a missing or broken dataset fails here, before any run
  }
  std::filesystem::create_directories(options.out);
  ClaimContext context(options, name, stop);
  const Verdict verdict = claim->run(context);
  const std::string line = fmt::format("verdict: {} ({})", verdict.outcome, verdict.numbers);
  if (!distributed::is_main()) return line;  // every rank has the whole report; rank 0 writes it
  for (const auto& [file, svg] : context.figures) write_file_atomically(options.out + "/" + file, svg);
  write_file_atomically(
      options.out + "/report.md",
      fmt::format("# Reproduction: {}\n\n**Paper:** {}.\n\n**Claim:** {}\n\n{}\n## Command\n\n```\n{}\n```\n\n"
                  "Runs: {}, computed in {:.1f} minutes in all.\n\n{}\n",
                  name, claim->info.paper, claim->info.statement, context.report, options.command, context.store.runs(),
                  context.store.run_seconds() / 60, line));
  return line;
}

}  // namespace mg::optim::experiments
