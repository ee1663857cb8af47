// The learned LSTM optimizer and meta-training (optimizers.md section 5;
// the lstm identities of 9.3 and golden values of 9.4) against
// fixtures/generate_lstm_fixtures.py (torch.nn.LSTMCell in float64).
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "../support/testing.hpp"
#include "meta_training.hpp"
#include "problems.hpp"

namespace {

using mg::Tensor;
namespace learned = mg::optim::learned;
constexpr auto f64 = mg::DType::Float64;

learned::LstmConfig config_of(const nlohmann::json& entry) {
  learned::LstmConfig c;
  c.preprocess = learned::parse_preprocess(entry["preprocess"]);
  c.p = entry["p"];
  c.scale = entry["scale"];
  return c;
}

Tensor values(const std::vector<double>& v) { return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())}); }

// The toy problem of section 9.1 as a meta-training problem.
class Toy : public learned::Problem {
 public:
  mg::optim::NamedParameters initial() const override { return {{"x", values({0.5, -1, 2, 0})}}; }
  Tensor loss(const std::vector<Tensor>& p, std::int64_t) const override {
    return mg::sum(0.5 * a_ * p[0] * p[0] + b_ * p[0]);
  }
  Tensor gradient(const Tensor& x) const { return a_ * x + b_; }

 private:
  Tensor a_ = values({1, 4, 0.25, 2}), b_ = values({0.3, -0.2, 0.1, -1});
};

// A learned LSTM holding the formula weights, in float64.
std::unique_ptr<learned::LearnedOptimizer> formula_lstm(const learned::LstmConfig& config) {
  learned::LstmTaskSettings settings;
  settings.config = config;
  auto lstm = learned::make_learned_lstm(settings, 0, f64);
  mg::NoGradGuard no_grad;
  lstm->meta_parameters()[0].second.copy_(learned::formula_weights(config, f64));
  return lstm;
}

}  // namespace

TEST_CASE("lstm preprocessing matches its golden values (section 5.1)") {
  const auto fixture = mg::testing::load_fixture("optim/fixtures/lstm.json");
  for (const auto& entry : fixture["preprocess"]) {
    learned::LstmConfig config;
    config.p = entry["p"];
    const Tensor features = learned::preprocess(values(entry["g"].get<std::vector<double>>()), config);
    std::vector<double> expected;
    for (const auto& pair : entry["features"])
      for (double v : pair) expected.push_back(v);
    mg::testing::check_close(features.to_vector<double>(), expected, 1e-14, 1e-15, "preprocess");
  }
  // The spec's own table (p = 10).
  learned::LstmConfig config;
  const auto f = learned::preprocess(values({1, -0.5, 1e-3, -1e-5, 1e-6, 0}), config).to_vector<double>();
  mg::testing::check_close(f, {0, 1, -0.0693147181, -1, -0.6907755279, 1, -1, -0.2202646579, -1, 0.0220264658, -1, 0},
                           0, 1e-10, "golden features");
}

TEST_CASE("lstm steps equal two torch LSTMCells and a Linear, in both preprocess modes") {
  const auto fixture = mg::testing::load_fixture("optim/fixtures/lstm.json");
  for (const auto& entry : fixture["steps"]) {
    const learned::LstmConfig config = config_of(entry);
    CAPTURE(learned::to_string(config.preprocess));
    CHECK(config.parameter_count() == entry["P"].get<std::int64_t>());
    const Tensor phi = learned::formula_weights(config, f64);
    learned::LstmCoordinateState state;
    for (std::size_t t = 0; t < entry["grads"].size(); ++t) {
      const auto& record = entry["records"][t];
      auto [delta, next] = learned::lstm_step(phi, config, values(entry["grads"][t]), state);
      mg::testing::check_close(delta.to_vector<double>(), record["delta"], 1e-12, 1e-14, "delta");
      // ours are feature-major (H, n), the fixture's coordinate-major (n, H)
      mg::testing::check_close(next.h1.t().to_vector<double>(), record["h1"], 1e-12, 1e-14, "h1");
      mg::testing::check_close(next.c1.t().to_vector<double>(), record["c1"], 1e-12, 1e-14, "c1");
      mg::testing::check_close(next.h2.t().to_vector<double>(), record["h2"], 1e-12, 1e-14, "h2");
      mg::testing::check_close(next.c2.t().to_vector<double>(), record["c2"], 1e-12, 1e-14, "c2");
      state = next;
    }
  }
}

