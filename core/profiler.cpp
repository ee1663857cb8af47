#include "metagrad/core/profiler.hpp"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "check.hpp"
#include "metagrad/core/threading.hpp"
#include "parallel.hpp"

namespace mg::profiler {
namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Frame {
  Kind kind;
  double start, children = 0, flops, bytes;
  bool absorbs;
};

// The recording thread's state: set while one of its regions is open.
struct Recorder {
  Profiler* profiler = nullptr;
  std::vector<Frame> frames;  // frames[0] is the region ("other")
};
thread_local Recorder recorder;

Profiler* active_profiler = nullptr;

// The best of a few runs, in seconds.
template <class F>
double best_seconds(int runs, const F& f) {
  double best = 1e30;
  for (int i = 0; i < runs; ++i) {
    const double start = now_s();
    f();
    best = std::min(best, now_s() - start);
  }
  return best;
}

// FMA throughput: independent chains of fused multiply-adds on the widest
// vectors this build targets, on every thread (oneDNN's kernels reach most
// of it; a build without -march=native measures less than the machine has).
double fma_flops_per_s() {
#if defined(__AVX512F__)
  using Vector = __m512;
  constexpr int kLanes = 16;
  const auto fma = [](Vector a, Vector b, Vector c) { return _mm512_fmadd_ps(a, b, c); };
  const auto splat = [](float v) { return _mm512_set1_ps(v); };
#elif defined(__FMA__)
  using Vector = __m256;
  constexpr int kLanes = 8;
  const auto fma = [](Vector a, Vector b, Vector c) { return _mm256_fmadd_ps(a, b, c); };
  const auto splat = [](float v) { return _mm256_set1_ps(v); };
#else
  using Vector = float;
  constexpr int kLanes = 1;
  const auto fma = [](Vector a, Vector b, Vector c) { return std::fma(a, b, c); };
  const auto splat = [](float v) { return v; };
#endif
  constexpr int kChains = 12;  // enough to cover the FMA latency on two ports
  constexpr std::int64_t kIterations = 1 << 20;
  const int threads = get_num_threads();
  std::vector<float> sink(static_cast<std::size_t>(threads));
  const double seconds = best_seconds(3, [&] {
    parallel_for(0, threads, 1, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t t = lo; t < hi; ++t) {
        // Distinct starting values: identical chains would be merged into one
        // by the compiler, and the loop would time the FMA latency instead.
        Vector chains[kChains];
        for (int k = 0; k < kChains; ++k) chains[k] = splat(static_cast<float>(t * kChains + k));
        const Vector scale = splat(0.999f), shift = splat(0.001f);
        for (std::int64_t i = 0; i < kIterations; ++i)
          for (auto& c : chains) c = fma(c, scale, shift);
        float total = 0;
        for (const auto& c : chains) {
          const auto* lanes = reinterpret_cast<const float*>(&c);
          for (int l = 0; l < kLanes; ++l) total += lanes[l];
        }
        sink[static_cast<std::size_t>(t)] = total;
      }
    });
  });
  return 2.0 * kLanes * kChains * static_cast<double>(kIterations) * threads / seconds;
}

}  // namespace

const char* kind_name(Kind kind) {
  static const char* const names[kKinds] = {"convolution forward",
                                            "convolution backward-data",
                                            "convolution backward-weights",
                                            "batch norm",
                                            "elementwise and reductions",
                                            "pooling",
                                            "matmul",
                                            "reorders and copies",
                                            "optimizer step",
                                            "allocation",
                                            "autograd bookkeeping",
                                            "other"};
  return names[static_cast<std::size_t>(kind)];
}

Machine measure_machine() {
  Machine m;
  m.flops_per_s = fma_flops_per_s();
  // A copy far larger than the caches, on every thread: 2 bytes moved per byte copied.
  const std::size_t floats = std::size_t{16} << 20;
  std::vector<float> from(floats, 1.0f), to(floats, 0.0f);
  const double copy = best_seconds(3, [&] {
    parallel_for(0, static_cast<std::int64_t>(floats), 1 << 16, [&](std::int64_t lo, std::int64_t hi) {
      std::memcpy(to.data() + lo, from.data() + lo, static_cast<std::size_t>(hi - lo) * sizeof(float));
    });
  });
  m.bytes_per_s = 2.0 * static_cast<double>(floats * sizeof(float)) / copy;
  return m;
}

