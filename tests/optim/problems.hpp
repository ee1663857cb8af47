#pragma once
// The deterministic problems of docs/optimizers.md section 9.1, built the
// same way as tests/optim/fixtures/generate_optim_fixtures.py builds them.
#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "../support/testing.hpp"
#include "metagrad/metagrad.hpp"

namespace mg::testing {

struct Problem {
  optim::NamedParameters initial;
  // The loss and its gradient; gradient() matches the fixture generator's
  // order of operations (closed form except for mlp).
  std::function<Tensor(const std::vector<Tensor>&)> loss;
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> gradient;
};

inline Tensor values(std::vector<double> v, Shape shape, DType dtype) {
  return Tensor::from_vector(v, std::move(shape)).to(dtype);
}

inline Problem make_problem(const std::string& name, DType dtype) {
  if (name == "toy" || name == "toymat") {
    const bool mat = name == "toymat";
    const Shape shape = mat ? Shape{2, 3} : Shape{4};
    const Tensor a = mat ? values({1, 4, 0.25, 2, 0.5, 3}, shape, dtype) : values({1, 4, 0.25, 2}, shape, dtype);
    const Tensor b =
        mat ? values({0.3, -0.2, 0.1, -1, 0, 0.7}, shape, dtype) : values({0.3, -0.2, 0.1, -1}, shape, dtype);
    const Tensor x0 = mat ? values({0.5, -1, 2, 0, 1.5, -0.5}, shape, dtype) : values({0.5, -1, 2, 0}, shape, dtype);
    return {{{mat ? "weight" : "x", x0}},
            [a, b](const std::vector<Tensor>& p) { return sum(0.5 * a * p[0] * p[0] + b * p[0]); },
            [a, b](const std::vector<Tensor>& p) { return std::vector<Tensor>{a * p[0] + b}; }};
  }
  if (name == "quad") {
    const double d[] = {1, 1.25, 1.5, 0.5, 2, 0.75};
    std::vector<double> q(36);
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) q[i * 6 + j] = d[i] * d[j] * std::pow(0.5, std::abs(i - j));
    const Tensor Q = values(q, {6, 6}, dtype), b = values({1, -0.5, 0.25, 2, -1, 0.75}, {6}, dtype);
    return {{{"x", values({0.5, -1, 1.5, 0, 2, -0.5}, {6}, dtype)}},
            [Q, b](const std::vector<Tensor>& p) { return 0.5 * sum(p[0] * matmul(Q, p[0])) - sum(b * p[0]); },
            [Q, b, dtype](const std::vector<Tensor>& p) {
              // in float64, rounded once: BLAS summation order cannot matter
              const auto f64 = DType::Float64;
              return std::vector<Tensor>{(matmul(Q.to(f64), p[0].to(f64)) - b.to(f64)).to(dtype)};
            }};
  }
  if (name == "quad1") {  // f = x^2
    return {{{"x", values({1}, {1}, dtype)}},
            [](const std::vector<Tensor>& p) { return sum(p[0] * p[0]); },
            [](const std::vector<Tensor>& p) { return std::vector<Tensor>{2.0 * p[0]}; }};
  }
  if (name == "rosen") {
    return {{{"xy", values({-1.5, 2}, {2}, dtype)}},
            [](const std::vector<Tensor>& p) {
              const Tensor x = p[0].narrow(0, 0, 1), y = p[0].narrow(0, 1, 1);
              return sum(pow(1.0 - x, 2.0) + 100.0 * pow(y - x * x, 2.0));
            },
            [](const std::vector<Tensor>& p) {
              const Tensor x = p[0].narrow(0, 0, 1), y = p[0].narrow(0, 1, 1);
              const Tensor t = y - x * x;
              return std::vector<Tensor>{cat({-2.0 * (1.0 - x) - 400.0 * x * t, 200.0 * t}, 0)};
            }};
  }
  if (name == "mlp") {
    std::vector<double> w1(12), w2(6), x(24);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) w1[i * 4 + j] = static_cast<double>(((5 * i + 3 * j + 1) % 7) - 3) / 8;
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) w2[i * 3 + j] = static_cast<double>(((3 * i + 2 * j + 1) % 5) - 2) / 4;
    for (int n = 0; n < 6; ++n)
      for (int j = 0; j < 4; ++j) x[n * 4 + j] = static_cast<double>(((7 * n + 3 * j) % 11) - 5) / 4;
    const Tensor X = values(x, {6, 4}, dtype);
    const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 0, 1, 0, 1}, {6, 1});
    auto loss = [X, y](const std::vector<Tensor>& p) {
      const Tensor z = matmul(tanh(matmul(X, p[0].t()) + p[1]), p[2].t()) + p[3];
      return mean(logsumexp(z, 1) - gather(z, 1, y).squeeze(1));
    };
    return {{{"fc1.weight", values(w1, {3, 4}, dtype)},
             {"fc1.bias", values({0.125, -0.25, 0.0625}, {3}, dtype)},
             {"fc2.weight", values(w2, {2, 3}, dtype)},
             {"fc2.bias", values({0, 0.125}, {2}, dtype)}},
            loss,
            [loss](const std::vector<Tensor>& p) {
              std::vector<Tensor> leaves;
              for (const auto& t : p) leaves.push_back(t.detach().requires_grad_());
              return autograd::grad({loss(leaves)}, leaves);
            }};
  }
  throw Error("unknown test problem " + name);
}

