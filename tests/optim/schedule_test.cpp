// Learning-rate schedules and whole-training checkpoints.
#include <filesystem>

#include "../support/testing.hpp"
#include "problems.hpp"

namespace {

using mg::Tensor;

std::vector<double> lrs(const std::string& spec, int periods, const std::vector<double>& metrics = {}) {
  Tensor w = mg::zeros({1}).requires_grad_();
  auto optimizer = mg::optim::make("sgd(lr=0.1)", {{"w", w}});
  auto schedule = mg::optim::make_schedule(spec, *optimizer);
  std::vector<double> out;
  for (int i = 0; i < periods; ++i) {
    schedule->step(metrics.empty() ? 0.0 : metrics[static_cast<std::size_t>(i)]);
    out.push_back(optimizer->param_groups()[0].number("lr"));
  }
  return out;
}

}  // namespace

TEST_CASE("schedules follow their formulas") {
  const double pi = 3.14159265358979323846;
  CHECK(lrs("constant", 3) == std::vector<double>{0.1, 0.1, 0.1});
  mg::testing::check_close(lrs("step(step_size=2, gamma=0.5)", 5), {0.1, 0.05, 0.05, 0.025, 0.025}, 1e-15, 0, "step");
  mg::testing::check_close(lrs("multistep(milestones=1:3, gamma=0.1)", 4), {0.01, 0.01, 0.001, 0.001}, 1e-15, 0,
                           "multistep");
  mg::testing::check_close(lrs("exponential(gamma=0.9)", 3), {0.09, 0.081, 0.0729}, 1e-15, 0, "exponential");
  const auto c = lrs("cosine(t_max=4, eta_min=0.01)", 5);
  CHECK(c[1] == doctest::Approx(0.01 + 0.09 * (1 + std::cos(pi * 2 / 4)) / 2));
  CHECK(c[4] == doctest::Approx(0.01));
  const auto w = lrs("warmup_cosine(warmup=2, t_max=6)", 6);
  CHECK(w[0] == doctest::Approx(0.1));  // period 1 of 2: 0.1 * 2/2
  CHECK(w[2] == doctest::Approx(0.1 * (1 + std::cos(pi * 1 / 4)) / 2));
  // plateau: the metric stops improving after the second period
  const auto p = lrs("plateau(patience=1, factor=0.5)", 6, {1.0, 0.5, 0.6, 0.6, 0.6, 0.6});
  CHECK(p == std::vector<double>{0.1, 0.1, 0.1, 0.05, 0.05, 0.025});
  Tensor x = mg::zeros({1}).requires_grad_();
  auto optimizer = mg::optim::make("sgd", {{"x", x}});
  CHECK_THROWS_WITH_AS(mg::optim::make_schedule("cosine", *optimizer), doctest::Contains("t_max"), mg::Error);
  CHECK_THROWS_WITH_AS(mg::optim::make_schedule("linear(t=3)", *optimizer), doctest::Contains("available: constant"),
                       mg::Error);
}

TEST_CASE("a training run resumed from a checkpoint continues bit for bit") {
  const auto path = (std::filesystem::temp_directory_path() / "metagrad-train.mgt").string();
  mg::Generator data(5);
  const Tensor x = mg::randn({32, 8}, data);
  const Tensor y = mg::argmax(mg::randn({32, 3}, data), 1);
  struct Run {
    std::shared_ptr<mg::nn::MLP> model;
    std::unique_ptr<mg::optim::Optimizer> optimizer;
    std::unique_ptr<mg::optim::Schedule> schedule;
  };
  auto start = [] {
    mg::Generator init(1);
    Run run;
    run.model = std::make_shared<mg::nn::MLP>(std::vector<std::int64_t>{8, 16, 3}, mg::nn::Activation::Tanh, init);
    run.optimizer = mg::optim::make("adamw(lr=0.01, weight_decay=0.01)", run.model->named_parameters());
    run.schedule = mg::optim::make_schedule("warmup_cosine(warmup=3, t_max=20)", *run.optimizer);
    return run;
  };
  auto train = [&](Run& run, int steps) {
    for (int i = 0; i < steps; ++i) {
      run.optimizer->zero_grad();
      mg::nn::functional::cross_entropy(run.model->forward(x), y).backward();
      run.optimizer->step();
      run.schedule->step();
    }
  };
  Run straight = start();
  train(straight, 12);

  Run first = start();
  train(first, 5);
  mg::optim::save_checkpoint(path, *first.model, *first.optimizer, first.schedule.get());
  Run resumed = start();
  mg::optim::load_checkpoint(path, *resumed.model, *resumed.optimizer, resumed.schedule.get());
  train(resumed, 7);
  const auto a = straight.model->state_dict(), b = resumed.model->state_dict();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i].second.to_vector() == b[i].second.to_vector());
  CHECK(resumed.schedule->lr() == straight.schedule->lr());

  // A checkpoint of another architecture is refused and changes nothing.
  mg::nn::MLP other({8, 4, 3});
  auto other_optimizer = mg::optim::make("adamw", other.named_parameters());
  mg::optim::save_checkpoint(path, other, *other_optimizer);
  const auto before = resumed.model->state_dict()[0].second.to_vector();
  CHECK_THROWS_WITH_AS(mg::optim::load_checkpoint(path, *resumed.model, *resumed.optimizer, nullptr),
                       doctest::Contains("fc1.weight"), mg::Error);
  CHECK(resumed.model->state_dict()[0].second.to_vector() == before);

  // The model and optimizer parts fit but the schedule's does not: found by
  // tests/fuzz/checkpoints_fuzz.cpp, the optimizer used to keep the new state.
  mg::optim::save_checkpoint(path, *first.model, *first.optimizer, first.schedule.get());
  auto tensors = mg::nn::load_tensors(path);
  std::erase_if(tensors, [](const auto& entry) { return entry.first == "schedule.base_lr"; });
  mg::nn::save_tensors(path, tensors);
  Run fresh = start();
  CHECK_THROWS_WITH_AS(mg::optim::load_checkpoint(path, *fresh.model, *fresh.optimizer, fresh.schedule.get()),
                       doctest::Contains("state has no 'base_lr'"), mg::Error);
  CHECK(fresh.optimizer->state_of("fc1.weight") == nullptr);
  CHECK(fresh.model->state_dict()[0].second.to_vector() == start().model->state_dict()[0].second.to_vector());
}
