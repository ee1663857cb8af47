// Differentiable mode: meta-gradients through K optimizer steps.
#include "../support/testing.hpp"
#include "problems.hpp"

namespace {

using mg::Tensor;

// The loss after `steps` differentiable steps from the problem's start, with
// the learning rate as a tensor.
Tensor loss_after(const std::string& spec, const mg::testing::Problem& problem, const Tensor& lr, int steps) {
  auto params = mg::testing::fresh_parameters(problem);
  auto optimizer = mg::optim::make(spec, params);
  std::vector<Tensor> current = mg::testing::tensors_of(params);
  // Multi-stage methods evaluate the gradient at their stage points too.
  const auto gradient = [&](const std::vector<Tensor>& at) {
    return mg::autograd::grad({problem.loss(at)}, at, {}, false, true);
  };
  for (int t = 0; t < steps; ++t)
    current = optimizer->differentiable_step(current, gradient(current), {{"lr", lr}}, gradient);
  return problem.loss(current);
}

}  // namespace

TEST_CASE("hypergradients d(loss after K steps)/d(lr) match central finite differences") {
  for (const std::string spec : {"sgd(momentum=0.9)",
                                 "sgd(momentum=0.9, nesterov=true, weight_decay=0.01)",
                                 "adam(beta1=0.8)",
                                 "adam(amsgrad=true)",
                                 "rmsprop(centered=true, momentum=0.5)",
                                 "adagrad",
                                 "nadam",
                                 "adamw(weight_decay=0.1)",
                                 "smes(exponent=0.25)",
                                 "smes(exponent=1, lr=1e-3)",
                                 "smes(exponent=-0.25, decoupled_weight_decay=true, weight_decay=0.1)",
                                 "rf_rmsprop(batch_size=4, momentum=0.5, weight_decay=0.01)",
                                 "rf_adamw(batch_size=8, bias_correction=true)",
                                 "ab2",
                                 "ab3",
                                 "ab3(startup=rk4)",
                                 "heun(weight_decay=0.01)",
                                 "rk4",
                                 "rllc(law_lr=0.05)",
                                 "rllc(law_lr=0.05, law_update=transpose, memory=jordan, k=3)",
                                 "rllc(law_lr=0.05, scope=per_tensor, ridge=1e-3)",
                                 "if_shampoo(batch_size=4, lr=0.01)",
                                 "if_shampoo(batch_size=2, lr=0.01, update_schedule=log4, update_freq=2, "
                                 "riemannian_momentum=0, weight_decay=0.01)"}) {
    for (const std::string problem_name : {"quad", "mlp"}) {
      CAPTURE(spec);
      CAPTURE(problem_name);
      const auto problem = mg::testing::make_problem(problem_name, mg::DType::Float64);
      const double lr0 = 0.05;
      const Tensor lr = mg::scalar_tensor(lr0, mg::DType::Float64).requires_grad_();
      const Tensor loss = loss_after(spec, problem, lr, 6);
      const double analytic = mg::autograd::grad({loss}, {lr})[0].item<double>();
      const double eps = 1e-6;
      const double plus = loss_after(spec, problem, mg::scalar_tensor(lr0 + eps, mg::DType::Float64), 6).item<double>();
      const double minus =
          loss_after(spec, problem, mg::scalar_tensor(lr0 - eps, mg::DType::Float64), 6).item<double>();
      CHECK(analytic == doctest::Approx((plus - minus) / (2 * eps)).epsilon(1e-6));
    }
  }
}

TEST_CASE("a float32 learning-rate tensor gets a float32 hypergradient through float64 coefficients") {
  // Coefficients are computed in float64 and rounded to the parameters'
  // dtype; the gradient flows back through both casts.
  for (const std::string spec : {"adam(beta1=0.8)", "sgd(momentum=0.9)", "rmsprop(centered=true)"}) {
    CAPTURE(spec);
    double hypergradient[2] = {};
    for (const auto dtype : {mg::DType::Float32, mg::DType::Float64}) {
      const auto problem = mg::testing::make_problem("quad", dtype);
      const Tensor lr = mg::scalar_tensor(0.05, dtype).requires_grad_();
      const Tensor grad = mg::autograd::grad({loss_after(spec, problem, lr, 4)}, {lr})[0];
      CHECK(grad.dtype() == dtype);
      CHECK(grad.dim() == 0);
      hypergradient[dtype == mg::DType::Float64] = grad.item<double>();
    }
    CHECK(hypergradient[0] == doctest::Approx(hypergradient[1]).epsilon(1e-4));
  }
}

