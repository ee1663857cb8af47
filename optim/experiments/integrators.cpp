// Paper 3 (optimizers.md section 6): ab2, ab3, heun and rk4 against sgd on
// the mlp and cnn tasks, at equal steps and at equal gradient evaluations,
// and the convergence orders they are built for, measured on quad's
// gradient flow.
#include <cmath>

#include "claim.hpp"
#include "metagrad/core/linalg.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/optim/registry.hpp"

namespace mg::optim::experiments {
namespace {

const std::vector<std::pair<std::string, std::string>> kOptimizers = {{"sgd", "sgd(lr={})"},
                                                                      {"ab2", "ab2(lr={})"},
                                                                      {"ab3", "ab3(lr={})"},
                                                                      {"heun", "heun(lr={})"},
                                                                      {"rk4", "rk4(lr={})"}};

// The global error at t = 1 of `spec` (lr = h = 1/n) on the gradient flow of
// optimizers.md 9.1's quad, in float64.
double flow_error(const std::string& spec_template, int n) {
  std::vector<double> a(36);
  const double d[] = {1, 1.25, 1.5, 0.5, 2, 0.75};
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) a[static_cast<std::size_t>(6 * i + j)] = d[i] * d[j] * std::pow(0.5, std::abs(i - j));
  const Tensor A = Tensor::from_vector(a, {6, 6});
  const Tensor b = Tensor::from_vector(std::vector<double>{1, -0.5, 0.25, 2, -1, 0.75}, {6, 1});
  const Tensor x0 = Tensor::from_vector(std::vector<double>{0.5, -1, 1.5, 0, 2, -0.5}, {6, 1});
  const auto eigen = eigh(A);
  const Tensor inverse = matmul(eigen.vectors / eigen.values.reshape({1, 6}), eigen.vectors.t());
  const Tensor minimiser = matmul(inverse, b);
  const Tensor exact =
      minimiser + matmul(eigen.vectors * exp(-eigen.values).reshape({1, 6}), matmul(eigen.vectors.t(), x0 - minimiser));
  NamedParameters params = {{"x", x0.clone().requires_grad_()}};
  Tensor& x = params[0].second;
  auto optimizer = make(with_value(spec_template, 1.0 / n), params);
  const auto gradient = [&] {
    optimizer->zero_grad();
    Tensor loss = 0.5 * sum(x * matmul(A, x)) - sum(b * x);
    loss.backward();
    return loss;
  };
  for (int t = 0; t < n; ++t) {
    if (optimizer->requires_closure()) {
      optimizer->step(gradient);
    } else {
      gradient();
      optimizer->step();
    }
  }
  const Tensor e = x.detach() - exact;
  return std::sqrt(sum(e * e).item<double>());
}

std::string orders_table() {
  struct Row {
    std::string name, spec;
    int expected, n;
  };
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, spec, expected, n] : std::vector<Row>{{"sgd", "sgd(lr={})", 1, 40},
                                                                {"ab2", "ab2(lr={})", 2, 40},
                                                                {"heun", "heun(lr={})", 2, 40},
                                                                {"ab3 (Euler/AB2 start)", "ab3(lr={})", 2, 40},
                                                                {"ab3 (rk4 start)", "ab3(lr={}, startup=rk4)", 3, 40},
                                                                {"rk4", "rk4(lr={})", 4, 20}}) {
    const double e1 = flow_error(spec, n), e2 = flow_error(spec, 2 * n), e4 = flow_error(spec, 4 * n);
    rows.push_back(
        {name, std::to_string(expected), fmt::format("{:.3g}", e1), fmt::format("{:.3g}", e4),
         fmt::format("{:.2f}, {:.2f} (N = {}, {}, {})", std::log2(e1 / e2), std::log2(e2 / e4), n, 2 * n, 4 * n)});
  }
  return markdown_table({"method", "expected order", "error at N", "error at 4N", "observed order"}, rows);
}

}  // namespace

