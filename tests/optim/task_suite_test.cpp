// The held-out suite: at least 12 tasks outside the training family, each
// making problems that are pure functions of their seed, with finite losses,
// gradients for every parameter and a test evaluation; the character-level
// task's text; clear errors.
#include "metagrad/optim/learned/task_suite.hpp"

#include <cmath>
#include <set>

#include "../support/testing.hpp"
#include "metagrad/core/autograd/engine.hpp"
#include "optim/learned/text_problem.hpp"

namespace {

using mg::Tensor;
namespace learned = mg::optim::learned;

const learned::SuiteOptions kOptions{.cifar_dir = MG_CIFAR_SLICE};

std::vector<Tensor> values(const mg::optim::NamedParameters& params) {
  std::vector<Tensor> out;
  for (const auto& [name, p] : params) out.push_back(p.detach().requires_grad_());
  return out;
}

}  // namespace

TEST_CASE("the held-out suite has 12+ tasks, with 5000- and 10000-step horizons") {
  const auto& tasks = learned::suite_tasks("heldout");
  CHECK(tasks.size() >= 12);
  std::set<std::string> names;
  std::set<std::int64_t> horizons;
  for (const auto& t : tasks) {
    names.insert(t.name);
    horizons.insert(t.steps);
    CHECK(!t.description.empty());
  }
  CHECK(names.size() == tasks.size());
  CHECK(horizons.count(5000) == 1);
  CHECK(horizons.count(10000) == 1);
  CHECK(names.count("resnet20-cifar10") == 1);
  CHECK(names.count("char-lstm") == 1);
}

TEST_CASE("every held-out task makes seeded problems with finite losses, gradients and a test evaluation") {
  for (const auto& info : learned::suite_tasks("heldout")) {
    CAPTURE(info.name);
    const auto task = learned::make_suite_task("heldout", info.name, kOptions);
    CHECK(task->steps == info.steps);
    const auto problem = task->problem(learned::Split::Test, 0);
    const std::vector<Tensor> params = values(problem->initial());
    const Tensor loss = problem->loss(params, 0);
    REQUIRE(std::isfinite(loss.item<double>()));
    const auto grads = mg::autograd::grad({loss}, params);
    for (const auto& g : grads) {
      REQUIRE(g.defined());
      CHECK(std::isfinite(mg::sum(g * g).item<double>()));
    }
    // the same seed, the same problem; another split, another one
    const auto again = task->problem(learned::Split::Test, 0);
    CHECK(again->loss(values(again->initial()), 0).item<double>() == loss.item<double>());
    const auto other = task->problem(learned::Split::Validation, 0);
    CHECK(other->initial().front().second.to_vector<float>() != problem->initial().front().second.to_vector<float>());
    const auto evaluation = problem->evaluate(params);
    if (info.name.rfind("quadratic", 0) != 0) {
      REQUIRE(evaluation.has_value());
      CHECK(std::isfinite(evaluation->loss));
      CHECK((evaluation->accuracy >= 0 && evaluation->accuracy <= 1));
    }
  }
}

TEST_CASE("the character-level task reads Debian's licences as byte codes and starts near uniform guessing") {
  const auto text = learned::load_text("/usr/share/common-licenses");
  const auto train = text->train.numel(), test = text->test.numel();
  CHECK(train > 100000);
  CHECK(std::abs(static_cast<double>(train) / static_cast<double>(train + test) - 0.9) < 1e-4);
  CHECK(mg::max(text->train).item<double>() <= 127);
  CHECK(mg::min(text->test).item<double>() >= 0);
  const auto task = learned::make_suite_task("heldout", "char-lstm", kOptions);
  const auto problem = task->problem(learned::Split::Test, 0);
  const double initial = problem->loss(values(problem->initial()), 0).item<double>();
  CHECK(std::abs(initial - std::log(128.0)) < 1.0);  // ln 128: a uniform guess over the codes
}

TEST_CASE("an unknown suite, an unknown task and a missing text are refused by name") {
  CHECK_THROWS_WITH_AS(learned::suite_tasks("easy"), doctest::Contains("unknown task suite 'easy'"), mg::Error);
  CHECK_THROWS_WITH_AS(learned::make_suite_task("heldout", "mnist"), doctest::Contains("char-lstm"), mg::Error);
  const auto task = learned::make_suite_task("heldout", "char-lstm", {.text_dir = "/nonexistent"});
  CHECK_THROWS_WITH_AS(task->problem(learned::Split::Test, 0), doctest::Contains("/nonexistent/GPL-3"), mg::Error);
}
