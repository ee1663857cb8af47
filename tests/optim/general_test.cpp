// The `general` learned optimizer (docs/general.md): golden trajectories
// from an independent float64 transcription (fixtures/
// generate_general_fixtures.py), Adam exactly when its output layer is zero,
// derivatives of its step to the second order, the plain and differentiable
// steps agreeing, and its weight files.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "../support/testing.hpp"
#include "meta_training.hpp"
#include "problems.hpp"

namespace {

using mg::Tensor;
namespace learned = mg::optim::learned;
constexpr auto f64 = mg::DType::Float64;
using Config = learned::GeneralConfig;

Tensor values(std::vector<double> v, mg::Shape shape) { return Tensor::from_vector(v, std::move(shape)); }

// phi with a zero output layer and log_lr = ln(lr).
Tensor zero_output(double lr) {
  mg::Generator generator(5);
  Tensor phi = learned::general_initial_weights(generator, f64);
  phi.narrow(0, Config::parameter_count() - 1, 1).fill_(std::log(lr));
  return phi;
}

}  // namespace

TEST_CASE("general follows the float64 transcription of docs/general.md over 20 steps, to 1e-10") {
  mg::testing::check_fixture_trajectories(mg::testing::load_fixture("optim/fixtures/general.json"), 10, 1e-10);
}

TEST_CASE("with a zero output layer general is adam(lr = exp(log_lr)), on vectors and matrices") {
  for (const std::string problem_name : {"quad", "toymat", "mlp"}) {
    CAPTURE(problem_name);
    const auto problem = mg::testing::make_problem(problem_name, f64);
    auto ours = mg::testing::fresh_parameters(problem), theirs = mg::testing::fresh_parameters(problem);
    auto general = learned::make_general_optimizer(zero_output(0.01), {.horizon = 50}, ours);
    auto adam = mg::optim::make("adam(lr=0.01)", theirs);
    for (int t = 0; t < 20; ++t) {
      mg::testing::driver_step(problem, ours, *general);
      mg::testing::driver_step(problem, theirs, *adam);
    }
    for (std::size_t i = 0; i < ours.size(); ++i)
      mg::testing::check_close(ours[i].second, theirs[i].second, 0, 1e-12, ours[i].first);
  }
}

TEST_CASE("general's step passes gradcheck and gradgradcheck in phi, the parameter, the gradient and the state") {
  mg::Generator generator(3);
  // A small, smooth corner of phi: every ReLU input stays away from zero, no feature reaches the clip.
  Tensor phi = learned::general_initial_weights(generator, f64) * 0.5;
  phi.narrow(0, 19 * 32 + 32 + 32 * 32 + 32, 66).copy_(mg::randn({66}, generator, f64) * 0.1);  // W3, b3
  phi.requires_grad_();
  const Tensor param = values({0.5, -1, 2, 0.25, -0.75, 1.5}, {2, 3}).requires_grad_();
  const Tensor grad = values({0.3, -0.2, 0.1, -1, 0.4, 0.7}, {2, 3}).requires_grad_();
  const Tensor momenta = ((mg::rand({6, 3}, generator, f64) - 0.5) * 0.2).requires_grad_();
  const Tensor second = (mg::rand({6, 1}, generator, f64) + 0.1).requires_grad_();
  const Tensor rows = (mg::rand({2}, generator, f64) + 0.1).requires_grad_();
  const Tensor columns = (mg::rand({3}, generator, f64) + 0.1).requires_grad_();
  const auto step = [&](const std::vector<Tensor>& in) {
    const auto update = learned::general_step(in[0], {.horizon = 40}, in[1], in[2], {in[3], in[4], in[5], in[6]}, 7);
    return std::vector<Tensor>{update.param, update.state.momenta, update.state.second, update.state.rows,
                               update.state.columns};
  };
  const std::vector<Tensor> inputs = {phi, param, grad, momenta, second, rows, columns};
  CHECK(mg::autograd::gradcheck(step, inputs));
  CHECK(mg::autograd::gradgradcheck(step, inputs));
}

TEST_CASE("general's differentiable step follows its fused plain step") {
  for (const auto dtype : {mg::DType::Float64, mg::DType::Float32}) {
    for (const std::string spec : {"general(weights=formula)", "general(weights=formula, horizon=30)"}) {
      CAPTURE(dtype);
      CAPTURE(spec);
      const auto [current, params] =
          mg::testing::differentiable_beside_plain(spec, mg::testing::make_problem("mlp", dtype), 20);
      const double tolerance = dtype == f64 ? 1e-13 : 1e-5;
      for (std::size_t i = 0; i < params.size(); ++i)
        mg::testing::check_close(current[i], params[i].second, 0, tolerance, params[i].first);
    }
  }
}

