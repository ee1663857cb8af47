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
  // Runs `problem` for `steps` steps, calling `on_unroll` after each unroll
  // (typically a meta-optimizer step, which the next unroll then sees).
  // Throws mg::Error naming the step when the loss is NaN or infinite.
  void run(const Problem& problem, LearnedOptimizer& learned,
           const std::function<void(const Unroll&)>& on_unroll) const;

 private:
  MetaMode mode_;
  std::int64_t steps_, unroll_;
};

struct MetaTrainOptions {
  MetaMode mode = MetaMode::FirstOrder;
  std::int64_t epochs = 1000;
  std::string meta_optimizer = "adam(lr=1e-3)";
  std::int64_t eval_every = 100;
  std::int64_t validation_problems = 20;
  std::string out_dir;  // checkpoint, metrics and the best weights
  bool resume = false;
  bool progress = true;
  // Under mpirun: one problem per rank each epoch, meta-gradients averaged
  // over the ranks (rank 0 writes). False: this process meta-trains alone.
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