TEST_CASE("differentiable mode follows the in-place trajectory bit for bit") {
  // Both paths compute the coefficients in double and round like torch
  // (multiply_add), so one rule gives one trajectory. Both get the same
  // gradients: float32 matmuls round differently for transposed layouts,
  // which the two paths' parameters may have.
  for (const std::string spec :
       {"sgd(lr=0.05)", "sgd(lr=0.05, momentum=0.9, dampening=0.5, weight_decay=0.1)",
        "sgd(lr=0.05, momentum=0.9, nesterov=true, weight_decay=0.01, maximize=true)", "adam(lr=0.05, amsgrad=true)",
        "adam(lr=0.02, beta1=0.5, beta2=0.9, eps=1e-6, weight_decay=0.1)", "adamw(lr=0.05, weight_decay=0.1)",
        "nadam(lr=0.05)", "nadam(lr=0.05, weight_decay=0.1, decoupled_weight_decay=true, momentum_decay=0.01)",
        "rmsprop(lr=0.01, centered=true, momentum=0.5)", "rmsprop(lr=0.01, alpha=0.9, weight_decay=0.1)",
        "adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.05)", "smes(lr=0.05)",
        "smes(lr=0.05, exponent=0.5, decoupled_weight_decay=true, weight_decay=0.1)",
        "rf_rmsprop(lr=0.01, batch_size=4, momentum=0.9, weight_decay=0.1)", "rf_adamw(lr=0.01, batch_size=4)",
        "ab2(lr=0.05)", "ab3(lr=0.05, weight_decay=0.1)", "rllc(lr=0.05, law_lr=0.05)",
        "if_shampoo(lr=0.05, batch_size=4, weight_decay=0.1)"}) {
    for (const auto dtype : {mg::DType::Float32, mg::DType::Float64}) {
      CAPTURE(spec);
      CAPTURE(dtype);
      const auto [current, params] =
          mg::testing::differentiable_beside_plain(spec, mg::testing::make_problem("mlp", dtype), 20);
      for (std::size_t i = 0; i < params.size(); ++i)
        mg::testing::check_close(current[i], params[i].second, 0, 0, params[i].first);
    }
  }
}

TEST_CASE("meta-gradients stay finite where a second moment is exactly zero") {
  // x[1] starts at the minimum of its coordinate: its gradient, and so Adam's
  // v, is exactly 0 on the first step.
  const Tensor a = Tensor::from_vector(std::vector<double>{1, 2}, {2});
  const Tensor b = Tensor::from_vector(std::vector<double>{0.5, -1}, {2});
  for (const std::string spec : {"adam", "rmsprop", "adagrad", "nadam", "rmsprop(centered=true)"}) {
    CAPTURE(spec);
    const Tensor x0 = Tensor::from_vector(std::vector<double>{1.0, 0.5}, {2}).requires_grad_();
    auto optimizer = mg::optim::make(spec, {{"x", x0}});
    const Tensor lr = mg::scalar_tensor(0.1, mg::DType::Float64).requires_grad_();
    std::vector<Tensor> x{x0};
    auto loss = [&](const Tensor& p) { return mg::sum(0.5 * a * p * p + b * p); };
    for (int t = 0; t < 3; ++t)
      x = optimizer->differentiable_step(x, mg::autograd::grad({loss(x[0])}, x, {}, false, true), {{"lr", lr}});
    const auto g = mg::autograd::grad({loss(x[0])}, {lr, x0});
    CHECK(std::isfinite(g[0].item<double>()));
    for (double v : g[1].to_vector<double>()) CHECK(std::isfinite(v));
  }
}

TEST_CASE("differentiable mode refuses what it cannot do, with a clear error") {
  const auto problem = mg::testing::make_problem("quad", mg::DType::Float64);
  auto params = mg::testing::fresh_parameters(problem);
  const auto current = mg::testing::tensors_of(params);
  const auto grads = mg::autograd::grad({problem.loss(current)}, current, {}, false, true);
  CHECK_THROWS_WITH_AS(mg::optim::make("shampoo", params)->differentiable_step(current, grads),
                       doctest::Contains("shampoo: differentiable mode is not supported"), mg::Error);
  for (const std::string spec : {"heun", "rk4", "ab3(startup=rk4)"})
    CHECK_THROWS_WITH_AS(mg::optim::make(spec, params)->differentiable_step(current, grads),
                         doctest::Contains("needs a gradient function"), mg::Error);
}