// Fresh leaf copies of a problem's starting point.
inline optim::NamedParameters fresh_parameters(const Problem& problem) {
  optim::NamedParameters params;
  for (const auto& [name, t] : problem.initial) params.emplace_back(name, t.detach().clone().requires_grad_());
  return params;
}

inline std::vector<Tensor> tensors_of(const optim::NamedParameters& params) {
  std::vector<Tensor> out;
  for (const auto& [name, t] : params) out.push_back(t);
  return out;
}

// Every parameter's values, concatenated.
inline std::vector<double> flatten(const optim::NamedParameters& params) {
  std::vector<double> out;
  for (const auto& [name, t] : params) {
    const auto v = t.to_vector<double>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// Sets every parameter's .grad to the problem's gradient at the current point.
inline void set_gradients(const Problem& problem, optim::NamedParameters& params) {
  std::vector<Tensor> current;
  for (const auto& [name, t] : params) current.push_back(t.detach());
  const auto grads = problem.gradient(current);
  for (std::size_t i = 0; i < params.size(); ++i) params[i].second.set_grad(grads[i].detach().contiguous());
}

// One step as the trajectory driver of optimizers.md section 9.2 (and a
// training loop) takes it: the gradient at the current point, then step()
// with a closure that evaluates it again (multi-stage methods call it at
// their stage points).
inline void driver_step(const Problem& problem, optim::NamedParameters& params, optim::Optimizer& optimizer) {
  set_gradients(problem, params);
  optimizer.step([&] {
    set_gradients(problem, params);
    return Tensor();
  });
}

// `steps` plain steps of `spec` on `problem` and, beside them, as many
// differentiable steps from the same start fed the same gradients: the
// differentiable path's parameters, and the plain path's.
inline std::pair<std::vector<Tensor>, optim::NamedParameters> differentiable_beside_plain(const std::string& spec,
                                                                                          const Problem& problem,
                                                                                          int steps) {
  auto params = fresh_parameters(problem);
  auto optimizer = optim::make(spec, params);
  auto functional = optim::make(spec, params);
  std::vector<Tensor> current = tensors_of(params);
  for (int t = 0; t < steps; ++t) {
    set_gradients(problem, params);
    std::vector<Tensor> grads;
    for (const auto& [name, p] : params) grads.push_back(p.grad());
    current = functional->differentiable_step(current, grads);
    optimizer->step();
  }
  return {current, params};
}

// The flattened parameters after 0, 1, ..., steps driver steps of `spec`.
inline std::vector<std::vector<double>> trajectory(const std::string& spec, const std::string& problem_name, int steps,
                                                   DType dtype = DType::Float64) {
  const auto problem = make_problem(problem_name, dtype);
  auto params = fresh_parameters(problem);
  auto optimizer = optim::make(spec, params);
  std::vector<std::vector<double>> rows{flatten(params)};
  for (int t = 0; t < steps; ++t) {
    driver_step(problem, params, *optimizer);
    rows.push_back(flatten(params));
  }
  return rows;
}

// Every case of a trajectory fixture ({"steps", "cases": [{"spec",
// "problem", "rows"}]}, a learned optimizer's transcription) followed to
// `atol`; each case must move its first coordinate by more than 1e-3, so
// that the steps are not negligible next to the tolerance.
inline void check_fixture_trajectories(const nlohmann::json& fixture, std::size_t cases, double atol) {
  REQUIRE(fixture["cases"].size() == cases);
  for (const auto& c : fixture["cases"]) {
    const std::string spec = c["spec"], problem = c["problem"];
    CAPTURE(spec);
    CAPTURE(problem);
    const auto rows = trajectory(spec, problem, fixture["steps"].get<int>());
    double moved = 0;
    for (std::size_t t = 0; t < rows.size(); ++t) {
      const auto expected = c["rows"][t].get<std::vector<double>>();
      check_close(rows[t], expected, 0, atol, "step " + std::to_string(t));
      moved = std::max(moved, std::abs(rows[t][0] - rows[0][0]));
    }
    CHECK(moved > 1e-3);
  }
}

}  // namespace mg::testing
