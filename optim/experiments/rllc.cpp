// Paper 1 (optimizers.md section 4): RLLC's presets against sgd, momentum
// sgd and adam on the mlp and cnn tasks, lr and law_lr tuned, and the law L
// of the momentum_grad preset logged over training (does it move from
// momentum-like (1, 0) to SGD-like (0, 1)? a hypothesis, reported either way).
#include <cmath>
#include <limits>

#include "claim.hpp"

namespace mg::optim::experiments {
namespace {

struct Candidate {
  std::string name, spec_template;  // "{}" stands for lr; "{law_lr}" for law_lr
  bool rllc;
};

const std::vector<Candidate> kCandidates = {
    {"sgd", "sgd(lr={})", false},
    {"momentum", "sgd(lr={}, momentum=0.9)", false},
    {"adam", "adam(lr={})", false},
    {"rllc momentum_grad", "rllc(lr={}, memory=momentum_grad, law_lr={law_lr})", true},
    {"rllc jordan k=2", "rllc(lr={}, memory=jordan, k=2, law_lr={law_lr})", true},
    {"rllc jordan k=3", "rllc(lr={}, memory=jordan, k=3, law_lr={law_lr})", true},
    {"rllc complex", "rllc(lr={}, memory=complex, law_lr={law_lr})", true},
    {"rllc multi", "rllc(lr={}, memory=multi, law_lr={law_lr})", true},
};

std::string with_law_lr(std::string spec_template, double law_lr) {
  const std::string slot = "{law_lr}";
  const std::size_t at = spec_template.find(slot);
  if (at != std::string::npos) spec_template.replace(at, slot.size(), fmt::format("{:g}", law_lr));
  return spec_template;
}

// RLLC's global law L (k numbers).
nlohmann::json law_of(std::int64_t, const Optimizer& optimizer) {
  for (const auto& [name, tensor] : optimizer.state_dict())
    if (name == "global.law") return tensor.to_vector<double>();
  return nullptr;
}

}  // namespace

Verdict reproduce_rllc(ClaimContext& c) {
  const std::vector<TaskSetting> settings = mlp_and_cnn(c);
  const std::vector<double> grid =
      c.by_budget<std::vector<double>>({1e-4, 1e-3, 1e-2, 1e-1, 1}, log_lr_grid(), {1e-2, 1e-1});
  const std::vector<double> law_lrs = {1e-3, 1e-2, 1e-1};
  const int tuning_problems = c.by_budget(1, 3, 1);
  for (std::size_t task = 0; task < settings.size(); ++task)
    for (const auto& candidate : kCandidates)
      c.store.plan(static_cast<std::int64_t>(grid.size() * (candidate.rllc ? law_lrs.size() : 1)) * tuning_problems +
                   c.seeds());
  c.report += fmt::format(
      "## Protocol\n\nPlain training (no meta-learning) of the `mlp` task (784-20-10 sigmoid MLP, Fashion-MNIST; "
      "{} steps) and the `cnn` task (CIFAR-10; {} steps) of optimizers.md 5.4, mini-batches of 128. lr is chosen "
      "from {{{}}} and, for RLLC, law_lr from {{{}}} (jointly), by the mean mini-batch loss over the last tenth of the "
      "steps on {} validation problem(s); then {} test problems (fresh initialisations and batch orders) run with the "
      "chosen values. RLLC presets use their defaults otherwise (scope global, law_update pinv). Budget `{}`.\n\n",
      settings[0].steps, settings[1].steps, fmt::join(grid, ", "), fmt::join(law_lrs, ", "), tuning_problems, c.seeds(),
      to_string(c.options.budget));

  std::vector<Difference> comparisons;
  std::string decisive;
  for (const auto& s : settings) {
    std::vector<std::vector<std::string>> rows;
    std::string law_text;
    Panel panel{s.task + ": training loss", "step", "mini-batch loss", {}, true};
    Panel law_panel{s.task + ": law of rllc momentum_grad", "step", "L component (mean over test problems)", {}};
    Stats best_baseline{-1, 0, 0}, best_rllc{-1, 0, 0};
    std::string best_baseline_name, best_rllc_name;
    for (const auto& candidate : kCandidates) {
      TrainingRequest r(s.task);
      r.budget = s.steps;
      GridSearch best;
      best.best_score = std::numeric_limits<double>::infinity();
      std::string chosen_template = candidate.spec_template;
      for (double law_lr : candidate.rllc ? law_lrs : std::vector<double>{0}) {
        const std::string spec_template = with_law_lr(candidate.spec_template, law_lr);
        const GridSearch search = c.tune(r, spec_template, grid, tuning_problems);
        if (search.best_score < best.best_score) {
          best = search;
          chosen_template = spec_template;
        }
      }
      r.spec = with_value(chosen_template, best.best);
      if (candidate.name == "rllc momentum_grad") {
        r.log = law_of;
        r.variant = "law";
      }
      const auto runs = c.over_seeds(r);
      const Stats accuracy = stats_of(runs, [](const Training& t) { return 100 * t.accuracy; });
      rows.push_back({"`" + r.spec + "`", plus_minus(stats_of(runs, [](const Training& t) { return t.final_loss; })),
                      plus_minus(stats_of(runs, [](const Training& t) { return t.test_loss; })), plus_minus(accuracy)});
      panel.series.push_back({candidate.name, loss_curve(runs)});
      Stats& best_of_kind = candidate.rllc ? best_rllc : best_baseline;
      std::string& best_name = candidate.rllc ? best_rllc_name : best_baseline_name;
      if (best_name.empty() || accuracy.mean > best_of_kind.mean) {
        best_of_kind = accuracy;
        best_name = candidate.name;
      }
      if (r.log) {
        // The mean law over the test problems, and how momentum-like it is.
        std::vector<std::vector<std::pair<double, double>>> first, second;
        std::vector<double> start_share, end_share;
        for (const auto& run : runs) {
          first.emplace_back();
          second.emplace_back();
          for (const auto& entry : run.log) {
            if (entry["value"].is_null()) continue;
            const auto law = entry["value"].get<std::vector<double>>();
            first.back().emplace_back(entry["step"].get<double>(), law[0]);
            second.back().emplace_back(entry["step"].get<double>(), law[1]);
          }
          const auto share = [](double a, double b) {
            return std::abs(a) / std::max(std::abs(a) + std::abs(b), 1e-300);
          };
          if (!first.back().empty()) {
            start_share.push_back(share(first.back().front().second, second.back().front().second));
            end_share.push_back(share(first.back().back().second, second.back().back().second));
          }
        }
        law_panel.series.push_back({"L[0] (momentum unit)", mean_curve(first)});
        law_panel.series.push_back({"L[1] (gradient unit)", mean_curve(second)});
        law_text = fmt::format(
            "**Law of `{}` on {}** (L = (1, 0) is momentum, (0, 1) is SGD, (0.9, 1) is NAG): the momentum share "
            "|L0| / (|L0| + |L1|) goes from {} at step 10 to {} at the end ({}: the hypothesis that the law moves "
            "from momentum-like to SGD-like is {}).\n\n",
            r.spec, s.task, plus_minus(summarize(start_share), 3), plus_minus(summarize(end_share), 3),
            compare(summarize(end_share), summarize(start_share)) == Difference::Better
                ? "it falls by more than the spread"
                : "no fall beyond the spread",
            compare(summarize(end_share), summarize(start_share)) == Difference::Better ? "supported here"
                                                                                        : "not supported here");
      }
    }
    c.report += task_section(c, s.task, "test loss and accuracy on the held-out test images");
    c.report +=
        markdown_table({"optimizer (tuned)", "training loss", "test loss", "test accuracy %"}, rows) + "\n" + law_text;
    c.figure(s.task + "-curves.svg", {panel, law_panel},
             s.task + ": mean training loss over the test problems, and the law of rllc momentum_grad");
    comparisons.push_back(compare(best_rllc, best_baseline, true));
    decisive +=
        fmt::format("{}{}: best RLLC ({}) {}% vs best baseline ({}) {}% test accuracy", decisive.empty() ? "" : "; ",
                    s.task, best_rllc_name, plus_minus(best_rllc, 3), best_baseline_name, plus_minus(best_baseline, 3));
  }
  c.report +=
      "\nThe verdict compares the best RLLC preset's test accuracy with the best baseline's on each task; a "
      "difference counts only where it exceeds the sum of the two standard deviations.\n";
  return {outcome_somewhere(comparisons), decisive};
}

}  // namespace mg::optim::experiments
