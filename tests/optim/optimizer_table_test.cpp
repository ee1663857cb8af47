// The table every registered optimizer must pass: convergence on a quadratic
// and on Rosenbrock within a fixed budget, a bit-exact state round trip
// through a checkpoint file, and resumed runs that continue exactly as
// uninterrupted ones. Adding an optimizer means adding one row.
#include <filesystem>
#include <set>

#include "../support/testing.hpp"
#include "optimizer_table.hpp"
#include "problems.hpp"

namespace {

using mg::Tensor;
using mg::testing::table;

// Steps until the problem is solved (quad: gradient norm < 1e-4; rosen:
// within 1e-2 of (1, 1)), or -1 within the budget.
int steps_to_solve(const std::string& spec, const std::string& problem_name, int budget) {
  const auto problem = mg::testing::make_problem(problem_name, mg::DType::Float64);
  auto params = mg::testing::fresh_parameters(problem);
  auto optimizer = mg::optim::make(spec, params);
  for (int t = 1; t <= budget; ++t) {
    mg::testing::driver_step(problem, params, *optimizer);
    const Tensor x = params[0].second.detach();
    const bool solved = problem_name == "quad" ? mg::sum(mg::pow(problem.gradient({x})[0], 2.0)).item<double>() < 1e-8
                                               : mg::max(mg::abs(x - 1.0)).item<double>() < 1e-2;
    if (solved) return t;
  }
  return -1;
}

void run(const mg::testing::Problem& problem, mg::optim::NamedParameters& params, mg::optim::Optimizer& optimizer,
         int steps) {
  for (int t = 0; t < steps; ++t) mg::testing::driver_step(problem, params, optimizer);
}

}  // namespace

TEST_CASE("every registered optimizer has a row in the table") {
  std::set<std::string> rows;
  for (const auto& row : table()) rows.insert(row.name);
  for (const auto& name : mg::optim::available()) CHECK_MESSAGE(rows.count(name), name << " has no row");
}

TEST_CASE("every optimizer solves the quadratic and Rosenbrock within its budget") {
  for (const auto& row : table()) {
    if (!row.converges) continue;
    CAPTURE(row.spec);
    const int quad = steps_to_solve(row.spec_for("quad"), "quad", row.quad_budget);
    const int rosen = steps_to_solve(row.spec_for("rosen"), "rosen", row.rosen_budget);
    CHECK(quad > 0);
    CHECK(rosen > 0);
    MESSAGE(row.spec << ": quad in " << quad << " steps, rosen in " << rosen);
  }
}

TEST_CASE("optimizer state survives a checkpoint file and resumed runs continue bit for bit") {
  const auto path = (std::filesystem::temp_directory_path() / "metagrad-optim-state.mgt").string();
  for (const auto& row : table()) {
    for (auto dtype : {mg::DType::Float32, mg::DType::Float64}) {
      CAPTURE(row.spec);
      const auto problem = mg::testing::make_problem("mlp", dtype);
      // uninterrupted: 12 steps
      auto straight = mg::testing::fresh_parameters(problem);
      auto optimizer = mg::optim::make(row.spec, straight);
      run(problem, straight, *optimizer, 12);

      // interrupted after 5: parameters and optimizer state go through a file
      auto first = mg::testing::fresh_parameters(problem);
      auto first_optimizer = mg::optim::make(row.spec, first);
      run(problem, first, *first_optimizer, 5);
      mg::nn::NamedTensors saved = first_optimizer->state_dict();
      for (const auto& [name, p] : first) saved.emplace_back("param." + name, p.detach());
      mg::nn::save_tensors(path, saved);

      const auto loaded = mg::nn::load_tensors(path);
      mg::optim::NamedParameters resumed;
      mg::nn::NamedTensors optimizer_state;
      for (const auto& [key, t] : loaded) {
        if (key.rfind("param.", 0) == 0)
          resumed.emplace_back(key.substr(6), t.clone().requires_grad_());
        else
          optimizer_state.emplace_back(key, t);
      }
      auto resumed_optimizer = mg::optim::make(row.spec, resumed);
      resumed_optimizer->load_state_dict(optimizer_state);
      // the state round-trips exactly
      const auto again = resumed_optimizer->state_dict();
      REQUIRE(again.size() == first_optimizer->state_dict().size());
      for (std::size_t i = 0; i < again.size(); ++i)
        CHECK(again[i].second.to_vector<double>() == first_optimizer->state_dict()[i].second.to_vector<double>());
      run(problem, resumed, *resumed_optimizer, 7);
      CHECK(mg::testing::flatten(resumed) == mg::testing::flatten(straight));
    }
  }
}

