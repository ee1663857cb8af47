#pragma once
// The optimizer interface. Parameters are named (state and checkpoints are
// keyed by name, never by position) and split into groups, each with its own
// hyperparameters, re-read at every step so schedules can change lr.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "metagrad/nn/module.hpp"
#include "metagrad/optim/spec.hpp"

namespace mg::optim {

using NamedParameters = std::vector<std::pair<std::string, Tensor>>;
using Closure = std::function<Tensor()>;

struct ParamGroup {
  NamedParameters params;
  Values hyper;  // every key of the optimizer's schema, resolved
  double number(const std::string& key) const;
  bool flag(const std::string& key) const;
  const std::string& word(const std::string& key) const;
  const std::vector<double>& numbers(const std::string& key) const;
};

// Per-parameter state: named tensors ("exp_avg", ...) and the step count.
struct ParamState {
  std::map<std::string, Tensor> tensors;
  std::int64_t step = 0;
};

class Optimizer {
 public:
  Optimizer(std::string name, std::vector<ParamGroup> groups);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::string& name() const { return name_; }
  // One update of every parameter that has a gradient. With a closure, calls
  // it first (it re-evaluates the loss and the gradients) and returns its loss.
  Tensor step(const Closure& closure = {});
  // Drops every gradient (sets them undefined).
  void zero_grad();
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  void set_lr(double lr);  // in every group

  // Differentiable mode: given the current parameters (graph nodes, in the
  // order of the groups) and their gradients (from autograd::grad with
  // create_graph), returns the updated parameters as new graph nodes. Its
  // state lives apart from step()'s, as graph tensors; `hyper` replaces
  // numeric hyperparameters with (0-dim) tensors, e.g. a learning rate to
  // differentiate with respect to.
  std::vector<Tensor> differentiable_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                                          const std::map<std::string, Tensor>& hyper = {});
  void reset_differentiable_state() { differentiable_state_.clear(); }

  // State and hyperparameters, keyed by parameter name and versioned.
  nn::NamedTensors state_dict() const;
  // Validates the whole dict before changing anything.
  void load_state_dict(const nn::NamedTensors& state);

  const ParamState* state_of(const std::string& param_name) const;

 protected:
  // In place, under no-grad; state.step has already been advanced.
  virtual void update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state) = 0;
  // Returns the new parameter; replaces state tensors by new graph tensors.
  virtual Tensor update_differentiable(const ParamGroup& group, const std::map<std::string, Tensor>& hyper,
                                       const Tensor& param, const Tensor& grad, ParamState& state) = 0;
  // Whether step() needs a closure (multi-evaluation methods).
  virtual bool requires_closure() const { return false; }
  // What a per-parameter state field holds, so that loaded state can be
  // validated: a tensor shaped like its parameter, a 0-dim float64 number,
  // or nothing this optimizer keeps.
  enum class StateField { Elementwise, Scalar, Unknown };
  virtual StateField state_field(const std::string& field) const = 0;

 private:
  std::string name_;
  std::vector<ParamGroup> groups_;
  std::map<std::string, ParamState> state_;
  std::map<std::string, ParamState> differentiable_state_;
};

}  // namespace mg::optim
