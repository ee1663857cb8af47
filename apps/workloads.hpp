#pragma once
// The standard benchmark workloads (bench/ has the same ones in PyTorch).
#include <array>
#include <string>
#include <vector>

#include "metagrad/core/profiler.hpp"

namespace mg::apps {

struct WorkloadResult {
  std::string workload;
  int threads;
  int batch;
  double images_per_s;
  double ms_per_step;  // median over the measured steps
  double peak_rss_mb;
  // Under mpirun: the ranks sharing each step (the batch is the global one;
  // each l2l rank runs a meta-iteration of its own problem), and per step
  // the gradient all-reduce's time, from its first bucket to the last sum,
  // and the part of it not hidden behind backward.
  int ranks = 1;
  // l2l: problems per meta-iteration and rank, and problems (meta-iteration
  // unrolls) per second over all of them.
  int meta_batch = 1;
  double problems_per_s = 0;
  double communication_ms = 0, exposed_communication_ms = 0;
  // With profiling: the mean step time measured around each step, the
  // profile's milliseconds per step by kind, and its report.
  double mean_ms_per_step = 0;
  std::array<double, profiler::kKinds> profile_ms{};
  std::string profile_report;
};

// cnn-train, cnn-infer, cnn-hvp (a Hessian-vector product of the training loss),
// resnet20-train, resnet20-infer, mlp-train, mlp-small-train, and l2l-mlp /
// l2l-mlp-2nd (one first- or second-order meta-iteration of the learned LSTM
// optimizer: ms_per_step is per meta-iteration). Under mpirun the training,
// inference and l2l workloads run data-parallel over the ranks.
const std::vector<std::string>& workload_names();
WorkloadResult run_workload(const std::string& name, int threads, int batch, int steps, int warmup,
                            bool profile = false, int meta_batch = 1);

}  // namespace mg::apps