Verdict reproduce_integrators(ClaimContext& c) {
  const std::vector<TaskSetting> settings = mlp_and_cnn(c);
  const std::vector<double> grid =
      c.by_budget<std::vector<double>>({0.01, 0.03, 0.1, 0.3, 1}, log_lr_grid(), {0.01, 0.1});
  const int tuning_problems = c.by_budget(1, 3, 1);
  c.store.plan(static_cast<std::int64_t>(settings.size() * kOptimizers.size()) *
               (static_cast<std::int64_t>(grid.size()) * tuning_problems + 2 * c.seeds()));

  c.report += fmt::format(
      "## Protocol\n\nPlain training (no meta-learning) of the `mlp` task (784-20-10 sigmoid MLP, Fashion-MNIST) and "
      "the `cnn` task (CIFAR-10) of optimizers.md 5.4, mini-batches of 128. Each optimizer's lr is chosen from {{{}}} "
      "by the mean mini-batch loss over the last tenth of the steps on {} validation problem(s) at equal steps; then "
      "{} test problems (seeds: fresh initialisations and batch orders) run at **equal steps** (mlp {}, cnn {}) and at "
      "**equal gradient evaluations** (the same numbers; heun takes 2 a step, rk4 4). Budget `{}`.\n\n",
      fmt::join(grid, ", "), tuning_problems, c.seeds(), settings[0].steps, settings[1].steps,
      to_string(c.options.budget));

  std::vector<Difference> comparisons;
  std::string decisive;
  for (const auto& s : settings) {
    std::vector<std::vector<std::string>> rows;
    Panel steps_panel{s.task + ": equal steps", "step", "training loss", {}, true};
    Panel evals_panel{s.task + ": equal gradient evaluations", "gradient evaluations", "training loss", {}, true};
    Stats sgd_accuracy, best_accuracy{-1, 0, 0};
    std::string best_name;
    for (const auto& [name, spec_template] : kOptimizers) {
      TrainingRequest r(s.task);
      r.budget = s.steps;
      const double lr = c.tune(r, spec_template, grid, tuning_problems).best;
      r.spec = with_value(spec_template, lr);
      const auto by_steps = c.over_seeds(r);
      r.budget_in_evaluations = true;
      const auto by_evaluations = c.over_seeds(r);
      const auto loss = [](const Training& t) { return t.final_loss; };
      const auto accuracy = [](const Training& t) { return 100 * t.accuracy; };
      const Stats accuracy_evals = stats_of(by_evaluations, accuracy);
      rows.push_back({"`" + r.spec + "`", plus_minus(stats_of(by_steps, loss)),
                      plus_minus(stats_of(by_steps, accuracy)), plus_minus(stats_of(by_evaluations, loss)),
                      plus_minus(accuracy_evals), fmt::format("{}", by_evaluations.front().losses.size() - 1)});
      steps_panel.series.push_back({name, loss_curve(by_steps)});
      evals_panel.series.push_back({name, loss_curve(by_evaluations, true)});
      if (name == "sgd") {
        sgd_accuracy = accuracy_evals;
      } else if (accuracy_evals.mean > best_accuracy.mean || best_name.empty()) {
        best_accuracy = accuracy_evals;
        best_name = name;
      }
    }
    c.report += task_section(c, s.task, "accuracy: on the test images at the end");
    c.report +=
        markdown_table({"optimizer (tuned lr)", "loss, equal steps", "test accuracy %, equal steps",
                        "loss, equal evaluations", "test accuracy %, equal evaluations", "steps at equal evaluations"},
                       rows);
    c.figure(s.task + "-loss.svg", {steps_panel, evals_panel},
             s.task + ": mean training loss over the test problems, at equal steps and at equal gradient evaluations");
    comparisons.push_back(compare(best_accuracy, sgd_accuracy, true));
    decisive +=
        fmt::format("{}{}: best integrator {} {}% vs sgd {}% at equal evaluations", decisive.empty() ? "" : "; ",
                    s.task, best_name, plus_minus(best_accuracy, 3), plus_minus(sgd_accuracy, 3));
  }

  c.report +=
      "## Convergence orders on the gradient flow of quad\n\nGlobal error at t = 1 against the exact flow "
      "(optimizers.md 6, identity 3), float64, h = 1/N; the observed order is log2 of the error ratio when N "
      "doubles.\n\n" +
      orders_table();
  c.report +=
      "\nThe verdict compares test accuracy at equal gradient evaluations (the fair budget for multi-stage "
      "methods): an improvement counts only where it exceeds the sum of the two standard deviations.\n";
  return {outcome_somewhere(comparisons), decisive};
}

}  // namespace mg::optim::experiments
