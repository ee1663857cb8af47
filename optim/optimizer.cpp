#include "metagrad/optim/optimizer.hpp"

#include <charconv>
#include <cmath>
#include <optional>
#include <set>

#include "core/check.hpp"
#include "core/tensor_impl.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/core/profiler.hpp"
#include "metagrad/optim/clip.hpp"

namespace mg::optim {
namespace {

constexpr std::int64_t kStateVersion = 1;

template <class T>
const T& get(const ParamGroup& group, const std::string& key, const char* kind) {
  auto it = group.hyper.find(key);
  MG_CHECK(it != group.hyper.end(), "optimizer: no hyperparameter '{}'", key);
  const T* value = std::get_if<T>(&it->second);
  MG_CHECK(value != nullptr, "optimizer: hyperparameter '{}' is not {}", key, kind);
  return *value;
}

// Whether weight decay applies to this parameter (wd_exclude fragments).
bool decays(const ParamGroup& group, const std::string& name) {
  const std::string& exclude = group.word("wd_exclude");
  if (exclude == "none") return true;
  for (const auto& fragment : split_list(exclude))
    if (!fragment.empty() && name.find(fragment) != std::string::npos) return false;
  return true;
}

// The group as each of its parameters sees it: the group itself, or, where
// wd_exclude matches, a copy of its hyperparameters with weight decay off,
// made at most once per step.
class GroupView {
 public:
  explicit GroupView(const ParamGroup& group) : group_(group) {}
  const ParamGroup& for_param(const std::string& name) {
    if (decays(group_, name) || !group_.hyper.count("weight_decay")) return group_;
    if (!without_decay_) {
      without_decay_.emplace(ParamGroup{{}, group_.hyper});
      without_decay_->hyper["weight_decay"] = 0.0;
    }
    return *without_decay_;
  }

 private:
  const ParamGroup& group_;
  std::optional<ParamGroup> without_decay_;
};

std::string state_key(const std::string& param, const std::string& key) { return "state." + param + "." + key; }

const std::map<std::string, Tensor>& no_overrides() {
  static const std::map<std::string, Tensor> none;
  return none;
}

}  // namespace

double ParamGroup::number(const std::string& key) const { return get<double>(*this, key, "a number"); }
bool ParamGroup::flag(const std::string& key) const { return get<bool>(*this, key, "a flag"); }
const std::string& ParamGroup::word(const std::string& key) const { return get<std::string>(*this, key, "a word"); }
const std::vector<double>& ParamGroup::numbers(const std::string& key) const {
  return get<std::vector<double>>(*this, key, "a list of numbers");
}

Optimizer::Optimizer(std::string name, std::vector<ParamGroup> groups)
    : name_(std::move(name)), groups_(std::move(groups)) {}

void Optimizer::zero_grad() {
  for (auto& group : groups_)
    for (auto& [name, p] : group.params) p.set_grad(Tensor());
}

void Optimizer::set_lr(double lr) {
  for (auto& group : groups_) group.hyper["lr"] = lr;
}

Tensor Optimizer::step(const Closure& closure) {
  MG_CHECK(closure || !requires_closure(), "{}: step() needs a closure that re-evaluates the loss and gradients",
           name_);
  Tensor loss;
  if (closure) loss = closure();
  // The step's own kernels are its time (a multi-stage step's closure calls too).
  const profiler::Scope scope(profiler::Kind::OptimizerStep, 0, 0, /*absorbs=*/true);
  NoGradGuard no_grad;
  // Gradient clipping, over all parameters (the first group's settings).
  const double clip_value = groups_.front().number("clip_value");
  const double clip_norm = groups_.front().number("clip_norm");
  const auto clip = [&] {
    if (clip_value <= 0 && clip_norm <= 0) return;
    std::vector<Tensor> all;
    for (auto& group : groups_)
      for (auto& [name, p] : group.params) all.push_back(p);
    if (clip_value > 0) clip_grad_value_(all, clip_value);
    if (clip_norm > 0) clip_grad_norm_(all, clip_norm);
  };
  clip();
  std::vector<GroupView> views;
  views.reserve(groups_.size());
  for (const auto& group : groups_) views.emplace_back(group);
  StepContext context{{}, &global_, false, {}};
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    for (auto& [name, p] : groups_[g].params) {
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      MG_CHECK(grad.shape() == p.shape(), "{}: gradient of '{}' has shape {} but the parameter is {}", name_, name,
               mg::to_string(grad.shape()), mg::to_string(p.shape()));
      ParamState& state = state_[name];
      ++state.step;
      context.slots.push_back({&name, &views[g].for_param(name), p, grad, &state, &no_overrides()});
    }
  }
  // Stages: move the parameters to the points, re-run the closure (which
  // needs grad mode), and read the gradients it left.
  context.gradient_at = [&](const std::vector<Tensor>& points) {
    MG_CHECK(closure, "{}: this step evaluates gradients at stage points and needs a closure", name_);
    for (std::size_t i = 0; i < points.size(); ++i) context.slots[i].param.copy_(points[i]);
    {
      GradModeGuard with_grad(true);
      closure();
    }
    clip();
    std::vector<Tensor> grads;
    for (const auto& slot : context.slots) {
      const Tensor grad = slot.param.grad();
      MG_CHECK(grad.defined(), "{}: the closure left no gradient for '{}'", name_, *slot.name);
      grads.push_back(grad.detach());
    }
    ++context.evaluations;
    return grads;
  };
  const std::vector<Tensor> updated = step_all(context);
  for (std::size_t i = 0; i < updated.size(); ++i) {
    Tensor& param = context.slots[i].param;
    if (updated[i].impl() != param.impl())
      param.copy_(updated[i]);
    else  // updated in place through its data pointer: caches keyed on the version (a convolution's
          // reordered weights, batch norm folded into them) must see the change
      param.impl()->storage->bump_version();
  }
  evaluations_ += 1 + context.evaluations;
  return loss;
}

