#pragma once
// The meta-training loop (optimizers.md sections 5.3 and 10.2): epochs of
// fresh problems, meta-gradients from any estimator, any registry optimizer
// as the meta-optimizer, validation keeping the best meta-parameters, and
// checkpoints from which a resumed run continues bit for bit.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "metagrad/core/distributed.hpp"
#include "metagrad/optim/learned/estimator.hpp"
#include "metagrad/optim/learned/learned_optimizer.hpp"
#include "metagrad/optim/learned/task.hpp"
#include "metagrad/optim/learned/task_family.hpp"

namespace mg::optim::learned {

// A problem of a meta-batch and the length of its run.
struct MetaBatchProblem {
  const Problem* problem;
  Horizon horizon;
};

// What a meta-update does with its meta-gradient before the
// meta-optimizer sees it (learned_optimization's GradientClipOptimizer and
// NaN guard, for long horizons).
struct MetaUpdateOptions {
  double clip = 0;               // each entry clipped to [-clip, clip]; 0: off
  bool skip_non_finite = false;  // a NaN or infinite meta-gradient skips the update (counted) instead of stopping
};

struct MetaStepResult {
  double meta_loss = 0;      // the mean meta-loss of a truncation
  std::int64_t updates = 0;  // meta-updates made
  std::int64_t skipped = 0;  // ... skipped for a non-finite meta-gradient
};

// One meta-training step on a meta-batch: the runs of `problems` advance
// concurrently (run_concurrently), a truncation at a time, until the
// longest ends; after each truncation `meta_optimizer` steps on the mean
// meta-gradient over every rank's runs that are still going, summed in
// problem order (rank r's are numbers r * K .. r * K + K - 1 of the
// `epoch`'s R * K), so the bits do not depend on the thread or rank count.
MetaStepResult meta_train_step(const std::vector<MetaBatchProblem>& problems, LearnedOptimizer& learned,
                               Optimizer& meta_optimizer, const MetaGradientEstimator& estimator,
                               const distributed::Ranks& ranks, std::uint64_t epoch = 0,
                               const MetaUpdateOptions& update = {});

struct MetaTrainOptions {
  std::int64_t epochs = 1000;
  std::string meta_optimizer = "adam(lr=1e-3)";
  std::int64_t eval_every = 100;
  std::int64_t validation_problems = 20;
  std::string out_dir;  // checkpoint, metrics and the best weights
  // Problems per meta-iteration and process, run concurrently on the
  // process's cores; their meta-gradients are averaged (evolution
  // strategies: antithetic pairs, one on each problem: the population).
  std::int64_t meta_batch = 1;
  MetaUpdateOptions update;  // meta-gradient clipping and the non-finite guard
  bool resume = false;
  bool progress = true;
  // Under mpirun: each rank takes `meta_batch` problems an epoch (rank r's
  // k-th of epoch e is problem e * R * K + r * K + k) and meta-gradients are
  // averaged over all R * K in that order, so R ranks x K problems give the
  // bits of 1 process x R * K (rank 0 writes). False: this process
  // meta-trains alone.
  bool data_parallel = true;
  // Called after every epoch's meta-updates with the epoch count so far
  // (e.g. to log or average the meta-parameters along the way).
  std::function<void(std::int64_t epoch, const LearnedOptimizer&)> after_epoch;
};

struct MetaTrainResult {
  std::int64_t epochs_done = 0;
  double best_validation = 0;
  std::int64_t best_epoch = 0;
  bool interrupted = false;
  double wall_seconds = 0;           // wall clock of the whole run, over every stint of a resumed one
  std::int64_t skipped_updates = 0;  // in this stint, for non-finite meta-gradients (MetaUpdateOptions)
};

// Meta-trains `learned` on `task`'s problems over the task's horizon
// (steps, unroll) with `estimator`; writes out_dir/meta-metrics.jsonl,
// out_dir/meta-checkpoint.mgt (every validation and on stop; it records the
// estimator's config, and a resume with another is refused) and
// out_dir/optimizer.json (the best meta-parameters so far).
MetaTrainResult meta_train(const Task& task, LearnedOptimizer& learned, const MetaGradientEstimator& estimator,
                           const MetaTrainOptions& options, const std::atomic<bool>& stop);

// ... on a family's tasks: every problem of a meta-batch from a task of its
// own (epoch e's k-th on rank r is task (e * R + r) * K + k), each run over
// its task's horizon; validation on the first validation problems of tasks
// 2^40, 2^40 + 1, ..., which no training draws.
MetaTrainResult meta_train(const TaskFamily& family, LearnedOptimizer& learned, const MetaGradientEstimator& estimator,
                           const MetaTrainOptions& options, const std::atomic<bool>& stop);

}  // namespace mg::optim::learned
