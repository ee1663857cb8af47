// The C++ trajectories the Python module must follow bit for bit: every row
// of the shared optimizer table on the table's problems, 20 driver steps in
// float32 and float64, written as JSON with every gradient evaluation (the
// point it was taken at and the gradient) and the parameters after each step.
// tests/python/test_trajectories.py replays the gradients through
// metagrad.torch.Optimizer. Numbers are written with 17 digits: exact.
// The shared test headers carry doctest's helpers; this program has its own main.
#define DOCTEST_CONFIG_IMPLEMENT
#include <cstdio>
#include <nlohmann/json.hpp>

#include "../optim/optimizer_table.hpp"
#include "../optim/problems.hpp"

namespace {

using mg::DType;
using mg::Tensor;

nlohmann::json values_of(const mg::optim::NamedParameters& params) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, t] : params) out.push_back(t.detach().to_vector<double>());
  return out;
}

nlohmann::json trajectory(const std::string& spec, const std::string& problem_name, DType dtype, int steps) {
  const auto problem = mg::testing::make_problem(problem_name, dtype);
  auto params = mg::testing::fresh_parameters(problem);
  auto optimizer = mg::optim::make(spec, params);
  nlohmann::json evaluations = nlohmann::json::array(), after = nlohmann::json::array();
  const auto evaluate = [&] {
    mg::testing::set_gradients(problem, params);
    nlohmann::json grads = nlohmann::json::array();
    for (const auto& [name, t] : params) grads.push_back(t.grad().to_vector<double>());
    evaluations.push_back({{"point", values_of(params)}, {"grad", grads}});
  };
  for (int t = 0; t < steps; ++t) {
    evaluate();
    optimizer->step([&] {
      evaluate();
      return Tensor();
    });
    after.push_back(values_of(params));
  }
  nlohmann::json names = nlohmann::json::array(), shapes = nlohmann::json::array();
  for (const auto& [name, t] : problem.initial) {
    names.push_back(name);
    shapes.push_back(t.shape());
  }
  return {{"spec", spec},
          {"problem", problem_name},
          {"dtype", dtype == DType::Float32 ? "float32" : "float64"},
          {"names", names},
          {"shapes", shapes},
          {"initial", values_of(mg::testing::fresh_parameters(problem))},
          {"evaluations", evaluations},
          {"after", after}};
}

}  // namespace

int main() {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& row : mg::testing::table())
    for (const std::string problem : {"quad", "rosen", "mlp"})
      for (const DType dtype : {DType::Float32, DType::Float64})
        out.push_back(trajectory(row.spec_for(problem), problem, dtype, 20));
  std::puts(out.dump().c_str());
}