// What one step's graph keeps for backward, per coordinate: the layers'
// inputs [x; h1] and [h1; h2] (22 + 40 numbers), their gates, which the
// cells turn into activations in place (2 x 80), their outputs [h; c]
// (2 x 40) and a few for the preprocessing (the first step also keeps the
// zero cells it starts from). Activations in buffers of their own would add
// 160.
TEST_CASE("an lstm step's graph keeps the activations in the gates' memory") {
  const learned::LstmConfig config;
  const std::int64_t n = 4096;
  const Tensor phi = learned::formula_weights(config, mg::DType::Float32).requires_grad_();
  mg::Generator gen(1);
  const Tensor gradient = mg::randn({n}, gen);
  learned::LstmCoordinateState state;
  for (int t = 0; t < 3; ++t) {
    const std::size_t before = mg::allocator_stats().bytes_in_use;
    auto [delta, next] = learned::lstm_step(phi, config, gradient, state);
    const double per_coordinate = static_cast<double>(mg::allocator_stats().bytes_in_use - before) / (4.0 * n);
    CHECK(per_coordinate < 22 + 40 + 2 * 80 + 2 * 40 + 20 + (t == 0 ? 2 * 20 : 0));
    state = next;
  }
}

TEST_CASE("the lstm optimizer's trajectory on toy (section 9.4 golden values)") {
  const auto fixture = mg::testing::load_fixture("optim/fixtures/lstm.json");
  const std::vector<std::vector<double>> golden = {{0.5371568992, -0.9666331579, 2.0372573818, 0.0338695716},
                                                   {0.4763130221, -1.1023118051, 1.9736383981, -0.0505460222}};
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& entry = fixture["trajectory"][i];
    const std::string spec = entry["spec"];
    CAPTURE(spec);
    const auto rows = mg::testing::trajectory(spec, "toy", 3);
    for (std::size_t t = 0; t < rows.size(); ++t) mg::testing::check_close(rows[t], entry["rows"][t], 0, 1e-12, spec);
    mg::testing::check_close(rows.back(), golden[i], 0, 1e-10, spec);
  }
}

namespace {

// Steps `params` with `opt` on the gradient of sum(a p^2) + sum(p), a per
// coordinate, and returns the parameters' values after each step.
std::vector<std::vector<double>> steps(mg::optim::Optimizer& opt, std::vector<Tensor> params, int count) {
  std::vector<std::vector<double>> rows;
  for (int t = 0; t < count; ++t) {
    std::vector<double> row;
    for (Tensor& p : params) {
      const Tensor a = mg::arange(1.0, static_cast<double>(p.numel()) + 1.0, 1.0, f64).reshape(p.shape());
      p.set_grad(2.0 * a * p.detach() + 1.0);
    }
    opt.step();
    for (const Tensor& p : params)
      for (double v : p.to_vector<double>()) row.push_back(v);
    rows.push_back(row);
  }
  return rows;
}

std::vector<Tensor> fresh_parameters() {
  return {values({0.5, -1, 2}).requires_grad_(),
          Tensor::from_vector(std::vector<double>{0.1, -0.3, 0.7, 1.5}, {2, 2}).requires_grad_()};
}

}  // namespace

