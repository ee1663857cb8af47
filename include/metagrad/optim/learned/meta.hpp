#pragma once
// Meta-training (optimizers.md sections 5.3 and 10.2), in three separate
// pieces:
// - a LearnedOptimizer is a factory: meta-parameters in, an ordinary
//   Optimizer out (the inner loop cannot tell it from a hand-designed one);
// - a MetaGradientEstimator estimates meta-gradients truncation by
//   truncation: TruncatedBptt back-propagates through the unroll (first- or
//   second-order); evolution strategies (es, pes: evolution.hpp) perturb the
//   meta-parameters and need no derivative at all;
// - meta_train runs epochs of fresh problems with any registry optimizer as
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
  NamedParameters& meta_parameters() { return meta_; }
  const NamedParameters& meta_parameters() const { return meta_; }
  // An optimizer for `params` driven by `meta`, one tensor per
  // meta-parameter in their order: the meta-parameters themselves (its
  // differentiable_step then carries gradients to them) or other values of
  // them (evolution strategies' perturbed copies).
  virtual std::unique_ptr<Optimizer> make(const NamedParameters& params, const std::vector<Tensor>& meta) const = 0;
  // ... driven by the current meta-parameters.
  std::unique_ptr<Optimizer> make(const NamedParameters& params) const;
  // Hyperparameters the meta-parameters set as tensors in differentiable
  // mode (differentiable_step's `hyper`); the LSTM needs none.
  virtual std::map<std::string, Tensor> overrides() const { return {}; }
  // Writes the meta-parameters for users (the LSTM: section 5.1's JSON list).
  virtual void save(const std::string& path) const = 0;

 protected:
  NamedParameters meta_;
};

// Learned hyperparameters of any registry optimizer: a log learning rate per
// parameter tensor of the task's problems, starting at the spec's lr. The
// optimizer is the registry's own, its lr set per tensor (differentiable
// mode: "lr@name" tensors), so meta-gradients flow through its real update.
std::unique_ptr<LearnedOptimizer> make_learned_hyperparameters(const Task& task, const std::string& spec);

// The LSTM of section 5.1 with one net per name in `task.net_names()`,
// initialised from `seed` as `init` says (lstm.hpp).
std::unique_ptr<LearnedOptimizer> make_learned_lstm(const Task& task, std::uint64_t seed, DType dtype = DType::Float32,
                                                    LstmInit init = LstmInit::ZeroOutput);

// The MLP of section 10.1 (one net for every parameter), initialised as
// the section says from `seed`.
std::unique_ptr<LearnedOptimizer> make_learned_mlp_lopt(std::uint64_t seed, DType dtype = DType::Float32);

// A learned optimizer from the file meta-train wrote (optimizer.json): an
// mlp_lopt weight list (1762 numbers), an LSTM weight list (with the task's preprocessing and scale; a task with
// several nets reads optimizer.<net>.json for each) or learned
// hyperparameters ({"spec": ..., "lr": {parameter: value}}).
OptimizerFactory load_learned(const std::string& path, const Task& task);
// "lstm" (zero output layer), "lstm(init=uniform)" (section 5.1's
// initialisation), "mlp_lopt" or "hparams(SPEC)".
std::unique_ptr<LearnedOptimizer> make_learned(const std::string& family, const Task& task, std::uint64_t seed);

// One truncation's result: the meta-loss (the sum of its optimizee losses)
// and an estimate of its gradient with respect to each meta-parameter.
struct TruncationEstimate {
  double meta_loss;
  std::vector<Tensor> meta_gradients;
};

// Estimates meta-gradients on one problem at a time, a truncation at a time
// (section 10.2). Runs of different problems share nothing but the
// meta-parameters, which they only read: a meta-batch advances its runs
// concurrently.
class MetaGradientEstimator {
 public:
  virtual ~MetaGradientEstimator() = default;
  virtual std::string name() const = 0;

  // One problem's run: its parameters and optimizer state carry over from
  // one truncation to the next, each truncation driven by the
  // meta-parameters of the moment.
  class Run {
   public:
    virtual ~Run() = default;
    // A truncation is worked on in parts() independent pieces (evolution
    // strategies: the plus and the minus run), which may run concurrently,
    // then combined by estimate().
    virtual std::int64_t parts() const { return 1; }
    virtual void advance(std::int64_t part) = 0;
    virtual TruncationEstimate estimate() = 0;
    virtual bool done() const = 0;
    // The next truncation, its parts one after the other.
    TruncationEstimate next();
  };
  // A run of `problem` at step 0. `index` numbers the problem among all of
  // a meta-training's problems: estimators that draw noise derive it from
  // the index, so that it depends on nothing else (not threads, not ranks).
  virtual std::unique_ptr<Run> start(const Problem& problem, std::uint64_t index,
                                     const LearnedOptimizer& learned) const = 0;
  virtual std::int64_t truncations() const = 0;