TEST_CASE("optimizer state that does not fit is rejected before anything changes") {
  const auto problem = mg::testing::make_problem("mlp", mg::DType::Float64);
  auto params = mg::testing::fresh_parameters(problem);
  auto adam = mg::optim::make("adam(lr=0.01)", params);
  run(problem, params, *adam, 2);
  auto state = adam->state_dict();
  auto other = mg::optim::make("adam(lr=0.01)", params);
  auto bad = state;
  bad.emplace_back("state.fc9.weight.exp_avg", mg::zeros({1}));
  CHECK_THROWS_WITH_AS(other->load_state_dict(bad), doctest::Contains("fc9.weight"), mg::Error);
  bad = state;
  for (auto& [key, t] : bad)
    if (key == "state.fc1.weight.exp_avg") t = mg::zeros({4, 3}, mg::DType::Float64);
  CHECK_THROWS_WITH_AS(other->load_state_dict(bad), doctest::Contains("[4, 3]"), mg::Error);
  bad = state;
  bad[0].second = Tensor::from_vector(std::vector<std::int64_t>{7}, {});
  CHECK_THROWS_WITH_AS(other->load_state_dict(bad), doctest::Contains("version 7"), mg::Error);
  // Found by tests/fuzz/checkpoints_fuzz.cpp: a 0-dim moment would have been
  // indexed like a full one, and a bad group index escaped as std::invalid_argument.
  const auto replaced = [&](const std::string& key, const Tensor& value) {
    auto dict = state;
    for (auto& [k, t] : dict)
      if (k == key) t = value;
    return dict;
  };
  CHECK_THROWS_WITH_AS(
      other->load_state_dict(replaced("state.fc1.weight.exp_avg", mg::scalar_tensor(0.0))),
      doctest::Contains("'state.fc1.weight.exp_avg' has shape [] (float32), expected [3, 4] (float64)"), mg::Error);
  CHECK_THROWS_WITH_AS(
      other->load_state_dict(replaced("state.fc1.weight.step", Tensor::from_vector(std::vector<std::int64_t>{-1}, {}))),
      doctest::Contains("negative"), mg::Error);
  bad = state;
  bad.emplace_back("state.fc1.weight.velocity", mg::zeros({3, 4}, mg::DType::Float64));
  CHECK_THROWS_WITH_AS(other->load_state_dict(bad), doctest::Contains("unexpected state 'velocity'"), mg::Error);
  bad = state;
  bad.emplace_back("group.x.lr", mg::scalar_tensor(0.1, mg::DType::Float64));
  CHECK_THROWS_WITH_AS(other->load_state_dict(bad), doctest::Contains("malformed state key 'group.x.lr'"), mg::Error);
  CHECK(other->state_of("fc1.weight") == nullptr);
}