std::vector<Tensor> Optimizer::differentiable_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                                                   const std::map<std::string, Tensor>& hyper,
                                                   const GradientFunction& gradient) {
  std::size_t count = 0;
  for (const auto& group : groups_) count += group.params.size();
  MG_CHECK(params.size() == count && grads.size() == count,
           "{}: differentiable_step got {} parameters and {} gradients for {} registered parameters", name_,
           params.size(), grads.size(), count);
  std::vector<GroupView> views;
  views.reserve(groups_.size());
  for (const auto& group : groups_) views.emplace_back(group);
  StepContext context{{}, &differentiable_global_, true, {}};
  // Each parameter's overrides: "key" for all, "key@name" for one.
  std::map<std::string, std::map<std::string, Tensor>> per_parameter;
  for (const auto& group : groups_)
    for (const auto& [name, registered] : group.params) {
      auto& overrides = per_parameter[name];
      for (const auto& [key, value] : hyper)
        if (key.find('@') == std::string::npos) overrides.emplace(key, value);
      for (const auto& [key, value] : hyper) {
        const std::size_t at = key.find('@');
        if (at != std::string::npos && key.compare(at + 1, std::string::npos, name) == 0)
          overrides[key.substr(0, at)] = value;
      }
    }
  std::vector<std::size_t> index;  // of each slot in `params`
  std::size_t i = 0;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    for (const auto& [name, registered] : groups_[g].params) {
      const Tensor& p = params[i];
      MG_CHECK(p.shape() == registered.shape(), "{}: parameter {} ('{}') has shape {}, expected {}", name_, i, name,
               mg::to_string(p.shape()), mg::to_string(registered.shape()));
      if (grads[i].defined()) {
        ParamState& state = differentiable_state_[name];
        ++state.step;
        context.slots.push_back({&name, &views[g].for_param(name), p, grads[i], &state, &per_parameter.at(name)});
        index.push_back(i);
      }
      ++i;
    }
  }
  context.gradient_at = [&](const std::vector<Tensor>& points) {
    MG_CHECK(gradient, "{}: differentiable_step evaluates gradients at stage points and needs a gradient function",
             name_);
    std::vector<Tensor> all = params;
    for (std::size_t k = 0; k < points.size(); ++k) all[index[k]] = points[k];
    const std::vector<Tensor> all_grads = gradient(all);
    MG_CHECK(all_grads.size() == params.size(), "{}: the gradient function returned {} gradients for {} parameters",
             name_, all_grads.size(), params.size());
    std::vector<Tensor> out;
    for (std::size_t k : index) out.push_back(all_grads[k]);
    ++context.evaluations;
    return out;
  };
  const std::vector<Tensor> updated_slots = step_all(context);
  std::vector<Tensor> updated = params;
  for (std::size_t k = 0; k < index.size(); ++k) updated[index[k]] = updated_slots[k];
  return updated;
}

void Optimizer::detach_differentiable_state() {
  for (auto& [name, state] : differentiable_state_)
    for (auto& [key, t] : state.tensors) t = t.detach();
  for (auto& [key, t] : differentiable_global_) t = t.detach();
}

std::vector<Tensor> Optimizer::step_all(StepContext& context) {
  std::vector<Tensor> updated;
  for (auto& slot : context.slots) {
    if (context.differentiable) {
      updated.push_back(update_differentiable(*slot.group, *slot.overrides, slot.param, slot.grad, *slot.state));
    } else {
      update(*slot.group, slot.param, slot.grad, *slot.state);
      updated.push_back(slot.param);
    }
  }
  return updated;
}

void Optimizer::update(const ParamGroup&, Tensor&, const Tensor&, ParamState&) {
  throw Error(fmt::format("{}: updates all parameters at once and has no per-parameter update", name_));
}

Tensor Optimizer::update_differentiable(const ParamGroup&, const std::map<std::string, Tensor>&, const Tensor&,
                                        const Tensor&, ParamState&) {
  throw Error(fmt::format("{}: updates all parameters at once and has no per-parameter update", name_));
}

