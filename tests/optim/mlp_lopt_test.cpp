// The learned MLP optimizer mlp_lopt (optimizers.md section 10.1): golden
// trajectories from an independent float64 transcription of the section
// (fixtures/generate_mlp_lopt_fixtures.py), derivatives of its step to the
// second order, the plain and differentiable steps agreeing, its weight
// files and initialisation, and meta-training it.
#include <filesystem>
#include <fstream>

#include "../support/testing.hpp"
#include "meta_training.hpp"
#include "problems.hpp"

namespace {

using mg::Tensor;
namespace learned = mg::optim::learned;
constexpr auto f64 = mg::DType::Float64;

Tensor values(std::vector<double> v, mg::Shape shape) { return Tensor::from_vector(v, std::move(shape)); }

}  // namespace

TEST_CASE("mlp_lopt follows the float64 transcription of section 10.1 over 20 steps, to 1e-10") {
  mg::testing::check_fixture_trajectories(mg::testing::load_fixture("optim/fixtures/mlp_lopt.json"), 10, 1e-10);
}

TEST_CASE("mlp_lopt's step passes gradcheck and gradgradcheck in phi, the parameter, the gradient and the momenta") {
  const learned::MlpLoptConfig config{0.5, 0.05};
  mg::Generator generator(3);
  // A small, smooth corner of phi: every ReLU input stays away from zero.
  const Tensor phi = (learned::mlp_lopt_initial_weights(generator, f64) * 0.5).requires_grad_();
  const Tensor param = values({0.5, -1, 2, 0.25, -0.75, 1.5}, {2, 3}).requires_grad_();
  const Tensor grad = values({0.3, -0.2, 0.1, -1, 0.4, 0.7}, {2, 3}).requires_grad_();
  const Tensor momenta = (mg::rand({6, 6}, generator, f64) - 0.5).requires_grad_();
  const auto step = [&](const std::vector<Tensor>& in) {
    const auto update = learned::mlp_lopt_step(in[0], config, in[1], in[2], in[3], 7);
    return std::vector<Tensor>{update.param, update.momenta};
  };
  CHECK(mg::autograd::gradcheck(step, {phi, param, grad, momenta}));
  CHECK(mg::autograd::gradgradcheck(step, {phi, param, grad, momenta}));
}

TEST_CASE("mlp_lopt's differentiable step follows its fused plain step") {
  for (const auto dtype : {mg::DType::Float64, mg::DType::Float32}) {
    CAPTURE(dtype);
    const auto [current, params] = mg::testing::differentiable_beside_plain(
        "mlp_lopt(weights=formula, exp_mult=0.5, step_mult=0.05)", mg::testing::make_problem("mlp", dtype), 20);
    // The fused step sums the features' squares in double, the tensor ops in the parameters' dtype.
    const double tolerance = dtype == f64 ? 1e-14 : 1e-5;
    for (std::size_t i = 0; i < params.size(); ++i)
      mg::testing::check_close(current[i], params[i].second, 0, tolerance, params[i].first);
  }
}

TEST_CASE("mlp_lopt weight files: round trip, and wrong lengths or bad numbers are one clear line") {
  const auto dir = std::filesystem::temp_directory_path() / "metagrad-mlp-lopt-weights";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "w.json").string();
  const Tensor phi = learned::mlp_lopt_formula_weights(f64) * 1.5;
  learned::save_weights(path, phi);
  CHECK(learned::mlp_lopt_load_weights(path, f64).to_vector<double>() == phi.to_vector<double>());
  mg::optim::NamedParameters x{{"x", values({1, 2}, {2}).requires_grad_()}};
  CHECK_NOTHROW(mg::optim::make("mlp_lopt(weights=" + path + ")", x));
  const auto fails_with = [&](const std::string& text, const std::string& message) {
    std::ofstream((dir / "bad.json").string()) << text;
    CHECK_THROWS_WITH_AS(mg::optim::make("mlp_lopt(weights=" + (dir / "bad.json").string() + ")", x),
                         doctest::Contains(message.c_str()), mg::Error);
  };
  fails_with("[1, 2, 3]", "mlp_lopt: weight file '" + (dir / "bad.json").string() + "' has 3 numbers, expected 1762");
  std::string nearly = "[\"one\"";
  for (int i = 1; i < 1762; ++i) nearly += ", 0";
  fails_with(nearly + "]", "entry 0 is not a finite number");
  fails_with("{\"weights\": []}", "should hold a JSON list of 1762 numbers");
  fails_with("[1, 2,", "is not valid JSON");
  CHECK_THROWS_WITH_AS(mg::optim::make("mlp_lopt(weights=/nonexistent.json)", x),
                       doctest::Contains("mlp_lopt: weight file '/nonexistent.json' cannot be read"), mg::Error);
}

TEST_CASE("mlp_lopt's initialisation: truncated normals of deviation 1/sqrt(inputs), zero biases") {
  mg::Generator generator(0);
  const auto phi = learned::mlp_lopt_initial_weights(generator, f64).to_vector<double>();
  REQUIRE(phi.size() == 1762);
  struct Layer {
    std::size_t offset, inputs, outputs;
  };
  for (const Layer layer : {Layer{0, 19, 32}, Layer{640, 32, 32}, Layer{1696, 32, 2}}) {
    const double deviation = 1 / std::sqrt(static_cast<double>(layer.inputs));
    const std::size_t count = layer.inputs * layer.outputs;
    double squares = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const double w = phi[layer.offset + i];
      CHECK(std::abs(w) <= 2 * deviation);
      squares += w * w;
    }
    // A normal truncated at 2 deviations has variance 0.774 deviation^2.
    if (count > 100) CHECK(std::sqrt(squares / count) == doctest::Approx(0.88 * deviation).epsilon(0.1));
    for (std::size_t i = 0; i < layer.outputs; ++i) CHECK(phi[layer.offset + count + i] == 0);
  }
}

TEST_CASE("mlp_lopt meta-trains: its weights improve on their initialisation on quadratics, and load back") {
  auto task = learned::make_task("quadratic");
  task->steps = 20;
  task->unroll = 10;
  const auto o = mg::testing::short_meta_training("metagrad-mlp-lopt-meta", 30, 30, 4, "adam(lr=1e-2)");
  auto mlp = learned::make_learned("mlp_lopt", *task, 0);
  const auto factory = [&](const mg::optim::NamedParameters& params) { return mlp->make(params); };
  const double before = mg::testing::mean_final_validation_loss(*task, factory, 4);
  const std::atomic<bool> never{false};
  const auto result = learned::meta_train(*task, *mlp, learned::TruncatedBptt(), o, never);
  CHECK(result.best_validation < 0.9 * before);
  // meta-train's optimizer.json is an mlp_lopt weight list that meta-eval's loader reads.
  const auto loaded = learned::load_learned(o.out_dir + "/optimizer.json", *task);
  CHECK(mg::testing::mean_final_validation_loss(*task, loaded, 4) ==
        doctest::Approx(result.best_validation).epsilon(1e-5));
}