TEST_CASE("spec strings: unknown names, keys and bad values list what is valid") {
  mg::optim::NamedParameters params{{"w", mg::zeros({2}).requires_grad_()}};
  CHECK_THROWS_WITH_AS(mg::optim::make("adamm(lr=0.1)", params),
                       doctest::Contains("available: ab2, ab3, adagrad, adam"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("adam(lr=0.1, beta3=2)", params), doctest::Contains("valid keys: lr=0.001"),
                       mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("adam(lr=-1)", params), doctest::Contains(">= 0"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("adam(beta2=1)", params), doctest::Contains("in [0, 1)"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("sgd(lr=fast)", params), doctest::Contains("malformed"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("sgd(lr=0.1, lr=0.2)", params), doctest::Contains("twice"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("sgd(lr=0.1", params), doctest::Contains("missing ')'"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("sgd(nesterov=true)", params), doctest::Contains("momentum > 0"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("sgd(nesterov=yes)", params), doctest::Contains("true or false"), mg::Error);
  CHECK(mg::optim::make("sgd", params)->param_groups()[0].number("lr") == 1e-3);
  // The papers' optimizers: one line naming the key and what is valid.
  CHECK_THROWS_WITH_AS(mg::optim::make("rllc(memory=jordan, k=0)", params),
                       "optimizer rllc: k=0 is out of range, expected >= 1", mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("rllc(memory=jordan, k=2, law_init=1:0:0)", params),
                       doctest::Contains("law_init has 3 numbers but memory=jordan has k = 2"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("rllc(memory=custom, input_gain=1:0, propagator=1:2:3)", params),
                       doctest::Contains("propagator with k*k = 4 numbers"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("rllc(memory=spiral)", params),
                       doctest::Contains("memory=spiral is out of range, expected one of momentum, momentum_grad"),
                       mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("if_shampoo(lr=0.1)", params),
                       doctest::Contains("optimizer if_shampoo: key 'batch_size' is required"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("shampoo(beta2=1.5)", params),
                       "optimizer shampoo: beta2=1.5 is out of range, expected in (0, 1]", mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("rf_rmsprop(batch_size=2.5)", params), doctest::Contains("an integer"),
                       mg::Error);
  for (const std::string spec : {"heun", "rk4", "ab3(startup=rk4)"}) {
    params[0].second.set_grad(mg::ones({2}));
    CHECK_THROWS_WITH_AS(mg::optim::make(spec, params)->step(),
                         doctest::Contains("step() needs a closure that re-evaluates the loss and gradients"),
                         mg::Error);
  }
}

TEST_CASE("parameter groups, the weight-decay mask, clipping and closures") {
  Tensor w = mg::ones({3}).requires_grad_(), b = mg::ones({3}).requires_grad_();
  auto opt =
      mg::optim::make("sgd(lr=0.1, weight_decay=0.5, wd_exclude=bias)",
                      std::vector<mg::optim::GroupSpec>{{{{"fc.weight", w}}, {}}, {{{"fc.bias", b}}, {{"lr", "0.2"}}}});
  w.set_grad(mg::zeros({3}));
  b.set_grad(mg::zeros({3}));
  opt->step();
  CHECK(w.to_vector() == std::vector<float>(3, 1.0f - 0.1f * 0.5f));  // decayed
  CHECK(b.to_vector() == std::vector<float>(3, 1.0f));                // excluded
  CHECK(opt->param_groups()[1].number("lr") == 0.2);

  // Several fragments, as the README writes them: neither the bias nor the
  // batch-norm scale decays, the convolution weight does.
  Tensor conv = mg::ones({3}).requires_grad_(), bn = mg::ones({3}).requires_grad_(),
         bias = mg::ones({3}).requires_grad_();
  auto adamw = mg::optim::make("adamw(lr=0.1, weight_decay=0.5, wd_exclude=bias:bn)",
                               {{"conv1.weight", conv}, {"bn1.weight", bn}, {"conv1.bias", bias}});
  for (Tensor* t : {&conv, &bn, &bias}) t->set_grad(mg::zeros({3}));
  adamw->step();
  CHECK(conv.to_vector() == std::vector<float>(3, 1.0f - 0.1f * 0.5f));
  CHECK(bn.to_vector() == std::vector<float>(3, 1.0f));
  CHECK(bias.to_vector() == std::vector<float>(3, 1.0f));
  for (const char* bad : {"wd_exclude=bias:", "wd_exclude=:bn", "wd_exclude=bias::bn", "wd_exclude=bi as"})
    CHECK_THROWS_WITH_AS(mg::optim::make(std::string("adamw(") + bad + ")", {{"conv1.weight", conv}}),
                         doctest::Contains("expected words separated by ':'"), mg::Error);

  // Settings that choose which states exist must be the same in every group.
  const auto two_groups = [&](const std::string& key, const std::string& value) {
    return std::vector<mg::optim::GroupSpec>{{{{"fc.weight", w}}, {}}, {{{"fc.bias", b}}, {{key, value}}}};
  };
  CHECK_THROWS_WITH_AS(mg::optim::make("adam", two_groups("amsgrad", "true")),
                       "optimizer adam: all groups must agree on amsgrad", mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("rmsprop", two_groups("momentum", "0.9")),
                       "optimizer rmsprop: all groups must agree on momentum > 0", mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("nadam", two_groups("decoupled_weight_decay", "true")),
                       "optimizer nadam: all groups must agree on decoupled_weight_decay", mg::Error);
  CHECK_NOTHROW(mg::optim::make("rmsprop(momentum=0.5)", two_groups("momentum", "0.9")));

  Tensor x = mg::zeros({4}).requires_grad_();
  auto clipped = mg::optim::make("sgd(lr=1, clip_norm=1)", {{"x", x}});
  x.set_grad(mg::full({4}, 3.0));  // norm 6
  clipped->step();
  CHECK(mg::sum(x * x).item<double>() == doctest::Approx(1.0).epsilon(1e-5));
  auto by_value = mg::optim::make("sgd(lr=1, clip_value=0.5)", {{"x", x}});
  x.set_grad(Tensor::from_vector(std::vector<float>{3, -3, 0.25, 0}, {4}));
  const auto before = x.to_vector();
  by_value->step();
  CHECK(x.to_vector()[0] == doctest::Approx(before[0] - 0.5f));
  CHECK(x.to_vector()[1] == doctest::Approx(before[1] + 0.5f));
  CHECK(x.to_vector()[2] == doctest::Approx(before[2] - 0.25f));

  int calls = 0;
  const Tensor loss = by_value->step([&] {
    ++calls;
    by_value->zero_grad();
    const Tensor l = mg::sum(x * x);
    l.backward();
    return l;
  });
  CHECK(calls == 1);
  CHECK(loss.defined());
}

TEST_CASE("clip_grad_norm_ and clip_grad_value_") {
  Tensor a = mg::zeros({2}).requires_grad_(), b = mg::zeros({2}).requires_grad_(), c = mg::zeros({1}).requires_grad_();
  a.set_grad(Tensor::from_vector(std::vector<float>{3, 0}, {2}));
  b.set_grad(Tensor::from_vector(std::vector<float>{0, 4}, {2}));
  CHECK(mg::optim::clip_grad_norm_({a, b, c}, 1.0) == doctest::Approx(5.0));
  CHECK(a.grad().to_vector()[0] == doctest::Approx(0.6f).epsilon(1e-5));
  CHECK(b.grad().to_vector()[1] == doctest::Approx(0.8f).epsilon(1e-5));
  CHECK(mg::optim::clip_grad_norm_({a, b}, 10.0) == doctest::Approx(1.0).epsilon(1e-5));  // unchanged below the bound
  mg::optim::clip_grad_value_({a, b}, 0.7);
  CHECK(b.grad().to_vector()[1] == doctest::Approx(0.7f));
  CHECK_THROWS_AS(mg::optim::clip_grad_norm_({a}, 0.0), mg::Error);
}

TEST_CASE("Kronecker optimizers step their tensors on parallel threads with the same result as on one") {
  // mlp has four tensors of different shapes: at 2 threads they go to
  // different threads, each tensor's arithmetic on one of them.
  const int threads_before = mg::get_num_threads();
  for (const std::string spec : {"shampoo(lr=0.05, momentum=0.9)", "if_shampoo(lr=0.05, batch_size=6)"}) {
    CAPTURE(spec);
    mg::set_num_threads(1);
    const auto one = mg::testing::trajectory(spec, "mlp", 8, mg::DType::Float32);
    mg::set_num_threads(2);
    const auto two = mg::testing::trajectory(spec, "mlp", 8, mg::DType::Float32);
    CHECK(one == two);
    CHECK(one.back() != one.front());
  }
  mg::set_num_threads(threads_before);
}
