// Paper 4 (optimizers.md section 7): the second-moment exponent swept from
// -0.25 to 1 on the cnn task, lr tuned per exponent; train and test curves.
#include "claim.hpp"

namespace mg::optim::experiments {

Verdict reproduce_smes(ClaimContext& c) {
  const std::vector<double> exponents = {-0.25, 0, 0.125, 0.25, 0.375, 0.5, 1};
  const std::vector<double> grid = c.by_budget<std::vector<double>>(
      {1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10},
      {1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1, 3, 10}, {1e-3, 1e-2});
  const int tuning_problems = c.by_budget(1, 3, 1);
  const std::int64_t steps = c.by_budget<std::int64_t>(200, 2000, 4), every = std::max<std::int64_t>(steps / 10, 1);
  c.store.plan(static_cast<std::int64_t>(exponents.size()) *
               (static_cast<std::int64_t>(grid.size()) * tuning_problems + c.seeds()));
  c.report += fmt::format(
      "## Protocol\n\nPlain training of the `cnn` task (optimizers.md 5.4: CIFAR-10, batch 128) for {} steps with "
      "`smes(exponent=e, lr=...)` and Adam's other defaults, for e in {{{}}}. Each exponent's lr is chosen from "
      "{{{}}} by the mean mini-batch loss over the last tenth of the steps on {} validation problem(s); then {} test "
      "problems (fresh initialisations and batch orders) run with it. Test accuracy on the held-out test images every "
      "{} steps. Budget `{}`.\n\n",
      steps, fmt::join(exponents, ", "), fmt::join(grid, ", "), tuning_problems, c.seeds(), every,
      to_string(c.options.budget));

  std::vector<std::vector<std::string>> rows;
  Panel train_panel{"Training loss", "step", "mini-batch loss", {}, true};
  Panel test_panel{"Test accuracy", "step", "accuracy (%)", {}};
  std::map<double, Stats> accuracy;
  for (double e : exponents) {
    const std::string spec_template = fmt::format("smes(exponent={:g}, lr={{}})", e);
    TrainingRequest r("cnn");
    r.budget = steps;
    r.evaluate_every = every;
    const double lr = c.tune(r, spec_template, grid, tuning_problems).best;
    r.spec = with_value(spec_template, lr);
    const auto runs = c.over_seeds(r);
    accuracy[e] = stats_of(runs, [](const Training& t) { return 100 * t.accuracy; });
    const Stats loss = stats_of(runs, [](const Training& t) { return t.final_loss; });
    const Stats test_loss = stats_of(runs, [](const Training& t) { return t.test_loss; });
    rows.push_back({fmt::format("{:g}", e), fmt::format("{:g}", lr), plus_minus(loss), plus_minus(test_loss),
                    plus_minus(accuracy[e])});
    train_panel.series.push_back({fmt::format("e = {:g}", e), loss_curve(runs)});
    std::vector<std::vector<std::pair<double, double>>> curves;
    for (const auto& run : runs) {
      curves.emplace_back();
      for (const auto& [step, a] : run.test_accuracy) curves.back().emplace_back(static_cast<double>(step), 100 * a);
    }
    test_panel.series.push_back({fmt::format("e = {:g}", e), mean_curve(curves)});
  }
  c.report += fmt::format("## Results\n\nMean ± std over {} test problems at the end of training.\n\n", c.seeds());
  c.report +=
      markdown_table({"exponent", "tuned lr", "training loss (last tenth)", "test loss", "test accuracy %"}, rows);
  c.figure("curves.svg", {train_panel, test_panel},
           "Mean training loss and test accuracy over the test problems, one line per exponent");

  // The claim: an intermediate exponent (strictly between SGD's 0 and Adam's
  // 0.5) is at least as good as both ends.
  double best_middle = 0;
  for (double e : {0.125, 0.25, 0.375})
    if (best_middle == 0 || accuracy[e].mean > accuracy[best_middle].mean) best_middle = e;
  const Difference vs_sgd = compare(accuracy[best_middle], accuracy[0], true);
  const Difference vs_adam = compare(accuracy[best_middle], accuracy[0.5], true);
  c.report +=
      "\nThe verdict compares the best intermediate exponent's test accuracy with exponents 0 (SGD-like) and "
      "0.5 (Adam); a difference counts only where it exceeds the sum of the two standard deviations.\n";
  return {outcome_everywhere({vs_sgd, vs_adam}),
          fmt::format("test accuracy: exponent {:g} {}%, exponent 0 {}%, exponent 0.5 {}%", best_middle,
                      plus_minus(accuracy[best_middle], 3), plus_minus(accuracy[0], 3), plus_minus(accuracy[0.5], 3))};
}

}  // namespace mg::optim::experiments
