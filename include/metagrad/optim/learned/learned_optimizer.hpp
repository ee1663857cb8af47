#pragma once
// A learned optimizer is a factory (DESIGN.md principle 5): meta-parameters
// in, an ordinary Optimizer out, so that the inner loop cannot tell it from
// a hand-designed one. Its settings for a task (the LSTM's preprocessing,
// scale and nets) live with it, not on the task.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "metagrad/optim/learned/evaluate.hpp"
#include "metagrad/optim/learned/general.hpp"
#include "metagrad/optim/learned/lstm.hpp"
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
  // An optimizer for `params` over a run of `steps` steps (0: unknown;
  // `general` reads it) driven by `meta`, one tensor per meta-parameter in
  // their order: the meta-parameters themselves (its differentiable_step
  // then carries gradients to them) or other values of them (evolution
  // strategies' perturbed copies).
  virtual std::unique_ptr<Optimizer> make(const NamedParameters& params, const std::vector<Tensor>& meta,
                                          std::int64_t steps) const = 0;
  // ... driven by the current meta-parameters.
  std::unique_ptr<Optimizer> make(const NamedParameters& params, std::int64_t steps = 0) const;
  // Hyperparameters the meta-parameters set as tensors in differentiable
  // mode (differentiable_step's `hyper`); the LSTM needs none.
  virtual std::map<std::string, Tensor> overrides() const { return {}; }
  // Writes the meta-parameters for users (the LSTM: section 5.1's JSON list).
  virtual void save(const std::string& path) const = 0;

 protected:
  NamedParameters meta_;
};

// The LSTM's settings for one task (optimizers.md 5.4): its preprocessing
// and scale, and which net each parameter uses (the CNN's "conv" and "fc").
struct LstmTaskSettings {
  LstmConfig config;
  std::vector<std::string> nets = {"default"};
  NetOf net_of;  // empty: every parameter uses nets.front()
};
// Section 5.4's table, by task name: quadratic (no preprocessing, scale 1),
// the cnn tasks (two nets), and log_sign with p = 10 and scale 0.1 for
// every other task, a user's included.
LstmTaskSettings lstm_settings(const std::string& task_name);

// Learned hyperparameters of any registry optimizer: a log learning rate per
// parameter tensor of the task's problems, starting at the spec's lr. The
// optimizer is the registry's own, its lr set per tensor (differentiable
// mode: "lr@name" tensors), so meta-gradients flow through its real update.
std::unique_ptr<LearnedOptimizer> make_learned_hyperparameters(const Task& task, const std::string& spec);

// The LSTM of section 5.1 with `settings`' nets, initialised from `seed` as
// `init` says (lstm.hpp).
std::unique_ptr<LearnedOptimizer> make_learned_lstm(const LstmTaskSettings& settings, std::uint64_t seed,
                                                    DType dtype = DType::Float32, LstmInit init = LstmInit::ZeroOutput);

// The MLP of section 10.1 (one net for every parameter), initialised as
// the section says from `seed`.
std::unique_ptr<LearnedOptimizer> make_learned_mlp_lopt(std::uint64_t seed, DType dtype = DType::Float32);

// `general` (docs/general.md), starting as adam(lr=1e-3); each optimizer
// it makes is told the length of its run as the horizon.
std::unique_ptr<LearnedOptimizer> make_learned_general(std::uint64_t seed, DType dtype = DType::Float32);

// "lstm" (zero output layer), "lstm(init=uniform)" (section 5.1's
// initialisation), "lstm(init=code)" (the authors' code's, 5.7), "mlp_lopt",
// "general" or "hparams(SPEC)", with
// the LSTM's settings for `task` from the table.
std::unique_ptr<LearnedOptimizer> make_learned(const std::string& family, const Task& task, std::uint64_t seed);

// Starts `learned` from the weights in `path` (a JSON list, as save()
// writes it) instead of its own initialisation: a later phase of a recipe
// from an earlier phase's weights, or a hand-made start. For learned
// optimizers of one weight tensor (one-net lstm, mlp_lopt, general); a list
// of another length is one clear line.
void load_initial_weights(LearnedOptimizer& learned, const std::string& path);

// `learned` (one weight tensor) with only the entries `indices` of its flat
// weight list as meta-parameters, the others fixed at their values now (its
// start, or --init's weights): a few numbers meta-trained on top of a
// hand-made start. It makes the same optimizers as `learned` would from the
// whole list, and save() writes the whole list. Its one meta-parameter is
// named after the fixed weights and the indices, so that a checkpoint
// resumes only over the same start and subset. `indices` reads like
// "1696,1698,1760-1762": indices and inclusive ranges, each index named
// once; anything else is one clear line.
std::unique_ptr<LearnedOptimizer> train_only(std::unique_ptr<LearnedOptimizer> learned, const std::string& indices);

// A learned optimizer from the file meta-train wrote (optimizer.json): an
// mlp_lopt weight list (1762 numbers), a general one (1763, driving runs of
// `horizon` steps; 0: unknown), an LSTM weight list (with
// `settings`' preprocessing and scale; several nets read
// optimizer.<net>.json for each) or learned hyperparameters ({"spec": ...,
// "lr": {parameter: value}}).
OptimizerFactory load_learned(const std::string& path, const LstmTaskSettings& settings, std::int64_t horizon = 0);
// ... with the LSTM's settings for `task` from the table and its steps as the horizon.
OptimizerFactory load_learned(const std::string& path, const Task& task);

// The spec string of a one-net learned optimizer file (mlp_lopt, general or
// an LSTM weight list with `settings`), e.g. "general(weights=PATH,
// horizon=1000)"; throws mg::Error for files a spec cannot name (several
// nets, learned hyperparameters).
std::string learned_spec(const std::string& path, const LstmTaskSettings& settings, std::int64_t horizon = 0);

}  // namespace mg::optim::learned