const ParamState* Optimizer::state_of(const std::string& param_name) const {
  auto it = state_.find(param_name);
  return it == state_.end() ? nullptr : &it->second;
}

nn::NamedTensors Optimizer::state_dict() const {
  nn::NamedTensors out;
  out.emplace_back("optimizer.version", Tensor::from_vector(std::vector<std::int64_t>{kStateVersion}, {}));
  for (std::size_t g = 0; g < groups_.size(); ++g)
    for (const auto& [key, value] : groups_[g].hyper)
      if (const double* number = std::get_if<double>(&value))
        out.emplace_back("group." + std::to_string(g) + "." + key,
                         Tensor::from_vector(std::vector<double>{*number}, {}));
  for (const auto& [key, tensor] : global_) out.emplace_back("global." + key, tensor.detach().clone());
  for (const auto& [param, state] : state_) {
    out.emplace_back(state_key(param, "step"), Tensor::from_vector(std::vector<std::int64_t>{state.step}, {}));
    for (const auto& [key, tensor] : state.tensors) out.emplace_back(state_key(param, key), tensor.detach().clone());
  }
  return out;
}

void Optimizer::load_state_dict(const nn::NamedTensors& dict) {
  std::map<std::string, Tensor> shapes;  // parameter name -> parameter
  for (const auto& group : groups_)
    for (const auto& [name, p] : group.params) shapes[name] = p;
  std::map<std::string, ParamState> state;
  std::map<std::string, Tensor> global;
  std::vector<std::pair<std::size_t, std::pair<std::string, double>>> hyper;
  const auto check_layout = [&](const std::string& key, const Tensor& tensor, const Layout& layout) {
    MG_CHECK(tensor.shape() == layout.shape && tensor.dtype() == layout.dtype,
             "{}: state '{}' has shape {} ({}), expected {} ({})", name_, key, mg::to_string(tensor.shape()),
             dtype_name(tensor.dtype()), mg::to_string(layout.shape), dtype_name(layout.dtype));
  };
  bool versioned = false;
  for (const auto& [key, tensor] : dict) {
    if (key == "optimizer.version") {
      MG_CHECK(tensor.numel() == 1 && tensor.item<std::int64_t>() == kStateVersion,
               "{}: optimizer state version {} is not supported (expected {})", name_,
               tensor.numel() == 1 ? std::to_string(tensor.item<std::int64_t>()) : "?", kStateVersion);
      versioned = true;
    } else if (key.rfind("group.", 0) == 0) {
      const std::size_t dot = key.find('.', 6);
      std::size_t g = 0;
      const char* digits_end = key.data() + (dot == std::string::npos ? 6 : dot);
      const auto [end, error] = std::from_chars(key.data() + 6, digits_end, g);
      MG_CHECK(dot != std::string::npos && error == std::errc() && end == digits_end,
               "{}: malformed state key '{}' (expected group.<index>.<hyperparameter>)", name_, key);
      const std::string hyper_key = key.substr(dot + 1);
      MG_CHECK(g < groups_.size() && groups_[g].hyper.count(hyper_key) &&
                   std::holds_alternative<double>(groups_[g].hyper.at(hyper_key)) && tensor.numel() == 1,
               "{}: state names hyperparameter '{}' of group {}, which this optimizer does not have", name_, hyper_key,
               g);
      hyper.push_back({g, {hyper_key, tensor.item<double>()}});
    } else if (key.rfind("state.", 0) == 0) {
      const std::size_t dot = key.rfind('.');
      const std::string param = key.substr(6, dot - 6), field = key.substr(dot + 1);
      auto it = shapes.find(param);
      MG_CHECK(it != shapes.end(), "{}: state for unknown parameter '{}'", name_, param);
      const bool is_step = field == "step";
      const std::optional<Layout> layout = is_step ? Layout{{}, DType::Int64} : state_layout(field, it->second);
      MG_CHECK(layout.has_value(), "{}: unexpected state '{}' for parameter '{}'", name_, field, param);
      check_layout(key, tensor, *layout);
      if (is_step) {
        state[param].step = tensor.item<std::int64_t>();
        MG_CHECK(state[param].step >= 0, "{}: state '{}' is negative", name_, key);
      } else {
        state[param].tensors[field] = tensor.detach().clone();
      }
    } else if (key.rfind("global.", 0) == 0) {
      const std::string field = key.substr(7);
      const std::optional<Layout> layout = global_layout(field);
      MG_CHECK(layout.has_value(), "{}: unexpected optimizer-wide state '{}'", name_, field);
      check_layout(key, tensor, *layout);
      global[field] = tensor.detach().clone();
    } else {
      throw Error(fmt::format("{}: unexpected key '{}' in optimizer state", name_, key));
    }
  }
  MG_CHECK(versioned, "{}: the optimizer state has no version", name_);
  for (const auto& [g, entry] : hyper) groups_[g].hyper[entry.first] = entry.second;
  state_ = std::move(state);
  global_ = std::move(global);
}

}  // namespace mg::optim