TEST_CASE("general weight files: round trip, and wrong lengths or bad numbers are one clear line") {
  const auto dir = std::filesystem::temp_directory_path() / "metagrad-general-weights";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "w.json").string();
  const Tensor phi = learned::general_formula_weights(f64) * 1.5;
  learned::save_weights(path, phi);
  CHECK(learned::general_load_weights(path, f64).to_vector<double>() == phi.to_vector<double>());
  auto x = mg::optim::NamedParameters{{"x", mg::zeros({3})}};
  CHECK_NOTHROW(mg::optim::make("general(weights=" + path + ", horizon=100)", x));
  std::ofstream(dir / "bad.json") << "[1, 2, 3]";
  const std::string expected =
      "general: weight file '" + (dir / "bad.json").string() + "' has 3 numbers, expected 1763";
  CHECK_THROWS_WITH_AS(mg::optim::make("general(weights=" + (dir / "bad.json").string() + ")", x),
                       doctest::Contains(expected.c_str()), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("general(weights=/nonexistent.json)", x),
                       doctest::Contains("general: weight file '/nonexistent.json' cannot be read"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("general(weights=formula, horizon=-1)", x), doctest::Contains("horizon"),
                       mg::Error);
}

TEST_CASE("general meta-trains from adam(lr=1e-3) with truncated backprop and with PES, and loads back") {
  auto task = learned::make_task("quadratic");
  task->steps = 20;
  task->unroll = 10;
  const double adam = mg::testing::mean_final_validation_loss(*task, learned::spec_factory("adam(lr={})", 1e-3), 4);
  const learned::TruncatedBptt tbptt;
  const learned::EvolutionStrategies pes({.persistent = true, .sigma = 0.01});
  for (const learned::MetaGradientEstimator* estimator :
       std::initializer_list<const learned::MetaGradientEstimator*>{&tbptt, &pes}) {
    CAPTURE(estimator->config());
    auto o = mg::testing::short_meta_training("metagrad-general-meta-" + estimator->name(), 30, 30, 4, "adam(lr=3e-2)");
    o.meta_batch = 2;
    auto general = learned::make_learned("general", *task, 0);
    const auto start = [&](const mg::optim::NamedParameters& params) { return general->make(params, task->steps); };
    CHECK(mg::testing::mean_final_validation_loss(*task, start, 4) == doctest::Approx(adam).epsilon(1e-5));
    const std::atomic<bool> never{false};
    const auto result = learned::meta_train(*task, *general, *estimator, o, never);
    MESSAGE(estimator->name() << ": validation loss " << adam << " at the start (adam, lr 1e-3), "
                              << result.best_validation << " meta-trained");
    CHECK(result.best_validation < 0.9 * adam);
    // meta-train's optimizer.json is a general weight list that meta-eval's loader reads.
    const auto loaded = learned::load_learned(o.out_dir + "/optimizer.json", *task);
    CHECK(mg::testing::mean_final_validation_loss(*task, loaded, 4) ==
          doctest::Approx(result.best_validation).epsilon(1e-5));
  }
}

TEST_CASE("an optimizer's in-place step reaches a convolution's cached weights") {
  mg::Generator g(3);
  mg::nn::Conv2d conv(mg::nn::Conv2dOptions(2, 3, 3).padding(1), g);
  conv.eval();
  const Tensor x = mg::randn({1, 2, 5, 5}, g);
  for (const std::string spec : {"general(weights=formula)", "mlp_lopt(weights=formula)", "adam(lr=0.1)"}) {
    CAPTURE(spec);
    conv(x);  // caches the weights in oneDNN's layout
    auto optimizer = mg::optim::make(spec, conv.named_parameters());
    optimizer->zero_grad();
    mg::sum(conv(x)).backward();
    optimizer->step();
    const Tensor expected = mg::nn::functional::conv2d(x, conv.weight.clone(), conv.bias.clone(), 1, 1);
    mg::testing::check_close(conv(x), expected, 0, 0, "after the step");
  }
}

TEST_CASE("train tells general the run's length: with_horizon adds it where the spec leaves it out") {
  CHECK(mg::optim::with_horizon("general", 900) == "general(horizon=900)");
  CHECK(mg::optim::with_horizon("general(weights=formula)", 900) == "general(weights=formula, horizon=900)");
  CHECK(mg::optim::with_horizon("general(horizon=5)", 900) == "general(horizon=5)");
  CHECK(mg::optim::with_horizon("adam(lr=0.1)", 900) == "adam(lr=0.1)");  // no horizon key
  CHECK_THROWS_WITH_AS(mg::optim::with_horizon("adamm", 900), doctest::Contains("adamm"), mg::Error);
}
