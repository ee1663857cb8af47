// Section 10.3: the short-horizon bias of truncated meta-gradients (Wu, Ren,
// Liao and Grosse 2018). One learned learning rate of sgd on the quadratic
// task, meta-trained by truncated backprop and by PES, against lr*, the
// value that minimises the whole run's meta-loss on a fine grid, per seed
// on the same validation problems.
#include <cmath>

#include "claim.hpp"

namespace mg::optim::experiments {
namespace {

struct Setting {
  std::int64_t steps, unroll, epochs, eval_every, validation_problems;
  double start_lr;
  std::string meta_optimizer;
  std::int64_t population;
  double sigma;
  std::vector<double> grid;  // of lr, for lr*
};

Setting setting(const ClaimContext& c) {
  // 20 points a decade from 1e-3 to 10: the task's loss is a mean over 128
  // problems, so its stable lrs reach about 1.
  const int points = c.by_budget(81, 81, 5);
  std::vector<double> grid;
  for (int i = 0; i < points; ++i) grid.push_back(std::pow(10.0, -3 + 4.0 * i / (points - 1)));
  return {c.by_budget<std::int64_t>(100, 100, 10),
          c.by_budget<std::int64_t>(10, 10, 5),
          c.by_budget<std::int64_t>(300, 1000, 4),
          c.by_budget<std::int64_t>(50, 100, 1),
          c.by_budget<std::int64_t>(20, 20, 2),
          1e-2,
          "adam(lr=0.01)",
          c.by_budget<std::int64_t>(8, 8, 2),
          0.01,
          grid};
}

// What a meta-training learns: the geometric mean of its lr over the last
// quarter of the epochs (the meta-optimizer's steps make the lr jitter
// around where the meta-gradients balance; the early-stopping choice
// validates only the final loss, not the meta-objective).
nlohmann::json meta_train_lr(ClaimContext& c, const Setting& s, const std::string& estimator, std::uint64_t seed) {
  const std::string dir = fmt::format("{}/meta/{}-seed-{}", c.options.out, estimator, seed);
  learned::Task& task = c.task("quadratic", seed);
  auto sgd = learned::make_learned(fmt::format("hparams(sgd(lr={:g}))", s.start_lr), task, seed);
  std::unique_ptr<learned::MetaGradientEstimator> meta_gradients;
  if (estimator == "pes")
    meta_gradients = std::make_unique<learned::EvolutionStrategies>(
        learned::EvolutionStrategiesOptions{.persistent = true, .sigma = s.sigma, .seed = seed});
  else
    meta_gradients =
        std::make_unique<learned::TruncatedBptt>(learned::TruncatedBpttOptions{.mode = learned::MetaMode::SecondOrder});
  learned::MetaTrainOptions o;
  o.meta_batch = estimator == "pes" ? s.population : 1;
  o.epochs = s.epochs;
  o.eval_every = s.eval_every;
  o.validation_problems = s.validation_problems;
  o.meta_optimizer = s.meta_optimizer;
  o.out_dir = dir;
  const std::int64_t averaged_from = s.epochs - s.epochs / 4;
  std::vector<double> log_lrs;  // a run resumed in its last quarter averages what it still sees
  o.after_epoch = [&](std::int64_t epoch, const learned::LearnedOptimizer& l) {
    if (epoch > averaged_from) log_lrs.push_back(l.meta_parameters().front().second.item<double>());
  };
  const auto result = c.meta_train(task, *sgd, *meta_gradients, o);
  return {{"lr", std::exp(summarize(log_lrs).mean)},
          {"final_lr", std::exp(sgd->meta_parameters().front().second.item<double>())},
          {"spread", summarize(log_lrs).std / std::log(10.0)},
          {"wall_s", result.wall_seconds}};
}

// The mean whole-run meta-loss, sum_{t=1..T} f(theta_t), over the
// validation problems, for each lr of the grid (infinite where sgd diverges).
nlohmann::json whole_run_losses(ClaimContext& c, const Setting& s, std::uint64_t seed) {
  const learned::Task& task = c.task("quadratic", seed);
  nlohmann::json losses = nlohmann::json::array();
  for (double lr : s.grid) {
    double total = 0;
    for (const auto& curve : learned::loss_curves(task, learned::spec_factory("sgd(lr={})", lr),
                                                  learned::Split::Validation, s.validation_problems, s.steps))
      for (std::size_t t = 1; t < curve.size(); ++t) total += curve[t];
    losses.push_back(json_number(total / static_cast<double>(s.validation_problems)));
  }
  return losses;
}

struct Seed {
  double tbptt, pes, best;     // learned lrs and lr*
  double diverges;             // the smallest grid lr at which a validation run diverges (inf: none)
  std::vector<double> losses;  // whole-run meta-loss over the grid
};

std::vector<Seed> run_seeds(ClaimContext& c, const Setting& s) {
  std::vector<std::string> keys;
  const std::string common = fmt::format("quadratic T={} K={}, sgd from lr {:g}, {} epochs of {}", s.steps, s.unroll,
                                         s.start_lr, s.epochs, s.meta_optimizer);
  for (int seed = 0; seed < c.seeds(); ++seed) {
    keys.push_back(fmt::format("tbptt second order, seed {}: {}", seed, common));
    keys.push_back(fmt::format("pes N={} sigma={:g}, seed {}: {}", s.population, s.sigma, seed, common));
    keys.push_back(fmt::format("whole-run losses, seed {}: quadratic T={}, {} lrs from {:g} to {:g}, {} problems", seed,
                               s.steps, s.grid.size(), s.grid.front(), s.grid.back(), s.validation_problems));
  }
  for (int seed = 0; seed < c.seeds(); ++seed) {
    learned::Task& task = c.task("quadratic", static_cast<std::uint64_t>(seed));
    task.steps = s.steps;
    task.unroll = s.unroll;
  }
  const auto stored = c.store.run_all(keys, [&](std::size_t i) {
    const auto seed = static_cast<std::uint64_t>(i / 3);
    switch (i % 3) {
      case 0:
        return meta_train_lr(c, s, "tbptt", seed);
      case 1:
        return meta_train_lr(c, s, "pes", seed);
      default:
        return nlohmann::json{{"losses", whole_run_losses(c, s, seed)}};
    }
  });
  std::vector<Seed> seeds;
  for (std::size_t i = 0; i < stored.size(); i += 3) {
    Seed seed{stored[i]["lr"].get<double>(), stored[i + 1]["lr"].get<double>(), 0, INFINITY,
              json_numbers(stored[i + 2]["losses"])};
    std::size_t best = 0;
    for (std::size_t g = 1; g < seed.losses.size(); ++g)
      if (seed.losses[g] < seed.losses[best] || !std::isfinite(seed.losses[best])) best = g;
    seed.best = s.grid[best];
    for (std::size_t g = seed.losses.size(); g-- > 0;)
      if (!std::isfinite(seed.losses[g])) seed.diverges = s.grid[g];
    seeds.push_back(seed);
  }
  return seeds;
}

void report_figure(ClaimContext& c, const Setting& s, const std::vector<Seed>& seeds) {
  Panel panel{"Whole-run meta-loss against lr (mean over seeds)", "log10 lr", "sum of the 100 losses", {}, true};
  Series curve{"sgd, fixed lr", {}};
  double low = INFINITY, high = 0;
  for (std::size_t g = 0; g < s.grid.size(); ++g) {
    double total = 0;
    for (const auto& seed : seeds) total += seed.losses[g];
    const double mean = total / static_cast<double>(seeds.size());
    if (!std::isfinite(mean)) continue;
    curve.points.emplace_back(std::log10(s.grid[g]), mean);
    low = std::min(low, mean);
    high = std::max(high, mean);
  }
  panel.series.push_back(curve);
  // Vertical marks at the mean log10 of each learned lr and of lr*.
  const auto mark = [&](const std::string& label, double Seed::*field) {
    std::vector<double> logs;
    for (const auto& seed : seeds) logs.push_back(std::log10(seed.*field));
    const double x = summarize(logs).mean;
    panel.series.push_back({label, {{x, low}, {x, high}}});
  };
  mark("lr* (grid)", &Seed::best);
  mark("tbptt's lr", &Seed::tbptt);
  mark("pes's lr", &Seed::pes);
  c.figure("meta-loss.svg", {panel}, "The whole-run meta-loss of sgd on the validation problems, and the learned lrs");
}

}  // namespace

Verdict reproduce_short_horizon(ClaimContext& c) {
  const Setting s = setting(c);
  c.store.plan(3 * c.seeds());
  c.report += fmt::format(
      "## Protocol\n\nFor each of {} seeds (a seed draws the `quadratic` task's problems, optimizers.md 5.4): learn "
      "one learning rate of sgd (`hparams(sgd(lr={:g}))`: its log is the meta-parameter) over runs of T = {} steps "
      "in truncations of K = {}, for {} epochs with `{}`: once with truncated backprop (`tbptt`, second order, so "
      "that the truncation is the only approximation) and once with PES (`pes`, {} pairs of runs, sigma {:g} on "
      "the log lr). lr* minimises the whole-run meta-loss, the sum of the T losses, averaged over the same {} "
      "validation problems, on a grid of {} lrs from {:g} to {:g} (20 a decade). The learned lr is the geometric "
      "mean of the lr over the last quarter of the epochs; \"sgd diverges from\" is the smallest grid lr at which "
      "some validation run diverges. Budget `{}`.\n\n",
      c.seeds(), s.start_lr, s.steps, s.unroll, s.epochs, s.meta_optimizer, s.population, s.sigma,
      s.validation_problems, s.grid.size(), s.grid.front(), s.grid.back(), to_string(c.options.budget));
  const std::vector<Seed> seeds = run_seeds(c, s);

  std::vector<std::vector<std::string>> rows;
  std::vector<double> tbptt_gap, pes_gap;  // log10(learned / lr*)
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    const Seed& seed = seeds[i];
    tbptt_gap.push_back(std::log10(seed.tbptt / seed.best));
    pes_gap.push_back(std::log10(seed.pes / seed.best));
    rows.push_back({std::to_string(i), fmt::format("{:.4g}", seed.diverges), fmt::format("{:.4g}", seed.best),
                    fmt::format("{:.4g}", seed.tbptt), fmt::format("{:.4g}", seed.pes),
                    fmt::format("{:+.3f}", tbptt_gap.back()), fmt::format("{:+.3f}", pes_gap.back())});
  }
  const Stats tbptt = summarize(tbptt_gap), pes = summarize(pes_gap);
  rows.push_back({"mean ± std", "", "", "", "", plus_minus(tbptt, 3), plus_minus(pes, 3)});
  c.report += "## Learned learning rates\n\n" +
              markdown_table({"seed", "sgd diverges from", "lr* (grid)", "tbptt's lr", "pes's lr", "log10(tbptt / lr*)",
                              "log10(pes / lr*)"},
                             rows) +
              "\n";
  report_figure(c, s, seeds);

  const Stats zero{0, 0, 0};
  const bool tbptt_below = compare(tbptt, zero) == Difference::Better;
  const bool pes_near = compare(pes, zero) == Difference::WithinSpread;
  c.report +=
      "\nThe verdict: reproduced when tbptt's lr is below lr* by more than the spread over seeds (log10 of the "
      "ratio, mean + std < 0) and pes's is within its spread of lr*; not reproduced when tbptt's lr is not below "
      "lr*; inconclusive otherwise.\n";
  const std::string outcome = tbptt_below && pes_near ? "reproduced" : !tbptt_below ? "not reproduced" : "inconclusive";
  return {outcome, fmt::format("log10(lr / lr*): tbptt {}, pes {} over {} seeds", plus_minus(tbptt, 3),
                               plus_minus(pes, 3), seeds.size())};
}

}  // namespace mg::optim::experiments
