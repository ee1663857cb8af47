// The steady state of a training loop must not touch fresh pages: a page
// fault costs ~10 µs on our machines (PERFORMANCE.md, trap 2).
#include <sys/resource.h>
#include <unistd.h>
#include <algorithm>

#include <cmath>
#include <fstream>

#include "../support/testing.hpp"

namespace {

using mg::Tensor;

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

long resident_kib() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

struct Mlp {
  std::vector<Tensor> params;
  Mlp(mg::Generator& g, std::int64_t in, std::int64_t hidden) {
    params = {mg::randn({in, hidden}, g) * (1.0 / std::sqrt(in)), mg::zeros({hidden}),
              mg::randn({hidden, 10}, g) * (1.0 / std::sqrt(hidden)), mg::zeros({10})};
    for (auto& p : params) p.requires_grad_();
  }
  Tensor loss(const Tensor& x, const Tensor& labels) const {
    const Tensor h = mg::tanh(mg::matmul(x, params[0]) + params[1]);
    const Tensor logits = mg::matmul(h, params[2]) + params[3];
    return -mg::mean(mg::gather(mg::log_softmax(logits, 1), 1, labels));
  }
  void sgd_step(double lr) {
    mg::NoGradGuard no_grad;
    for (auto& p : params) {
      p.copy_(p - p.grad() * lr);
      p.set_grad(Tensor());
    }
  }
};

struct Footprint {
  float first_loss, last_loss;
  long faults, growth_kib;
  std::size_t system_allocations;  // blocks our allocator had to get from the system
};

// Trains on one batch: `warmup` iterations, then `iterations` counted ones.
Footprint train(std::int64_t batch, std::int64_t in, std::int64_t hidden, int warmup, int iterations) {
  mg::Generator g(0);
  Mlp model(g, in, hidden);
  const Tensor x = mg::randn({batch, in}, g);
  std::vector<std::int64_t> classes(static_cast<std::size_t>(batch));
  for (std::size_t i = 0; i < classes.size(); ++i) classes[i] = static_cast<std::int64_t>(i % 8);
  const Tensor labels = Tensor::from_vector(classes, {batch, 1});
  auto iterate = [&] {
    const Tensor loss = model.loss(x, labels);
    loss.backward();
    model.sgd_step(0.1);
    return loss.item();
  };
  Footprint f{};
  f.first_loss = iterate();
  for (int i = 0; i < warmup; ++i) iterate();
  const long resident_before = resident_kib();  // reads /proc: outside the counted window
  const long faults_before = minor_faults();
  const auto system_allocations_before = mg::allocator_stats().system_allocations;
  for (int i = 0; i < iterations; ++i) f.last_loss = iterate();
  f.system_allocations = mg::allocator_stats().system_allocations - system_allocations_before;
  f.faults = minor_faults() - faults_before;
  f.growth_kib = resident_kib() - resident_before;
  return f;
}

// AddressSanitizer's allocator quarantines freed memory and maps shadow
// pages, so page-fault counts say nothing about ours under it.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCountsAreMeaningful = false;
#else
constexpr bool kCountsAreMeaningful = true;
#endif

}  // namespace

TEST_CASE("10,000 training iterations: no resident growth and no page faults after warm-up") {
  if (!kCountsAreMeaningful) return;
  const Footprint f = train(16, 32, 64, 200, 10000);
  MESSAGE("minor faults after warm-up: " << f.faults << ", resident growth: " << f.growth_kib << " KiB");
  CHECK(f.last_loss < f.first_loss * 0.1f);  // it really trained
  CHECK(f.system_allocations == 0);
  // Usually exactly 0. The kernel's own memory management (this machine runs
  // DAMON) now and then makes a process re-fault 2-3 pages; a leak of even
  // 16 bytes per iteration would grow residency by 160 KiB.
  CHECK(f.faults <= 8);
  CHECK(f.growth_kib <= 32);
}

TEST_CASE("activations larger than glibc's mmap threshold are recycled from the cache") {
  if (!kCountsAreMeaningful) return;
  // The best of three measurements: a leak or an uncached activation shows
  // in every one of them, while a one-off burst (a thread's stack or
  // OpenBLAS's job arrays first touched, ~600 faults now and then on this
  // machine) does not.
  Footprint f = train(128, 256, 1024, 20, 200);  // 512 KiB activations, 1 MiB weights
  for (int attempt = 1; attempt < 3 && (f.faults > 16 || f.growth_kib > 64); ++attempt) {
    MESSAGE("measurement " << attempt << ": " << f.faults << " minor faults, " << f.growth_kib << " KiB growth");
    const Footprint again = train(128, 256, 1024, 20, 200);
    f.faults = std::min(f.faults, again.faults);
    f.growth_kib = std::min(f.growth_kib, again.growth_kib);
    f.system_allocations = std::max(f.system_allocations, again.system_allocations);
  }
  MESSAGE("minor faults after warm-up: " << f.faults << ", resident growth: " << f.growth_kib << " KiB");
  CHECK(f.system_allocations == 0);
  // Without the cache this loop faults ~1,000 pages per iteration. What is
  // left comes from OpenBLAS's threaded GEMM driver, which now and then
  // first touches another page of its large on-stack job arrays.
  CHECK(f.faults <= 16);
  CHECK(f.growth_kib <= 64);
}
