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
  const std::vector<std::pair<std::string, std::vector<double>>> golden = {
      {"sgd(lr=0.1)", {0.1723920000, -0.0316480000, 1.7146296641, 0.3361600000}},
      {"sgd(lr=0.1, momentum=0.9, nesterov=true)", {-0.3836653471, 0.2233925917, 1.0887572553, 0.7078587904}},
      {"adam(lr=0.1)", {0.0115042880, -0.5073758393, 1.5023411216, 0.4721855486}},
      {"adamw(lr=0.1, weight_decay=0.1)", {-0.0024028278, -0.4692637197, 1.4147728860, 0.4630840550}},
      {"rmsprop(lr=0.01, momentum=0.9, centered=true)", {-0.3352796713, -0.1292524959, 1.0740712683, 0.7339849508}},
      {"adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)",
       {0.2192632139, -0.7013992292, 1.7105299327, 0.2670100486}},
      {"nadam(lr=0.1)", {0.1319676233, -0.6221345147, 1.6061043657, 0.3403609283}},
  };
  for (const auto& [spec, expected] : golden) {
    CAPTURE(spec);
    const auto problem = mg::testing::make_problem("toy", mg::DType::Float64);
    auto params = mg::testing::fresh_parameters(problem);
    auto optimizer = mg::optim::make(spec, params);
    for (int t = 0; t < 5; ++t) {
      mg::testing::set_gradients(problem, params);
      optimizer->step();
    }
    mg::testing::check_close(params[0].second.to_vector<double>(), expected, 0, 5e-11, spec);
  }
}
