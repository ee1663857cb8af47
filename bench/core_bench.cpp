// Core throughput: mg::matmul (oneDNN sgemm) against a raw OpenBLAS sgemm on
// the same data, and elementwise ops / reductions in GB/s (compared with
// PyTorch by bench/run_core.sh). Prints one JSON object per line.
#include <cblas.h>
#include <metagrad/metagrad.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

// Median seconds per call: warm-up, then repeats until 0.3 s or 200 calls.
double median_seconds(const std::function<void()>& work) {
  for (int i = 0; i < 3; ++i) work();
  std::vector<double> times;
  double total = 0;
  while ((total < 0.3 || times.size() < 5) && times.size() < 200) {
    const auto start = std::chrono::steady_clock::now();
    work();
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    times.push_back(t);
    total += t;
  }
  std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
  return times[times.size() / 2];
}

void report(const char* bench, const char* impl, long long size, int threads, double seconds, double rate,
            const char* unit) {
  std::printf("{\"bench\": \"%s\", \"impl\": \"%s\", \"size\": %lld, \"threads\": %d, \"ms\": %.5f, \"%s\": %.3f}\n",
              bench, impl, size, threads, seconds * 1e3, unit, rate);
  std::fflush(stdout);
}

void bench_matmul(int threads) {
  for (long long n : {128, 256, 512, 1024, 2048}) {
    mg::Generator g(0);
    const mg::Tensor a = mg::randn({n, n}, g), b = mg::randn({n, n}, g);
    const double flop = 2.0 * static_cast<double>(n * n * n);
    mg::NoGradGuard no_grad;
    const double ours = median_seconds([&] { mg::matmul(a, b); });
    std::vector<float> c(static_cast<std::size_t>(n * n));
    const double raw = median_seconds([&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(n), static_cast<blasint>(n),
                  static_cast<blasint>(n), 1.0f, a.data_ptr<float>(), static_cast<blasint>(n), b.data_ptr<float>(),
                  static_cast<blasint>(n), 0.0f, c.data(), static_cast<blasint>(n));
    });
    report("matmul", "metagrad", n, threads, ours, flop / ours * 1e-9, "gflops");
    report("matmul", "openblas", n, threads, raw, flop / raw * 1e-9, "gflops");
  }
}

void bench_elementwise(int threads) {
  for (long long n : {1LL << 20, 1LL << 24}) {
    mg::Generator g(0);
    const mg::Tensor a = mg::randn({n}, g), b = mg::randn({n}, g);
    mg::NoGradGuard no_grad;
    const double bytes3 = 3.0 * 4.0 * static_cast<double>(n), bytes2 = 2.0 * 4.0 * static_cast<double>(n);
    double t = median_seconds([&] { a + b; });
    report("add", "metagrad", n, threads, t, bytes3 / t * 1e-9, "gbps");
    t = median_seconds([&] { a* b; });
    report("mul", "metagrad", n, threads, t, bytes3 / t * 1e-9, "gbps");
    t = median_seconds([&] { mg::exp(a); });
    report("exp", "metagrad", n, threads, t, bytes2 / t * 1e-9, "gbps");
    t = median_seconds([&] { mg::sum(a); });
    report("sum", "metagrad", n, threads, t, bytes2 / 2 / t * 1e-9, "gbps");
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: core_bench [--threads N] [--only matmul|elementwise]\n");
      return 2;
    }
  }
  mg::set_num_threads(threads);
  if (only.empty() || only == "matmul") bench_matmul(threads);
  if (only.empty() || only == "elementwise") bench_elementwise(threads);
  return 0;
}
