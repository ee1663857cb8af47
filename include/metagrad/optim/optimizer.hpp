#pragma once
// The optimizer interface. Parameters are named (state and checkpoints are
// keyed by name, never by position) and split into groups, each with its own
// hyperparameters, re-read at every step so schedules can change lr.
#include <functional>
#include <map>
#include <memory>
#include <optional>
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

// Evaluates the gradient at other parameter values (one tensor per
// parameter, in the order of the groups): what multi-stage methods (heun,
// rk4) need in differentiable mode, e.g. autograd::grad with create_graph.
using GradientFunction = std::function<std::vector<Tensor>(const std::vector<Tensor>& params)>;

// One parameter as a step sees it.
struct Slot {
  const std::string* name;
  const ParamGroup* group;  // as this parameter sees it (wd_exclude applied)
  Tensor param;             // the current value
  Tensor grad;
  ParamState* state;  // its step count already advanced
  // Hyperparameters given as tensors for this parameter (differentiable mode).
  const std::map<std::string, Tensor>* overrides;
};

// Everything one step of the whole parameter list sees: the parameters that
// have a gradient, the optimizer-wide state, and a way to evaluate gradients
// elsewhere. Both modes use it: step() (in place, no graph) and
// differentiable_step() (new graph tensors).
struct StepContext {
  std::vector<Slot> slots;
  std::map<std::string, Tensor>* global;  // optimizer-wide state (Shampoo's step count, rllc's law)
  bool differentiable;
  // The gradients of the slots' parameters at `points` (one per slot); an
  // mg::Error when the caller gave no closure or gradient function.
  std::function<std::vector<Tensor>(const std::vector<Tensor>& points)> gradient_at;
  // Number of gradient evaluations this step made through gradient_at.
  int evaluations = 0;
};

class Optimizer {
 public:
  Optimizer(std::string name, std::vector<ParamGroup> groups);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::string& name() const { return name_; }
  // One update of every parameter that has a gradient. With a closure, calls
  // it first (it re-evaluates the loss and the gradients) and returns its loss;
  // multi-stage methods (heun, rk4) call it again at their stage points.
  Tensor step(const Closure& closure = {});
  // Drops every gradient (sets them undefined).
  void zero_grad();
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  void set_lr(double lr);  // in every group
  // Whether step() needs a closure (multi-stage methods).
  virtual bool requires_closure() const { return false; }
  // Gradient evaluations made by all step() calls so far, closure calls
  // included (the caller's own backward counts as one per step).
  std::int64_t gradient_evaluations() const { return evaluations_; }

  // Differentiable mode: given the current parameters (graph nodes, in the
  // order of the groups) and their gradients (from autograd::grad with
  // create_graph), returns the updated parameters as new graph nodes. Its
  // state lives apart from step()'s, as graph tensors; `hyper` replaces
  // numeric hyperparameters with (0-dim) tensors, e.g. a learning rate to
  // differentiate with respect to; "key@name" sets it for one parameter only
  // (e.g. "lr@fc1.weight": per-tensor learned learning rates). Multi-stage
  // methods need `gradient`.
  std::vector<Tensor> differentiable_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                                          const std::map<std::string, Tensor>& hyper = {},
                                          const GradientFunction& gradient = {});
  void reset_differentiable_state() {
    differentiable_state_.clear();
    differentiable_global_.clear();
  }
  // Keeps the differentiable state's values but cuts their graph: the
  // truncation of truncated back-propagation through time.
  void detach_differentiable_state();
  // The differentiable mode's whole state, to save and put back (gradient
  // checkpointing recomputes steps from a saved state).
  struct DifferentiableState {
    std::map<std::string, ParamState> params;
    std::map<std::string, Tensor> global;
  };
  DifferentiableState differentiable_state() const { return {differentiable_state_, differentiable_global_}; }
  void set_differentiable_state(DifferentiableState state) {
    differentiable_state_ = std::move(state.params);
    differentiable_global_ = std::move(state.global);
  }

  // State and hyperparameters, keyed by parameter name and versioned.
  nn::NamedTensors state_dict() const;
  // Validates the whole dict before changing anything.
  void load_state_dict(const nn::NamedTensors& state);

  const ParamState* state_of(const std::string& param_name) const;
  const std::map<std::string, Tensor>& global_state() const { return global_; }

 protected:
  // One step of all parameters. The default updates each parameter on its
  // own (update() or update_differentiable()); rules that need more (sums
  // over all tensors, stage evaluations, optimizer-wide state) override it
  // and return the new parameter values, one per slot.
  virtual std::vector<Tensor> step_all(StepContext& context);
  // In place, under no-grad; state.step has already been advanced.
  virtual void update(const ParamGroup& group, Tensor& param, const Tensor& grad, ParamState& state);
  // Returns the new parameter; replaces state tensors by new graph tensors.
  virtual Tensor update_differentiable(const ParamGroup& group, const std::map<std::string, Tensor>& hyper,
                                       const Tensor& param, const Tensor& grad, ParamState& state);
  // What a state field should look like, so that loaded state can be
  // validated: the shape and dtype a per-parameter field `field` of
  // `param` has (nothing: this optimizer keeps no such field)...
  struct Layout {
    Shape shape;
    DType dtype;
  };
  virtual std::optional<Layout> state_layout(const std::string& field, const Tensor& param) const = 0;
  // ...and likewise for optimizer-wide fields.
  virtual std::optional<Layout> global_layout(const std::string&) const { return std::nullopt; }

 private:
  std::string name_;
  std::vector<ParamGroup> groups_;
  std::map<std::string, ParamState> state_;
  std::map<std::string, Tensor> global_;
  std::map<std::string, ParamState> differentiable_state_;
  std::map<std::string, Tensor> differentiable_global_;
  std::int64_t evaluations_ = 0;
};

}  // namespace mg::optim
