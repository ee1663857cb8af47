#pragma once
// Where the time of a step goes, by kind of work, beside the floor each kind
// could reach on this machine (FLOPs at peak, bytes at the measured memory
// bandwidth).
//
//   mg::profiler::Profiler profiler;        // measures the machine, records from now on
//   for (...) {
//     auto step = profiler.region();        // one training step, say
//     ...
//   }
//   std::fputs(profiler.report().c_str(), stdout);
//
// Ops, kernels, the allocator, the autograd engine and optimizer steps open
// scopes of their kind; time is given to the innermost scope open, and time
// inside a region that no scope claims is "other" (dispatch, checks, the
// caller's own code), so the kinds add up to the regions' wall time. Only the
// thread that opened the region is recorded. With no region open a scope
// costs a call, a thread-local load and a branch, so they stay compiled in.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace mg::profiler {

enum class Kind : std::uint8_t {
  ConvForward,
  ConvBackwardData,
  ConvBackwardWeights,
  BatchNorm,
  Elementwise,  // maps, reductions, softmax, losses, LSTM gates
  Pooling,
  Matmul,
  Reorder,  // copies and layout changes
  OptimizerStep,
  Allocation,
  Autograd,  // graph recording and the backward engine's own work
  Other,
};
constexpr std::size_t kKinds = static_cast<std::size_t>(Kind::Other) + 1;
const char* kind_name(Kind kind);

// What this machine reaches at the current thread count: single-precision
// FMA throughput (the compute peak) and streaming-copy bandwidth.
struct Machine {
  double flops_per_s = 0, bytes_per_s = 0;
};
Machine measure_machine();

struct Totals {
  std::array<double, kKinds> seconds{}, floor_seconds{}, flops{}, bytes{};
  std::int64_t regions = 0;
  double wall_seconds = 0;  // of the regions
};

// A stretch of work of one kind: `flops` and `bytes` (moved to or from
// memory) give its floor. Nested scopes take their time from this one's,
// unless this one `absorbs` them (an optimizer step owns its kernels).
class Scope {
 public:
  explicit Scope(Kind kind, double flops = 0, double bytes = 0, bool absorbs = false) {
    if (recording()) open(kind, flops, bytes, absorbs);
  }
  ~Scope() {
    if (active_) close();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  static bool recording();
  void open(Kind kind, double flops, double bytes, bool absorbs);
  void close();
  bool active_ = false;
};

class Profiler {
 public:
  explicit Profiler(Machine machine = measure_machine());
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  class Region {
   public:
    explicit Region(Profiler& profiler);
    ~Region();
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;

   private:
    Profiler& profiler_;
    double start_;
  };
  Region region() { return Region(*this); }

  const Totals& totals() const { return totals_; }
  const Machine& machine() const { return machine_; }
  // A table: per kind, ms per region and % of it, the floor in ms and what
  // it is made of.
  std::string report() const;

 private:
  friend class Scope;
  Machine machine_;
  Totals totals_;
};

}  // namespace mg::profiler
