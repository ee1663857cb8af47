// Golden trajectories: each classic optimizer, in several configurations,
// against torch.optim (fixtures/generate_optim_fixtures.py) on the problems of
// docs/optimizers.md, and the float64 golden values of section 9.4.
#include <iomanip>

#include "../support/testing.hpp"
#include "problems.hpp"

namespace {

using mg::Tensor;

}  // namespace

#ifdef __FMA__
constexpr bool kFma = true;
#else
constexpr bool kFma = false;
#endif

// The rules round like torch's kernels (multiply_add in optim/rule.hpp), so
// where both sides see the same gradients, the closed-form problems, the
// trajectories are bit-identical.
double tolerance(const std::string& problem, bool f64) {
  if (problem == "mlp") return 1e-12;  // float64 only; each autograd sums in its own order
  if (kFma) return 0;
  // A portable build rounds a * b + c twice where torch, on an FMA CPU, rounds
  // once; centred RMSprop's sqrt(s - ga^2) cancellation grows that to ~1e-6.
  return f64 ? 1e-12 : 1e-5;
}

TEST_CASE("classic optimizers follow torch.optim's trajectories (bit for bit; mlp to 1e-12)") {
  const auto fixture = mg::testing::load_fixture("optim/fixtures/trajectories.json");
  double worst64 = 0, worst32 = 0;
  for (const auto& c : fixture["cases"]) {
    const std::string spec = c["spec"], problem_name = c["problem"];
    const bool f64 = c["dtype"] == "float64";
    const std::string context = spec + " on " + problem_name + (f64 ? " float64" : " float32");
    CAPTURE(context);
    const auto problem = mg::testing::make_problem(problem_name, f64 ? mg::DType::Float64 : mg::DType::Float32);
    auto params = mg::testing::fresh_parameters(problem);
    auto optimizer = mg::optim::make(spec, params);
    int last = 0;
    for (const auto& [step_text, row] : c["rows"].items()) last = std::max(last, std::stoi(step_text));
    const double rtol = tolerance(problem_name, f64);
    for (int t = 0; t <= last; ++t) {
      const std::string key = std::to_string(t);
      if (c["rows"].contains(key)) {
        const auto expected = c["rows"][key].get<std::vector<double>>();
        const auto actual = mg::testing::flatten(params);
        for (std::size_t i = 0; i < actual.size(); ++i) {
          const double error = std::abs(actual[i] - expected[i]) / (1.0 + std::abs(expected[i]));
          if (rtol == 0 && actual[i] == expected[i]) continue;
          (f64 ? worst64 : worst32) = std::max(f64 ? worst64 : worst32, error);
          if (error > rtol) {
            FAIL_CHECK(context << ": step " << t << ", element " << i << " is " << std::setprecision(17) << actual[i]
                               << ", expected " << expected[i]);
            t = last + 1;
            break;
          }
        }
      }
      if (t >= last) break;
      mg::testing::set_gradients(problem, params);
      optimizer->step();
    }
  }
  MESSAGE("largest relative deviation from torch.optim: float64 " << worst64 << ", float32 " << worst32);
}