bool Scope::recording() { return recorder.profiler != nullptr; }

void Scope::open(Kind kind, double flops, double bytes, bool absorbs) {
  if (recorder.frames.back().absorbs) return;
  recorder.frames.push_back({kind, now_s(), 0, flops, bytes, absorbs});
  active_ = true;
}

void Scope::close() {
  const Frame frame = recorder.frames.back();
  recorder.frames.pop_back();
  const double elapsed = now_s() - frame.start;
  Totals& totals = recorder.profiler->totals_;
  const Machine& machine = recorder.profiler->machine_;
  const auto k = static_cast<std::size_t>(frame.kind);
  totals.seconds[k] += elapsed - frame.children;
  totals.flops[k] += frame.flops;
  totals.bytes[k] += frame.bytes;
  totals.floor_seconds[k] += std::max(frame.flops / machine.flops_per_s, frame.bytes / machine.bytes_per_s);
  recorder.frames.back().children += elapsed;
}

Profiler::Profiler(Machine machine) : machine_(machine) {
  MG_CHECK(active_profiler == nullptr, "profiler: one Profiler at a time");
  MG_CHECK(machine_.flops_per_s > 0 && machine_.bytes_per_s > 0, "profiler: the machine's peak must be positive");
  active_profiler = this;
}

Profiler::~Profiler() { active_profiler = nullptr; }

Profiler::Region::Region(Profiler& profiler) : profiler_(profiler), start_(now_s()) {
  MG_CHECK(recorder.profiler == nullptr, "profiler: regions do not nest");
  recorder.profiler = &profiler_;
  recorder.frames.assign(1, Frame{Kind::Other, start_, 0, 0, 0, false});
}

Profiler::Region::~Region() {
  const double elapsed = now_s() - start_;
  Totals& totals = profiler_.totals_;
  totals.seconds[static_cast<std::size_t>(Kind::Other)] += elapsed - recorder.frames.front().children;
  totals.wall_seconds += elapsed;
  ++totals.regions;
  recorder.profiler = nullptr;
  recorder.frames.clear();
}

std::string Profiler::report() const {
  const double per = 1e3 / static_cast<double>(std::max<std::int64_t>(totals_.regions, 1));
  std::string out = fmt::format(
      "profile of {} regions ({:.3f} ms each); floors at {:.0f} GFLOP/s (FMA peak) and {:.1f} GB/s (copy)\n"
      "{:<30} {:>10} {:>7} {:>10}  floor basis\n",
      totals_.regions, totals_.wall_seconds * per, machine_.flops_per_s / 1e9, machine_.bytes_per_s / 1e9, "kind", "ms",
      "%", "floor ms");
  double total = 0, floor = 0;
  for (std::size_t k = 0; k < kKinds; ++k) {
    const double ms = totals_.seconds[k] * per;
    total += ms;
    floor += totals_.floor_seconds[k] * per;
    if (ms == 0) continue;
    std::string basis;
    if (totals_.flops[k] > 0) basis += fmt::format("{:.3g} GFLOP", totals_.flops[k] * per / 1e3 / 1e9);
    if (totals_.bytes[k] > 0)
      basis += fmt::format("{}{:.3g} MB", basis.empty() ? "" : ", ", totals_.bytes[k] * per / 1e3 / 1e6);
    out +=
        fmt::format("{:<30} {:>10.3f} {:>6.1f}% {:>10}  {}\n", kind_name(static_cast<Kind>(k)), ms,
                    100 * totals_.seconds[k] / std::max(totals_.wall_seconds, 1e-30),
                    totals_.floor_seconds[k] > 0 ? fmt::format("{:.3f}", totals_.floor_seconds[k] * per) : "-", basis);
  }
  out += fmt::format("{:<30} {:>10.3f} {:>6.1f}% {:>10.3f}\n", "total", total,
                     100 * total / std::max(totals_.wall_seconds * per, 1e-30), floor);
  return out;
}

}  // namespace mg::profiler