// The optimizer steps the parameters on one net as one block of coordinates;
// the section 5.1 network is coordinatewise, so that must equal stepping
// each parameter alone. A state loaded from a checkpoint must then be used,
// not the block the optimizer kept from its own last step.
TEST_CASE("lstm: parameters on one net step as one block, equal to each alone, and loaded states are used") {
  const std::string spec = "lstm(weights=formula)";
  const std::vector<Tensor> together = fresh_parameters();
  auto joint = mg::optim::make(spec, {{"a", together[0]}, {"b", together[1]}});
  const auto rows = steps(*joint, together, 4);

  const std::vector<Tensor> alone = fresh_parameters();
  auto first = mg::optim::make(spec, {{"a", alone[0]}});
  auto second = mg::optim::make(spec, {{"b", alone[1]}});
  const auto rows_a = steps(*first, {alone[0]}, 4), rows_b = steps(*second, {alone[1]}, 4);
  for (std::size_t t = 0; t < rows.size(); ++t) {
    std::vector<double> expected = rows_a[t];
    expected.insert(expected.end(), rows_b[t].begin(), rows_b[t].end());
    mg::testing::check_close(rows[t], expected, 1e-14, 1e-14, "step " + std::to_string(t + 1));
  }

  // Resume after two steps from a checkpoint; then load that checkpoint
  // again into the same optimizer, whose own last block is now newer.
  std::vector<Tensor> resumed = fresh_parameters();
  auto before = mg::optim::make(spec, {{"a", resumed[0]}, {"b", resumed[1]}});
  steps(*before, resumed, 2);
  const auto checkpoint = before->state_dict();
  const std::vector<double> a2 = resumed[0].to_vector<double>(), b2 = resumed[1].to_vector<double>();
  auto after = mg::optim::make(spec, {{"a", resumed[0]}, {"b", resumed[1]}});
  after->load_state_dict(checkpoint);
  for (int again = 0; again < 2; ++again) {
    CAPTURE(again);
    const auto rest = steps(*after, resumed, 2);
    mg::testing::check_close(rest[0], rows[2], 1e-14, 1e-14, "step 3");
    mg::testing::check_close(rest[1], rows[3], 1e-14, 1e-14, "step 4");
    mg::NoGradGuard no_grad;
    resumed[0].copy_(values(a2));
    resumed[1].copy_(Tensor::from_vector(b2, {2, 2}));
    after->load_state_dict(checkpoint);
  }
}

TEST_CASE("meta-gradients match torch, first- and second-order; the modes differ") {
  const auto fixture = mg::testing::load_fixture("optim/fixtures/lstm.json");
  for (const auto& entry : fixture["meta_gradients"]) {
    const learned::LstmConfig config = config_of(entry);
    const std::int64_t k = entry["K"];
    std::vector<double> first, second;
    for (const auto& [mode, name] : {std::pair{learned::MetaMode::FirstOrder, "first_order"},
                                     std::pair{learned::MetaMode::SecondOrder, "second_order"}}) {
      CAPTURE(name);
      auto lstm = formula_lstm(config);
      learned::TruncatedBptt estimator({.mode = mode});
      int unrolls = 0;
      estimator.run(Toy(), {k, k}, *lstm, [&](const learned::TruncationEstimate& unroll) {
        ++unrolls;
        CHECK(unroll.meta_loss == doctest::Approx(entry[name]["loss"].get<double>()).epsilon(1e-13));
        const auto grad = unroll.meta_gradients[0].to_vector<double>();
        mg::testing::check_close(grad, entry[name]["grad"], 1e-9, 1e-11, name);
        (mode == learned::MetaMode::FirstOrder ? first : second) = grad;
      });
      CHECK(unrolls == 1);
    }
    double apart = 0;
    for (std::size_t i = 0; i < first.size(); ++i) apart = std::max(apart, std::abs(first[i] - second[i]));
    CHECK(apart > 1e-5);
  }
}

TEST_CASE("meta-gradients equal finite differences (second order: of the meta-loss; first: gradients frozen)") {
  const learned::LstmConfig config;  // log_sign, p = 10, scale 0.1
  const Toy toy;
  const std::int64_t k = 3;
  const Tensor phi0 = learned::formula_weights(config, f64);
  // The meta-loss of a K-step unroll; `frozen` replaces the optimizee
  // gradients by fixed values (first-order mode's linearisation).
  const auto meta_loss = [&](const Tensor& phi, const std::vector<Tensor>* frozen, std::vector<Tensor>* seen) {
    Tensor x = toy.initial()[0].second;
    learned::LstmCoordinateState state;
    double total = 0;
    for (std::int64_t t = 0; t < k; ++t) {
      const Tensor g = frozen ? (*frozen)[static_cast<std::size_t>(t)] : toy.gradient(x);
      if (seen) seen->push_back(g);
      auto [delta, next] = learned::lstm_step(phi, config, g, state);
      state = next;
      x = x + delta;
      total += toy.loss({x}, t + 1).item<double>();
    }
    return total;
  };
  std::vector<Tensor> gradients_seen;
  meta_loss(phi0, nullptr, &gradients_seen);
  for (const auto mode : {learned::MetaMode::FirstOrder, learned::MetaMode::SecondOrder}) {
    CAPTURE(mode == learned::MetaMode::FirstOrder);
    auto lstm = formula_lstm(config);
    std::vector<double> analytic;
    learned::TruncatedBptt({.mode = mode}).run(toy, {k, k}, *lstm, [&](const learned::TruncationEstimate& unroll) {
      analytic = unroll.meta_gradients[0].to_vector<double>();
    });
    const std::vector<Tensor>* frozen = mode == learned::MetaMode::FirstOrder ? &gradients_seen : nullptr;
    const double eps = 1e-6;
    for (std::int64_t i : {0L, 7L, 160L, 1850L, 3460L, 5299L, 5300L}) {
      std::vector<double> plus = phi0.to_vector<double>(), minus = plus;
      plus[static_cast<std::size_t>(i)] += eps;
      minus[static_cast<std::size_t>(i)] -= eps;
      const double numeric =
          (meta_loss(values(plus), frozen, nullptr) - meta_loss(values(minus), frozen, nullptr)) / (2 * eps);
      CAPTURE(i);
      CHECK(analytic[static_cast<std::size_t>(i)] == doctest::Approx(numeric).epsilon(1e-6).scale(1e-3));
    }
  }
}

