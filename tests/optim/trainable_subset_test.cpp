// train_only: a learned optimizer of which only some weights are
// meta-trained (meta-train --trainable).
#include <filesystem>

#include "../support/testing.hpp"
#include "meta_training.hpp"
#include "optim/learned/json_file.hpp"

namespace {

namespace learned = mg::optim::learned;

std::unique_ptr<learned::Task> quadratic() {
  auto task = learned::make_task("quadratic");
  task->steps = 20;
  task->unroll = 10;
  return task;
}

// Two weight tensors: a subset of "the weight list" means nothing.
class TwoTensors : public learned::LearnedOptimizer {
 public:
  TwoTensors() {
    meta_.emplace_back("a", mg::zeros({2}));
    meta_.emplace_back("b", mg::zeros({2}));
  }
  std::string name() const override { return "two"; }
  using LearnedOptimizer::make;
  std::unique_ptr<mg::optim::Optimizer> make(const mg::optim::NamedParameters& params, const std::vector<mg::Tensor>&,
                                             std::int64_t) const override {
    return mg::optim::make("sgd(lr=0.1)", params);
  }
  void save(const std::string&) const override {}
};

std::vector<double> flat(const mg::Tensor& t) { return t.detach().to(mg::DType::Float64).to_vector<double>(); }

}  // namespace

TEST_CASE("train_only meta-trains the named weights alone, from the same optimizer, and saves the whole list") {
  const auto task = quadratic();
  const auto start = flat(learned::make_learned("general", *task, 0)->meta_parameters().front().second);
  auto subset = learned::train_only(learned::make_learned("general", *task, 0), "1696-1697,1762");
  REQUIRE(subset->meta_parameters().size() == 1);
  CHECK(flat(subset->meta_parameters().front().second) == std::vector<double>{start[1696], start[1697], start[1762]});

  // Before meta-training it makes the optimizer the whole list makes.
  const auto whole = learned::make_learned("general", *task, 0);
  const auto loss_of = [&](const learned::LearnedOptimizer& l) {
    return mg::testing::mean_final_validation_loss(
        *task, [&](const mg::optim::NamedParameters& params) { return l.make(params, task->steps); }, 4);
  };
  const double before = loss_of(*whole);
  CHECK(loss_of(*subset) == before);

  const learned::EvolutionStrategies pes({.persistent = true, .sigma = 0.01});
  auto o = mg::testing::short_meta_training("metagrad-trainable-subset", 30, 30, 4, "adam(lr=3e-2)");
  o.meta_batch = 2;
  const std::atomic<bool> never{false};
  const auto result = learned::meta_train(*task, *subset, pes, o, never);
  MESSAGE("validation " << before << " at the start, " << result.best_validation << " meta-trained");
  CHECK(result.best_validation < 0.9 * before);

  const auto saved = mg::optim::learned::read_weight_list(o.out_dir + "/optimizer.json", "general", start.size(), "");
  std::vector<std::size_t> changed;
  for (std::size_t i = 0; i < start.size(); ++i)
    if (static_cast<float>(saved[i]) != static_cast<float>(start[i])) changed.push_back(i);
  CHECK(!changed.empty());
  for (std::size_t i : changed) CHECK((i == 1696 || i == 1697 || i == 1762));
  // meta-eval reads it as any general weight list, with its best validation.
  const auto loaded = learned::load_learned(o.out_dir + "/optimizer.json", *task);
  CHECK(mg::testing::mean_final_validation_loss(*task, loaded, 4) ==
        doctest::Approx(result.best_validation).epsilon(1e-5));
}

TEST_CASE("train_only's meta-parameter is named after the fixed weights and the subset, so resuming checks both") {
  const auto task = quadratic();
  const auto name = [&](std::uint64_t seed, const std::string& indices) {
    return learned::train_only(learned::make_learned("general", *task, seed), indices)->meta_parameters()[0].first;
  };
  CHECK(name(0, "1762") == name(0, "1762"));
  CHECK(name(0, "1762") != name(1, "1762"));       // another start
  CHECK(name(0, "1762") != name(0, "1761-1762"));  // another subset
  CHECK(name(0, "1,2,3") == name(0, "3,1-2"));     // the same subset, written otherwise
}

TEST_CASE("train_only: bad index lists and learned optimizers of several tensors are one clear line") {
  const auto task = quadratic();
  const auto refuses = [&](const std::string& indices, const std::string& message) {
    CAPTURE(indices);
    CHECK_THROWS_WITH_AS(learned::train_only(learned::make_learned("general", *task, 0), indices),
                         doctest::Contains(message.c_str()), mg::Error);
  };
  refuses("abc", "expected a list of indices and ranges such as 1696,1698,1760-1762, not 'abc'");
  refuses("", "expected a list of indices and ranges");
  refuses("1,,2", "expected a list of indices and ranges");
  refuses("5x", "expected a list of indices and ranges");
  refuses(" 5", "expected a list of indices and ranges");
  refuses("-5", "expected a list of indices and ranges");
  refuses("99999999999999999999", "expected a list of indices and ranges");
  refuses("1763", "'1763' is outside the weight list's 0-1762");
  refuses("9-3", "'9-3' is outside the weight list's 0-1762 (or a range runs backwards)");
  refuses("4,2-5", "names an index twice");
  CHECK_THROWS_WITH_AS(learned::train_only(std::make_unique<TwoTensors>(), "0"),
                       doctest::Contains("two: its meta-parameters are 2 tensors; training a subset of its weights "
                                         "needs one"),
                       mg::Error);
}
