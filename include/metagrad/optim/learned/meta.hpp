#pragma once
// Meta-training (optimizers.md section 5.3), in three separate pieces:
// - a LearnedOptimizer is a factory: meta-parameters in, an ordinary
//   Optimizer out (the inner loop cannot tell it from a hand-designed one);
// - TruncatedBptt estimates meta-gradients: it runs a problem for `steps`
//   steps through differentiable_step and back-propagates the summed loss of
//   every `unroll` steps into the meta-parameters, first- or second-order;
// - MetaTrainer runs epochs of fresh problems with any registry optimizer as
//   the meta-optimizer, validates, keeps the best meta-parameters and
//   checkpoints so that a resumed run continues bit for bit.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "metagrad/core/distributed.hpp"
#include "metagrad/optim/learned/evaluate.hpp"
#include "metagrad/optim/learned/task.hpp"
#include "metagrad/optim/optimizer.hpp"

namespace mg::optim::learned {

class LearnedOptimizer {
 public:
  virtual ~LearnedOptimizer() = default;
  virtual std::string name() const = 0;
  // The meta-parameters (leaf tensors), by name.
  virtual NamedParameters& meta_parameters() = 0;
  // An optimizer for `params`, driven by the current meta-parameters: its
  // differentiable_step carries gradients to them.
  virtual std::unique_ptr<Optimizer> make(const NamedParameters& params) const = 0;
  // Hyperparameters the meta-parameters set as tensors in differentiable
  // mode (differentiable_step's `hyper`); the LSTM needs none.
  virtual std::map<std::string, Tensor> overrides() const { return {}; }
  // Writes the meta-parameters for users (the LSTM: section 5.1's JSON list).
  virtual void save(const std::string& path) const = 0;
};

// Learned hyperparameters of any registry optimizer: a log learning rate per
// parameter tensor of the task's problems, starting at the spec's lr. The
// optimizer is the registry's own, its lr set per tensor (differentiable
// mode: "lr@name" tensors), so meta-gradients flow through its real update.
std::unique_ptr<LearnedOptimizer> make_learned_hyperparameters(const Task& task, const std::string& spec);

// The LSTM of section 5.1 with one net per name in `task.net_names()`,
// initialised U(-1/sqrt(H), 1/sqrt(H)) from `seed`.
std::unique_ptr<LearnedOptimizer> make_learned_lstm(const Task& task, std::uint64_t seed, DType dtype = DType::Float32);

// A learned optimizer from the file meta-train wrote (optimizer.json): an
// LSTM weight list (with the task's preprocessing and scale; a task with
// several nets reads optimizer.<net>.json for each) or learned
// hyperparameters ({"spec": ..., "lr": {parameter: value}}).
OptimizerFactory load_learned(const std::string& path, const Task& task);
// "lstm" or "hparams(SPEC)".
std::unique_ptr<LearnedOptimizer> make_learned(const std::string& family, const Task& task, std::uint64_t seed);

enum class MetaMode { FirstOrder, SecondOrder };
MetaMode meta_mode(const std::string& name);  // first_order | second_order

class TruncatedBptt {
 public:
  TruncatedBptt(MetaMode mode, std::int64_t steps, std::int64_t unroll);
  // One unroll's result: the summed loss and its gradient with respect to
  // each meta-parameter.
  struct Unroll {
    double meta_loss;
    std::vector<Tensor> meta_gradients;
  };
  // One problem's run, an unroll at a time: its parameters, the optimizer's
  // state and the last gradient carry over from one unroll to the next,
  // each unroll driven by the meta-parameters of the moment. Runs of
  // different problems share nothing but the meta-parameters, which they
  // only read: a meta-batch advances its runs concurrently.
  class Run {
   public:
    // The next unroll. Throws mg::Error naming the step when the loss is
    // NaN or infinite.
    Unroll next();
    bool done() const { return step_ >= steps_; }

   private:
    friend class TruncatedBptt;
    Run(const TruncatedBptt& estimator, const Problem& problem, LearnedOptimizer& learned);
    const Problem* problem_;
    LearnedOptimizer* learned_;
    std::unique_ptr<Optimizer> optimizer_;
    std::vector<Tensor> theta_, g_;
    std::int64_t step_ = 0, steps_, unroll_;
    bool second_order_;
  };
  // A run of `problem` at step 0 (its first gradient computed).
  Run start(const Problem& problem, LearnedOptimizer& learned) const { return Run(*this, problem, learned); }
  std::int64_t unrolls() const { return steps_ / unroll_; }
  // Runs `problem` for `steps` steps, calling `on_unroll` after each unroll
  // (typically a meta-optimizer step, which the next unroll then sees).
  void run(const Problem& problem, LearnedOptimizer& learned,
           const std::function<void(const Unroll&)>& on_unroll) const;

 private:
  MetaMode mode_;
  std::int64_t steps_, unroll_;
};

// One meta-training step on a meta-batch: the runs of `problems` advance
// concurrently (run_concurrently), an unroll at a time; after each unroll
// `meta_optimizer` steps on the mean meta-gradient over every rank's
// problems, summed in problem order (rank r's are numbers r * K .. r * K +
// K - 1), so the bits do not depend on the thread or rank count. Returns the
// mean meta-loss of an unroll.
double meta_train_step(const std::vector<const Problem*>& problems, LearnedOptimizer& learned,
                       Optimizer& meta_optimizer, const TruncatedBptt& estimator, const distributed::Ranks& ranks);

struct MetaTrainOptions {
  MetaMode mode = MetaMode::FirstOrder;
  std::int64_t epochs = 1000;
  std::string meta_optimizer = "adam(lr=1e-3)";
  std::int64_t eval_every = 100;
  std::int64_t validation_problems = 20;
  std::string out_dir;  // checkpoint, metrics and the best weights
  // Problems per meta-iteration and process, run concurrently on the
  // process's cores; their meta-gradients are averaged.
  std::int64_t meta_batch = 1;
  bool resume = false;
  bool progress = true;
  // Under mpirun: each rank takes `meta_batch` problems an epoch (rank r's
  // k-th of epoch e is problem e * R * K + r * K + k) and meta-gradients are
  // averaged over all R * K in that order, so R ranks x K problems give the
  // bits of 1 process x R * K (rank 0 writes). False: this process
  // meta-trains alone.
  bool data_parallel = true;
};

struct MetaTrainResult {
  std::int64_t epochs_done = 0;
  double best_validation = 0;
  std::int64_t best_epoch = 0;
  bool interrupted = false;
};

// Meta-trains `learned` on `task`; writes out_dir/meta-metrics.jsonl,
// out_dir/meta-checkpoint.mgt (every validation and on stop) and
// out_dir/optimizer.json (the best meta-parameters so far).
MetaTrainResult meta_train(const Task& task, LearnedOptimizer& learned, const MetaTrainOptions& options,
                           const std::atomic<bool>& stop);

}  // namespace mg::optim::learned
