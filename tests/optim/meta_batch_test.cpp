// Meta-batches (meta_train's meta_batch): K problems per meta-iteration run
// concurrently, their meta-gradients averaged in problem order.
#include <filesystem>

#include "../support/testing.hpp"
#include "meta_training.hpp"

namespace {

using mg::Tensor;
namespace learned = mg::optim::learned;

std::unique_ptr<learned::Task> quadratic(mg::DType dtype = mg::DType::Float32) {
  learned::TaskOptions options;
  options.dtype = dtype;
  auto task = learned::make_task("quadratic", options);
  task->steps = 10;
  task->unroll = 5;
  return task;
}

learned::MetaTrainOptions options(const std::string& name, std::int64_t epochs, std::int64_t meta_batch) {
  auto o = mg::testing::short_meta_training("metagrad-meta-batch-" + name, epochs, 2, 3, "adam(lr=3e-3)");
  o.meta_batch = meta_batch;
  return o;
}

std::vector<std::vector<double>> weights_of(learned::LearnedOptimizer& l) {
  std::vector<std::vector<double>> out;
  for (const auto& [name, t] : l.meta_parameters()) out.push_back(t.to_vector<double>());
  return out;
}

std::vector<std::vector<double>> meta_train(const learned::Task& task, const learned::MetaTrainOptions& o,
                                            std::uint64_t seed = 1) {
  auto lstm = learned::make_learned("lstm", task, seed);
  const std::atomic<bool> never{false};
  learned::meta_train(task, *lstm, learned::TruncatedBptt(), o, never);
  return weights_of(*lstm);
}

// Restores the thread count on leaving.
struct Threads {
  explicit Threads(int n) : before(mg::get_num_threads()) { mg::set_num_threads(n); }
  ~Threads() { mg::set_num_threads(before); }
  int before;
};

}  // namespace

TEST_CASE("a meta-batch of 1 meta-trains exactly as one problem an epoch did") {
  const auto task = quadratic();
  auto o = options("one", 3, 1);
  std::filesystem::remove_all(o.out_dir);
  const auto trained = meta_train(*task, o);
  // The loop of one problem an epoch, written out: problem e of epoch e, a
  // meta-optimizer step after each unroll.
  auto lstm = learned::make_learned("lstm", *task, 1);
  auto& meta = lstm->meta_parameters();
  auto meta_optimizer = mg::optim::make(o.meta_optimizer, meta);
  const learned::TruncatedBptt estimator;
  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    const auto problem = task->problem(learned::Split::Train, epoch);
    estimator.run(*problem, {task->steps, task->unroll}, *lstm, [&](const learned::TruncationEstimate& unroll) {
      meta_optimizer->zero_grad();
      for (std::size_t i = 0; i < meta.size(); ++i) meta[i].second.set_grad(unroll.meta_gradients[i]);
      meta_optimizer->step();
    });
  }
  CHECK(weights_of(*lstm) == trained);
}

TEST_CASE("a meta-batch's meta-gradient is the mean of its problems' meta-gradients (float64)") {
  const auto task = quadratic(mg::DType::Float64);
  task->steps = task->unroll = 5;  // one meta-iteration
  auto o = options("mean", 1, 3);
  o.meta_optimizer = "sgd(lr=1)";  // phi moves by minus the meta-gradient
  std::filesystem::remove_all(o.out_dir);
  auto lstm = learned::make_learned_lstm(learned::lstm_settings(task->name()), 2, mg::DType::Float64);
  const std::vector<double> before = lstm->meta_parameters()[0].second.to_vector<double>();
  // Problems 0, 1, 2 of the training split, each alone with phi as it starts.
  const learned::TruncatedBptt estimator;
  std::vector<double> mean(before.size(), 0.0);
  for (std::uint64_t k = 0; k < 3; ++k) {
    const auto problem = task->problem(learned::Split::Train, k);
    estimator.run(*problem, {task->steps, task->unroll}, *lstm, [&](const learned::TruncationEstimate& unroll) {
      const auto g = unroll.meta_gradients[0].to_vector<double>();
      for (std::size_t i = 0; i < g.size(); ++i) mean[i] += g[i] / 3;
    });
  }
  const std::atomic<bool> never{false};
  learned::meta_train(*task, *lstm, estimator, o, never);
  const std::vector<double> after = lstm->meta_parameters()[0].second.to_vector<double>();
  double largest = 0, worst = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    largest = std::max(largest, std::abs(mean[i]));
    worst = std::max(worst, std::abs((before[i] - after[i]) - mean[i]));
  }
  CHECK(largest > 1e-3);  // the check below compares real gradients
  CHECK(worst <= 1e-12);
}

TEST_CASE("meta-training gives the same weights on 1 and 2 threads, with a meta-batch and without") {
  const auto task = quadratic();
  for (std::int64_t k : {1, 2}) {
    CAPTURE(k);
    std::vector<std::vector<double>> on[2];
    for (int threads : {1, 2}) {
      const Threads scope(threads);
      auto o = options("threads" + std::to_string(threads), 4, k);
      std::filesystem::remove_all(o.out_dir);
      on[threads - 1] = meta_train(*task, o);
    }
    CHECK(on[0] == on[1]);
  }
}

TEST_CASE("a meta-batch resumes bit for bit, and only with the same meta-batch") {
  const auto task = quadratic();
  auto straight = options("straight", 4, 3), split = options("split", 2, 3);
  std::filesystem::remove_all(straight.out_dir);
  std::filesystem::remove_all(split.out_dir);
  const auto expected = meta_train(*task, straight);
  CHECK(expected != meta_train(*task, options("other", 4, 1)));  // the meta-batch matters
  meta_train(*task, split);
  split.epochs = 4;
  split.resume = true;
  CHECK(meta_train(*task, split) == expected);
  split.meta_batch = 2;
  auto lstm = learned::make_learned("lstm", *task, 1);
  const std::atomic<bool> never{false};
  const learned::TruncatedBptt tbptt;
  CHECK_THROWS_WITH_AS(learned::meta_train(*task, *lstm, tbptt, split, never),
                       doctest::Contains("meta-batch of 3, not 2"), mg::Error);
  split.meta_batch = 0;
  CHECK_THROWS_WITH_AS(learned::meta_train(*task, *lstm, tbptt, split, never), doctest::Contains("meta_batch"),
                       mg::Error);
}