TEST_CASE("the optimizer's trajectory equals the meta-training unroll's forward pass") {
  for (const auto preprocess : {learned::Preprocess::LogSign, learned::Preprocess::None}) {
    learned::LstmConfig config;
    config.preprocess = preprocess;
    auto lstm = formula_lstm(config);
    const Toy toy;
    const auto losses = learned::run_optimizer(
        toy, [&](const mg::optim::NamedParameters& params) { return lstm->make(params); }, 6);
    std::vector<double> unrolled;
    learned::TruncatedBptt().run(toy, {6, 3}, *lstm, [&](const auto& unroll) { unrolled.push_back(unroll.meta_loss); });
    REQUIRE(unrolled.size() == 2);
    CHECK(unrolled[0] == doctest::Approx(losses[1] + losses[2] + losses[3]).epsilon(1e-13));
    CHECK(unrolled[1] == doctest::Approx(losses[4] + losses[5] + losses[6]).epsilon(1e-13));
  }
}

TEST_CASE("lstm weight files: round trip, and wrong lengths or bad numbers are clear errors") {
  const auto dir = std::filesystem::temp_directory_path() / "metagrad-lstm-weights";
  std::filesystem::create_directories(dir);
  const learned::LstmConfig config;
  const std::string path = (dir / "w.json").string();
  const Tensor phi = learned::formula_weights(config, f64) * 1.5;
  learned::save_weights(path, phi);
  CHECK(learned::load_weights(path, config, f64).to_vector<double>() == phi.to_vector<double>());
  mg::optim::NamedParameters x{{"x", values({1, 2}).requires_grad_()}};
  CHECK_NOTHROW(mg::optim::make("lstm(weights=" + path + ")", x));
  CHECK_THROWS_WITH_AS(mg::optim::make("lstm(weights=" + path + ", preprocess=none)", x),
                       doctest::Contains("has 5301 numbers, expected 5221"), mg::Error);
  std::ofstream(dir / "bad.json") << "[1, 2, \"three\"]";
  CHECK_THROWS_WITH_AS(mg::optim::make("lstm(weights=" + (dir / "bad.json").string() + ")", x),
                       doctest::Contains("has 3 numbers, expected 5301"), mg::Error);
  std::ofstream(dir / "corrupt.json") << "[1, 2,";
  CHECK_THROWS_WITH_AS(mg::optim::make("lstm(weights=" + (dir / "corrupt.json").string() + ")", x),
                       doctest::Contains("is not valid JSON"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("lstm(weights=/nonexistent.json)", x),
                       doctest::Contains("lstm: weight file '/nonexistent.json' cannot be read"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make("lstm(preprocess=none)", x),
                       doctest::Contains("lstm: the shipped weight list has 5301 numbers, expected 5221"), mg::Error);
}

TEST_CASE("a learned optimizer starts from a weight file when told to") {
  const auto dir = std::filesystem::temp_directory_path() / "metagrad-initial-weights";
  std::filesystem::create_directories(dir);
  const auto task = learned::make_task("quadratic");
  auto general = learned::make_learned("general", *task, 3);
  const std::string shipped = std::string(MG_TEST_SOURCE_DIR) + "/../optim/learned/pretrained/general.json";
  learned::load_initial_weights(*general, shipped);
  CHECK(general->meta_parameters().front().second.to_vector<double>() ==
        learned::general_load_weights(shipped, general->meta_parameters().front().second.dtype()).to_vector<double>());
  auto mlp_lopt = learned::make_learned("mlp_lopt", *task, 3);
  const auto before = mlp_lopt->meta_parameters().front().second.to_vector<double>();
  CHECK_THROWS_WITH_AS(learned::load_initial_weights(*mlp_lopt, shipped),
                       doctest::Contains("has 1763 numbers, expected 1762"), mg::Error);
  CHECK(mlp_lopt->meta_parameters().front().second.to_vector<double>() == before);
  auto cnn_lstm = learned::make_learned_lstm(learned::lstm_settings("cnn"), 3);  // nets conv and fc
  CHECK_THROWS_WITH_AS(learned::load_initial_weights(*cnn_lstm, shipped), doctest::Contains("are 2 tensors"),
                       mg::Error);
}

TEST_CASE("each learned optimizer with no weights runs its shipped file, compiled in") {
  const std::string pretrained = std::string(MG_TEST_SOURCE_DIR) + "/../optim/learned/pretrained/";
  const auto run = [](const std::string& spec) {
    mg::Generator g(4);
    Tensor x = mg::randn({5, 3}, g).requires_grad_();
    auto optimizer = mg::optim::make(spec, {{"x", x}});
    for (int step = 0; step < 5; ++step) {
      optimizer->zero_grad();
      mg::sum(x * x * x).backward();
      optimizer->step();
    }
    return x.to_vector<float>();
  };
  for (const auto& [name, file] : std::vector<std::pair<std::string, std::string>>{
           {"general", "general.json"}, {"mlp_lopt", "mlp_lopt.json"}, {"lstm", "mlp.json"}}) {
    CAPTURE(name);
    CHECK(run(name) == run(name + "(weights=" + pretrained + file + ")"));
    CHECK(run(name) == run(name + "(weights=shipped)"));
    CHECK(run(name) != run(name + "(weights=formula)"));
  }
}

TEST_CASE("meta-training learns on quadratics and resumes bit for bit") {
  // A tiny budget: the learned optimizer must improve on its initialisation,
  // and a run stopped halfway must end where the uninterrupted one does.
  const auto dir = std::filesystem::temp_directory_path() / "metagrad-meta-train";
  std::filesystem::remove_all(dir);
  learned::TaskOptions options;
  auto task = learned::make_task("quadratic", options);
  task->steps = 20;
  task->unroll = 10;
  learned::MetaTrainOptions o;
  o.epochs = 40;
  o.eval_every = 20;
  o.validation_problems = 4;
  o.meta_optimizer = "adam(lr=3e-3)";
  o.progress = false;
  std::atomic<bool> never{false};
  const auto run = [&](const std::string& out, std::int64_t epochs, bool resume) {
    auto lstm = learned::make_learned("lstm", *task, 1);
    auto opts = o;
    opts.out_dir = (dir / out).string();
    opts.epochs = epochs;
    opts.resume = resume;
    const auto result = learned::meta_train(*task, *lstm, learned::TruncatedBptt(), opts, never);
    return std::pair{result, lstm->meta_parameters()[0].second.to_vector<double>()};
  };
  const auto [straight, weights] = run("straight", 40, false);
  run("split", 20, false);
  const auto [resumed, resumed_weights] = run("split", 40, true);
  CHECK(resumed_weights == weights);
  CHECK(resumed.best_validation == straight.best_validation);
  CHECK(std::filesystem::exists(dir / "straight" / "optimizer.json"));
  // The saved weights drive the registry optimizer.
  const std::string spec =
      "lstm(weights=" + (dir / "straight" / "optimizer.json").string() + ", preprocess=none, scale=1)";
  auto problem = task->problem(learned::Split::Test, 0);
  const auto losses = learned::run_optimizer(
      *problem, [&](const mg::optim::NamedParameters& params) { return mg::optim::make(spec, params); }, 20);
  CHECK(losses.back() < losses.front());
  // A corrupt checkpoint is a clear error.
  std::ofstream(dir / "split" / "meta-checkpoint.mgt", std::ios::trunc) << "garbage";
  CHECK_THROWS_AS(run("split", 40, true), mg::Error);
}

TEST_CASE("learned hyperparameters: per-tensor learning rates of a registry optimizer improve on their start") {
  auto task = learned::make_task("quadratic");
  task->steps = 20;
  task->unroll = 10;
  auto hparams = learned::make_learned("hparams(sgd(lr=0.005, momentum=0.5))", *task, 0);
  CHECK(hparams->meta_parameters().size() == 1);  // quadratic has one tensor
  const auto o = mg::testing::short_meta_training("metagrad-meta-hparams", 30, 10, 4, "adam(lr=0.05)");
  std::atomic<bool> never{false};
  const auto result = learned::meta_train(*task, *hparams, learned::TruncatedBptt(), o, never);
  const double start =
      mg::testing::mean_final_validation_loss(*task, learned::spec_factory("sgd(lr={}, momentum=0.5)", 0.005), 4);
  MESSAGE("validation loss: " << start << " with the starting lr, " << result.best_validation << " learned");
  CHECK(result.best_validation < 0.9 * start);
  // The saved file drives the same optimizer.
  const auto factory = learned::load_learned(o.out_dir + "/optimizer.json", *task);
  CHECK(mg::testing::mean_final_validation_loss(*task, factory, 4) ==
        doctest::Approx(result.best_validation).epsilon(1e-9));
  CHECK_THROWS_WITH_AS(learned::make_learned("hparams(adam(lr=-1))", *task, 0), doctest::Contains("lr=-1"), mg::Error);
  CHECK_THROWS_WITH_AS(
      learned::make_learned("genetic", *task, 0),
      doctest::Contains("expected lstm, lstm(init=uniform), lstm(init=code), mlp_lopt, general or hparams"), mg::Error);
}

TEST_CASE("the cnn task: two nets, and second-order meta-gradients through batch norm and convolutions") {
  const std::string dir = MG_CIFAR_SLICE;
  learned::TaskOptions options;
  options.data_dir = dir;
  auto task = learned::make_task("cnn-cifar2", options);
  const auto problem = task->problem(learned::Split::Train, 0);
  std::int64_t coordinates = 0;
  for (const auto& [name, t] : problem->initial()) coordinates += t.numel();
  CHECK(coordinates == 3 * 16 * 25 + 2 * 16 * 16 * 25 + 3 * 2 * 16 + 32 * 256 + 2 * 32 + 2 * 32 + 2);
  const auto settings = learned::lstm_settings(task->name());
  CHECK(settings.net_of("conv2.weight") == "conv");
  CHECK(settings.net_of("conv2.bias") == "fc");
  auto lstm = learned::make_learned("lstm", *task, 3);
  REQUIRE(lstm->meta_parameters().size() == 2);
  learned::TruncatedBptt({.mode = learned::MetaMode::SecondOrder})
      .run(*problem, {2, 2}, *lstm, [&](const learned::TruncationEstimate& unroll) {
        CHECK(std::isfinite(unroll.meta_loss));
        for (const auto& g : unroll.meta_gradients) {
          const double norm = mg::sum(g * g).item<double>();
          CHECK(std::isfinite(norm));
          CHECK(norm > 0);
        }
      });
  // meta-train writes a weight file per net; meta-eval's loader reads them back.
  const auto out = std::filesystem::temp_directory_path() / "metagrad-meta-cnn";
  std::filesystem::remove_all(out);
  task->steps = task->unroll = 2;
  learned::MetaTrainOptions o;
  o.epochs = 1;
  o.validation_problems = 1;
  o.progress = false;
  o.out_dir = out.string();
  std::atomic<bool> never{false};
  learned::meta_train(*task, *lstm, learned::TruncatedBptt(), o, never);
  CHECK(std::filesystem::exists(out / "optimizer.conv.json"));
  CHECK(std::filesystem::exists(out / "optimizer.fc.json"));
  const auto losses =
      learned::run_optimizer(*problem, learned::load_learned((out / "optimizer.json").string(), *task), 2);
  CHECK(std::isfinite(losses.back()));
  // Without --data-dir and with no fetched CIFAR-10, the error names the fetch command.
  const auto empty = std::filesystem::temp_directory_path() / "metagrad-no-data";
  ::setenv("XDG_DATA_HOME", empty.c_str(), 1);
  CHECK_THROWS_WITH_AS(learned::make_task("cnn"), doctest::Contains("metagrad data fetch cifar10"), mg::Error);
  ::unsetenv("XDG_DATA_HOME");
}
