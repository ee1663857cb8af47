// One optimizer step on 1M and 10M float32 parameters and on ResNet-20's
// parameter list (270k parameters in 59 tensors), the Kronecker-factored
// ones (if_shampoo, shampoo) on ResNet-20's and the small CNN's, and the fraction of
// memory bandwidth it reaches: bytes the update must touch per step, divided
// by the time, against a STREAM-triad figure measured in the same process.
// Prints one JSON object per line (bench/run_optim.sh compares with torch.optim).
// `--spec SPEC` (repeatable) times those optimizers instead of the standard
// set, e.g. to check that a configuration's fused loop is vectorised.
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

double median_seconds(const std::function<void()>& work, int repeats) {
  for (int i = 0; i < 3; ++i) work();
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    work();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
  return times[times.size() / 2];
}

// STREAM triad a = b + s * c over arrays far larger than the caches, in GB/s
// (3 arrays of 4-byte floats counted per element, as STREAM does).
double triad_gbps() {
  const std::int64_t n = 1 << 25;
  mg::Generator g(0);
  const mg::Tensor b = mg::randn({n}, g), c = mg::randn({n}, g);
  mg::Tensor a = mg::zeros({n});
  float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  const float* pc = c.data_ptr<float>();
  const double t = median_seconds(
      [&] {
#pragma omp parallel for simd schedule(static)
        for (std::int64_t i = 0; i < n; ++i) pa[i] = pb[i] + 3.0f * pc[i];
      },
      10);
  return 3.0 * 4.0 * static_cast<double>(n) / t * 1e-9;
}

struct Case {
  std::string name, spec;
};

// Bytes the update must touch: p and g read, p written, and each state
// tensor read and written.
double bytes_touched(const mg::optim::Optimizer& optimizer, std::int64_t parameters) {
  std::int64_t state = 0;
  for (const auto& [key, t] : optimizer.state_dict())
    if (t.dim() > 0) state += t.numel();
  return 4.0 * static_cast<double>(3 * parameters + 2 * state);
}

// Times one step of `spec` on these parameters (random gradients) and prints
// it with the bandwidth it reached.
void bench_step(const Case& c, const mg::optim::NamedParameters& params, const char* label, int threads, double triad) {
  mg::Generator g(2);
  std::vector<mg::Tensor> grads;
  std::int64_t n = 0;
  for (const auto& [name, p] : params) {
    grads.push_back(mg::randn(p.shape(), g));
    n += p.numel();
  }
  auto optimizer = mg::optim::make(c.spec, params);
  const double t = median_seconds(
      [&] {
        for (std::size_t i = 0; i < params.size(); ++i) mg::Tensor(params[i].second).set_grad(grads[i]);
        optimizer->step();
      },
      n > (1 << 20) ? 20 : 100);
  const double gbps = bytes_touched(*optimizer, n) / t * 1e-9;
  std::printf(
      "{\"bench\": \"%s\", \"impl\": \"metagrad\", \"size\": \"%s\", \"tensors\": %zu, \"threads\": %d, "
      "\"ms\": %.4f, \"gbps\": %.2f, \"fraction_of_triad\": %.3f}\n",
      c.name.c_str(), label, params.size(), threads, t * 1e3, gbps, gbps / triad);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  std::vector<Case> cases;
  std::string sizes = ",1M,10M,resnet20,cnn,";  // --sizes: which parameter sets, comma-separated
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--spec") == 0 && i + 1 < argc) cases.push_back({argv[i + 1], argv[i + 1]}), ++i;
    if (std::strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) sizes = "," + std::string(argv[++i]) + ",";
  }
  const auto wanted = [&](const std::string& label) { return sizes.find("," + label + ",") != std::string::npos; };
  // Kronecker-factored preconditioners: matmuls (and shampoo's eigen-roots)
  // per tensor axis, timed on models' parameter lists only.
  std::vector<Case> kronecker;
  if (cases.empty()) {
    cases = {{"sgd-momentum", "sgd(lr=0.01, momentum=0.9)"},
             {"adam", "adam(lr=0.001)"},
             {"rmsprop", "rmsprop(lr=0.01)"},
             {"adagrad", "adagrad(lr=0.01)"},
             {"smes", "smes(lr=1e-3, exponent=0.25)"},
             {"rf-rmsprop", "rf_rmsprop(lr=1e-2, batch_size=128)"},
             {"rf-adamw", "rf_adamw(lr=1e-3, batch_size=128)"},
             {"ab2", "ab2(lr=1e-2)"},
             {"ab3", "ab3(lr=1e-2)"}};
    kronecker = {{"if-shampoo", "if_shampoo(lr=1e-3, batch_size=128)"}, {"shampoo", "shampoo(lr=1e-2, epsilon=1e-4)"}};
  }
  mg::set_num_threads(threads);
  const double triad = triad_gbps();
  std::printf("{\"bench\": \"stream-triad\", \"impl\": \"metagrad\", \"threads\": %d, \"gbps\": %.2f}\n", threads,
              triad);
  for (const auto& [label, n] : {std::pair{"1M", std::int64_t{1} << 20}, std::pair{"10M", std::int64_t{10} << 20}})
    for (const auto& c : cases) {
      if (!wanted(label)) continue;
      mg::Generator g(1);
      bench_step(c, {{"p", mg::randn({n}, g).requires_grad_()}}, label, threads, triad);
    }
  // A model's parameter list: 59 small tensors, where per-tensor overhead shows.
  mg::nn::ResNet20 resnet;
  mg::nn::SmallCnn cnn;
  for (const auto& c : cases)
    if (wanted("resnet20")) bench_step(c, resnet.named_parameters(), "resnet20", threads, triad);
  for (const auto& c : kronecker) {
    if (wanted("resnet20")) bench_step(c, resnet.named_parameters(), "resnet20", threads, triad);
    if (wanted("cnn")) bench_step(c, cnn.named_parameters(), "cnn", threads, triad);
  }
  return 0;
}
