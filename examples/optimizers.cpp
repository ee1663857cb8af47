// Tutorial 3 (docs/tutorials/03-optimizers.md): optimizers from spec
// strings, parameter groups, learning-rate schedules, and a hypergradient,
// d(loss after K steps)/d(lr), through differentiable optimizer steps,
// checked against a finite difference. Exits 1 if a check fails.
#include <metagrad/metagrad.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using mg::Tensor;
namespace F = mg::nn::functional;

struct Regression {
  Tensor x, y;
};

// y = x w + noise for a random w: an MLP fits it well, and with no hidden
// layer it is a least-squares problem with an exact hypergradient.
Regression make_regression(std::int64_t examples, std::int64_t features, mg::DType dtype, std::uint64_t seed) {
  mg::Generator g(seed);
  const Tensor x = mg::randn({examples, features}, g, dtype);
  const Tensor w = mg::randn({features, 1}, g, dtype);
  return {x, mg::matmul(x, w) + 0.1 * mg::randn({examples, 1}, g, dtype)};
}

void list_optimizers() {
  std::string names;
  for (const auto& name : mg::optim::available()) names += (names.empty() ? "" : ", ") + name;
  std::printf("optimizers: %s\n", names.c_str());
  std::printf("adamw takes: %s\n", mg::optim::describe_keys(mg::optim::info("adamw").schema).c_str());
}

// Weights and biases in groups of their own, the biases without weight decay.
// (`wd_exclude=bias` says the same in one key; groups can differ in any
// hyperparameter.) A group's overrides are spec-style "key=value" strings.
std::vector<mg::optim::GroupSpec> weights_and_biases(const mg::nn::Module& model) {
  mg::optim::GroupSpec weights, biases{{}, {{"weight_decay", "0"}}};
  for (const auto& [name, parameter] : model.named_parameters()) {
    const bool is_bias = name.ends_with("bias");
    (is_bias ? biases : weights).params.emplace_back(name, parameter);
  }
  return {weights, biases};
}

// Returns the final training loss over the initial one.
double train_with_groups_and_schedule() {
  const Regression data = make_regression(256, 8, mg::DType::Float32, 1);
  mg::Generator init(2);
  mg::nn::MLP model({8, 32, 1}, mg::nn::Activation::Tanh, init);
  auto optimizer = mg::optim::make("adamw(lr=0.03, weight_decay=0.05)", weights_and_biases(model));
  auto schedule = mg::optim::make_schedule("cosine(t_max=100)", *optimizer);
  for (const auto& group : optimizer->param_groups())
    std::printf("group of %zu tensors: weight_decay %g\n", group.params.size(), group.number("weight_decay"));

  double first_loss = 0, loss_value = 0;
  for (int step = 0; step < 100; ++step) {
    const double lr = optimizer->param_groups()[0].number("lr");
    optimizer->zero_grad();
    const Tensor loss = F::mse_loss(model(data.x), data.y);
    loss.backward();
    optimizer->step();
    schedule->step();  // per step here; per epoch in most training loops
    loss_value = loss.item<double>();
    if (step == 0) first_loss = loss_value;
    if (step % 20 == 0 || step == 99) std::printf("step %3d  lr %.5f  loss %.4f\n", step, lr, loss_value);
  }
  return loss_value / first_loss;
}

// The least-squares loss mean((x w - y)^2) of the parameters w.
Tensor least_squares(const Regression& data, const Tensor& w) { return F::mse_loss(mg::matmul(data.x, w), data.y); }

// The loss after `steps` steps of SGD with momentum from w = 0, as a
// function of the learning rate tensor. create_graph keeps each gradient
// differentiable, because it too depends on lr through the earlier steps.
Tensor loss_after_steps(const Regression& data, const Tensor& lr, int steps) {
  std::vector<Tensor> w = {mg::zeros({data.x.size(1), 1}, mg::DType::Float64).requires_grad_()};
  auto optimizer = mg::optim::make("sgd(momentum=0.9)", {{"w", w[0]}});
  for (int t = 0; t < steps; ++t) {
    const auto gradient = mg::autograd::grad({least_squares(data, w[0])}, w, {}, false, /*create_graph=*/true);
    w = optimizer->differentiable_step(w, gradient, {{"lr", lr}});
  }
  return least_squares(data, w[0]);
}

double loss_at(const Regression& data, double lr, int steps) {
  return loss_after_steps(data, mg::scalar_tensor(lr, mg::DType::Float64), steps).item<double>();
}

// Returns whether the hypergradient matches the finite difference and a
// step along it lowers the loss.
bool hypergradient() {
  const Regression data = make_regression(64, 5, mg::DType::Float64, 3);
  constexpr int kSteps = 5;
  const double lr0 = 0.05;
  const Tensor lr = mg::scalar_tensor(lr0, mg::DType::Float64).requires_grad_();
  const Tensor loss = loss_after_steps(data, lr, kSteps);
  const double analytic = mg::autograd::grad({loss}, {lr})[0].item<double>();
  const double eps = 1e-6;
  const double numeric = (loss_at(data, lr0 + eps, kSteps) - loss_at(data, lr0 - eps, kSteps)) / (2 * eps);
  const double relative_error = std::abs(analytic - numeric) / std::abs(numeric);
  std::printf("loss after %d steps at lr %g: %.6f\n", kSteps, lr0, loss.item<double>());
  std::printf("d loss / d lr: %.8f by autograd, %.8f by finite difference (relative error %.1e)\n", analytic, numeric,
              relative_error);

  // Moving lr a little the way the hypergradient points must lower the loss.
  const double tuned = analytic < 0 ? lr0 * 1.05 : lr0 / 1.05;
  const double tuned_loss = loss_at(data, tuned, kSteps);
  std::printf("lr %g -> %.5f against the hypergradient: loss after %d steps %.6f\n", lr0, tuned, kSteps, tuned_loss);
  return relative_error < 1e-5 && tuned_loss < loss.item<double>();
}

}  // namespace

int main() {
  try {
    list_optimizers();
    std::printf("\ntraining an MLP with two parameter groups and a cosine schedule\n");
    const double ratio = train_with_groups_and_schedule();
    std::printf("\nhypergradient through differentiable steps\n");
    const bool hypergradient_ok = hypergradient();
    if (ratio > 0.2 || !hypergradient_ok) {
      std::printf("FAILED: loss ratio %.3f (expected < 0.2), hypergradient %s\n", ratio,
                  hypergradient_ok ? "ok" : "wrong");
      return 1;
    }
  } catch (const mg::Error& e) {
    std::fprintf(stderr, "optimizers: error: %s\n", e.what());
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}
