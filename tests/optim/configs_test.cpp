// Typed optimizer configurations: each struct's defaults are its schema's,
// and a struct builds the same optimizer, to the bit, as its spec string.
#include "metagrad/optim/configs.hpp"

#include "../support/testing.hpp"
#include "metagrad/optim/spec.hpp"

namespace {

using mg::Tensor;
namespace optim = mg::optim;

// The values a spec string resolves to under its optimizer's schema.
optim::Values resolved(const std::string& spec) {
  const auto parsed = optim::parse_spec(spec);
  return optim::resolve(optim::info(parsed.name).schema, parsed.arguments, parsed.name);
}

// Five steps of `spec` on a small quadratic; the parameters after them.
std::vector<float> trajectory(const std::unique_ptr<optim::Optimizer>& optimizer, Tensor& w) {
  for (int step = 0; step < 5; ++step) {
    optimizer->zero_grad();
    mg::sum(w * w * Tensor::from_vector(std::vector<float>{1.0f, 2.0f, 3.0f}, {3})).backward();
    optimizer->step();
  }
  return w.to_vector<float>();
}

template <class Config>
void check_matches_spec(const Config& config, const std::string& spec) {
  CAPTURE(spec);
  CHECK(resolved(config.spec()) == resolved(spec));
  Tensor a = Tensor::from_vector(std::vector<float>{0.5f, -1.0f, 2.0f}, {3}).requires_grad_();
  Tensor b = a.detach().clone().requires_grad_();
  CHECK(trajectory(optim::make(config, {{"w", a}}), a) == trajectory(optim::make(spec, {{"w", b}}), b));
}

}  // namespace

TEST_CASE("every typed configuration's defaults are its schema's") {
  CHECK(resolved(optim::Sgd{}.spec()) == resolved("sgd"));
  CHECK(resolved(optim::Adam{}.spec()) == resolved("adam"));
  CHECK(resolved(optim::AdamW{}.spec()) == resolved("adamw"));
  CHECK(resolved(optim::NAdam{}.spec()) == resolved("nadam"));
  CHECK(resolved(optim::RmsProp{}.spec()) == resolved("rmsprop"));
  CHECK(resolved(optim::Adagrad{}.spec()) == resolved("adagrad"));
}

TEST_CASE("a typed configuration builds the optimizer of its spec string, bit for bit") {
  check_matches_spec(optim::Sgd{.lr = 0.05, .momentum = 0.9, .nesterov = true},
                     "sgd(lr=0.05, momentum=0.9, nesterov=true)");
  check_matches_spec(optim::Adam{.lr = 3e-4, .weight_decay = 1e-4, .amsgrad = true},
                     "adam(lr=3e-4, weight_decay=1e-4, amsgrad=true)");
  check_matches_spec(optim::AdamW{.lr = 0.01, .beta2 = 0.95, .common = {.wd_exclude = "bias", .clip_norm = 1.0}},
                     "adamw(lr=0.01, beta2=0.95, wd_exclude=bias, clip_norm=1)");
  check_matches_spec(optim::NAdam{.lr = 1e-3, .decoupled_weight_decay = true, .maximize = false},
                     "nadam(lr=1e-3, decoupled_weight_decay=true)");
  check_matches_spec(optim::RmsProp{.lr = 1e-3, .momentum = 0.5, .centered = true},
                     "rmsprop(lr=1e-3, momentum=0.5, centered=true)");
  check_matches_spec(optim::Adagrad{.lr = 0.1, .lr_decay = 1e-3, .initial_accumulator_value = 0.1},
                     "adagrad(lr=0.1, lr_decay=1e-3, initial_accumulator_value=0.1)");
}

TEST_CASE("a typed configuration's numbers reach the optimizer exactly") {
  const double lr = 0.1 + 0.2;  // 0.30000000000000004: needs all 17 digits
  const auto values = resolved(optim::Sgd{.lr = lr}.spec());
  CHECK(std::get<double>(values.at("lr")) == lr);
}

TEST_CASE("a typed configuration with a bad value is refused as its spec string is") {
  Tensor w = mg::zeros({2}).requires_grad_();
  CHECK_THROWS_WITH_AS(optim::make(optim::Adam{.beta1 = 1.5}, {{"w", w}}), doctest::Contains("beta1"), mg::Error);
  CHECK_THROWS_WITH_AS(optim::make(optim::Sgd{.dampening = 0.1, .nesterov = true}, {{"w", w}}),
                       doctest::Contains("nesterov"), mg::Error);
}

TEST_CASE("set_hyperparameter changes one group's number, checked against the schema") {
  Tensor a = mg::zeros({2}).requires_grad_(), b = mg::zeros({2}).requires_grad_();
  auto optimizer =
      mg::optim::make("adam(lr=0.01)", std::vector<mg::optim::GroupSpec>{{{{"a", a}}, {}}, {{{"b", b}}, {}}});
  mg::optim::set_hyperparameter(*optimizer, 1, "lr", 0.5);
  CHECK(optimizer->param_groups()[0].number("lr") == 0.01);
  CHECK(optimizer->param_groups()[1].number("lr") == 0.5);
  const auto refuses = [&](std::size_t group, const std::string& key, double value, const std::string& message) {
    CHECK_THROWS_WITH_AS(mg::optim::set_hyperparameter(*optimizer, group, key, value),
                         doctest::Contains(message.c_str()), mg::Error);
  };
  refuses(0, "lr", -1, "adam: hyperparameter 'lr' = -1 is out of range");
  refuses(0, "beta1", 1.0, "'beta1' = 1 is out of range (expected in [0, 1))");
  refuses(0, "amsgrad", 1, "'amsgrad' is not a number and is fixed");
  refuses(0, "lrr", 1, "unknown hyperparameter 'lrr'");
  refuses(2, "lr", 1, "no parameter group 2 (it has 2)");
  refuses(0, "lr", std::nan(""), "is not a finite number");
  CHECK(optimizer->param_groups()[0].number("lr") == 0.01);
  CHECK(optimizer->param_groups()[0].number("beta1") == 0.9);
}