TEST_CASE("the float64 golden values of optimizers.md section 9.4") {
  struct Golden {
    std::string spec, problem;
    int steps;
    std::vector<double> values;
  };
  const std::vector<Golden> golden = {
      {"sgd(lr=0.1)", "toy", 5, {0.1723920000, -0.0316480000, 1.7146296641, 0.3361600000}},
      {"sgd(lr=0.1, momentum=0.9, nesterov=true)", "toy", 5, {-0.3836653471, 0.2233925917, 1.0887572553, 0.7078587904}},
      {"adam(lr=0.1)", "toy", 5, {0.0115042880, -0.5073758393, 1.5023411216, 0.4721855486}},
      {"adamw(lr=0.1, weight_decay=0.1)", "toy", 5, {-0.0024028278, -0.4692637197, 1.4147728860, 0.4630840550}},
      {"rmsprop(lr=0.01, momentum=0.9, centered=true)",
       "toy",
       5,
       {-0.3352796713, -0.1292524959, 1.0740712683, 0.7339849508}},
      {"adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)",
       "toy",
       5,
       {0.2192632139, -0.7013992292, 1.7105299327, 0.2670100486}},
      {"nadam(lr=0.1)", "toy", 5, {0.1319676233, -0.6221345147, 1.6061043657, 0.3403609283}},
      {"smes(lr=0.1, exponent=0.5)", "toy", 5, {0.0115042880, -0.5073758393, 1.5023411216, 0.4721855486}},
      {"smes(lr=0.1, exponent=0.25)", "toy", 5, {0.0843318593, -0.1094794517, 1.6201839943, 0.4326653210}},
      {"smes(lr=0.1, exponent=0)", "toy", 5, {0.1418913593, 0.3158106819, 1.7080799466, 0.3991760154}},
      {"rllc(lr=0.1, law_lr=0.1)", "toy", 5, {-0.2937894374, 0.5091492118, 1.2549552791, 0.7223478019}},
      {"rllc(lr=0.1, law_lr=0.1, memory=jordan, k=2, beta=0.5)",
       "toy",
       5,
       {0.0137104509, 0.0399476281, 1.5460030607, 0.4504304432}},
      {"ab2(lr=0.1)", "toy", 5, {0.1836395000, -0.0988480000, 1.7173844126, 0.3170100000}},
      {"ab3(lr=0.1)", "toy", 5, {0.1827927292, -0.0639880000, 1.7173338605, 0.3200843056}},
      {"heun(lr=0.1)", "toy", 5, {0.1856606123, -0.1026630246, 1.7180206667, 0.3146300784}},
      {"rk4(lr=0.1)", "toy", 5, {0.1852247475, -0.0921868154, 1.7179925671, 0.3160573809}},
      {"rf_rmsprop(lr=0.1, lr_cov=0.1, damping=1e-4, batch_size=1)",
       "toy",
       5,
       {0.1303200125, -0.5568439859, 1.6548534591, 0.3603978087}},
      {"rf_adamw(lr=0.01, beta1=0.9, beta2=0.99, weight_decay=0.05, batch_size=32)",
       "toy",
       5,
       {0.4923878761, -0.9943512051, 1.9892078701, 0.0065178179}},
      {"if_shampoo(lr=0.1, lr_cov=0.01, damping=1e-3, batch_size=4)",
       "toymat",
       3,
       {0.1134926591, 0.5608358722, 1.6909655745, 0.4610967663, 1.1239884599, -0.1650241560}},
      {"shampoo(lr=0.05, beta1=0.9, beta2=0.99, epsilon=1e-4, precondition_frequency=2, bias_correction=false, "
       "weight_decay=0.01)",
       "toymat",
       5,
       {0.4774787169, -0.6352073782, 1.9767331159, 0.2753151653, 1.5023570035, -0.3067939091}},
  };
  for (const auto& [spec, problem_name, steps, expected] : golden) {
    CAPTURE(spec);
    const auto problem = mg::testing::make_problem(problem_name, mg::DType::Float64);
    auto params = mg::testing::fresh_parameters(problem);
    auto optimizer = mg::optim::make(spec, params);
    for (int t = 0; t < steps; ++t) mg::testing::driver_step(problem, params, *optimizer);
    mg::testing::check_close(mg::testing::flatten(params), expected, 0, 1e-10, spec);
  }
}

TEST_CASE("the papers' optimizers follow the float64 transcription of the spec (fixtures/generate_paper_fixtures.py)") {
  const auto fixture = mg::testing::load_fixture("optim/fixtures/paper_trajectories.json");
  double worst64 = 0, worst32 = 0;
  for (const auto& c : fixture["cases"]) {
    const std::string spec = c["spec"], problem_name = c["problem"];
    const double tolerance64 = spec.rfind("shampoo", 0) == 0 ? 1e-7 : 1e-9;
    for (const auto dtype : {mg::DType::Float64, mg::DType::Float32}) {
      const bool f64 = dtype == mg::DType::Float64;
      if (!f64 && problem_name == "rosen") continue;  // float32 rounding is amplified there
      const std::string context = spec + " on " + problem_name + (f64 ? " float64" : " float32");
      CAPTURE(context);
      const auto problem = mg::testing::make_problem(problem_name, dtype);
      auto params = mg::testing::fresh_parameters(problem);
      auto optimizer = mg::optim::make(spec, params);
      const int last = f64 ? static_cast<int>(c["rows"].size()) - 1 : 10;
      for (int t = 0; t <= last; ++t) {
        const auto expected = c["rows"][std::to_string(t)].get<std::vector<double>>();
        const auto actual = mg::testing::flatten(params);
        double worst = 0;
        for (std::size_t i = 0; i < actual.size(); ++i) {
          const double error = std::abs(actual[i] - expected[i]) / (f64 ? 1.0 : 1.0 + std::abs(expected[i]));
          worst = std::max(worst, std::isnan(error) ? INFINITY : error);
        }
        (f64 ? worst64 : worst32) = std::max(f64 ? worst64 : worst32, worst);
        if (worst > (f64 ? tolerance64 : 1e-4)) {
          FAIL_CHECK(context << ": step " << t << " is off by " << worst);
          break;
        }
        if (t < last) mg::testing::driver_step(problem, params, *optimizer);
      }
      if (f64) CHECK(optimizer->gradient_evaluations() == c["closure_evals"].get<std::int64_t>());
    }
  }
  MESSAGE("largest deviation from the reference: float64 " << worst64 << ", float32 (relative) " << worst32);
}
