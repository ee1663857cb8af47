// run_concurrently: independent jobs on the process's cores.
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "../support/testing.hpp"

namespace {

struct Threads {
  explicit Threads(int n) : before(mg::get_num_threads()) { mg::set_num_threads(n); }
  ~Threads() { mg::set_num_threads(before); }
  int before;
};

// A small training run: its loss after a few SGD steps on a 20x20 least squares.
double training_run(std::int64_t seed) {
  mg::Generator g(static_cast<std::uint64_t>(seed));
  const mg::Tensor a = mg::randn({64, 20}, g), b = mg::randn({64, 1}, g);
  mg::Tensor x = mg::zeros({20, 1}).requires_grad_();
  auto opt = mg::optim::make("sgd(lr=0.01, momentum=0.9)", {{"x", x}});
  double loss = 0;
  for (int step = 0; step < 20; ++step) {
    opt->zero_grad();
    const mg::Tensor l = mg::mean(mg::pow(mg::matmul(a, x) - b, 2.0));
    l.backward();
    opt->step();
    loss = l.item<double>();
  }
  return loss;
}

}  // namespace

TEST_CASE("concurrent runs give the results of running them one by one, on any thread count") {
  std::vector<double> alone;
  for (std::int64_t i = 0; i < 7; ++i) alone.push_back(training_run(i));
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    const Threads scope(threads);
    CHECK(mg::map_concurrently<double>(7, training_run) == alone);
  }
}

TEST_CASE("runs share the cores: one thread each, or a few when there are fewer runs than cores") {
  CHECK(mg::threads_per_run(1, 16) == 16);
  CHECK(mg::threads_per_run(3, 16) == 5);
  CHECK(mg::threads_per_run(16, 16) == 16 / 16);
  CHECK(mg::threads_per_run(100, 2) == 1);
  CHECK_THROWS_AS(mg::threads_per_run(0, 2), mg::Error);
  const Threads scope(2);
  std::mutex mutex;
  std::set<std::thread::id> ids;
  std::vector<int> threads_seen(4);
  mg::run_concurrently(4, [&](std::int64_t i) {
    threads_seen[static_cast<std::size_t>(i)] = mg::get_num_threads();
    CHECK(mg::in_concurrent_run());
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // so that both participants take jobs
    std::lock_guard<std::mutex> lock(mutex);
    ids.insert(std::this_thread::get_id());
  });
  CHECK(ids.size() == 2);
  CHECK(threads_seen == std::vector<int>{1, 1, 1, 1});
  CHECK(mg::get_num_threads() == 2);  // the caller's setting is back
  CHECK_FALSE(mg::in_concurrent_run());
  // A single run keeps every thread, on the caller.
  const auto caller = std::this_thread::get_id();
  mg::run_concurrently(1, [&](std::int64_t) {
    CHECK(mg::get_num_threads() == 2);
    CHECK(std::this_thread::get_id() == caller);
  });
}

TEST_CASE("jobs inside a job run one after another; grad mode is the caller's") {
  const Threads scope(2);
  std::vector<std::int64_t> inner_order[2];
  std::vector<int> grad_enabled(2, -1);
  {
    mg::NoGradGuard no_grad;
    mg::run_concurrently(2, [&](std::int64_t i) {
      grad_enabled[static_cast<std::size_t>(i)] = mg::autograd::GradMode::is_enabled();
      const auto me = std::this_thread::get_id();
      mg::run_concurrently(3, [&](std::int64_t j) {
        CHECK(std::this_thread::get_id() == me);
        inner_order[i].push_back(j);
      });
    });
  }
  CHECK(grad_enabled == std::vector<int>{0, 0});
  CHECK(inner_order[0] == std::vector<std::int64_t>{0, 1, 2});
  CHECK(inner_order[1] == std::vector<std::int64_t>{0, 1, 2});
}

TEST_CASE("a job's exception reaches the caller: the lowest failing job's; no job starts after it") {
  const Threads scope(2);
  std::atomic<int> started{0};
  const auto fails = [&](std::int64_t i) {
    ++started;
    if (i == 1 || i == 3) throw std::runtime_error("job " + std::to_string(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  CHECK_THROWS_WITH(mg::run_concurrently(50, fails), "job 1");
  CHECK(started < 50);
  const Threads one(1);
  started = 0;
  CHECK_THROWS_WITH(mg::run_concurrently(50, fails), "job 1");
  CHECK(started == 2);
  CHECK_NOTHROW(mg::run_concurrently(0, fails));
}