  // Runs `problem` to its end, calling `on_truncation` after each truncation
  // (typically a meta-optimizer step, which the next truncation then sees).
  void run(const Problem& problem, std::uint64_t index, const LearnedOptimizer& learned,
           const std::function<void(const TruncationEstimate&)>& on_truncation) const;
};

enum class MetaMode { FirstOrder, SecondOrder };
MetaMode meta_mode(const std::string& name);  // first_order | second_order

// Truncated back-propagation through time (section 5.3): each truncation of
// `unroll` steps runs through differentiable_step and its summed loss is
// back-propagated into the meta-parameters, through the optimizee gradients
// too in second-order mode. With `recompute_every` S > 0 (gradient
// checkpointing) a truncation keeps only its state every S steps and
// recomputes each segment's graph in backward: memory grows with
// unroll / S + S instead of unroll, for about one more forward pass; the
// meta-gradients are the plain unroll's (summed segment by segment).
class TruncatedBptt : public MetaGradientEstimator {
 public:
  TruncatedBptt(MetaMode mode, std::int64_t steps, std::int64_t unroll, std::int64_t recompute_every = 0);
  std::string name() const override { return "tbptt"; }
  using Unroll = TruncationEstimate;
  std::unique_ptr<Run> start(const Problem& problem, std::uint64_t index,
                             const LearnedOptimizer& learned) const override;
  std::int64_t truncations() const override { return steps_ / unroll_; }
  using MetaGradientEstimator::run;
  void run(const Problem& problem, const LearnedOptimizer& learned,
           const std::function<void(const Unroll&)>& on_unroll) const {
    run(problem, 0, learned, on_unroll);
  }

 private:
  class BpttRun;
  MetaMode mode_;
  std::int64_t steps_, unroll_, recompute_every_;
};

// One meta-training step on a meta-batch: the runs of `problems` advance
// concurrently (run_concurrently), a truncation at a time; after each
// truncation `meta_optimizer` steps on the mean meta-gradient over every
// rank's problems, summed in problem order (rank r's are numbers r * K ..
// r * K + K - 1 of the `epoch`'s R * K), so the bits do not depend on the
// thread or rank count. Returns the mean meta-loss of a truncation.
double meta_train_step(const std::vector<const Problem*>& problems, LearnedOptimizer& learned,
                       Optimizer& meta_optimizer, const MetaGradientEstimator& estimator,
                       const distributed::Ranks& ranks, std::uint64_t epoch = 0);

struct MetaTrainOptions {
  // How meta-gradients are estimated (section 10.2): "tbptt" (with `mode`),
  // "es" or "pes" (with `sigma`; each problem of the meta-batch is one
  // antithetic pair, so meta_batch is the population, and `seed` keys the
  // perturbations).
  std::string estimator = "tbptt";
  MetaMode mode = MetaMode::FirstOrder;
  double sigma = 0.01;
  std::uint64_t seed = 0;
  // tbptt: steps between the states kept for recomputation (0: none, the
  // whole truncation's graph is kept).
  std::int64_t recompute_every = 0;
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
  // Called after every epoch's meta-updates with the epoch count so far
  // (e.g. to log or average the meta-parameters along the way).
  std::function<void(std::int64_t epoch, const LearnedOptimizer&)> after_epoch;
};

struct MetaTrainResult {
  std::int64_t epochs_done = 0;
  double best_validation = 0;
  std::int64_t best_epoch = 0;
  bool interrupted = false;
  double wall_seconds = 0;  // wall clock of the whole run, over every stint of a resumed one
};

// The estimator `options` name for `task`'s steps and unroll.
std::unique_ptr<MetaGradientEstimator> make_estimator(const MetaTrainOptions& options, const Task& task);

// Meta-trains `learned` on `task`; writes out_dir/meta-metrics.jsonl,
// out_dir/meta-checkpoint.mgt (every validation and on stop) and
// out_dir/optimizer.json (the best meta-parameters so far).
MetaTrainResult meta_train(const Task& task, LearnedOptimizer& learned, const MetaTrainOptions& options,
                           const std::atomic<bool>& stop);

}  // namespace mg::optim::learned
