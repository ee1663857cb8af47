// Gradient checkpointing of truncated backprop (TruncatedBptt's
// recompute_every): an unroll recomputed segment by segment gives the plain
// unroll's meta-loss and meta-gradients, for learned optimizers whose step
// keeps per-coordinate state (lstm, mlp_lopt with its step count) and for
// registry optimizers' learned learning rates (adam's moments), first and
// second order, across truncations.
#include "../support/testing.hpp"

namespace {

using mg::Tensor;
namespace learned = mg::optim::learned;

std::vector<std::vector<double>> estimates(const learned::Task& task, const learned::LearnedOptimizer& l,
                                           learned::MetaMode mode, std::int64_t recompute_every,
                                           std::vector<double>& losses) {
  const learned::TruncatedBptt estimator({.mode = mode, .recompute_every = recompute_every});
  std::vector<std::vector<double>> gradients;
  estimator.run(*task.problem(learned::Split::Train, 3), {task.steps, task.unroll}, l,
                [&](const learned::TruncationEstimate& e) {
                  losses.push_back(e.meta_loss);
                  for (const auto& g : e.meta_gradients) gradients.push_back(g.to_vector<double>());
                });
  return gradients;
}

}  // namespace

TEST_CASE("a recomputed unroll gives the plain unroll's meta-gradients") {
  learned::TaskOptions options;
  options.dtype = mg::DType::Float64;
  auto task = learned::make_task("quadratic", options);
  task->steps = 24;
  task->unroll = 12;  // two truncations, each recomputed in segments of 5, 5 and 2 steps
  std::vector<std::unique_ptr<learned::LearnedOptimizer>> families;
  families.push_back(learned::make_learned_lstm(learned::lstm_settings(task->name()), 1, mg::DType::Float64));
  families.push_back(learned::make_learned_mlp_lopt(1, mg::DType::Float64));
  families.push_back(learned::make_learned("hparams(adam(lr=0.05))", *task, 1));
  for (const auto& family : families) {
    for (const auto mode : {learned::MetaMode::FirstOrder, learned::MetaMode::SecondOrder}) {
      CAPTURE(family->name());
      CAPTURE(mode == learned::MetaMode::SecondOrder);
      std::vector<double> plain_losses, recomputed_losses;
      const auto plain = estimates(*task, *family, mode, 0, plain_losses);
      const auto recomputed = estimates(*task, *family, mode, 5, recomputed_losses);
      CHECK(recomputed_losses == plain_losses);  // the same forward values
      REQUIRE(recomputed.size() == plain.size());
      double largest = 0;
      for (std::size_t i = 0; i < plain.size(); ++i) {
        mg::testing::check_close(recomputed[i], plain[i], 1e-10, 1e-13, "meta-gradient " + std::to_string(i));
        for (double v : plain[i]) largest = std::max(largest, std::abs(v));
      }
      CHECK(largest > 1e-6);  // real gradients
    }
  }
  CHECK_THROWS_WITH_AS(learned::TruncatedBptt({.recompute_every = -1}),
                       doctest::Contains("recompute_every must be 0 (off) or positive"), mg::Error);
}
